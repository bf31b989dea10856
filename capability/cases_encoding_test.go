package capability

import (
	"bytes"
	"math/big"
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/keys"
)

// envelopeBytes signs payload with msg's label and wraps it.
func envelopeBytes(t *testing.T, signer *keys.PeerKey, pl []byte, msg func([]byte) keys.Message) []byte {
	t.Helper()
	sig := signer.Sign(msg(pl))
	raw, err := encMode.Marshal(envelope{Payload: pl, Signature: sig[:]})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// resigned edits a token's payload bytes and signs the result properly, so
// only the edit can make verification fail.
func resigned(t *testing.T, signer *keys.PeerKey, tok *Token, edit func(pl []byte) []byte) string {
	t.Helper()
	return textOf(envelopeBytes(t, signer, edit(bytes.Clone(tok.payload)), keys.TokenMessage))
}

// rawEnvelope hand-assembles an envelope from CBOR pieces.
func rawEnvelope(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func cborOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := encMode.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}

// highS adds the group order L to the signature's S, which verifies under a
// lax rule; stdlib (and so the mesh) rejects S ≥ L.
func highS(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) []byte { // little endian <-> big endian
		r := bytes.Clone(b)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return r
	}
	s := new(big.Int).SetBytes(le(sig[32:]))
	s.Add(s, l)
	out := make([]byte, 32)
	s.FillBytes(out)
	return append(bytes.Clone(sig[:32]), le(out)...)
}

// encodingCases tamper with bytes: signatures, strict CBOR, sizes, text.
func encodingCases() []vectorCase {
	return []vectorCase{
		{"a flipped bit in the signature fails", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return bobReads(c, textOf(flip(leaf.raw, len(leaf.raw)-1)))
		}},
		{"a flipped bit in the nonce fails", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			i := bytes.Index(root.raw, root.p.Nonce)
			return bobReads(c, textOf(flip(root.raw, i)))
		}},
		{"a flipped bit in the embedded parent's signature fails", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			root, _ := chain2(t, c)
			bad := *root
			bad.raw = flip(root.raw, len(root.raw)-1)
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: &bad})
			return bobReads(c, leaf.String())
		}},
		{"a signature with S above the group order fails", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			raw := cborOf(t, envelope{Payload: root.payload, Signature: highS(root.sig)})
			return bobReads(c, textOf(raw))
		}},
		{"trailing bytes after the envelope are malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return bobReads(c, textOf(append(bytes.Clone(leaf.raw), 0x00)))
		}},
		{"trailing bytes inside the signed payload are malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, resigned(t, c.owner, root, func(pl []byte) []byte { return append(pl, 0x00) }))
		}},
		{"a duplicate key in the signed payload is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, resigned(t, c.owner, root, func(pl []byte) []byte {
				pl[0]++ // one more pair: version again
				return append(pl, 0x01, 0x01)
			}))
		}},
		{"a duplicate key in the envelope is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			raw := append([]byte{0xa3}, root.raw[1:]...)
			raw = append(raw, cborOf(t, 2)...)
			raw = append(raw, cborOf(t, root.sig)...)
			return bobReads(c, textOf(raw))
		}},
		{"an indefinite-length payload map is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, resigned(t, c.owner, root, func(pl []byte) []byte {
				pl[0] = 0xbf
				return append(pl, 0xff)
			}))
		}},
		{"an indefinite-length payload byte string is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			raw := rawEnvelope([]byte{0xa2, 0x01, 0x5f}, cborOf(t, root.payload), []byte{0xff, 0x02}, cborOf(t, root.sig))
			return bobReads(c, textOf(raw))
		}},
		{"a tag inside the signed payload is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, resigned(t, c.owner, root, func(pl []byte) []byte {
				return append([]byte{pl[0], 0x01, 0xc1}, pl[2:]...) // tag 1 around the version
			}))
		}},
		{"a self-describe tag around the envelope is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, textOf(append([]byte{0xd9, 0xd9, 0xf7}, root.raw...)))
		}},
		{"a non-minimal integer in the signed payload is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, resigned(t, c.owner, root, func(pl []byte) []byte {
				return append([]byte{pl[0], 0x01, 0x18, 0x01}, pl[3:]...)
			}))
		}},
		{"an unknown field in the signed payload is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, resigned(t, c.owner, root, func(pl []byte) []byte {
				pl[0]++
				return append(pl, 0x0c, 0x00)
			}))
		}},
		{"a signed version 2 payload is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, resigned(t, c.owner, root, func(pl []byte) []byte { pl[2] = 0x02; return pl }))
		}},
		{"a signed ceiling containing share is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			p := root.p
			p.Ceiling = uint64(Read | Share)
			return bobReads(c, textOf(envelopeBytes(t, c.owner, cborOf(t, &p), keys.TokenMessage)))
		}},
		{"a signed traversal resource is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			p := root.p
			p.Resource = "calendar/../secrets/*"
			return bobReads(c, textOf(envelopeBytes(t, c.owner, cborOf(t, &p), keys.TokenMessage)))
		}},
		{"the text of an envelope one byte over the size cap is too large (the text cap decides)", "ErrTooLarge", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, textOf(append(bytes.Clone(root.raw), make([]byte, MaxTokenBytes+1-len(root.raw))...)))
		}},
		{"a text over the size cap is too large", "ErrTooLarge", func(t *testing.T, c *cast) vector {
			return bobReads(c, TextPrefix+strings.Repeat("A", MaxTextLen))
		}},
		{"a text without the prefix is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, strings.TrimPrefix(root.String(), TextPrefix))
		}},
		{"a text with base64 padding is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, root.String()+"==")
		}},
		{"a truncated text is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, textOf(root.raw[:len(root.raw)-10]))
		}},
	}
}
