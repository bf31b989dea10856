package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"testing"

	"filippo.io/edwards25519"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// torsion computes the eight points P with [8]P = O from the definition,
// independently of the code under test: [ℓ]Q for a point Q with a torsion
// component is a torsion point, and one of order 8 generates all eight.
func torsion(t testing.TB) []*edwards25519.Point {
	t.Helper()
	one, err := edwards25519.NewScalar().SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
	if err != nil {
		t.Fatal(err)
	}
	minusOne := edwards25519.NewScalar().Negate(one) // ℓ − 1
	id := edwards25519.NewIdentityPoint()
	for i := 0; i < 1000; i++ {
		h := sha256.Sum256(fmt.Appendf(nil, "torsion %d", i))
		q, err := new(edwards25519.Point).SetBytes(h[:])
		if err != nil {
			continue
		}
		g := new(edwards25519.Point).ScalarMult(minusOne, q) // [ℓ−1]Q, Q taken as a curve point
		g.Add(g, q)                                          // [ℓ]Q
		g4 := new(edwards25519.Point).Add(g, g)
		g4.Add(g4, g4)
		if g4.Equal(id) == 1 {
			continue // order 4 or less: try another Q
		}
		out := []*edwards25519.Point{edwards25519.NewIdentityPoint()}
		for len(out) < 8 {
			out = append(out, new(edwards25519.Point).Add(out[len(out)-1], g))
		}
		if new(edwards25519.Point).Add(out[7], g).Equal(id) != 1 {
			t.Fatal("generator is not of order 8")
		}
		return out
	}
	t.Fatal("no point with an order-8 component found")
	return nil
}

// smallOrderEncodings lists every 32-byte string that decodes to a
// small-order point: the eight canonical encodings, the set sign bit on the
// two points with x = 0, and y + p for the two points with y < 19.
func smallOrderEncodings(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for i, p := range torsion(t) {
		b := p.Bytes()
		out[fmt.Sprintf("torsion point %d (canonical)", i)] = b
		neg := bytes.Clone(b)
		neg[31] ^= 0x80
		if q, err := new(edwards25519.Point).SetBytes(neg); err == nil && q.Equal(p) == 1 {
			out[fmt.Sprintf("torsion point %d (x = −0)", i)] = neg
		}
	}
	for y := range 19 { // y + p, for the y that are small-order
		b := bytes.Repeat([]byte{0xff}, 32)
		b[0], b[31] = byte(0xed+y), 0x7f
		if y+0xed > 0xff {
			continue
		}
		if p, err := new(edwards25519.Point).SetBytes(b); err == nil && isSmallOrder(p) {
			out[fmt.Sprintf("y = p + %d", y)] = b
			b2 := bytes.Clone(b)
			b2[31] |= 0x80
			out[fmt.Sprintf("y = p + %d, sign set", y)] = b2
		}
	}
	if len(out) < 12 {
		t.Fatalf("only %d small-order encodings", len(out))
	}
	return out
}

func isSmallOrder(p *edwards25519.Point) bool {
	return new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1
}

// nonCanonicalLargeOrder is y = p + 3: a point of large order written with
// y ≥ p, an alias of the canonical key with y = 3.
func nonCanonicalLargeOrder(t testing.TB) []byte {
	t.Helper()
	b := bytes.Repeat([]byte{0xff}, 32)
	b[0], b[31] = 0xed+3, 0x7f
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil || isSmallOrder(p) {
		t.Fatalf("y = p + 3 is not a large-order point: %v", err)
	}
	return b
}

// forgeSmallOrder makes a signature crypto/ed25519 accepts on msg under a
// small-order key without any private key: with [k]A = O the check
// [S]B = R + [k]A reduces to [S]B = R, so R = [S]B for a guessed S works
// whenever k = H(R‖A‖msg) lands in the kernel (always for the identity,
// one time in eight at worst).
func forgeSmallOrder(t testing.TB, pub, msg []byte) []byte {
	t.Helper()
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 1000; i++ {
		var wide [64]byte
		wide[0], wide[1] = byte(i), byte(i>>8)
		s, _ := edwards25519.NewScalar().SetUniformBytes(wide[:])
		r := new(edwards25519.Point).ScalarBaseMult(s).Bytes()
		h := sha512.New()
		h.Write(r)
		h.Write(pub)
		h.Write(msg)
		k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
		if new(edwards25519.Point).ScalarMult(k, a).Equal(edwards25519.NewIdentityPoint()) == 1 {
			sig := append(r, s.Bytes()...)
			if !ed25519.Verify(pub, msg, sig) {
				t.Fatal("forged signature does not verify under crypto/ed25519")
			}
			return sig
		}
	}
	t.Fatal("no forgery found")
	return nil
}

// libp2pID builds the peer ID libp2p itself derives for raw key bytes.
func libp2pID(t testing.TB, raw []byte) peer.ID {
	t.Helper()
	pk, err := crypto.UnmarshalEd25519PublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestForgeryUnderSmallOrderKeysIsReal shows what the check is for: the
// standard library verifies these forgeries.
func TestForgeryUnderSmallOrderKeysIsReal(t *testing.T) {
	msg := TokenMessage([]byte("anything at all")).bytes()
	for name, raw := range smallOrderEncodings(t) {
		if p, err := new(edwards25519.Point).SetBytes(raw); err != nil || !isSmallOrder(p) {
			t.Fatalf("%s: not a small-order point", name)
		}
		forgeSmallOrder(t, raw, msg)
	}
}

func TestSmallOrderPeerKeysAreRefused(t *testing.T) {
	for name, raw := range smallOrderEncodings(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := PeerPublicFromBytes(raw); err == nil {
				t.Error("PeerPublicFromBytes accepted it")
			}
			pk, _ := crypto.UnmarshalEd25519PublicKey(raw)
			if _, err := PeerPublicFromLibp2p(pk); err == nil {
				t.Error("PeerPublicFromLibp2p accepted it")
			}
			if _, err := PeerPublicFromID(libp2pID(t, raw)); err == nil {
				t.Error("PeerPublicFromID accepted it")
			}
		})
	}
}

func TestNonCanonicalPeerKeysAreRefused(t *testing.T) {
	raw := nonCanonicalLargeOrder(t)
	if _, err := PeerPublicFromBytes(raw); err == nil {
		t.Error("PeerPublicFromBytes accepted y ≥ p")
	}
	if _, err := PeerPublicFromID(libp2pID(t, raw)); err == nil {
		t.Error("PeerPublicFromID accepted y ≥ p")
	}
	canon := append([]byte{3}, make([]byte, 31)...)
	if _, err := PeerPublicFromBytes(canon); err != nil {
		t.Errorf("the canonical encoding of the same point was refused: %v", err)
	}
}

// TestVerifyRefusesSmallOrderKeys: a PeerPublic that never went through a
// constructor (the zero value is y = 0, a point of order 4) does not
// verify a forgery either.
func TestVerifyRefusesSmallOrderKeys(t *testing.T) {
	var zero PeerPublic
	m := TokenMessage([]byte("grant everything"))
	sig := forgeSmallOrder(t, zero.pub[:], m.bytes())
	if zero.Verify(m, sig) {
		t.Fatal("the zero PeerPublic verified a forged signature")
	}
}

func TestRealPeerKeysAreAccepted(t *testing.T) {
	for range 200 {
		k := GeneratePeerKey()
		pub, err := PeerPublicFromID(k.ID())
		if err != nil || !pub.Equal(k.Public()) {
			t.Fatalf("%s refused: %v", k.ID(), err)
		}
		if _, err := PeerPublicFromBytes(k.Public().Bytes()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPeerIDMustBeCanonical: libp2p decodes a peer ID whose protobuf is
// written differently (here with the fields in reverse order); the mesh
// accepts one byte form per key.
func TestPeerIDMustBeCanonical(t *testing.T) {
	k := GeneratePeerKey()
	raw := k.Public().Bytes()
	pb := append([]byte{0x12, 0x20}, raw...)
	pb = append(pb, 0x08, 0x01)
	id := peer.ID(append([]byte{0x00, byte(len(pb))}, pb...))
	if _, err := id.ExtractPublicKey(); err != nil {
		t.Skipf("libp2p refuses the reordered form itself: %v", err)
	}
	if _, err := PeerPublicFromID(id); err == nil {
		t.Fatal("a non-canonical peer ID was accepted")
	}
}

// definition is the check CheckPeerPublic stands for, computed the slow
// way: decodes, is the canonical encoding of what it decodes to, and
// [8]P ≠ O. ok is false when raw is not a curve point at all.
func definition(raw []byte) (accept, ok bool) {
	p, err := new(edwards25519.Point).SetBytes(raw)
	if err != nil {
		return false, false
	}
	return bytes.Equal(p.Bytes(), raw) && !isSmallOrder(p), true
}

// TestSmallOrderTableIsTheTorsionGroup: the table holds the y of exactly
// the eight points [8]P = O, computed here from the definition.
func TestSmallOrderTableIsTheTorsionGroup(t *testing.T) {
	want := map[[32]byte]bool{}
	for _, p := range torsion(t) {
		var y [32]byte
		copy(y[:], p.Bytes())
		y[31] &= 0x7f
		want[y] = true
	}
	got := map[[32]byte]bool{}
	for _, y := range smallOrderY {
		got[y] = true
	}
	if len(got) != len(smallOrderY) || len(want) != len(got) {
		t.Fatalf("table has %d distinct y, the torsion group %d", len(got), len(want))
	}
	for y := range want {
		if !got[y] {
			t.Fatalf("y %x of a torsion point is missing from the table", y)
		}
	}
}

// checkAgainstDefinition compares CheckPeerPublic with the definition on
// one input.
func checkAgainstDefinition(t *testing.T, raw []byte) {
	t.Helper()
	err := CheckPeerPublic(raw)
	if len(raw) != 32 {
		if !errors.Is(err, ErrNotEd25519) {
			t.Fatalf("%d bytes: %v", len(raw), err)
		}
		return
	}
	accept, onCurve := definition(raw)
	if !onCurve {
		// Not a point: passes if canonical (documented), no key can sign.
		if (err == nil) != canonicalY(raw) {
			t.Fatalf("off-curve %x: %v", raw, err)
		}
		return
	}
	if (err == nil) != accept {
		t.Fatalf("%x: CheckPeerPublic says %v, the definition says accept=%v", raw, err, accept)
	}
	if err != nil && !errors.Is(err, ErrBadPeerKey) {
		t.Fatalf("%x: %v does not match ErrBadPeerKey", raw, err)
	}
}

// TestCheckPeerPublicAgreesWithTheDefinition runs the fast check and the
// definition over every small-order and non-canonical encoding, real keys,
// real keys plus a torsion point, and random strings.
func TestCheckPeerPublicAgreesWithTheDefinition(t *testing.T) {
	var inputs [][]byte
	for _, raw := range smallOrderEncodings(t) {
		inputs = append(inputs, raw)
	}
	for y := range 19 { // every y ≥ p, both signs
		b := bytes.Repeat([]byte{0xff}, 32)
		b[0], b[31] = byte(0xed+y), 0x7f
		if y+0xed <= 0xff {
			inputs = append(inputs, b, append(bytes.Clone(b[:31]), 0xff))
		}
	}
	ts := torsion(t)
	for i := range 300 {
		k := GeneratePeerKey()
		pub := k.Public().Bytes()
		a, _ := new(edwards25519.Point).SetBytes(pub)
		mixed := new(edwards25519.Point).Add(a, ts[1+i%7]).Bytes()
		flipped := bytes.Clone(pub)
		flipped[31] ^= 0x80
		rnd := sha256.Sum256(fmt.Appendf(nil, "random %d", i))
		inputs = append(inputs, pub, mixed, flipped, rnd[:], rnd[:31], append(rnd[:], 0))
	}
	for _, raw := range inputs {
		checkAgainstDefinition(t, raw)
	}
}

func FuzzCheckPeerPublic(f *testing.F) {
	for _, raw := range smallOrderEncodings(f) {
		f.Add(raw)
	}
	k := GeneratePeerKey()
	f.Add(k.Public().Bytes())
	f.Fuzz(func(t *testing.T, raw []byte) { checkAgainstDefinition(t, raw) })
}

func TestParsePeerID(t *testing.T) {
	k := GeneratePeerKey()
	id, pub, err := ParsePeerID([]byte(k.ID()))
	if err != nil || id != k.ID() || !pub.Equal(k.Public()) || len(id) != PeerIDLen {
		t.Fatalf("own ID: %s %v", id, err)
	}
	if got, err := DecodePeerID(k.ID().String()); err != nil || got != k.ID() {
		t.Fatalf("DecodePeerID: %v", err)
	}
	if got, err := PeerIDFromBytes([]byte(k.ID())); err != nil || got != k.ID() {
		t.Fatalf("PeerIDFromBytes: %v", err)
	}
	_, secp, _ := crypto.GenerateSecp256k1Key(nil)
	secpID, _ := peer.IDFromPublicKey(secp)
	z := libp2pID(t, append([]byte{1}, make([]byte, 31)...))
	for name, tc := range map[string]struct {
		id   peer.ID
		want error
	}{
		"a small-order key":         {z, ErrBadPeerKey},
		"a secp256k1 peer":          {secpID, ErrNotEd25519},
		"a truncated ID":            {k.ID()[:PeerIDLen-1], ErrNotEd25519},
		"an ID with a byte after":   {k.ID() + "\x00", ErrNotEd25519},
		"a non-canonical key (y≥p)": {libp2pID(t, nonCanonicalLargeOrder(t)), ErrBadPeerKey},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := ParsePeerID([]byte(tc.id)); !errors.Is(err, tc.want) {
				t.Errorf("ParsePeerID: %v, want %v", err, tc.want)
			}
			if err := CheckPeerID(tc.id); !errors.Is(err, tc.want) {
				t.Errorf("CheckPeerID: %v", err)
			}
			if _, err := PeerIDFromBytes([]byte(tc.id)); !errors.Is(err, tc.want) {
				t.Errorf("PeerIDFromBytes: %v", err)
			}
			if _, err := PeerPublicFromID(tc.id); !errors.Is(err, tc.want) {
				t.Errorf("PeerPublicFromID: %v", err)
			}
			if s := tc.id.String(); s != "" {
				if _, err := DecodePeerID(s); err == nil {
					t.Errorf("DecodePeerID accepted %s", s)
				}
			}
		})
	}
}

// BenchmarkCheckPeerPublic is the check as run on every key of every
// token; BenchmarkCheckPeerPublicByDefinition is what decompressing and
// multiplying by the cofactor would cost instead.
func BenchmarkCheckPeerPublic(b *testing.B) {
	k := GeneratePeerKey()
	raw := k.Public().Bytes()
	for b.Loop() {
		if CheckPeerPublic(raw) != nil {
			b.Fatal("refused")
		}
	}
}

func BenchmarkCheckPeerPublicByDefinition(b *testing.B) {
	k := GeneratePeerKey()
	raw := k.Public().Bytes()
	for b.Loop() {
		p, err := new(edwards25519.Point).SetBytes(raw)
		if err != nil || isSmallOrder(p) {
			b.Fatal("refused")
		}
	}
}
