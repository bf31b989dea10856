package translog

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

// BenchmarkInclusionVerification times verifying a lookup's inclusion proof
// in a log of 2^16 leaves (16 hashes) against a bare ed25519.Verify, the
// cost a client already pays to check the record's signature.
func BenchmarkInclusionVerification(b *testing.B) {
	const n = 1 << 16
	salt := testSalt(b)
	l, err := OpenLog(NewMemStore())
	if err != nil {
		b.Fatal(err)
	}
	leaf := leafBytes(b, salt, "bob", 1)
	for range n {
		if _, err := l.Append(leaf); err != nil {
			b.Fatal(err)
		}
	}
	key := testkit.Key(b, "bootstrap")
	cp := checkpoint(b, key, l, n)
	p, err := l.InclusionProof(777, n)
	if err != nil {
		b.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(key.Seed())
	pub := priv.Public().(ed25519.PublicKey)
	msg := []byte("a signed directory record of about this length, for the baseline")
	sig := ed25519.Sign(priv, msg)
	ours := func() {
		if VerifyInclusion(cp, leaf, 777, p) != nil {
			b.Fatal("the proof does not verify")
		}
	}
	base := func() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("the signature does not verify")
		}
	}
	testkit.PairRatios(b, ours, base, 64, time.Nanosecond)
}

// BenchmarkCheckpointParsing times verifying a signed checkpoint against a
// bare ed25519.Verify.
func BenchmarkCheckpointParsing(b *testing.B) {
	key := testkit.Key(b, "bootstrap")
	signed, err := SignCheckpoint(key, 1_000_000, make([]byte, HashSize))
	if err != nil {
		b.Fatal(err)
	}
	id := key.ID()
	priv := ed25519.NewKeyFromSeed(key.Seed())
	pub := priv.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(priv, signed)
	ours := func() {
		if _, err := ParseCheckpoint(signed, id); err != nil {
			b.Fatal(err)
		}
	}
	base := func() {
		if !ed25519.Verify(pub, signed, sig) {
			b.Fatal("the signature does not verify")
		}
	}
	testkit.PairRatios(b, ours, base, 16, time.Nanosecond)
}

// BenchmarkProofSizeAtAMillionLeaves reports the inclusion proof's size at
// 10^6 leaves, in hashes and encoded bytes.
func BenchmarkProofSizeAtAMillionLeaves(b *testing.B) {
	const n = 1_000_000
	l, err := OpenLog(NewMemStore())
	if err != nil {
		b.Fatal(err)
	}
	leaf := leafBytes(b, testSalt(b), "someone", 0)
	for range n {
		if _, err := l.Append(leaf); err != nil {
			b.Fatal(err)
		}
	}
	var p [][]byte
	for i := 0; b.Loop(); i++ {
		if p, err = l.InclusionProof(uint64(i)%n, n); err != nil {
			b.Fatal(err)
		}
	}
	enc, _ := EncodeProof(p)
	b.ReportMetric(float64(len(p)), "hashes")
	b.ReportMetric(float64(len(enc)), "proof-bytes")
}
