package capability

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
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
	v := uncached()
	req := Request{Remote: holder.ID(), Owner: owner.ID(), Resource: "calendar/work/mon", Action: Read}
	ctx := context.Background()
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

// BenchmarkVerifyDepth1 is the full server path for a root token, with no
// cache: strict decode from wire bytes, signature, checks, revocation
// lookup, request.
func BenchmarkVerifyDepth1(b *testing.B) { benchVerifyFromBytes(b, 1) }

// BenchmarkVerifyDepth3 is the same for a three-token chain.
func BenchmarkVerifyDepth3(b *testing.B) { benchVerifyFromBytes(b, 3) }

// BenchmarkVerifyDepth1Parsed verifies an already decoded token (no cache).
func BenchmarkVerifyDepth1Parsed(b *testing.B) {
	leaf, holder, owner := benchChain(b, 1)
	v := NewVerifier(Config{Clock: testkit.NewClock(testNow).Now, Cache: NewChainCache(0, 0)})
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

// serverPath decodes raw through v and verifies it for req, as a share
// server does, failing the benchmark on any error.
func serverPath(b *testing.B, v *Verifier, raw []byte, req Request) func() {
	ctx := context.Background()
	return func() {
		tok, err := v.Decode(raw)
		if err == nil {
			_, err = v.Verify(ctx, tok, req)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// uncached is a verifier that caches nothing: every call is a full
// verification, as before the cache.
func uncached() *Verifier {
	return NewVerifier(Config{Clock: testkit.NewClock(testNow).Now, Revocations: NewMemoryRevocations(), Cache: NewChainCache(0, 0)})
}

// ed25519Verifies returns a function that verifies one stdlib signature
// for each link of chain, over a message as long as the link's signed
// bytes: the floor of what verifying the chain must cost.
func ed25519Verifies(chain []*Token) func() {
	type sigd struct {
		pub      ed25519.PublicKey
		msg, sig []byte
	}
	var all []sigd
	for i, t := range chain {
		msg := make([]byte, len(keys.LabelToken)+1+len(t.payload))
		priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, ed25519.SeedSize))
		all = append(all, sigd{priv.Public().(ed25519.PublicKey), msg, ed25519.Sign(priv, msg)})
	}
	return func() {
		for _, s := range all {
			if !ed25519.Verify(s.pub, s.msg, s.sig) {
				panic("baseline signature failed")
			}
		}
	}
}

// BenchmarkVerifyRepeatVsFull pairs a repeat verification (the chain is in
// the verifier's cache: decoding and signatures skipped, everything else
// checked) with a full one (a verifier that caches nothing), both from
// wire bytes as a server gets them. Goal: x ≤ 0.05.
func BenchmarkVerifyRepeatVsFull(b *testing.B) {
	for _, depth := range []int{1, 3} {
		b.Run(fmt.Sprintf("depth%d", depth), func(b *testing.B) {
			leaf, holder, owner := benchChain(b, depth)
			raw := leaf.Bytes()
			req := Request{Remote: holder.ID(), Owner: owner.ID(), Resource: "calendar/work/mon", Action: Read}
			warm := NewVerifier(Config{Clock: testkit.NewClock(testNow).Now, Revocations: NewMemoryRevocations()})
			repeat := serverPath(b, warm, raw, req)
			repeat() // the first verification fills the cache
			if st := warm.Cache().Stats(); st.Entries != 1 {
				b.Fatalf("the chain is not cached: %+v", st)
			}
			testkit.PairRatios(b, repeat, serverPath(b, uncached(), raw, req), 1, time.Nanosecond)
			if st := warm.Cache().Stats(); st.Misses != 2 { // the first Decode's and Verify's
				b.Fatalf("repeats missed the cache: %+v", st)
			}
		})
	}
	// A caller that decodes with capability.Decode, not Verifier.Decode,
	// still skips the signatures but pays for decoding every time.
	b.Run("depth1-decoded-by-caller", func(b *testing.B) {
		leaf, holder, owner := benchChain(b, 1)
		raw := leaf.Bytes()
		req := Request{Remote: holder.ID(), Owner: owner.ID(), Resource: "calendar/work/mon", Action: Read}
		warm := NewVerifier(Config{Clock: testkit.NewClock(testNow).Now, Revocations: NewMemoryRevocations()})
		ctx := context.Background()
		repeat := func() {
			tok, err := Decode(raw)
			if err == nil {
				_, err = warm.Verify(ctx, tok, req)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		testkit.PairRatios(b, repeat, serverPath(b, uncached(), raw, req), 1, time.Nanosecond)
	})
}

// BenchmarkRatios pairs each operation with its baseline (testkit.PairRatios:
// interleaved, order alternating, median of pair ratios with spread).
// Depth-3 verification is compared per signature: with three stdlib
// verifications, one per link.
func BenchmarkRatios(b *testing.B) {
	leaf1, holder1, owner := benchChain(b, 1)
	leaf3, holder3, _ := benchChain(b, 3)
	raw1, raw3 := leaf1.Bytes(), leaf3.Bytes()
	req1 := Request{Remote: holder1.ID(), Owner: owner.ID(), Resource: "calendar/work/mon", Action: Read}
	req3 := Request{Remote: holder3.ID(), Owner: owner.ID(), Resource: "calendar/work/mon", Action: Read}
	msg := make([]byte, len(keys.LabelToken)+1+len(leaf1.payload))
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	baseSign := func() { ed25519.Sign(priv, msg) }
	c := newCast(b)
	p := defaults(Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read | List}, "")
	p.Rand = nil
	issueOne := func() {
		if _, err := Issue(c.owner, p); err != nil {
			b.Fatal(err)
		}
	}
	warm := NewVerifier(Config{Clock: testkit.NewClock(testNow).Now, Revocations: NewMemoryRevocations()})
	for _, tc := range []struct {
		name       string
		ours, base func()
		batch      int
	}{
		{"VerifyDepth1_vs_Ed25519Verify", serverPath(b, uncached(), raw1, req1), ed25519Verifies(leaf1.Chain()), 1},
		{"VerifyDepth3_vs_3xEd25519Verify", serverPath(b, uncached(), raw3, req3), ed25519Verifies(leaf3.Chain()), 1},
		{"VerifyRepeat_vs_Ed25519Verify", serverPath(b, warm, raw1, req1), ed25519Verifies(leaf1.Chain()), 1},
		{"Issue_vs_Ed25519Sign", issueOne, baseSign, 1},
		{"VerifyDepth1_vs_JWTEdDSA", serverPath(b, uncached(), raw1, req1), jwtParseFunc(b), 1},
	} {
		b.Run(tc.name, func(b *testing.B) { testkit.PairRatios(b, tc.ours, tc.base, tc.batch, time.Nanosecond) })
	}
}
