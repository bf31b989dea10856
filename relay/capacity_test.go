package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ocmt/mesh/internal/testkit"
)

// value reads a gauge or counter.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

// lightHost is a client host for tests that need many: TCP only, no
// listener, no resource accounting.
func lightHost(t testing.TB) host.Host {
	t.Helper()
	return testkit.Host(t, nil, libp2p.NoListenAddrs, libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableMetrics())
}

func TestConnManagerIsSizedFromTheLimits(t *testing.T) {
	for _, tc := range []struct {
		cfg      Config
		atLeast  int
		describe string
	}{
		{Config{}, 4096 + 8192, "the defaults: 4096 reservations, 8192 circuits"},
		{Config{MaxReservations: 10_000, MaxRelayMemory: 256 << 20}, 10_000 + 2048, "10,000 reservations, 2048 circuits"},
	} {
		cm, err := ConnManager(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		info := cm.GetInfo()
		cm.Close()
		if info.HighWater < tc.atLeast || info.LowWater <= 0 || info.LowWater >= info.HighWater {
			t.Errorf("%s: watermarks low %d high %d, want high ≥ %d", tc.describe, info.LowWater, info.HighWater, tc.atLeast)
		}
		limits, _ := Limits(tc.cfg)
		if conns := int(limits.ToPartialLimitConfig().System.Conns); conns <= info.HighWater {
			t.Errorf("%s: the resource manager allows %d connections, at or below the high watermark %d: it would refuse before the connection manager prunes",
				tc.describe, conns, info.HighWater)
		}
	}
	if _, err := ConnManager(Config{MaxReservations: -1}); err == nil {
		t.Error("a bad config was accepted")
	}
}

// tinyConnManager trims whenever asked, down to low unprotected
// connections, with no grace period.
func tinyConnManager(t testing.TB, low, high int) *connmgr.BasicConnMgr {
	t.Helper()
	cm, err := connmgr.NewConnManager(low, high, connmgr.WithGracePeriod(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cm.Close() })
	return cm
}

func TestReservationHoldersAndCircuitEndsAreProtected(t *testing.T) {
	ctx := testkit.Context(t, 30*time.Second)
	cm := tinyConnManager(t, 1, 2)
	tr := startRelayCM(t, Config{ReservationTTL: 2 * time.Second}, cm)
	protected := func(p peer.ID, tag string) bool { return tr.host.ConnManager().IsProtected(p, tag) }

	homes := make([]host.Host, 4)
	for i := range homes {
		homes[i] = newHome(t)
		serveEcho(homes[i])
		tr.dir.Add(homes[i].ID())
		if err := tr.reserve(ctx, homes[i]); err != nil {
			t.Fatal(err)
		}
	}
	strangers := make([]host.Host, 4)
	for i := range strangers {
		strangers[i] = lightHost(t)
		testkit.Connect(t, strangers[i], tr.host)
	}

	t.Run("a trim keeps every reservation holder and prunes the others", func(t *testing.T) {
		for _, h := range homes {
			if !protected(h.ID(), protectReservation) {
				t.Fatalf("home %s is not protected", h.ID())
			}
		}
		cm.TrimOpenConns(ctx)
		for _, h := range homes {
			if tr.host.Network().Connectedness(h.ID()) != network.Connected {
				t.Errorf("home %s was trimmed", h.ID())
			}
		}
		testkit.Eventually(t, 10*time.Second, func() bool {
			n := 0
			for _, s := range strangers {
				if tr.host.Network().Connectedness(s.ID()) == network.Connected {
					n++
				}
			}
			return n <= 1
		}, "the trim prunes the strangers down to the low watermark")
	})

	t.Run("both ends of a live circuit are protected until it closes", func(t *testing.T) {
		dialer := testkit.Host(t, nil)
		if err := tr.dialVia(ctx, dialer, homes[0].ID()); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, func() bool {
			return protected(dialer.ID(), protectCircuit) && protected(homes[0].ID(), protectCircuit)
		}, "the circuit's ends are protected")
		cm.TrimOpenConns(ctx)
		if tr.host.Network().Connectedness(dialer.ID()) != network.Connected {
			t.Fatal("the circuit's source was trimmed")
		}
		dialer.Network().ClosePeer(homes[0].ID())
		testkit.Eventually(t, 10*time.Second, func() bool {
			return !protected(dialer.ID(), protectCircuit) && !protected(homes[0].ID(), protectCircuit)
		}, "the protection ends with the circuit")
	})

	t.Run("the protection ends when the holder disconnects", func(t *testing.T) {
		homes[1].Network().ClosePeer(tr.host.ID())
		testkit.Eventually(t, 10*time.Second, func() bool { return !protected(homes[1].ID(), protectReservation) },
			"the protection of a disconnected home is lifted")
	})

	t.Run("the protection ends when the reservation expires unrefreshed, and lasts while it is refreshed", func(t *testing.T) {
		refreshed := homes[2]
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond): // a quarter of the TTL
					tr.reserve(ctx, refreshed)
				}
			}
		}()
		defer func() { close(stop); <-done }()
		testkit.Eventually(t, 10*time.Second, func() bool { return !protected(homes[3].ID(), protectReservation) },
			"the protection of an expired reservation is lifted")
		if !protected(refreshed.ID(), protectReservation) {
			t.Error("a refreshed reservation lost its protection")
		}
		if protected(homes[0].ID(), protectReservation) {
			t.Error("another home's unrefreshed reservation kept its protection")
		}
		if got := value(tr.svc.metrics.protectedReservations); got != 1 {
			t.Errorf("reservations_protected = %v, want 1 (the refreshed home)", got)
		}
	})
}

// TestReservationsSurviveTrimming is the issue as reported: a relay with
// libp2p's default connection-manager watermarks (low 160, high 192) and
// 250 reservations fell back to 160 connections when the manager trimmed,
// and the homes it cut lost their reservations. The grace period is 0 here
// so that the trim happens at once instead of after a minute.
func TestReservationsSurviveTrimming(t *testing.T) {
	if testing.Short() {
		t.Skip("250 hosts are skipped in -short")
	}
	const homes, strangers = 250, 40
	ctx := testkit.Context(t, 2*time.Minute)
	cm := tinyConnManager(t, 160, 192)
	tr := startRelayCM(t, Config{ReservationsPerMinute: -1}, cm)
	hs := make([]host.Host, homes)
	for i := range hs {
		hs[i] = lightHost(t)
		tr.dir.Add(hs[i].ID())
	}
	testkit.Each(t, 8, homes, func(i int) error { return tr.reserve(ctx, hs[i]) })
	for range strangers {
		testkit.Connect(t, lightHost(t), tr.host)
	}
	active := func() float64 { return value(tr.svc.metrics.reservationsActive) }
	if got := active(); got != homes {
		t.Fatalf("%v reservations active before the trim, want %d", got, homes)
	}
	cm.TrimOpenConns(ctx)
	testkit.Eventually(t, 30*time.Second, func() bool { return len(tr.host.Network().Peers()) <= homes+160 },
		"the trim closes connections beyond the watermark")
	var lost []string
	for _, h := range hs {
		if tr.host.Network().Connectedness(h.ID()) != network.Connected {
			lost = append(lost, h.ID().String())
		}
	}
	if len(lost) > 0 || active() != homes {
		t.Fatalf("after the trim %v reservations are active and %d homes were cut, want all %d kept: %s",
			active(), len(lost), homes, strings.Join(lost[:min(len(lost), 3)], ", "))
	}
}
