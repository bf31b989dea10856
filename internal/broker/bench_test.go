package broker

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

var sink float32

// BenchmarkSearch10k: memory_search's own cost (the provider excluded):
// one top-10 query over 10,000 notes, against a plain loop computing the
// same 10,000 dot products over the same vectors, paired in the same run.
// It reports each one's p50 and p99 per query and the median pair ratio
// (x: 1 means search costs what the bare dot products do).
func BenchmarkSearch10k(b *testing.B) {
	for _, dim := range []int{384, 1536} {
		b.Run(fmt.Sprintf("dim=%d", dim), func(b *testing.B) {
			r := rand.New(rand.NewPCG(uint64(dim), 1))
			x, _ := NewIndex(dim)
			for i := range 10000 {
				if err := x.Add(fmt.Sprintf("memory/note-%05d", i), randVec(r, dim)); err != nil {
					b.Fatal(err)
				}
			}
			queries := make([][]float32, 64)
			for i := range queries {
				queries[i] = randVec(r, dim)
			}
			flat := x.vecs
			qi := 0
			ours := func() {
				if _, err := x.Search(queries[qi%len(queries)], 10); err != nil {
					b.Fatal(err)
				}
			}
			base := func() {
				q := queries[qi%len(queries)]
				var best float32
				for i := range 10000 {
					var s float32
					v := flat[i*dim : (i+1)*dim]
					for d := range dim {
						s += q[d] * v[d]
					}
					best = max(best, s)
				}
				sink += best
			}
			p := testkit.Pair(b, 3, func() time.Duration {
				t := testkit.Timed(1, ours)()
				return t
			}, func() time.Duration {
				t := testkit.Timed(1, base)()
				qi++
				return t
			})
			p.ReportX(b)
			testkit.ReportQuantiles(b, "search", p.Ours, time.Microsecond, 0.5, 0.99)
			testkit.ReportQuantiles(b, "loop", p.Base, time.Microsecond, 0.5, 0.99)
		})
	}
}
