package legacy

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/vault"
)

// Canaries: a legacy password and a secret value that must never appear in
// an error or a String().
const (
	pwCanary    = "LEGACYPW-canary-5d2e"
	valueCanary = "sk-live-VALUECANARY-77ab"
)

// lowScrypt and lowPBKDF2 keep tests fast; the format allows them.
var (
	lowScrypt = KDF{Name: KDFScrypt, N: 1 << 10, R: 8, P: 1}
	lowPBKDF2 = KDF{Name: KDFPBKDF2, Iterations: 1000}
)

var testNow = time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)

// seeded is a deterministic randomness source for reproducible exports.
type seeded struct{ r *rand.ChaCha8 }

func newSeeded(seed byte) *seeded {
	var s [32]byte
	s[0] = seed
	return &seeded{rand.NewChaCha8(s)}
}

func (s *seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

// sampleWithCanary is n sample secrets, the first one's value the canary.
func sampleWithCanary(t testing.TB, n int) []Plain {
	t.Helper()
	ps, err := Sample(newSeeded(1), n, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		ps[0].Value = []byte(valueCanary)
	}
	return ps
}

// makeExport seals n sample secrets under pwCanary and returns its bytes.
func makeExport(t testing.TB, n int, kdf KDF) []byte {
	t.Helper()
	e, err := Seal(newSeeded(2), []byte(pwCanary), kdf, "alice@example.com", testNow, sampleWithCanary(t, n))
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vaultTarget is a vault as an import Target, with a fixed actor.
type vaultTarget struct{ v *vault.Vault }

func (t vaultTarget) SecretList(ctx context.Context) ([]vault.SecretInfo, error) {
	return t.v.ListSecrets(ctx)
}
func (t vaultTarget) SecretGet(ctx context.Context, name string) (vault.Secret, error) {
	return t.v.GetSecret(ctx, name, "test")
}
func (t vaultTarget) SecretSet(ctx context.Context, s vault.Secret) error {
	return t.v.PutSecret(ctx, s, "test")
}

func newVault(t testing.TB, store ds.Batching) *vault.Vault {
	t.Helper()
	if store == nil {
		store = dssync.MutexWrap(ds.NewMapDatastore())
	}
	v, err := vault.Create(context.Background(), vault.Config{Store: store}, []byte("vault-pw"), vault.TestKDF(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}
