package capability

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// testNow is the fixed "now" of every test and vector.
var testNow = testkit.Epoch

// testKey derives a fixed peer key from a name, so vectors are reproducible.
// It is not testkit.Key: the committed vectors are signed by keys derived
// under this package's own label, and must stay byte for byte as they are.
func testKey(t testing.TB, name string) *keys.PeerKey {
	t.Helper()
	seed := sha256.Sum256([]byte("capability test key " + name))
	k, err := keys.PeerKeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

// cast holds the fixed peers of the tests: owner issues roots in its own
// namespace, alice and bob receive and delegate, mallory attacks.
type cast struct {
	owner, alice, bob, carol, dave, mallory *keys.PeerKey
}

func newCast(t testing.TB) *cast {
	t.Helper()
	return &cast{
		owner:   testKey(t, "owner"),
		alice:   testKey(t, "alice"),
		bob:     testKey(t, "bob"),
		carol:   testKey(t, "carol"),
		dave:    testKey(t, "dave"),
		mallory: testKey(t, "mallory"),
	}
}

// defaults fills the time window (now ± 1 h) and a deterministic nonce.
func defaults(p Params, seed string) Params {
	if p.NotBefore.IsZero() {
		p.NotBefore = testNow.Add(-time.Hour)
	}
	if p.Expiry.IsZero() {
		p.Expiry = testNow.Add(time.Hour)
	}
	if p.Rand == nil {
		p.Rand = testkit.NewRand(seed)
	}
	return p
}

// issue issues with the rules and fails the test on error.
func issue(t testing.TB, signer *keys.PeerKey, p Params) *Token {
	t.Helper()
	tok, err := Issue(signer, defaults(p, seedOf(signer, p)))
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return tok
}

// forge mints without the delegation rules, for chains that must fail.
func forge(t testing.TB, signer *keys.PeerKey, p Params) *Token {
	t.Helper()
	tok, err := mint(signer, defaults(p, "forge"+seedOf(signer, p)), false)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return tok
}

// seedOf derives a nonce seed from the parameters, so the same build gives
// the same token in every run; set Params.Rand to get a distinct twin.
func seedOf(signer *keys.PeerKey, p Params) string {
	var parent ID
	if p.Parent != nil {
		parent = p.Parent.ID()
	}
	return fmt.Sprint(signer.ID(), p.Audience, p.Resource, uint8(p.Actions), p.NotBefore.Unix(),
		p.Expiry.Unix(), p.MaxUses, uint8(p.Ceiling), parent)
}
