package revocation

import (
	"bytes"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// moreRecordCases are the cases added with the complete doc.go: each
// field rule, each cap at and past its value, and the signature's own
// rules. They come after the first cases, so testdata/records.json only
// grows.
func moreRecordCases() []recordCase {
	payloadWith := func(t testing.TB, c *cast, seed string, f func(*payload)) []byte {
		p := rawPayload(newChain(t, c, seed).root, c.owner.ID())
		f(&p)
		return signRaw(t, c.owner, p, keys.RevocationMessage)
	}
	return []recordCase{
		{"a time of 0 is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			return payloadWith(t, c, "m1", func(p *payload) { p.Time = 0 })
		}},
		{"a negative time is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			return payloadWith(t, c, "m2", func(p *payload) { p.Time = -1 })
		}},
		{"a time of maxUnix is accepted", "ok", func(t testing.TB, c *cast) []byte {
			return payloadWith(t, c, "m3", func(p *payload) { p.Time = maxUnix })
		}},
		{"a time of maxUnix + 1 is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			return payloadWith(t, c, "m4", func(p *payload) { p.Time = maxUnix + 1 })
		}},
		{"a time of 1 is accepted", "ok", func(t testing.TB, c *cast) []byte {
			return payloadWith(t, c, "m5", func(p *payload) { p.Time = 1 })
		}},
		{"a revoker that is not a peer ID is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			return payloadWith(t, c, "m6", func(p *payload) { p.Revoker = []byte("owner") })
		}},
		{"a revoker with a small-order key is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			return payloadWith(t, c, "m7", func(p *payload) { p.Revoker = append(p.Revoker[:6:6], append([]byte{1}, make([]byte, 31)...)...) })
		}},
		{"a token ID of 31 bytes is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			return payloadWith(t, c, "m8", func(p *payload) { p.Token = p.Token[:31] })
		}},
		{"a proof of MaxTokenBytes + 1 bytes is refused", "ErrTooLarge", func(t testing.TB, c *cast) []byte {
			return payloadWith(t, c, "m9", func(p *payload) {
				p.Proof = bytes.Repeat([]byte{0xa2}, capability.MaxTokenBytes+1)
				id := sha256.Sum256(p.Proof)
				p.Token = id[:]
			})
		}},
		{"a payload of MaxPayloadBytes + 1 bytes is refused", "ErrTooLarge", func(t testing.TB, c *cast) []byte {
			raw, _ := wire.Marshal(envelope{Payload: bytes.Repeat([]byte{0xa6}, MaxPayloadBytes+1), Signature: make([]byte, 64)})
			return raw
		}},
		{"a record of exactly MaxRecordBytes bytes is decoded (and is malformed)", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			return bytes.Repeat([]byte{0xa2}, MaxRecordBytes)
		}},
		{"an empty proof is refused", "ErrBadProof", func(t testing.TB, c *cast) []byte {
			return payloadWith(t, c, "m10", func(p *payload) { id := sha256.Sum256(nil); p.Proof, p.Token = []byte{}, id[:] })
		}},
		{"a proof that is not a token, with its hash as the ID, is refused", "ErrBadProof", func(t testing.TB, c *cast) []byte {
			return payloadWith(t, c, "m11", func(p *payload) { p.Proof = []byte("not a token"); id := sha256.Sum256(p.Proof); p.Token = id[:] })
		}},
		{"a proof whose parent's signature is forged is refused", "ErrBadProof", func(t testing.TB, c *cast) []byte {
			ch := newChain(t, c, "m12")
			// The mid link's envelope with its parent's (root's) signature
			// broken, re-signed by alice: mid's own signature holds.
			rootBytes := ch.root.Bytes()
			rootBytes[len(rootBytes)-1] ^= 1
			badRoot, err := capability.Decode(rootBytes)
			if err != nil {
				t.Fatal(err)
			}
			mid := issueTo(t, c.alice, c.bob.ID(), badRoot, time.Hour, "m12/mid")
			return signRaw(t, c.alice, rawPayload(mid, c.alice.ID()), keys.RevocationMessage)
		}},
		{"a signature with S + ℓ is refused", "ErrBadSignature", func(t testing.TB, c *cast) []byte {
			raw := mustNew(t, c.owner, newChain(t, c, "m13").root).Bytes()
			sig := raw[len(raw)-64:]
			s := new(big.Int).SetBytes(reversed(sig[32:]))
			l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
			s.Add(s, l)
			copy(sig[32:], reversed(s.FillBytes(make([]byte, 32))))
			return raw
		}},
		{"an envelope with an unknown field 3 is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			raw := mustNew(t, c.owner, newChain(t, c, "m14").root).Bytes()
			return append(append([]byte{0xa3}, raw[1:]...), 0x03, 0x01)
		}},
		{"a payload without its proof is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			p := rawPayload(newChain(t, c, "m15").root, c.owner.ID())
			type noProof struct {
				Version uint64 `cbor:"1,keyasint"`
				Token   []byte `cbor:"2,keyasint"`
				Revoker []byte `cbor:"3,keyasint"`
				Time    int64  `cbor:"4,keyasint"`
				Expiry  int64  `cbor:"5,keyasint"`
			}
			pb, _ := wire.Marshal(noProof{p.Version, p.Token, p.Revoker, p.Time, p.Expiry})
			sig := c.owner.Sign(keys.RevocationMessage(pb))
			raw, _ := wire.Marshal(envelope{Payload: pb, Signature: sig[:]})
			return raw
		}},
		{"a version written 18 01 is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			p := rawPayload(newChain(t, c, "m16").root, c.owner.ID())
			pb, _ := wire.Marshal(&p)
			pb = bytes.Replace(pb, []byte{0xa6, 0x01, 0x01}, []byte{0xa6, 0x01, 0x18, 0x01}, 1)
			sig := c.owner.Sign(keys.RevocationMessage(pb))
			raw, _ := wire.Marshal(envelope{Payload: pb, Signature: sig[:]})
			return raw
		}},
		{"a revocation of a token that expired long ago is a valid record", "ok", func(t testing.TB, c *cast) []byte {
			tok, err := capability.Issue(c.owner, capability.Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: capability.Read,
				NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Expiry: time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC), Rand: testkit.NewRand("m17")})
			if err != nil {
				t.Fatal(err)
			}
			return mustNew(t, c.owner, tok).Bytes()
		}},
		{"the root issuer revoking the leaf of a MaxDepth chain is accepted", "ok", func(t testing.TB, c *cast) []byte {
			ch := newChain(t, c, "m18")
			leaf4 := issueTo(t, c.carol, c.mallory.ID(), ch.leaf, time.Hour, "m18/4")
			if leaf4.Depth() != capability.MaxDepth {
				t.Fatalf("depth %d", leaf4.Depth())
			}
			return mustNew(t, c.owner, leaf4).Bytes()
		}},
		{"a record whose payload is text is refused", "ErrMalformed", func(t testing.TB, c *cast) []byte {
			raw, _ := wire.Marshal(struct {
				P string `cbor:"1,keyasint"`
				S []byte `cbor:"2,keyasint"`
			}{strings.Repeat("x", 10), make([]byte, 64)})
			return raw
		}},
	}
}

func reversed(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}
