package capability

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// Every benchmark here has its baseline in the same run: raw stdlib
// ed25519 over a message of the same length as the token's signed bytes.

// benchChain builds a chain of n tokens ending at bob's... audience and
// returns the leaf, its holder and the owner.
func benchChain(b *testing.B, n int) (leaf *Token, holder, owner *keys.PeerKey) {
	b.Helper()
	c := newCast(b)
	peers := []*keys.PeerKey{c.owner, c.alice, c.bob, c.carol, c.dave}
	var tok *Token
	for i := 0; i < n; i++ {
		acts := Read | List
		if i < n-1 {
			acts |= Share
		}
		tok = issue(b, peers[i], Params{Audience: peers[i+1].ID(), Resource: "calendar/work/*", Actions: acts, Parent: tok})
	}
	return tok, peers[n], c.owner
}

func benchVerifyFromBytes(b *testing.B, n int) {
	leaf, holder, owner := benchChain(b, n)
	raw := leaf.Bytes()
	v := NewVerifier(Config{Clock: testkit.NewClock(testNow).Now, Revocations: NewMemoryRevocations()})
	req := Request{Remote: holder.ID(), Owner: owner.ID(), Resource: "calendar/work/mon", Action: Read}
	ctx := context.Background()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		tok, err := Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(ctx, tok, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyDepth1 is the full server path for a root token: strict
// decode from wire bytes, signature, checks, revocation lookup, request.
func BenchmarkVerifyDepth1(b *testing.B) { benchVerifyFromBytes(b, 1) }

// BenchmarkVerifyDepth3 is the same for a three-token chain.
func BenchmarkVerifyDepth3(b *testing.B) { benchVerifyFromBytes(b, 3) }

// BenchmarkVerifyDepth1Parsed verifies an already decoded token.
func BenchmarkVerifyDepth1Parsed(b *testing.B) {
	leaf, holder, owner := benchChain(b, 1)
	v := NewVerifier(Config{Clock: testkit.NewClock(testNow).Now})
	req := Request{Remote: holder.ID(), Owner: owner.ID(), Resource: "calendar/work/mon", Action: Read}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), leaf, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeDepth3 is strict decoding alone.
func BenchmarkDecodeDepth3(b *testing.B) {
	leaf, _, _ := benchChain(b, 3)
	raw := leaf.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// signedLen is the length ed25519 signs for a depth-1 token.
func signedLen(b *testing.B) int {
	leaf, _, _ := benchChain(b, 1)
	return len(keys.LabelToken) + 1 + len(leaf.payload)
}

// BenchmarkBaselineEd25519Verify is one stdlib verification of a message
// as long as a depth-1 token's signed bytes.
func BenchmarkBaselineEd25519Verify(b *testing.B) {
	msg := make([]byte, signedLen(b))
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(priv, msg)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
}

// BenchmarkBaselineEd25519Sign is one stdlib signature of the same length.
func BenchmarkBaselineEd25519Sign(b *testing.B) {
	msg := make([]byte, signedLen(b))
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Sign(priv, msg)
	}
}

// BenchmarkIssue issues a root token (nonce from crypto/rand).
func BenchmarkIssue(b *testing.B) {
	c := newCast(b)
	p := defaults(Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read | List}, "")
	p.Rand = nil
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Issue(c.owner, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRatios interleaves each operation with its baseline in small
// batches and reports ours/baseline as the "x" metric, so the ratio holds
// even when other load on the machine shifts absolute timings. ns/op is
// the time of one (ours + baseline) pair and is not meaningful on its own.
func BenchmarkRatios(b *testing.B) {
	leaf1, holder1, owner := benchChain(b, 1)
	leaf3, holder3, _ := benchChain(b, 3)
	raw1, raw3 := leaf1.Bytes(), leaf3.Bytes()
	v := NewVerifier(Config{Clock: testkit.NewClock(testNow).Now, Revocations: NewMemoryRevocations()})
	ctx := context.Background()
	verify := func(raw []byte, holder *keys.PeerKey) func() {
		req := Request{Remote: holder.ID(), Owner: owner.ID(), Resource: "calendar/work/mon", Action: Read}
		return func() {
			tok, err := Decode(raw)
			if err == nil {
				_, err = v.Verify(ctx, tok, req)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	msg := make([]byte, len(keys.LabelToken)+1+len(leaf1.payload))
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(priv, msg)
	baseVerify := func() { ed25519.Verify(pub, msg, sig) }
	baseSign := func() { ed25519.Sign(priv, msg) }
	c := newCast(b)
	p := defaults(Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read | List}, "")
	p.Rand = nil
	issueOne := func() {
		if _, err := Issue(c.owner, p); err != nil {
			b.Fatal(err)
		}
	}
	jwtParse := jwtParseFunc(b)
	for _, tc := range []struct {
		name       string
		ours, base func()
	}{
		{"VerifyDepth1_vs_Ed25519Verify", verify(raw1, holder1), baseVerify},
		{"VerifyDepth3_vs_Ed25519Verify", verify(raw3, holder3), baseVerify},
		{"Issue_vs_Ed25519Sign", issueOne, baseSign},
		{"VerifyDepth1_vs_JWTEdDSA", verify(raw1, holder1), jwtParse},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var ours, base time.Duration
			for b.Loop() {
				t0 := time.Now()
				tc.ours()
				t1 := time.Now()
				tc.base()
				base += time.Since(t1)
				ours += t1.Sub(t0)
			}
			b.ReportMetric(float64(ours)/float64(base), "x")
			b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "ours-ns/op")
			b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "base-ns/op")
		})
	}
}
