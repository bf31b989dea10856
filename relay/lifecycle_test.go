package relay

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestRateLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	t.Run("the N+1th reservation in a minute is refused, and allowed again once the bucket refills", func(t *testing.T) {
		clock := testkit.NewClock(testkit.Epoch)
		tr := startRelay(t, Config{ReservationsPerMinute: 3, Now: clock.Now})
		home := testkit.Host(t, nil)
		tr.dir.Add(home.ID())
		for i := range 3 {
			if err := tr.reserve(ctx, home); err != nil {
				t.Fatalf("reservation %d: %v", i+1, err)
			}
		}
		if err := tr.reserve(ctx, home); err == nil {
			t.Fatal("4th reservation in the window accepted")
		}
		r := tr.audit.waitRecord(t, func(r AuditRecord) bool { return r.Event == EventReserveRefused })
		if r.Reason != ReasonRateLimited || r.Src != home.ID() {
			t.Errorf("audit record %+v, want rate-limited for the home", r)
		}
		clock.Advance(20 * time.Second) // one token back at 3 a minute
		if err := tr.reserve(ctx, home); err != nil {
			t.Fatalf("reservation after refill: %v", err)
		}
		if err := tr.reserve(ctx, home); err == nil {
			t.Fatal("reservation accepted with an empty bucket")
		}
	})
	t.Run("the N+1th circuit a source opens in a minute is refused", func(t *testing.T) {
		clock := testkit.NewClock(testkit.Epoch)
		tr := startRelay(t, Config{CircuitsPerMinute: 2, Now: clock.Now})
		home, dialer := homeAndDialer(ctx, t, tr) // circuit 1
		dialer.Network().ClosePeer(home.ID())
		if err := tr.dialVia(ctx, dialer, home.ID()); err != nil {
			t.Fatalf("circuit 2: %v", err)
		}
		dialer.Network().ClosePeer(home.ID())
		if err := tr.dialVia(ctx, dialer, home.ID()); err == nil {
			t.Fatal("circuit 3 opened")
		}
		r := tr.audit.waitRecord(t, func(r AuditRecord) bool { return r.Event == EventConnectRefused })
		if r.Reason != ReasonRateLimited || r.Src != dialer.ID() || r.Dst != home.ID() {
			t.Errorf("audit record %+v, want rate-limited dialer→home", r)
		}
	})
}

func TestRelayRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := startRelay(t, Config{})
	home, dialer := homeAndDialer(ctx, t, tr)

	// a stream in mid-flight: one round trip done, then the relay goes
	s := openRelayed(ctx, t, dialer, home.ID())
	if _, err := s.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if err := tr.svc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	t.Run("closing the relay fails open streams at once", func(t *testing.T) {
		_, err := s.Read(buf)
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after relay close: %v, want a prompt connection error", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("error took %v", d)
		}
		t.Logf("peer sees: %v", err)
	})
	t.Run("the closed circuit is audited as closed by the relay", func(t *testing.T) {
		r := tr.audit.waitRecord(t, func(r AuditRecord) bool { return r.Event == EventCircuit })
		if r.Reason != ReasonRelayClosed {
			t.Errorf("reason %q, want %q", r.Reason, ReasonRelayClosed)
		}
	})
	t.Run("a relay restarted with the same identity and port serves the next request", func(t *testing.T) {
		listen := tr.host.Addrs()[0].String()
		if err := tr.host.Close(); err != nil {
			t.Fatal(err)
		}
		tr.start(t, Config{}, listen)
		// The home node may still hold its dying connection to the old
		// relay: like a real node, it retries its reservation.
		var err error
		if !testkit.Poll(10*time.Second, func() bool {
			if err = tr.reserve(ctx, home); err != nil {
				home.Network().ClosePeer(tr.host.ID())
			}
			return err == nil
		}) {
			t.Fatalf("re-reserve: still failing after 10s: %v", err)
		}
		if err := tr.dialVia(ctx, dialer, home.ID()); err != nil {
			t.Fatalf("re-dial: %v", err)
		}
		if got := echo(ctx, t, dialer, home.ID(), []byte("again")); string(got) != "again" {
			t.Fatalf("echo = %q", got)
		}
	})
}

func TestCloseLeaksNoGoroutines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	run := func() {
		tr := startRelay(t, Config{})
		home, dialer := homeAndDialer(ctx, t, tr)
		echo(ctx, t, dialer, home.ID(), make([]byte, 256<<10))
		s := openRelayed(ctx, t, dialer, home.ID()) // left open across Close
		defer s.Reset()
		if err := tr.svc.Close(); err != nil {
			t.Fatal(err)
		}
		for _, h := range []host.Host{dialer, home, tr.host} {
			h.Close()
		}
	}
	run() // warm up package-level pools and loggers
	base := testkit.SettledGoroutines(t, 10*time.Second)
	for range 3 {
		run()
	}
	testkit.GoroutinesDropTo(t, 10*time.Second, base)
}
