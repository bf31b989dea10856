package node

import (
	"context"
	"slices"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/relay"
	"github.com/ocmt/mesh/vault"
)

// BenchmarkFetch measures `mesh get` (resolve, pick the grant, share
// request, verify, audited vault read) through the relay and directly, and
// reports p50/p99 over the run (use -benchtime 1000x).
func BenchmarkFetch(b *testing.B) {
	for _, tc := range []struct {
		name     string
		firewall bool
	}{{"direct", false}, {"relayed", true}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			m := startInfraB(b)
			alice := m.startNodeB(b, "alice", tc.firewall)
			bob := m.startNodeB(b, "bob", tc.firewall)
			alice.Local().PutResource(ctx, "calendar/work", make([]byte, 1024))
			if _, err := alice.Local().Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read", ValidFor: time.Hour}); err != nil {
				b.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				if g, _ := bob.Local().Shared(ctx); len(g) == 1 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("bob never got the grant")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := bob.Local().Fetch(ctx, "alice/calendar/work"); err != nil {
				b.Fatal(err)
			}
			relayed := false
			for _, c := range bob.Host().Network().ConnsToPeer(alice.ID()) {
				_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
				relayed = relayed || err == nil
			}
			if relayed != tc.firewall {
				b.Fatalf("relayed = %v, want %v", relayed, tc.firewall)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				if _, err := bob.Local().Fetch(ctx, "alice/calendar/work"); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

func startInfraB(b *testing.B) *testMesh {
	b.Helper()
	ctx := context.Background()
	m := &testMesh{bootHome: tempHome(b, "boot"), relHome: tempHome(b, "relay")}
	var err error
	if m.boot, err = StartBootstrap(ctx, InfraConfig{Home: m.bootHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.boot.Close() })
	m.bootAddrs = m.boot.Addrs()
	m.relay, err = StartRelay(ctx, RelayConfig{InfraConfig: InfraConfig{Home: m.relHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}},
		Bootstrap: m.bootAddrs, Relay: relay.Config{AllowPrivateAddrs: true}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.relay.Close() })
	m.relayAddr = m.relay.Addrs()[0]
	return m
}

func (m *testMesh) startNodeB(b *testing.B, handle string, firewall bool) *Node {
	b.Helper()
	ctx := context.Background()
	h := tempHome(b, handle)
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF(), Handle: handle}); err != nil {
		b.Fatal(err)
	}
	n, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs, Relays: []string{m.relayAddr}, Firewall: firewall, ShareRate: 1e6})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	if err := n.Local().Unlock(ctx, []byte("pw")); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !n.mesh.hasReservation() {
		if time.Now().After(deadline) {
			b.Fatal("no reservation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n
}
