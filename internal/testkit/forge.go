package testkit

import (
	"crypto/ed25519"
	"crypto/sha512"
	"testing"

	"filippo.io/edwards25519"
)

// ForgeSmallOrder signs msg under a small-order Ed25519 public key pub
// without any private key, and checks that crypto/ed25519 accepts the
// result: with [k]A = O the check [S]B = R + [k]A reduces to [S]B = R, so
// R = [S]B for a guessed S works whenever k = H(R‖A‖msg) kills A (always
// for the identity, one time in eight at worst). Negative tests use it to
// show such keys are refused before any signature is trusted.
func ForgeSmallOrder(t testing.TB, pub, msg []byte) []byte {
	t.Helper()
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		t.Fatal(err)
	}
	if new(edwards25519.Point).MultByCofactor(a).Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("not a small-order key")
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
				t.Fatal("the forgery does not verify under crypto/ed25519")
			}
			return sig
		}
	}
	t.Fatal("no forgery found")
	return nil
}
