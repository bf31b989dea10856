package node

import (
	"context"
	"slices"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/node/localapi"
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
			m := startInfra(b)
			fast := func(c *Config) { c.Firewall, c.ShareRate = tc.firewall, 1e6 }
			alice := m.startNodeWith(b, "alice", "pw", fast)
			bob := m.startNodeWith(b, "bob", "pw", fast)
			alice.PutResource(ctx, "calendar/work", make([]byte, 1024))
			if _, err := alice.Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read", ValidFor: time.Hour}); err != nil {
				b.Fatal(err)
			}
			waitFor(b, "bob holds the grant", func() bool { g, _ := bob.Shared(ctx); return len(g) == 1 })
			if _, err := bob.Fetch(ctx, "alice/calendar/work"); err != nil {
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
				if _, err := bob.Fetch(ctx, "alice/calendar/work"); err != nil {
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
