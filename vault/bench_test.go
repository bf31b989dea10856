package vault

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	ds "github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"golang.org/x/crypto/argon2"

	meshstore "github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
)

// Every benchmark here pairs the vault with its baseline in the same loop
// (testkit.PairRatios): one batch of each per pair, the order swapped
// every pair, so both see the same load on the machine. Read "x", the median of the
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
	testkit.PairRatios(b, unlock, idKey, 1, time.Millisecond)
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
			testkit.PairRatios(b, get, bare, 5, time.Millisecond)
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
			testkit.PairRatios(b, put, bare, 5, time.Millisecond)
		})
	}
}
