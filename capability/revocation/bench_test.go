package revocation

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

const million = 1 << 20

// syntheticSet fills a Set's memory with n random IDs the way Add does
// (map entry, version index) without signing n records, and
// returns it with the heap it grew by.
func syntheticSet(tb testing.TB, n int) (*Set, uint64) {
	tb.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := openSet(tb, newStore(), testkit.NewClock(testNow), Config{})
	rc := &revokerCount{}
	r := mrand.New(mrand.NewPCG(3, 4))
	for i := range n {
		var id capability.ID
		for j := 0; j < len(id); j += 8 {
			v := r.Uint64()
			for k := range 8 {
				id[j+k] = byte(v >> (8 * k))
			}
		}
		s.entries[id] = entry{version: uint64(i + 1), expiry: testNow.Unix() + 3600, rc: rc}
		s.byVersion = append(s.byVersion, versioned{uint64(i + 1), id})
	}
	rc.n, s.version = n, uint64(n)
	s.live.Store(int64(n))
	runtime.GC()
	runtime.ReadMemStats(&after)
	return s, after.HeapAlloc - before.HeapAlloc
}

func randomID() capability.ID {
	var id capability.ID
	rand.Read(id[:])
	return id
}

// BenchmarkSetLookup1M: IsRevoked on IDs that are not revoked, with 1 M
// entries; the common case of every request. Reports bytes per entry.
func BenchmarkSetLookup1M(b *testing.B) {
	s, heap := syntheticSet(b, million)
	ids := make([]capability.ID, 1024)
	for i := range ids {
		ids[i] = randomID()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if s.IsRevoked(ids[i&1023]) {
			b.Fatal("random ID revoked")
		}
	}
	b.ReportMetric(float64(heap)/million, "B/entry")
}

// BenchmarkSetLookupRevoked1M: the rare hit path.
func BenchmarkSetLookupRevoked1M(b *testing.B) {
	s, _ := syntheticSet(b, million)
	ids := make([]capability.ID, 0, 1024)
	for _, v := range s.byVersion[:1024] {
		ids = append(ids, v.id)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if !s.IsRevoked(ids[i&1023]) {
			b.Fatal("revoked ID not found")
		}
	}
}

// BenchmarkBaselineMapLookup1M: a plain Go map miss with 1 M entries, the
// same-run baseline for the lookups above.
func BenchmarkBaselineMapLookup1M(b *testing.B) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m := make(map[capability.ID]struct{}, million)
	for range million {
		m[randomID()] = struct{}{}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	ids := make([]capability.ID, 1024)
	for i := range ids {
		ids[i] = randomID()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := m[ids[i&1023]]; ok {
			b.Fatal("random ID present")
		}
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/million, "B/entry")
}

// BenchmarkParse: full verification of a record revoking a 3-link chain
// (4 signatures), beside one raw ed25519.Verify.
func BenchmarkParse(b *testing.B) {
	c := newCast(b)
	raw := mustNew(b, c.owner, newChain(b, c, "bench").leaf).Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineEd25519Verify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 400)
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
}

// BenchmarkIsRevokedVsMap: Set.IsRevoked against a bare Go map lookup of
// the same IDs in the same run, interleaved: each round times a batch of
// lookups through the Set and through a map holding the same IDs, the
// order alternating round to round, and the benchmark reports both
// medians, the median of the per-round ratios (Set/map) and their 10th and
// 90th percentiles. miss probes random IDs (every request's case); hit
// probes revoked ones.
func BenchmarkIsRevokedVsMap(b *testing.B) {
	for _, n := range []int{0, 10_000, million} {
		for _, kind := range []string{"miss", "hit"} {
			if n == 0 && kind == "hit" {
				continue
			}
			b.Run(fmt.Sprintf("entries=%d/%s", n, kind), func(b *testing.B) {
				s, _ := syntheticSet(b, n)
				m := make(map[capability.ID]struct{}, n)
				for id := range s.entries {
					m[id] = struct{}{}
				}
				ids := make([]capability.ID, 1024)
				for i := range ids {
					if kind == "hit" {
						ids[i] = s.byVersion[(i*7919)%n].id
					} else {
						ids[i] = randomID()
					}
				}
				want := kind == "hit"
				const rounds, batch = 41, 1 << 15
				// Tight loops, not testkit.Timed: a call per lookup would
				// cost as much as a map lookup.
				timeSet := func() time.Duration {
					start := time.Now()
					for i := range batch {
						if s.IsRevoked(ids[i&1023]) != want {
							b.Fatal("wrong answer from the set")
						}
					}
					return time.Since(start)
				}
				timeMap := func() time.Duration {
					start := time.Now()
					for i := range batch {
						if _, ok := m[ids[i&1023]]; ok != want {
							b.Fatal("wrong answer from the map")
						}
					}
					return time.Since(start)
				}
				var p testkit.Pairs
				for b.Loop() {
					p = testkit.Pairs{}
					for range rounds {
						p.Run(timeSet, timeMap)
					}
				}
				perLookup := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / batch }
				b.ReportMetric(testkit.Quantile(testkit.Floats(p.Ours, perLookup), 0.5), "set-ns/lookup")
				b.ReportMetric(testkit.Quantile(testkit.Floats(p.Base, perLookup), 0.5), "map-ns/lookup")
				ratios := p.Ratios()
				b.ReportMetric(testkit.Quantile(ratios, 0.5), "ratio-p50")
				b.ReportMetric(testkit.Quantile(ratios, 0.1), "ratio-p10")
				b.ReportMetric(testkit.Quantile(ratios, 0.9), "ratio-p90")
			})
		}
	}
}

// BenchmarkEmptySetHeap: the heap an empty Set takes once open (what an
// idle home node pays), averaged over 64 sets, datastore excluded.
func BenchmarkEmptySetHeap(b *testing.B) {
	const sets = 64
	var per float64
	for b.Loop() {
		stores := make([]ds.Datastore, sets)
		for i := range stores {
			stores[i] = newStore()
		}
		open := make([]*Set, 0, sets)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, st := range stores {
			s, err := Open(context.Background(), Config{Datastore: st, CollectEvery: -1})
			if err != nil {
				b.Fatal(err)
			}
			open = append(open, s)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(after.HeapAlloc-before.HeapAlloc) / sets
		for _, s := range open {
			s.Close()
		}
	}
	b.ReportMetric(per, "B/set")
}
