package blockcache

import (
	"context"
	"fmt"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	"github.com/ocmt/mesh/internal/testkit"
)

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
			testkit.PairRatios(b, cached, bare, 20, time.Nanosecond)
		})
	}
}
