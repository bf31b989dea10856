package relay

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
)

// reservedHome starts a registered home node holding a reservation and
// serving echo.
func reservedHome(ctx context.Context, t testing.TB, tr *testRelay) host.Host {
	t.Helper()
	h := newHome(t)
	serveEcho(h)
	tr.dir.Add(h.ID())
	if err := tr.reserve(ctx, h); err != nil {
		t.Fatalf("reserve: %v", err)
	}
	return h
}

func connected(a host.Host, b peer.ID) bool { return a.Network().Connectedness(b) == network.Connected }

func TestStrangerCircuitsPerDestinationAreCapped(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	tr := startRelay(t, Config{MaxStrangerCircuits: 2})
	home, other := reservedHome(ctx, t, tr), reservedHome(ctx, t, tr)
	strangers := []host.Host{testkit.Host(t, nil), testkit.Host(t, nil), testkit.Host(t, nil)}
	for _, s := range strangers[:2] {
		if err := tr.dialVia(ctx, s, home.ID()); err != nil {
			t.Fatalf("stranger within the cap: %v", err)
		}
	}

	t.Run("the next stranger is refused and audited", func(t *testing.T) {
		if err := tr.dialVia(ctx, strangers[2], home.ID()); err == nil {
			t.Fatal("a third stranger's circuit opened")
		}
		r := tr.audit.waitRecord(t, func(r AuditRecord) bool { return r.Src == strangers[2].ID() })
		if r.Event != EventConnectRefused || r.Reason != ReasonStrangerLimit || r.Dst != home.ID() {
			t.Errorf("audit record %+v, want connect-refused/stranger-limit to the home", r)
		}
		if got := value(tr.svc.metrics.circuitsRefused.WithLabelValues(string(ReasonStrangerLimit))); got != 1 {
			t.Errorf("circuits_refused_total{reason=stranger-limit} = %v", got)
		}
		if got := value(tr.svc.metrics.strangerCircuits); got != 2 {
			t.Errorf("stranger_circuits_active = %v, want 2", got)
		}
	})
	t.Run("registered and granted sources are not counted", func(t *testing.T) {
		registered, granted := testkit.Host(t, nil), testkit.Host(t, nil)
		tr.dir.Add(registered.ID())
		tr.grants.Add(granted.ID())
		for _, src := range []host.Host{registered, granted} {
			if err := tr.dialVia(ctx, src, home.ID()); err != nil {
				t.Fatalf("authorized source: %v", err)
			}
			if got := echo(ctx, t, src, home.ID(), []byte("hi")); string(got) != "hi" {
				t.Fatalf("echo %q", got)
			}
		}
	})
	t.Run("the cap is per destination", func(t *testing.T) {
		late := testkit.Host(t, nil)
		if err := tr.dialVia(ctx, late, other.ID()); err != nil {
			t.Fatalf("a stranger to another home: %v", err)
		}
	})
	t.Run("a closed stranger circuit frees its slot", func(t *testing.T) {
		strangers[0].Network().ClosePeer(home.ID())
		testkit.Eventually(t, 10*time.Second, func() bool { return tr.svc.strangers.count(home.ID()) == 1 },
			"the relay sees the stranger's circuit close")
		late := testkit.Host(t, nil)
		if err := tr.dialVia(ctx, late, home.ID()); err != nil {
			t.Fatalf("a stranger after a slot freed: %v", err)
		}
	})
	t.Run("refused and failed requests give their slot back", func(t *testing.T) {
		unreserved := newHome(t)
		tr.dir.Add(unreserved.ID()) // registered, but holds no reservation
		for range 5 {
			if err := tr.dialVia(ctx, testkit.Host(t, nil), unreserved.ID()); err == nil {
				t.Fatal("a circuit to a home without a reservation opened")
			}
		}
		if n := tr.svc.strangers.count(unreserved.ID()); n != 0 {
			t.Fatalf("%d slots still held after refusals", n)
		}
	})
}

func TestIdleStrangerCircuitsAreClosed(t *testing.T) {
	ctx := testkit.Context(t, 60*time.Second)
	const window = time.Second
	tr := startRelay(t, Config{CircuitIdleTimeout: window})
	home := reservedHome(ctx, t, tr)
	idle, busy, registered := testkit.Host(t, nil), testkit.Host(t, nil), testkit.Host(t, nil)
	tr.dir.Add(registered.ID())
	for _, src := range []host.Host{idle, busy, registered} {
		if err := tr.dialVia(ctx, src, home.ID()); err != nil {
			t.Fatal(err)
		}
	}
	// busy sends 2 KiB every 100 ms, twenty times the idle allowance a window
	stop := make(chan struct{})
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		payload := make([]byte, 2<<10)
		rand.Read(payload)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			s, err := busy.NewStream(network.WithAllowLimitedConn(ctx, "ocmt"), home.ID(), echoProto)
			if err != nil {
				return
			}
			s.Write(payload)
			s.CloseWrite()
			buf := make([]byte, len(payload))
			s.Read(buf)
			s.Close()
		}
	}()
	defer func() { close(stop); <-pumped }()

	r := tr.audit.waitRecord(t, func(r AuditRecord) bool { return r.Event == EventCircuit && r.Src == idle.ID() })
	if r.Reason != ReasonIdle {
		t.Errorf("the idle stranger's circuit closed with reason %q, want %q", r.Reason, ReasonIdle)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return !connected(idle, home.ID()) }, "the idle stranger is cut off")
	testkit.Never(t, 3*window, func() bool { return !connected(busy, home.ID()) }, "a busy stranger's circuit is closed")
	if !connected(registered, home.ID()) {
		t.Error("an idle circuit from a registered source was closed")
	}
	if got := value(tr.svc.metrics.circuitsClosed.WithLabelValues(string(ReasonIdle))); got != 1 {
		t.Errorf("circuits_closed_total{reason=idle} = %v, want 1", got)
	}
}

func TestCircuitRatesPerDestinationAndRelayWide(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	clock := testkit.NewClock(testkit.Epoch)
	// per destination: 24 a minute, burst 4, strangers stop at 2 left;
	// relay-wide: 60 a minute, burst 10, strangers stop at 5 left
	tr := startRelay(t, Config{CircuitsPerMinute: -1, DestinationCircuitsPerMinute: 24, RelayCircuitsPerMinute: 60, Now: clock.Now})
	a, b := reservedHome(ctx, t, tr), reservedHome(ctx, t, tr)
	dial := func(dst host.Host, registered bool) (host.Host, error) {
		src := testkit.Host(t, nil)
		if registered {
			tr.dir.Add(src.ID())
		}
		return src, tr.dialVia(ctx, src, dst.ID())
	}
	mustOpen := func(dst host.Host, registered bool, what string) {
		t.Helper()
		if _, err := dial(dst, registered); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	mustRefuse := func(dst host.Host, registered bool, reason Reason, what string) {
		t.Helper()
		src, err := dial(dst, registered)
		if err == nil {
			t.Fatalf("%s: the circuit opened", what)
		}
		r := tr.audit.waitRecord(t, func(r AuditRecord) bool { return r.Src == src.ID() })
		if r.Reason != reason {
			t.Fatalf("%s: refused with %q, want %q", what, r.Reason, reason)
		}
	}

	t.Run("strangers take a destination's upper half, authorized sources the rest", func(t *testing.T) {
		mustOpen(a, false, "stranger 1 to a")
		mustOpen(a, false, "stranger 2 to a")
		mustRefuse(a, false, ReasonDestinationRateLimited, "stranger 3 to a")
		mustOpen(a, true, "registered 1 to a")
		mustOpen(a, true, "registered 2 to a")
		mustRefuse(a, true, ReasonDestinationRateLimited, "registered 3 to a")
	})
	t.Run("the relay-wide budget, with the same half kept from strangers", func(t *testing.T) {
		// relay-wide: 4 taken above, 6 left; strangers stop at 5
		mustOpen(b, false, "stranger 1 to b")
		mustRefuse(b, false, ReasonRelayRateLimited, "stranger 2 to b")
		mustOpen(b, true, "registered 1 to b")
	})
	t.Run("a refusal spends no other budget, and the buckets refill", func(t *testing.T) {
		// b's bucket gave back the token of stranger 2, refused relay-wide:
		// it holds 2 (4 − 2 opened), so a registered source still gets one
		mustOpen(b, true, "registered 2 to b")
		clock.Advance(10 * time.Second) // 4 tokens for a, 10 relay-wide
		mustOpen(a, false, "stranger to a after the refill")
	})
	for kind, want := range map[string]float64{"destination": 2, "relay": 1, "connect": 0} {
		if got := value(tr.svc.metrics.rateLimited.WithLabelValues(kind)); got != want {
			t.Errorf("rate_limited_total{kind=%q} = %v, want %v", kind, got, want)
		}
	}
}
