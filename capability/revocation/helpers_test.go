package revocation

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// testNow is the fixed "now" of every test and vector.
var testNow = testkit.Epoch

// testKey derives a fixed peer key from a name, so vectors are
// reproducible. It is not testkit.Key: testdata/records.json was made
// with these keys.
func testKey(t testing.TB, name string) *keys.PeerKey {
	t.Helper()
	seed := sha256.Sum256([]byte("revocation test key " + name))
	k, err := keys.PeerKeyFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

// cast holds the fixed peers: owner issues roots, alice and bob receive and
// delegate, mallory attacks.
type cast struct {
	owner, alice, bob, carol, mallory *keys.PeerKey
}

func newCast(t testing.TB) *cast {
	t.Helper()
	return &cast{
		owner:   testKey(t, "owner"),
		alice:   testKey(t, "alice"),
		bob:     testKey(t, "bob"),
		carol:   testKey(t, "carol"),
		mallory: testKey(t, "mallory"),
	}
}

// issueTo issues a token valid for [testNow-1h, testNow+life) with a
// nonce derived from seed; parent may be nil.
func issueTo(t testing.TB, signer *keys.PeerKey, aud peer.ID, parent *capability.Token, life time.Duration, seed string) *capability.Token {
	t.Helper()
	res := capability.Pattern("calendar/**")
	if parent != nil {
		res = parent.Resource()
	}
	tok, err := capability.Issue(signer, capability.Params{
		Audience: aud, Resource: res, Actions: capability.Read | capability.Share,
		NotBefore: testNow.Add(-time.Hour), Expiry: testNow.Add(life), Parent: parent,
		Rand: testkit.NewRand(seed),
	})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return tok
}

// chain3 is owner → alice → bob → carol.
type chain3 struct {
	root, mid, leaf *capability.Token
}

func newChain(t testing.TB, c *cast, seed string) chain3 {
	t.Helper()
	root := issueTo(t, c.owner, c.alice.ID(), nil, time.Hour, seed+"/root")
	mid := issueTo(t, c.alice, c.bob.ID(), root, time.Hour, seed+"/mid")
	leaf := issueTo(t, c.bob, c.carol.ID(), mid, time.Hour, seed+"/leaf")
	return chain3{root, mid, leaf}
}

// mustNew signs a revocation and fails the test on error.
func mustNew(t testing.TB, signer *keys.PeerKey, tok *capability.Token) *Revocation {
	t.Helper()
	r, err := New(signer, tok, testNow)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// rawPayload is the payload New would write for tok, revoker and testNow.
func rawPayload(tok *capability.Token, revoker peer.ID) payload {
	id := tok.ID()
	return payload{Version: Version, Token: id[:], Revoker: []byte(revoker), Time: testNow.Unix(),
		Expiry: tok.Expiry().Unix(), Proof: tok.Bytes()}
}

// signRaw encodes p and signs it with signer under label, bypassing New's
// checks, for records that must fail.
func signRaw(t testing.TB, signer *keys.PeerKey, p payload, label func([]byte) keys.Message) []byte {
	t.Helper()
	pb, err := wire.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	sig := signer.Sign(label(pb))
	raw, err := wire.Marshal(envelope{Payload: pb, Signature: sig[:]})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// errorName names the sentinel err wraps, "ok" for nil, for tables and
// vectors.
func errorName(err error) string {
	if err == nil {
		return "ok"
	}
	for _, s := range []struct {
		name string
		err  error
	}{
		{"ErrTooLarge", ErrTooLarge},
		{"ErrMalformed", ErrMalformed},
		{"ErrBadSignature", ErrBadSignature},
		{"ErrNotIssuer", ErrNotIssuer},
		{"ErrBadProof", ErrBadProof},
		{"ErrExpired", ErrExpired},
		{"ErrQuota", ErrQuota},
		{"ErrClosed", ErrClosed},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "error"
}
