package snapshot

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

const rawProto = protocol.ID("/ocmt-bench/raw/1")

// BenchmarkCachedFetchVsDirectStream pairs a fetch from the cache (token
// checked, blocks read from pebble and hash-checked on the way out,
// checked against their CIDs, opened with age on the way in) with a
// direct stream of the same number of plaintext bytes from memory between
// the same two hosts: the transport's floor. Pairs alternate in order;
// "x" is the median of the pair ratios fetch/direct (x-p10, x-p90 the
// spread), "fetch-MB/s" and "direct-MB/s" the medians of each.
func BenchmarkCachedFetchVsDirectStream(b *testing.B) {
	for _, size := range []int{10 << 20, 100 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			alice, bob := newOwner(b, "alice"), newReader(b, "bob")
			c := startCache(b, allowList{alice.k.ID(): true}, nil)
			s := alice.seal(b, testkit.Stream(3, int64(size)), "files/big", 1, bob.k.ID())
			if err := alice.push(b, c, s); err != nil {
				b.Fatal(err)
			}
			tok := alice.token(b, bob.k.ID(), "files/*", capability.Params{Expiry: time.Now().Add(6 * time.Hour)}).Bytes()
			alice.h.Close()
			plain := make([]byte, size)
			testkit.Stream(3, int64(size)).Read(plain)
			c.h.SetStreamHandler(rawProto, func(st network.Stream) {
				for off := 0; off < len(plain); off += 1 << 20 {
					if _, err := st.Write(plain[off:min(off+1<<20, len(plain))]); err != nil {
						st.Reset()
						return
					}
				}
				st.Close()
			})
			testkit.Connect(b, bob.h, c.h)
			ctx := testkit.Context(b, time.Hour)
			fetch := func() {
				f, err := Fetch(ctx, bob.h, c.h.ID(), bob.k, alice.k.ID(), "files/big", tok, bob.state, io.Discard)
				if err != nil || f.Bytes != int64(size) {
					b.Fatalf("fetch: %v", err)
				}
			}
			direct := func() {
				st, err := bob.h.NewStream(ctx, c.h.ID(), rawProto)
				if err != nil {
					b.Fatal(err)
				}
				st.CloseWrite()
				n, err := io.Copy(io.Discard, st)
				if err != nil || n != int64(size) {
					b.Fatalf("direct: %d bytes, %v", n, err)
				}
				st.Close()
			}
			fetch()
			direct()
			p := testkit.Pair(b, 0, testkit.Timed(1, fetch), testkit.Timed(1, direct))
			p.ReportX(b)
			b.ReportMetric(testkit.MedianMBps(p.Ours, int64(size)), "fetch-MB/s")
			b.ReportMetric(testkit.MedianMBps(p.Base, int64(size)), "direct-MB/s")
		})
	}
}
