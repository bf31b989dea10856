package vault

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	ds "github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"golang.org/x/crypto/argon2"

	meshstore "github.com/ocmt/mesh/internal/store"
)

// Unlock with the production parameters against a bare argon2.IDKey with
// the same parameters: the vault's own work should be noise (target ≤ 1.1×).
func BenchmarkUnlock(b *testing.B) {
	ctx := context.Background()
	store := memStore()
	v, err := Create(ctx, Config{Store: store}, []byte("pw"), DefaultKDF(), "b")
	if err != nil {
		b.Fatal(err)
	}
	v.Close()
	b.ResetTimer()
	for b.Loop() {
		if err := v.Unlock(ctx, []byte("pw"), "b"); err != nil {
			b.Fatal(err)
		}
		v.Close()
	}
}

func BenchmarkBaselineArgon2IDKey(b *testing.B) {
	p := DefaultKDF()
	salt := make([]byte, 16)
	rand.Read(salt)
	for b.Loop() {
		argon2.IDKey([]byte("pw"), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	}
}

var benchSizes = []int{64, 4 << 10}

// benchStore names a store kind and makes the vault's store of that kind
// and a bare one for the baseline: for pebble, the vault gets store.Open
// (with its disk-space guard) and the baseline a bare go-ds-pebble
// datastore with the same synced writes.
type benchStore struct {
	vault, bare func() ds.Batching
}

func benchStores(b *testing.B) map[string]benchStore {
	mem := func() ds.Batching { return memStore() }
	return map[string]benchStore{
		"mem": {mem, mem},
		"pebble": {
			vault: func() ds.Batching {
				s, err := meshstore.Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				return s
			},
			bare: func() ds.Batching {
				s, err := pebbleds.NewDatastore(b.TempDir(), pebbleds.WithPebbleWriteOptions(pebble.Sync))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				return s
			},
		},
	}
}

// Secret get after unlock vs a bare datastore get of the same size, and vs
// a bare get plus one synced 256-byte put: the least an audited read costs
// on a durable store (the value, then the audit record on disk before the
// value is returned).
func BenchmarkSecretGet(b *testing.B) {
	ctx := context.Background()
	for name, mk := range benchStores(b) {
		for _, size := range benchSizes {
			val := make([]byte, size)
			rand.Read(val)
			b.Run(fmt.Sprintf("vault/%s/%dB", name, size), func(b *testing.B) {
				v, err := Create(ctx, Config{Store: mk.vault()}, []byte("pw"), TestKDF(), "b")
				if err != nil {
					b.Fatal(err)
				}
				v.PutSecret(ctx, Secret{Name: "k", Type: TypeAPIKey, Value: val}, "b")
				b.SetBytes(int64(size))
				for b.Loop() {
					if _, err := v.GetSecret(ctx, "k", "b"); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("bare/%s/%dB", name, size), func(b *testing.B) {
				s := mk.bare()
				s.Put(ctx, ds.NewKey("/k"), val)
				b.SetBytes(int64(size))
				for b.Loop() {
					if _, err := s.Get(ctx, ds.NewKey("/k")); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("bare+syncedput/%s/%dB", name, size), func(b *testing.B) {
				s := mk.bare()
				s.Put(ctx, ds.NewKey("/k"), val)
				rec := make([]byte, 256)
				b.SetBytes(int64(size))
				i := 0
				for b.Loop() {
					if _, err := s.Get(ctx, ds.NewKey("/k")); err != nil {
						b.Fatal(err)
					}
					i++
					if err := s.Put(ctx, ds.NewKey(fmt.Sprintf("/a/%d", i)), rec); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// Secret put vs a bare datastore put of the same size.
func BenchmarkSecretPut(b *testing.B) {
	ctx := context.Background()
	for name, mk := range benchStores(b) {
		for _, size := range benchSizes {
			val := make([]byte, size)
			rand.Read(val)
			b.Run(fmt.Sprintf("vault/%s/%dB", name, size), func(b *testing.B) {
				v, err := Create(ctx, Config{Store: mk.vault()}, []byte("pw"), TestKDF(), "b")
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := v.PutSecret(ctx, Secret{Name: "k", Type: TypeAPIKey, Value: val}, "b"); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("bare/%s/%dB", name, size), func(b *testing.B) {
				s := mk.bare()
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := s.Put(ctx, ds.NewKey("/k"), val); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
