package revgossip

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"
)

// BenchmarkPropagation: time from publish to the moment every node's Set
// says revoked, p50 and p99 over 100 revocations from random publishers.
// Each node links to the next and to 3 random others. Run with
// -benchtime=1x; 50 and 100 nodes are skipped under -short.
func BenchmarkPropagation(b *testing.B) {
	for _, n := range []int{10, 50, 100} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			if n > 10 && testing.Short() {
				b.Skip("large mesh")
			}
			ns := newNodes(b, n)
			connectRandom(b, ns, 3)
			waitMesh(b, ns, 1) // every mesh formed, up to Dlo peers
			owner := ns[0].key
			revs := revocations(b, owner, 110, fmt.Sprint("prop", n))
			r := mrand.New(mrand.NewPCG(5, 6))
			for _, rev := range revs[100:] { // warm up: connections, buffers
				if err := ns[r.IntN(n)].g.publish(context.Background(), rev); err != nil {
					b.Fatal(err)
				}
				waitRevoked(b, ns, rev.ID(), time.Now(), 5*time.Second)
			}
			revs = revs[:100]
			var took []time.Duration
			b.ResetTimer()
			for b.Loop() {
				took = took[:0]
				for _, rev := range revs {
					from := ns[r.IntN(n)]
					start := time.Now()
					if err := from.g.publish(context.Background(), rev); err != nil {
						b.Fatal(err)
					}
					took = append(took, waitRevoked(b, ns, rev.ID(), start, 5*time.Second))
				}
			}
			b.ReportMetric(float64(percentile(took, 50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(took, 99).Microseconds())/1000, "p99-ms")
		})
	}
}
