package vault

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	ds "github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"golang.org/x/crypto/argon2"

	meshstore "github.com/ocmt/mesh/internal/store"
)

// Every benchmark here pairs the vault with its baseline in the same loop
// (pairRatios): one batch of each per pair, the order swapped every pair,
// so both see the same load on the machine. Read "x", the median of the
// per-pair ratios vault/baseline, with its spread "x-p10"–"x-p90"; ns/op
// is the time of one pair and means little on its own.
//
// Run: go test ./vault -run '^$' -bench 'Unlock|Secret' -benchtime 30x -count 3   (30 pairs a run)

// BenchmarkUnlock pairs an unlock with the production KDF parameters
// against a bare argon2.IDKey with the same parameters: the vault's own
// work should be noise (goal x ≤ 1.1).
func BenchmarkUnlock(b *testing.B) {
	ctx := context.Background()
	v, err := Create(ctx, Config{Store: memStore()}, []byte("pw"), DefaultKDF(), "b")
	if err != nil {
		b.Fatal(err)
	}
	v.Close()
	unlock := func() {
		if err := v.Unlock(ctx, []byte("pw"), "b"); err != nil {
			b.Fatal(err)
		}
		v.Close()
	}
	p := DefaultKDF()
	salt := make([]byte, 16)
	rand.Read(salt)
	idKey := func() { argon2.IDKey([]byte("pw"), salt, p.Time, p.MemoryKiB, p.Threads, 32) }
	pairRatios(b, unlock, idKey, 1)
}

// benchSizes are a token, a document, and a value of 64 KiB: more than
// half a home store's memtable, so pebble flushes it to its own table
// (store.SizingFor) where the bare store, with pebble's 4 MiB memtables,
// buffers it.
var benchSizes = []int{64, 4 << 10, 64 << 10}

// vaultStore is the vault's store as a home node opens it (store.Open:
// pebble on disk, the disk-space guard, every write synced).
func vaultStore(b *testing.B) ds.Batching {
	s, err := meshstore.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// barePebble is the baseline's store: a bare go-ds-pebble datastore with
// pebble's defaults and the same synced writes.
func barePebble(b *testing.B) ds.Batching {
	s, err := pebbleds.NewDatastore(b.TempDir(), pebbleds.WithPebbleWriteOptions(pebble.Sync))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// auditRecordBytes is about what one audit record takes in the store.
const auditRecordBytes = 256

// BenchmarkSecretGet pairs a secret read after unlock (decrypt, the
// rollback check, and its audit record synced to disk before the value is
// returned) against the least an audited read costs on a durable store: a
// bare pebble get of the same size plus one synced put of an audit-sized
// record.
func BenchmarkSecretGet(b *testing.B) {
	ctx := context.Background()
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			val := make([]byte, size)
			rand.Read(val)
			v, err := Create(ctx, Config{Store: vaultStore(b)}, []byte("pw"), TestKDF(), "b")
			if err != nil {
				b.Fatal(err)
			}
			if err := v.PutSecret(ctx, Secret{Name: "k", Type: TypeAPIKey, Value: val}, "b"); err != nil {
				b.Fatal(err)
			}
			get := func() {
				if _, err := v.GetSecret(ctx, "k", "b"); err != nil {
					b.Fatal(err)
				}
			}
			s := barePebble(b)
			if err := s.Put(ctx, ds.NewKey("/k"), val); err != nil {
				b.Fatal(err)
			}
			rec := make([]byte, auditRecordBytes)
			i := 0
			bare := func() {
				if _, err := s.Get(ctx, ds.NewKey("/k")); err != nil {
					b.Fatal(err)
				}
				i++
				if err := s.Put(ctx, ds.NewKey(fmt.Sprintf("/a/%d", i)), rec); err != nil {
					b.Fatal(err)
				}
			}
			pairRatios(b, get, bare, 5)
		})
	}
}

// BenchmarkSecretPut pairs a secret write (sealed, indexed and audited in
// one synced batch) against a bare synced pebble put of the same size.
func BenchmarkSecretPut(b *testing.B) {
	ctx := context.Background()
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			val := make([]byte, size)
			rand.Read(val)
			v, err := Create(ctx, Config{Store: vaultStore(b)}, []byte("pw"), TestKDF(), "b")
			if err != nil {
				b.Fatal(err)
			}
			put := func() {
				if err := v.PutSecret(ctx, Secret{Name: "k", Type: TypeAPIKey, Value: val}, "b"); err != nil {
					b.Fatal(err)
				}
			}
			s := barePebble(b)
			bare := func() {
				if err := s.Put(ctx, ds.NewKey("/k"), val); err != nil {
					b.Fatal(err)
				}
			}
			pairRatios(b, put, bare, 5)
		})
	}
}

// pairRatios runs ours and base in batches of batch calls, one batch of
// each per iteration, swapping which goes first every iteration, and
// reports the median of the per-pair ratios ours/base as "x", their 10th
// and 90th percentiles as "x-p10" and "x-p90", and the median ms of one
// call of each. A ratio taken pair by pair holds when other load on the
// machine shifts absolute timings.
func pairRatios(b *testing.B, ours, base func(), batch int) {
	b.Helper()
	timeIt := func(f func()) time.Duration {
		t0 := time.Now()
		for range batch {
			f()
		}
		return time.Since(t0)
	}
	ours() // warm up lazily built state before the first pair
	base()
	var ratios, oursMs, baseMs []float64
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
		oursMs = append(oursMs, o.Seconds()*1e3/float64(batch))
		baseMs = append(baseMs, s.Seconds()*1e3/float64(batch))
	}
	b.ReportMetric(quantile(ratios, 0.5), "x")
	b.ReportMetric(quantile(ratios, 0.1), "x-p10")
	b.ReportMetric(quantile(ratios, 0.9), "x-p90")
	b.ReportMetric(quantile(oursMs, 0.5), "ours-ms")
	b.ReportMetric(quantile(baseMs, 0.5), "base-ms")
}

// quantile returns the q-quantile of xs (nearest rank), sorting xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[min(len(xs)-1, int(q*float64(len(xs))))]
}
