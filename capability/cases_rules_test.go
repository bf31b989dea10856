package capability

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"fmt"
	"strings"
	"testing"
	"time"

	"filippo.io/edwards25519"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
)

// secretScalar is the signing scalar a of a test key (RFC 8032 §5.1.5),
// checked against its public key.
func secretScalar(t *testing.T, k *keys.PeerKey) *edwards25519.Scalar {
	t.Helper()
	h := sha512.Sum512(k.Seed())
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(new(edwards25519.Point).ScalarBaseMult(a).Bytes(), k.Public().Bytes()) {
		t.Fatal("the scalar does not give the public key")
	}
	return a
}

// challenge is k = SHA-512(R ‖ A ‖ M) mod ℓ.
func challenge(r, a, msg []byte) *edwards25519.Scalar {
	h := sha512.New()
	h.Write(r)
	h.Write(a)
	h.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	return k
}

// sigWith makes the signature (R, S = r + k·a) for a chosen R.
func sigWith(rBytes, pub []byte, a, r *edwards25519.Scalar, msg []byte) []byte {
	s := edwards25519.NewScalar().MultiplyAdd(challenge(rBytes, pub, msg), a, r)
	return append(bytes.Clone(rBytes), s.Bytes()...)
}

// scalarFrom derives a scalar from a label.
func scalarFrom(label string) *edwards25519.Scalar {
	h := sha512.Sum512([]byte(label))
	s, _ := edwards25519.NewScalar().SetUniformBytes(h[:])
	return s
}

func tokenMessage(pl []byte) []byte { return append([]byte(keys.LabelToken+"\x00"), pl...) }

func pointOf(t *testing.T, b []byte) *edwards25519.Point {
	t.Helper()
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// offCurveKey is the first y = 2, 3, … whose encoding is no curve point.
func offCurveKey(t *testing.T) []byte {
	t.Helper()
	for y := 2; y < 256; y++ {
		b := make([]byte, 32)
		b[0] = byte(y)
		if _, err := new(edwards25519.Point).SetBytes(b); err != nil && keys.CheckPeerPublic(b) == nil {
			return b
		}
	}
	t.Fatal("no off-curve y below 256")
	return nil
}

// mixedKey is [a]B + T for the test key "mixed" and T of order 8: a key
// of mixed order whose secret scalar we know.
func mixedKey(t *testing.T) (pub []byte, a *edwards25519.Scalar, t8 *edwards25519.Point) {
	t.Helper()
	a = secretScalar(t, testKey(t, "mixed"))
	t8 = pointOf(t, order8Key)
	pub = new(edwards25519.Point).Add(new(edwards25519.Point).ScalarBaseMult(a), t8).Bytes()
	if err := keys.CheckPeerPublic(pub); err != nil {
		t.Fatal(err)
	}
	return pub, a, t8
}

// signatureCases pin the Ed25519 acceptance rule of doc.go (Signatures):
// cofactorless, S < ℓ, R compared as an encoding and never decoded.
func signatureCases() []vectorCase {
	// withSig signs the owner's grant to bob with a crafted signature.
	withSig := func(t *testing.T, c *cast, wantStdlib bool, sig func(pl, pub []byte, a *edwards25519.Scalar) []byte) vector {
		pl := enc(ownerToBob(c))
		pub := c.owner.Public().Bytes()
		s := sig(pl, pub, secretScalar(t, c.owner))
		if ed25519.Verify(pub, tokenMessage(pl), s) != wantStdlib {
			t.Fatalf("crypto/ed25519 does not say %v", wantStdlib)
		}
		return bobReadsRaw(c, enc(envelope{Payload: pl, Signature: s}))
	}
	zero := edwards25519.NewScalar()
	identity := mustHex("0100000000000000000000000000000000000000000000000000000000000000")
	return []vectorCase{
		{"a signature whose R is the identity (small order) is accepted when the equation holds", "ok", func(t *testing.T, c *cast) vector {
			return withSig(t, c, true, func(pl, pub []byte, a *edwards25519.Scalar) []byte {
				return sigWith(identity, pub, a, zero, tokenMessage(pl))
			})
		}},
		{"a signature whose R has order 8 fails: verification is cofactorless", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			return withSig(t, c, false, func(pl, pub []byte, a *edwards25519.Scalar) []byte {
				s := sigWith(order8Key, pub, a, zero, tokenMessage(pl))
				// [8]([S]B − [k]A − R) = O: a cofactored verifier would accept it.
				k := challenge(order8Key, pub, tokenMessage(pl))
				sb := new(edwards25519.Point).ScalarBaseMult(edwards25519.NewScalar().Multiply(k, a))
				ka := new(edwards25519.Point).ScalarMult(k, pointOf(t, pub))
				d := new(edwards25519.Point).Subtract(new(edwards25519.Point).Subtract(sb, ka), pointOf(t, order8Key))
				if new(edwards25519.Point).MultByCofactor(d).Equal(edwards25519.NewIdentityPoint()) != 1 {
					t.Fatal("the cofactored equation does not hold")
				}
				return s
			})
		}},
		{"a signature whose R is the identity written with y = p + 1 fails", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			return withSig(t, c, false, func(pl, pub []byte, a *edwards25519.Scalar) []byte {
				return sigWith(mustHex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), pub, a, zero, tokenMessage(pl))
			})
		}},
		{"a signature whose R is the identity with the sign bit set fails", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			return withSig(t, c, false, func(pl, pub []byte, a *edwards25519.Scalar) []byte {
				return sigWith(mustHex("0100000000000000000000000000000000000000000000000000000000000080"), pub, a, zero, tokenMessage(pl))
			})
		}},
		{"a signature whose R is no curve point fails", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			return withSig(t, c, false, func(pl, pub []byte, a *edwards25519.Scalar) []byte {
				return sigWith(offCurveKey(t), pub, a, scalarFrom("r"), tokenMessage(pl))
			})
		}},
		{"a signature with S = ℓ + S' fails even though S' verifies", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			return withSig(t, c, false, func(pl, pub []byte, a *edwards25519.Scalar) []byte {
				return highS(sigWith(identity, pub, a, zero, tokenMessage(pl)))
			})
		}},
		{"a token whose issuer key is no curve point decodes, and its signature fails", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			z := rawPeer(offCurveKey(t))
			v := bobReadsRaw(c, signedToken(t, c.owner, rawPayload(z, []byte(c.bob.ID()), Read)))
			v.Owner = peer.ID(z).String()
			return v
		}},
		{"a token granted to a key that is no curve point decodes and verifies", "ok", func(t *testing.T, c *cast) vector {
			z := rawPeer(offCurveKey(t))
			v := bobReadsRaw(c, signedToken(t, c.owner, rawPayload([]byte(c.owner.ID()), z, Read)))
			v.Remote = peer.ID(z).String() // no libp2p channel could authenticate it
			return v
		}},
		{"a key of mixed order is a key: a signature under it that satisfies the equation is accepted", "ok", func(t *testing.T, c *cast) vector {
			pub, a, t8 := mixedKey(t)
			z := rawPeer(pub)
			pl := enc(rawPayload(z, []byte(c.bob.ID()), Read))
			msg := tokenMessage(pl)
			for i := 0; i < 64; i++ {
				r := scalarFrom(fmt.Sprint("mixed r ", i))
				rb := new(edwards25519.Point).ScalarBaseMult(r)
				for j := 0; j < 8; j++ {
					// R = [r]B + [j]T; the equation holds when [k + j]T = O.
					rj := new(edwards25519.Point).Add(rb, new(edwards25519.Point).ScalarMult(scalarOfInt(j), t8))
					k := challenge(rj.Bytes(), pub, msg)
					if new(edwards25519.Point).ScalarMult(edwards25519.NewScalar().Add(k, scalarOfInt(j)), t8).Equal(edwards25519.NewIdentityPoint()) != 1 {
						continue
					}
					s := sigWith(rj.Bytes(), pub, a, r, msg)
					if !ed25519.Verify(pub, msg, s) {
						t.Fatal("crypto/ed25519 refuses the mixed-order signature")
					}
					v := bobReadsRaw(c, enc(envelope{Payload: pl, Signature: s}))
					v.Owner = peer.ID(z).String()
					return v
				}
			}
			t.Fatal("no signature found")
			return vector{}
		}},
		{"under a key of mixed order a signature that holds only cofactored fails", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			pub, a, t8 := mixedKey(t)
			z := rawPeer(pub)
			pl := enc(rawPayload(z, []byte(c.bob.ID()), Read))
			msg := tokenMessage(pl)
			for i := 0; i < 64; i++ {
				r := scalarFrom(fmt.Sprint("mixed r ", i))
				rb := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
				if new(edwards25519.Point).ScalarMult(challenge(rb, pub, msg), t8).Equal(edwards25519.NewIdentityPoint()) == 1 {
					continue // [k]T = O: this one would verify
				}
				s := sigWith(rb, pub, a, r, msg)
				if ed25519.Verify(pub, msg, s) {
					t.Fatal("crypto/ed25519 accepts a cofactored-only signature")
				}
				v := bobReadsRaw(c, enc(envelope{Payload: pl, Signature: s}))
				v.Owner = peer.ID(z).String()
				return v
			}
			t.Fatal("no signature found")
			return vector{}
		}},
	}
}

// scalarOfInt is the scalar n, for small n.
func scalarOfInt(n int) *edwards25519.Scalar {
	var b [32]byte
	b[0] = byte(n)
	s, _ := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	return s
}

// grammarCases: the resource grammar, in a token (ErrMalformed) and in a
// request (ErrNotPermitted), and the matching rule.
func grammarCases() []vectorCase {
	var cases []vectorCase
	for _, r := range []struct{ name, pattern, path, want string }{
		{"an empty resource is malformed", "", "calendar", "ErrMalformed"},
		{"a resource with a leading slash is malformed", "/calendar/*", "calendar/mon", "ErrMalformed"},
		{"a resource with a trailing slash is malformed", "calendar/", "calendar", "ErrMalformed"},
		{"a resource with an empty segment is malformed", "calendar//*", "calendar/mon", "ErrMalformed"},
		{"a resource with a '.' segment is malformed", "calendar/./*", "calendar/mon", "ErrMalformed"},
		{"a resource with a '...' segment is malformed", "calendar/.../*", "calendar/mon", "ErrMalformed"},
		{"a resource with uppercase is malformed", "Calendar/*", "calendar/mon", "ErrMalformed"},
		{"a resource with a non-ASCII letter is malformed", "calendar/wörk/*", "calendar/work/mon", "ErrMalformed"},
		{"a resource with a percent escape is malformed", "calendar/%2e%2e/*", "calendar/mon", "ErrMalformed"},
		{"a resource with a backslash is malformed", "calendar\\work/*", "calendar/mon", "ErrMalformed"},
		{"a resource with a space is malformed", "calendar/my work/*", "calendar/mon", "ErrMalformed"},
		{"a resource with '**' before the last segment is malformed", "calendar/**/mon", "calendar/work/mon", "ErrMalformed"},
		{"a resource with '***' is malformed", "calendar/***", "calendar/mon", "ErrMalformed"},
		{"a resource with a partial wildcard is malformed", "calendar/mo*", "calendar/mon", "ErrMalformed"},
		{"dots, dashes and underscores with letters make a name", ".well-known/a_b.c-d/..x", ".well-known/a_b.c-d/..x", "ok"},
		{"'**' matches one segment", "calendar/**", "calendar/mon", "ok"},
		{"'**' matches several segments", "calendar/**", "calendar/2026/03/mon", "ok"},
		{"'**' does not match zero segments", "calendar/**", "calendar", "ErrNotPermitted"},
		{"'*' does not match two segments", "calendar/*", "calendar/work/mon", "ErrNotPermitted"},
		{"'*' alone matches any one segment", "*", "anything", "ok"},
		{"a pattern of names matches only the same path", "calendar/work", "calendar/work/mon", "ErrNotPermitted"},
		{"a request path holding '*' is not permitted, even under that pattern", "calendar/*", "calendar/*", "ErrNotPermitted"},
		{"a request path with a trailing slash is not permitted", "calendar/**", "calendar/mon/", "ErrNotPermitted"},
		{"an empty request path is not permitted", "**", "", "ErrNotPermitted"},
		{"a request path with uppercase is not permitted", "**", "Calendar", "ErrNotPermitted"},
		{"a request path with '..' is not permitted", "**", "calendar/../secrets", "ErrNotPermitted"},
	} {
		cases = append(cases, vectorCase{r.name, r.want, func(t *testing.T, c *cast) vector {
			p := ownerToBob(c)
			p.Resource = r.pattern
			return request(textOf(signedToken(t, c.owner, p)), c.bob, c.owner, r.path, "read")
		}})
	}
	return cases
}

// containmentCases: the delegation rule on resources (doc.go, within).
func containmentCases() []vectorCase {
	s15 := strings.Repeat("s/", 15)
	var cases []vectorCase
	for _, r := range []struct{ parent, child, path, want string }{
		{"a/**", "a/**", "a/x", "ok"},
		{"a/**", "a/*", "a/x", "ok"},
		{"a/**", "a/*/**", "a/x/y", "ok"},
		{"a/**", "a", "a", "ErrWidened"},
		{"a/*", "a/**", "a/x", "ErrWidened"},
		{"a/*/**", "a/**", "a/x/y", "ErrWidened"},
		{"*", "**", "x", "ErrWidened"},
		{"**", "*", "x", "ok"},
		{"**", "**", "x/y", "ok"},
		{"a/*", "a/b", "a/b", "ok"},
		{"a/*", "a/*", "a/b", "ok"},
		{"a/b", "a/*", "a/b", "ErrWidened"},
		{"*/b", "a/*", "a/b", "ErrWidened"},
		{"a/*/c", "a/b/c", "a/b/c", "ok"},
		{"a/b", "a/b/c", "a/b/c", "ErrWidened"},
		{"a/b/c", "a/b", "a/b", "ErrWidened"},
		{s15 + "*", s15 + "**", s15 + "x", "ErrWidened"},
	} {
		name := fmt.Sprintf("a delegation of %q under %q is %s", r.child, r.parent, map[bool]string{true: "accepted", false: "widened"}[r.want == "ok"])
		cases = append(cases, vectorCase{name, r.want, func(t *testing.T, c *cast) vector {
			root := forge(t, c.owner, Params{Audience: c.alice.ID(), Resource: Pattern(r.parent), Actions: Read | Share})
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: Pattern(r.child), Actions: Read, Parent: root})
			return request(leaf.String(), c.bob, c.owner, r.path, "read")
		}})
	}
	return cases
}

// orderCases: which error wins when several rules fail, and the exact
// time and use boundaries.
func orderCases() []vectorCase {
	ok := "ok"
	expired := Params{NotBefore: testNow.Add(-3 * time.Hour), Expiry: testNow.Add(-2 * time.Hour)}
	return []vectorCase{
		{"the failing link nearest the root decides (link 2 without share before link 3's broken chain)", "ErrNoShare", func(t *testing.T, c *cast) vector {
			root := forge(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | List})
			l2 := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root})
			l3 := forge(t, c.mallory, Params{Audience: c.carol.ID(), Resource: "calendar/work/*", Actions: Read, Parent: l2})
			return request(l3.String(), c.carol, c.owner, "calendar/work/mon", "read")
		}},
		{"a broken chain is reported before a missing share", "ErrBrokenChain", func(t *testing.T, c *cast) vector {
			root := forge(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read})
			leaf := forge(t, c.mallory, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root})
			return bobReads(c, leaf.String())
		}},
		{"an escalation is reported before a widening", "ErrEscalation", func(t *testing.T, c *cast) vector {
			root := forge(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/work/*", Actions: Read | Share})
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read | Write, Parent: root})
			return bobReads(c, leaf.String())
		}},
		{"a widening is reported before an extended validity", "ErrWidened", func(t *testing.T, c *cast) vector {
			root := forge(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/work/*", Actions: Read | Share})
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read, Parent: root,
				Expiry: root.Expiry().Add(time.Hour)})
			return bobReads(c, leaf.String())
		}},
		{"a bad signature on the leaf is reported before its broken chain", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			root, _ := chain2(t, c)
			leaf := forge(t, c.mallory, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root})
			return bobReads(c, textOf(flip(leaf.raw, len(leaf.raw)-1)))
		}},
		{"link rules run over the whole chain before ceilings", "ErrEscalation", func(t *testing.T, c *cast) vector {
			root := forge(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Share, Ceiling: Read})
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read | Write, Parent: root})
			return bobReads(c, leaf.String())
		}},
		{"a token granting share under its own ceiling exceeds it", "ErrCeiling", func(t *testing.T, c *cast) vector {
			root := forge(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read | Share, Ceiling: Read})
			return bobReads(c, root.String())
		}},
		{"a ceiling-bearing parent cannot be delegated: its share exceeds its ceiling", "ErrCeiling", func(t *testing.T, c *cast) vector {
			root := forge(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Share, Ceiling: Read | List})
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root})
			return bobReads(c, leaf.String())
		}},
		{"a ceiling is reported before expiry", "ErrCeiling", func(t *testing.T, c *cast) vector {
			p := expired
			p.Audience, p.Resource, p.Actions, p.Ceiling = c.bob.ID(), "calendar/**", Read|Write, Read
			return bobReads(c, forge(t, c.owner, p).String())
		}},
		{"expiry is reported before revocation", "ErrExpired", func(t *testing.T, c *cast) vector {
			p := expired
			p.Audience, p.Resource, p.Actions = c.bob.ID(), "calendar/**", Read
			tok := issue(t, c.owner, p)
			v := bobReads(c, tok.String())
			v.Revoked = []string{tok.ID().String()}
			return v
		}},
		{"revocation is reported before the wrong audience", "ErrRevoked", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			v := request(leaf.String(), c.mallory, c.owner, "calendar/work/mon", "read")
			v.Revoked = []string{leaf.ID().String()}
			return v
		}},
		{"the wrong audience is reported before the wrong owner", "ErrWrongAudience", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return request(leaf.String(), c.mallory, c.carol, "calendar/work/mon", "read")
		}},
		{"the wrong owner is reported before the request", "ErrWrongOwner", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return request(leaf.String(), c.bob, c.carol, "secrets/key", "write")
		}},
		{"a request naming two actions is not permitted, even both granted", "ErrNotPermitted", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return request(leaf.String(), c.bob, c.owner, "calendar/work/mon", "read,list")
		}},
		{"a token at exactly not-before minus the skew is accepted", ok, func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			v := bobReads(c, leaf.String())
			v.Now = leaf.NotBefore().Add(-DefaultSkew).Unix()
			return v
		}},
		{"a token at exactly expiry plus the skew is expired", "ErrExpired", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			v := bobReads(c, leaf.String())
			v.Now = leaf.Expiry().Add(DefaultSkew).Unix()
			return v
		}},
		{"a parent's budget bounds the uses of its delegation", "ErrReplayed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Share, MaxUses: 1})
			leaf := issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root})
			v := bobReads(c, leaf.String())
			v.Uses = 2
			return v
		}},
		{"the smallest budget in the chain runs out first", "ErrReplayed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Share, MaxUses: 2})
			leaf := issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root, MaxUses: 3})
			v := bobReads(c, leaf.String())
			v.Uses = 3
			return v
		}},
		{"every budget in the chain allows its uses", ok, func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Share, MaxUses: 2})
			leaf := issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root, MaxUses: 2})
			v := bobReads(c, leaf.String())
			v.Uses = 2
			return v
		}},
	}
}
