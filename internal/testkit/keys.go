package testkit

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/ocmt/mesh/internal/keys"
)

// Key derives a fixed peer key from a name, so vectors and logs are the
// same on every run. Two names give two keys; the same name gives the same
// key in every package.
func Key(t testing.TB, name string) *keys.PeerKey {
	t.Helper()
	seed := sha256.Sum256([]byte("ocmt-mesh test key " + name))
	k, err := keys.PeerKeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

// Rand is a deterministic randomness source (SHA-256 in counter mode) for
// nonces in vectors: the same seed gives the same bytes.
type Rand struct {
	seed string
	n    int
}

// NewRand returns a Rand for seed.
func NewRand(seed string) *Rand { return &Rand{seed: seed} }

// Read fills p; it never fails.
func (r *Rand) Read(p []byte) (int, error) {
	for i := range p {
		block := sha256.Sum256(fmt.Appendf(nil, "%s/%d", r.seed, r.n/32))
		p[i] = block[r.n%32]
		r.n++
	}
	return len(p), nil
}
