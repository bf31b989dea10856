package blockcache

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	"github.com/ocmt/mesh/internal/testkit"
)

// pairRatios times ours and base alternately, each over a batch of calls,
// with the order swapped every pair, and reports the median of the pair
// ratios ours/base as "x" with its spread ("x-p10", "x-p90") and the
// median ns of one call of each (the capability package's method).
func pairRatios(b *testing.B, ours, base func(), batch int) {
	b.Helper()
	timeIt := func(f func()) time.Duration {
		t0 := time.Now()
		for range batch {
			f()
		}
		return time.Since(t0)
	}
	ours()
	base()
	var ratios, oursNs, baseNs []float64
	swap := false
	for b.Loop() {
		var o, s time.Duration
		if swap {
			s = timeIt(base)
			o = timeIt(ours)
		} else {
			o = timeIt(ours)
			s = timeIt(base)
		}
		swap = !swap
		ratios = append(ratios, float64(o)/float64(s))
		oursNs = append(oursNs, float64(o.Nanoseconds())/float64(batch))
		baseNs = append(baseNs, float64(s.Nanoseconds())/float64(batch))
	}
	b.ReportMetric(quantile(ratios, 0.5), "x")
	b.ReportMetric(quantile(ratios, 0.1), "x-p10")
	b.ReportMetric(quantile(ratios, 0.9), "x-p90")
	b.ReportMetric(quantile(oursNs, 0.5), "ours-ns")
	b.ReportMetric(quantile(baseNs, 0.5), "base-ns")
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[min(len(xs)-1, int(q*float64(len(xs))))]
}

// BenchmarkCachedReadVsDatastore pairs a cached block read (index lookup,
// pebble read, hash check, recency) with a bare read of the same key from
// the same pebble datastore: the cost of the checks.
func BenchmarkCachedReadVsDatastore(b *testing.B) {
	for _, size := range []int{16 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			ctx := context.Background()
			alice := testkit.Key(b, "alice").ID()
			c, st := open(b, Config{MaxBytes: 64 << 20, Authorizer: allowing(alice)})
			blk := block("bench", size)
			id := cidOf(blk)
			if err := c.Put(ctx, alice, id, blk); err != nil {
				b.Fatal(err)
			}
			raw := namespace.Wrap(st, ds.NewKey("/cache"))
			cached := func() {
				if _, err := c.Get(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			bare := func() {
				if _, err := raw.Get(ctx, blockKey(id)); err != nil {
					b.Fatal(err)
				}
			}
			pairRatios(b, cached, bare, 20)
		})
	}
}
