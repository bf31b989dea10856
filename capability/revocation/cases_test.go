package revocation

import (
	"bytes"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// recordCase is one record to parse and the sentinel it must give. The
// table is the source of testdata/records.json (see vectors_test.go).
type recordCase struct {
	name  string
	want  string // "ok" or a sentinel name
	build func(t testing.TB, c *cast) []byte
}

func recordCases() []recordCase {
	return append([]recordCase{
		{"the root issuer revoking its own token is accepted", "ok", func(t testing.TB, c *cast) []byte {
			return mustNew(t, c.owner, newChain(t, c, "v1").root).Bytes()
		}},
		{"a delegator revoking its own delegation is accepted", "ok", func(t testing.TB, c *cast) []byte {
			return mustNew(t, c.alice, newChain(t, c, "v2").mid).Bytes()
		}},
		{"the root issuer revoking a descendant's link is accepted", "ok", func(t testing.TB, c *cast) []byte {
			return mustNew(t, c.owner, newChain(t, c, "v3").leaf).Bytes()
		}},
		{"a middle issuer revoking the leaf below it is accepted", "ok", func(t testing.TB, c *cast) []byte {
			return mustNew(t, c.alice, newChain(t, c, "v4").leaf).Bytes()
		}},
		{"a stranger revoking someone else's token is refused", "ErrNotIssuer", func(t testing.TB, c *cast) []byte {
			tok := newChain(t, c, "v5").leaf
			return signRaw(t, c.mallory, rawPayload(tok, c.mallory.ID()), keys.RevocationMessage)
		}},
		{"a delegate revoking the token delegated to it is refused", "ErrNotIssuer", func(t testing.TB, c *cast) []byte {
			ch := newChain(t, c, "v6")
			// bob holds mid and issued leaf; he has no standing over mid.
			return signRaw(t, c.bob, rawPayload(ch.mid, c.bob.ID()), keys.RevocationMessage)
		}},
		{"a forged signature is refused", "ErrBadSignature", func(t testing.TB, c *cast) []byte {
			raw := mustNew(t, c.owner, newChain(t, c, "v7").root).Bytes()
			raw[len(raw)-1] ^= 1 // the signature is the last field
			return raw
		}},
		{"an all-zero signature is refused", "ErrBadSignature", func(t testing.TB, c *cast) []byte {
			tok := newChain(t, c, "v8").root
			pb, _ := wire.Marshal(rawPayload(tok, c.owner.ID()))
			raw, _ := wire.Marshal(envelope{Payload: pb, Signature: make([]byte, 64)})
			return raw
		}},
		{"an unsigned record is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			tok := newChain(t, c, "v9").root
			pb, _ := wire.Marshal(rawPayload(tok, c.owner.ID()))
			raw, _ := wire.Marshal(envelope{Payload: pb, Signature: []byte{}})
			return raw
		}},
		{"a record naming the owner but signed by another key is refused", "ErrBadSignature", func(t testing.TB, c *cast) []byte {
			tok := newChain(t, c, "v10").root
			return signRaw(t, c.mallory, rawPayload(tok, c.owner.ID()), keys.RevocationMessage)
		}},
		{"a record signed under the token domain label is refused", "ErrBadSignature", func(t testing.TB, c *cast) []byte {
			tok := newChain(t, c, "v11").root
			return signRaw(t, c.owner, rawPayload(tok, c.owner.ID()), keys.TokenMessage)
		}},
		{"a record one byte over the cap is refused", "ErrTooLarge", func(t testing.TB, c *cast) []byte {
			return bytes.Repeat([]byte{0xa2}, MaxRecordBytes+1)
		}},
		{"a truncated record is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			raw := mustNew(t, c.owner, newChain(t, c, "v12").root).Bytes()
			return raw[:len(raw)-1]
		}},
		{"a record with trailing bytes is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			raw := mustNew(t, c.owner, newChain(t, c, "v13").root).Bytes()
			return append(raw, 0)
		}},
		{"a record with a duplicate envelope key is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			raw := mustNew(t, c.owner, newChain(t, c, "v14").root).Bytes()
			// a2 01 <payload> 02 <sig>  →  a3 01 <payload> 01 <payload> 02 <sig>
			var env envelope
			if err := wire.Unmarshal(raw, &env); err != nil {
				t.Fatal(err)
			}
			pl, _ := wire.Marshal(env.Payload)
			sg, _ := wire.Marshal(env.Signature)
			out := []byte{0xa3, 0x01}
			out = append(append(append(out, pl...), 0x01), pl...)
			return append(append(out, 0x02), sg...)
		}},
		{"a payload with an unknown field is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			tok := newChain(t, c, "v15").root
			p := rawPayload(tok, c.owner.ID())
			type extra struct {
				payload
				X uint64 `cbor:"7,keyasint"`
			}
			pb, _ := wire.Marshal(extra{p, 1})
			sig := c.owner.Sign(keys.RevocationMessage(pb))
			raw, _ := wire.Marshal(envelope{Payload: pb, Signature: sig[:]})
			return raw
		}},
		{"a record whose ID is not the proof's hash is refused", "ErrBadProof", func(t testing.TB, c *cast) []byte {
			ch := newChain(t, c, "v16")
			p := rawPayload(ch.root, c.owner.ID())
			other := ch.mid.ID()
			p.Token = other[:] // owner may revoke mid, but the proof is root
			return signRaw(t, c.owner, p, keys.RevocationMessage)
		}},
		{"a record whose expiry is not the token's is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			tok := newChain(t, c, "v17").root
			p := rawPayload(tok, c.owner.ID())
			p.Expiry += 3600 * 24 * 365
			return signRaw(t, c.owner, p, keys.RevocationMessage)
		}},
		{"a proof token with a forged signature is refused", "ErrBadProof", func(t testing.TB, c *cast) []byte {
			tok := newChain(t, c, "v18").root
			proof := tok.Bytes()
			proof[len(proof)-1] ^= 1
			bad, err := capability.Decode(proof)
			if err != nil {
				t.Fatal(err)
			}
			return signRaw(t, c.owner, rawPayload(bad, c.owner.ID()), keys.RevocationMessage)
		}},
		{"a record with an unknown version is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			p := rawPayload(newChain(t, c, "v19").root, c.owner.ID())
			p.Version = 2
			return signRaw(t, c.owner, p, keys.RevocationMessage)
		}},
		{"a revocation of a token not valid yet is accepted", "ok", func(t testing.TB, c *cast) []byte {
			tok, err := capability.Issue(c.owner, capability.Params{
				Audience: c.alice.ID(), Resource: "calendar/**", Actions: capability.Read,
				NotBefore: testNow.Add(24 * time.Hour), Expiry: testNow.Add(48 * time.Hour),
				Rand: testkit.NewRand("future"),
			})
			if err != nil {
				t.Fatal(err)
			}
			return mustNew(t, c.owner, tok).Bytes()
		}},
	}, moreRecordCases()...)
}

func TestRecordCases(t *testing.T) {
	c := newCast(t)
	for _, tc := range recordCases() {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.build(t, c)
			r, err := Parse(raw)
			if got := errorName(err); got != tc.want {
				t.Fatalf("Parse: got %s (%v), want %s", got, err, tc.want)
			}
			if err != nil {
				if r != nil {
					t.Fatal("a record came back with an error")
				}
				return
			}
			if !bytes.Equal(r.Bytes(), raw) {
				t.Fatal("parsed record does not keep its exact bytes")
			}
			if r.Token().ID() != r.ID() || r.Link() != r.Token().Depth() {
				t.Fatal("record does not describe its proof")
			}
		})
	}
}

func TestNewRefusesWithoutStanding(t *testing.T) {
	c := newCast(t)
	ch := newChain(t, c, "new")
	for _, tc := range []struct {
		name   string
		signer *keys.PeerKey
		tok    *capability.Token
		want   string
	}{
		{"a stranger cannot sign a revocation of the leaf", c.mallory, ch.leaf, "ErrNotIssuer"},
		{"the leaf's audience cannot revoke its own token", c.carol, ch.leaf, "ErrNotIssuer"},
		{"a delegate cannot revoke the parent it received", c.bob, ch.mid, "ErrNotIssuer"},
		{"the leaf's issuer can revoke the leaf", c.bob, ch.leaf, "ok"},
		{"the owner can revoke the root", c.owner, ch.root, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.signer, tc.tok, testNow)
			if got := errorName(err); got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}

// TestDecodeThenVerifyIsParse: Decode followed by VerifyCache.Verify (with
// no cache, and with one asked twice) reaches Parse's verdict on every
// case, and Decode alone lets a bad signature through.
func TestDecodeThenVerifyIsParse(t *testing.T) {
	c := newCast(t)
	cache := NewVerifyCache(16)
	for _, tc := range recordCases() {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.build(t, c)
			u, err := Decode(raw)
			if err != nil {
				if got := errorName(err); got != tc.want || tc.want == "ErrBadSignature" {
					t.Fatalf("Decode: got %s (%v), want %s", got, err, tc.want)
				}
				return
			}
			for i, vc := range []*VerifyCache{nil, cache, cache} {
				r, err := vc.Verify(u)
				if got := errorName(err); got != tc.want {
					t.Fatalf("Verify %d: got %s (%v), want %s", i, got, err, tc.want)
				}
				if err == nil && (r.ID() != u.ID() || !r.Expiry().Equal(u.Expiry()) || !bytes.Equal(r.Bytes(), raw)) {
					t.Fatalf("Verify %d: the record is not the one decoded", i)
				}
			}
		})
	}
}
