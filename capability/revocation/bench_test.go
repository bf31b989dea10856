package revocation

import (
	"crypto/ed25519"
	"crypto/rand"
	mrand "math/rand/v2"
	"runtime"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

const million = 1 << 20

// syntheticSet fills a Set's memory with n random IDs the way Add does
// (map entry, version index, filter bit) without signing n records, and
// returns it with the heap it grew by.
func syntheticSet(tb testing.TB, n int) (*Set, uint64) {
	tb.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := openSet(tb, newStore(), testkit.NewClock(testNow), Config{ExpectedEntries: uint(n)})
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
		s.filter.Add(id[:])
	}
	rc.n, s.version = n, uint64(n)
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

// BenchmarkSetLookupRevoked1M: the rare hit path, filter then map.
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

// BenchmarkSetLookupFalsePositive1M: IDs the filter wrongly claims cost
// one extra exact-set lookup and answer "not revoked".
func BenchmarkSetLookupFalsePositive1M(b *testing.B) {
	s, _ := syntheticSet(b, million)
	var fps []capability.ID
	for len(fps) < 64 {
		if id := randomID(); s.filter.Test(id[:]) {
			if _, ok := s.entries[id]; !ok {
				fps = append(fps, id)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if s.IsRevoked(fps[i&63]) {
			b.Fatal("false positive reported revoked")
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

// BenchmarkBloomFalsePositiveRate measures the filter's false-positive rate
// at 1 M entries against the configured one.
func BenchmarkBloomFalsePositiveRate(b *testing.B) {
	s, _ := syntheticSet(b, million)
	const probes = 1 << 20
	hits := 0
	for b.Loop() {
		hits = 0
		for range probes {
			if id := randomID(); s.filter.Test(id[:]) {
				hits++
			}
		}
	}
	b.ReportMetric(float64(hits)/probes, "measured-fp")
	b.ReportMetric(DefaultFalsePositiveRate, "configured-fp")
	b.ReportMetric(bloom.EstimateFalsePositiveRate(s.filter.Cap(), s.filter.K(), million), "estimated-fp")
	b.ReportMetric(float64(s.filter.Cap())/million, "filter-bits/entry")
}

// TestBloomFalsePositiveRateIsAsConfigured: at its sized capacity the
// filter's rate stays within twice the configured one.
func TestBloomFalsePositiveRateIsAsConfigured(t *testing.T) {
	const n, probes = 50_000, 200_000
	s, _ := syntheticSet(t, n)
	hits := 0
	for range probes {
		if id := randomID(); s.filter.Test(id[:]) {
			hits++
		}
	}
	rate := float64(hits) / probes
	t.Logf("false-positive rate %.5f at %d entries (configured %.5f)", rate, n, DefaultFalsePositiveRate)
	if rate > 2*DefaultFalsePositiveRate {
		t.Fatalf("rate %.5f over twice the configured %.5f", rate, DefaultFalsePositiveRate)
	}
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
