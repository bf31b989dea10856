package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/homehost"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/testmesh"
	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/relay"
)

// startInfraRelay is startInfra with the relay tuned by rcfg (its audit and
// private addresses are set here).
func startInfraRelay(t testing.TB, rcfg relay.Config) *testMesh {
	t.Helper()
	ctx := context.Background()
	m := &testMesh{bootHome: shortDir(t, "boot"), relHome: shortDir(t, "relay"), logs: &lockedLog{}}
	var err error
	m.boot, err = infra.StartBootstrap(ctx, infra.Config{Home: m.bootHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		Logger: m.logs.logger("bootstrap"), Revocations: testTimings.Revocations})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.boot.Close() })
	m.bootAddrs = m.boot.Addrs()
	rcfg.AllowPrivateAddrs, rcfg.Audit = true, &m.relayAudit
	m.relay, err = infra.StartRelay(ctx, infra.RelayConfig{
		Config: infra.Config{Home: m.relHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: m.logs.logger("relay"),
			Revocations: testTimings.Revocations, WrapHost: func(h host.Host) host.Host { m.relayTap = testmesh.NewTapHost(h); return m.relayTap }},
		Bootstrap: m.bootAddrs,
		Relay:     rcfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.relay.Close() })
	m.relayAddr = m.relay.Addrs()[0]
	return m
}

// relayOff turns off every limit the relay puts on circuits to one
// destination, so that a test sees what the home node does on its own.
var relayOff = relay.Config{MaxStrangerCircuits: -1, CircuitIdleTimeout: -1, MaxCircuits: 2048,
	CircuitsPerMinute: -1, DestinationCircuitsPerMinute: -1, RelayCircuitsPerMinute: -1}

// hostiles are throwaway identities, registered nowhere, each opening one
// circuit to a home node through the relay and holding it idle.
type hostiles struct {
	hosts []host.Host
}

// startHostiles starts n hostile identities; each connects to the relay.
func startHostiles(t testing.TB, m *testMesh, n int) *hostiles {
	t.Helper()
	relayInfo := peer.AddrInfo{ID: m.relay.Host.ID(), Addrs: m.relay.Host.Addrs()}
	hs := &hostiles{hosts: make([]host.Host, n)}
	testkit.Each(t, 16, n, func(i int) error {
		h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.EnableRelay(), libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport),
			libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableMetrics(),
			libp2p.ConnectionGater(throughRelayOnly{relay: relayInfo.ID}))
		if err != nil {
			return err
		}
		t.Cleanup(func() { h.Close() })
		hs.hosts[i] = h
		h.Peerstore().AddAddrs(relayInfo.ID, relayInfo.Addrs, peerstore.PermanentAddrTTL)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// 500 handshakes on two loaded cores: one that timed out is tried
		// again, as an attacker would.
		for {
			err := h.Connect(ctx, relayInfo)
			if err == nil || ctx.Err() != nil {
				return err
			}
			if sw, ok := h.Network().(*swarm.Swarm); ok {
				sw.Backoff().Clear(relayInfo.ID)
			}
		}
	})
	return hs
}

// throughRelayOnly lets a hostile dial the relay, and anyone else through
// it only: a home node behind NAT, as in production, whose loopback
// addresses the hostiles would otherwise learn from identify and dial
// directly, bypassing the relay under test.
type throughRelayOnly struct{ relay peer.ID }

func (g throughRelayOnly) InterceptPeerDial(peer.ID) bool { return true }
func (g throughRelayOnly) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	if p == g.relay {
		return true
	}
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}
func (g throughRelayOnly) InterceptAccept(network.ConnMultiaddrs) bool { return true }
func (g throughRelayOnly) InterceptSecured(network.Direction, peer.ID, network.ConnMultiaddrs) bool {
	return true
}
func (g throughRelayOnly) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

// open has every hostile try to open a circuit to dst, and returns how
// many hold one.
func (hs *hostiles) open(t testing.TB, m *testMesh, dst peer.ID) int {
	t.Helper()
	circ := ma.StringCast("/p2p/" + m.relay.Host.ID().String() + "/p2p-circuit/p2p/" + dst.String())
	var held atomic.Int64
	testkit.Each(t, 16, len(hs.hosts), func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if hs.hosts[i].Connect(ctx, peer.AddrInfo{ID: dst, Addrs: []ma.Multiaddr{circ}}) == nil {
			held.Add(1)
		}
		return nil // refusals are the point
	})
	return int(held.Load())
}

// press keeps the hostiles that hold no circuit to dst trying again, from
// 8 workers pausing 50 ms between tries (at most 160 tries a second, the
// rate of the reported flood), until the returned stop is called.
func (hs *hostiles) press(m *testMesh, dst peer.ID) (stop func()) {
	circ := ma.StringCast("/p2p/" + m.relay.Host.ID().String() + "/p2p-circuit/p2p/" + dst.String())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i = (i + 8) % len(hs.hosts) {
				h := hs.hosts[i]
				if h.Network().Connectedness(dst) == network.Connected {
					continue
				}
				if sw, ok := h.Network().(*swarm.Swarm); ok {
					sw.Backoff().Clear(dst) // an attacker does not back off
				}
				tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
				h.Connect(tctx, peer.AddrInfo{ID: dst, Addrs: []ma.Multiaddr{circ}})
				tcancel()
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

// holding counts the hostiles still connected to dst.
func (hs *hostiles) holding(dst peer.ID) int {
	n := 0
	for _, h := range hs.hosts {
		if h.Network().Connectedness(dst) == network.Connected {
			n++
		}
	}
	return n
}

// aliceSharesWithBob starts alice and bob on m, alice sharing a calendar
// entry with bob (so each is the other's contact), and returns a fetch
// that makes bob read it over a new connection each time.
func aliceSharesWithBob(t testing.TB, m *testMesh) (alice, bob *Node, fetch func() error) {
	t.Helper()
	ctx := context.Background()
	alice, bob = m.startNode(t, "alice", "pw-a"), m.startNode(t, "bob", "pw-b")
	if err := alice.PutResource(ctx, "calendar/work", []byte("dentist")); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read", ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob holds the grant", func() bool { g, _ := bob.Shared(ctx); return len(g) == 1 })
	fetch = func() error {
		bob.Host().Network().ClosePeer(alice.ID())
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		data, err := bob.Fetch(ctx, "alice/calendar/work")
		if err == nil && string(data) != "dentist" {
			err = fmt.Errorf("read %q", data)
		}
		return err
	}
	if err := fetch(); err != nil {
		t.Fatalf("bob's first read: %v", err)
	}
	return alice, bob, fetch
}

// TestAContactGetsThroughHostileCircuits is the attack as reported: 128
// throwaway identities each holding one idle circuit to a home node made
// it unreachable through its relay, contacts included (libp2p's limit of
// 128 stop streams per relay peer). Here 500 hold or keep trying to hold
// circuits while bob, alice's contact, reads from her over a new
// connection every time: first with every relay limit on circuits to one destination off,
// so that alice's node alone must keep room for him (its budget of
// relayed connections from strangers, and a stop-stream limit above what
// a relay lets one destination have); then with the relay's defaults,
// which cap strangers' circuits per destination before they reach her.
func TestAContactGetsThroughHostileCircuits(t *testing.T) {
	if testing.Short() {
		t.Skip("500 hostile hosts are skipped in -short")
	}
	const n, reads = 500, 10
	for _, tc := range []struct {
		name     string
		relay    relay.Config
		maxHeld  int
		heldWhat string
	}{
		// the budget counts established connections: the 16 workers' handshakes
		// in flight may each pass it once
		{"the home node alone", relayOff, homehost.StrangerRelayedConns + 16, "alice's budget of relayed connections from strangers, plus handshakes in flight"},
		{"with the relay's defaults", relay.Config{}, relay.DefaultMaxStrangerCircuits, "the relay's cap of stranger circuits per destination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := startInfraRelay(t, tc.relay)
			alice, bob, fetch := aliceSharesWithBob(t, m)
			hs := startHostiles(t, m, n)
			opened := hs.open(t, m, alice.ID())
			held := hs.holding(alice.ID())
			t.Logf("%d hostile identities: %d circuits opened, %d held", n, opened, held)
			if held == 0 {
				t.Fatal("no hostile circuit held: the attack did not happen")
			}
			if held > tc.maxHeld {
				t.Errorf("%d hostile circuits held, more than %s (%d)", held, tc.heldWhat, tc.maxHeld)
			}
			defer hs.press(m, alice.ID())()
			for i := range reads {
				if err := fetch(); err != nil {
					for _, line := range strings.Split(string(m.relayAudit.bytes()), "\n") {
						if strings.Contains(line, bob.ID().String()) {
							t.Log(line)
						}
					}
					t.Fatalf("bob's read %d of %d under attack failed: %v", i+1, reads, err)
				}
			}
			if again := hs.holding(alice.ID()); again == 0 {
				t.Errorf("the hostile circuits were dropped during the reads (%d held before): the attack did not last", held)
			}
		})
	}
}
