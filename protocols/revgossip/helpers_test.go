package revgossip

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// testNow is the fixed "now" of every set in these tests: tokens are
// issued around it.
var testNow = testkit.Epoch

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

// mustNew signs a revocation at testNow and fails the test on error.
func mustNew(t testing.TB, signer *keys.PeerKey, tok *capability.Token) *revocation.Revocation {
	t.Helper()
	r, err := revocation.New(signer, tok, testNow)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// revocations pre-signs n revocations of distinct owner tokens.
func revocations(t testing.TB, owner *keys.PeerKey, n int, seed string) []*revocation.Revocation {
	t.Helper()
	out := make([]*revocation.Revocation, n)
	for i := range out {
		tok := issueTo(t, owner, owner.ID(), nil, time.Hour, fmt.Sprint(seed, i))
		out[i] = mustNew(t, owner, tok)
	}
	return out
}

// recordEnvelope and recordPayload are the record format of
// capability/revocation's doc, written out here to build records that
// revocation.New refuses to make: forged signatures, revokers without
// standing.
type recordEnvelope struct {
	Payload   []byte `cbor:"1,keyasint"`
	Signature []byte `cbor:"2,keyasint"`
}

type recordPayload struct {
	Version uint64 `cbor:"1,keyasint"`
	Token   []byte `cbor:"2,keyasint"`
	Revoker []byte `cbor:"3,keyasint"`
	Time    int64  `cbor:"4,keyasint"`
	Expiry  int64  `cbor:"5,keyasint"`
	Proof   []byte `cbor:"6,keyasint"`
}

// rawPayload is the payload revocation.New would sign for tok, revoker
// and testNow.
func rawPayload(tok *capability.Token, revoker peer.ID) recordPayload {
	id := tok.ID()
	return recordPayload{Version: revocation.Version, Token: id[:], Revoker: []byte(revoker),
		Time: testNow.Unix(), Expiry: tok.Expiry().Unix(), Proof: tok.Bytes()}
}

// sealRecord encodes p and wraps it with sig (nil: signer's signature).
func sealRecord(t testing.TB, signer *keys.PeerKey, p recordPayload, sig []byte) []byte {
	t.Helper()
	pb, err := wire.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	if sig == nil {
		s := signer.Sign(keys.RevocationMessage(pb))
		sig = s[:]
	}
	raw, err := wire.Marshal(recordEnvelope{Payload: pb, Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// forgedRecords makes n distinct records that decode (the owner has
// standing) but carry a random signature: the costly kind to reject.
func forgedRecords(t testing.TB, owner *keys.PeerKey, n int) [][]byte {
	t.Helper()
	tok := issueTo(t, owner, owner.ID(), nil, time.Hour, "forged-proof")
	out := make([][]byte, n)
	for i := range out {
		p := rawPayload(tok, owner.ID())
		p.Time += int64(i)
		sig := make([]byte, 64)
		rand.Read(sig)
		out[i] = sealRecord(t, owner, p, sig)
	}
	return out
}
