package capability

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
)

// vectorSeeds returns the committed vector texts (the text form of the
// vectors given as envelope bytes).
func vectorSeeds(tb testing.TB) []string {
	tb.Helper()
	vs := testkit.ReadVectors[vector](tb, vectorsFile)
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		if v.Envelope != "" {
			raw, err := hex.DecodeString(v.Envelope)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, textOf(raw))
			continue
		}
		out = append(out, v.Token)
	}
	return out
}

// FuzzDecode: no panic; anything that decodes re-encodes to the same bytes;
// input over the cap is refused as too large; a ChainCache decodes every
// input as Decode does, first and again once it holds the chain.
func FuzzDecode(f *testing.F) {
	for _, s := range vectorSeeds(f) {
		if b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, TextPrefix)); err == nil {
			f.Add(b)
		}
	}
	cache := NewChainCache(64, 1<<20)
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := Decode(b)
		for range 2 {
			ctok, cerr := cache.Decode(b)
			if (cerr == nil) != (err == nil) || cerr != nil && cerr.Error() != err.Error() ||
				ctok != nil && !bytes.Equal(ctok.raw, b) {
				t.Fatalf("cache decode gave %v, %v; Decode %v", ctok, cerr, err)
			}
			if ctok != nil {
				_ = cache.CheckChain(ctok)
			}
		}
		if err != nil {
			if tok != nil {
				t.Fatal("token returned with an error")
			}
			if len(b) > MaxTokenBytes && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("oversized input gave %v", err)
			}
			if ErrorName(err) == "error" {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if !bytes.Equal(tok.Bytes(), b) {
			t.Fatal("token bytes differ from input")
		}
		for c := tok; c != nil; c = c.Parent() {
			env, err := encMode.Marshal(envelope{Payload: c.payload, Signature: c.sig})
			if err != nil || !bytes.Equal(env, c.raw) {
				t.Fatalf("envelope does not re-encode identically: %v", err)
			}
			pl, err := encMode.Marshal(&c.p)
			if err != nil || !bytes.Equal(pl, c.payload) {
				t.Fatalf("payload does not re-encode identically: %v", err)
			}
		}
		if tok.Depth() > MaxDepth {
			t.Fatalf("depth %d decoded", tok.Depth())
		}
		if err := checkChain(tok.Chain()); err != nil && ErrorName(err) == "error" {
			t.Fatalf("chain error wraps no sentinel: %v", err)
		}
	})
}

// FuzzParseText: no panic; text → token → text round-trips exactly or the
// text is refused. There is one text per token: no white space (inside or
// around), no padding, no standard-alphabet characters, no stray bits.
func FuzzParseText(f *testing.F) {
	for _, s := range vectorSeeds(f) {
		f.Add(s)
		if len(s) > 80 {
			f.Add(s[:70] + "\n" + s[70:])
			f.Add(s[:70] + "\r\n" + s[70:])
			f.Add(s + "=")
			f.Add(" " + s)
		}
	}
	f.Add(" " + TextPrefix + "\n")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s)
		if err != nil {
			if tok != nil {
				t.Fatal("token returned with an error")
			}
			if len(s) > MaxTextLen && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("oversized text gave %v", err)
			}
			if ErrorName(err) == "error" {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if tok.String() != s {
			t.Fatalf("%q parsed but prints as %q", s, tok.String())
		}
	})
}

// TestOversizedInputIsRefusedBeforeAllocating checks the cap comes first:
// refusing 1 MiB must allocate a few error strings, not the input.
func TestOversizedInputIsRefusedBeforeAllocating(t *testing.T) {
	big := bytes.Repeat([]byte{0xa2}, 1<<20)
	text := TextPrefix + strings.Repeat("A", 1<<20)
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"Decode refuses a 1 MiB envelope", func() error { _, err := Decode(big); return err }},
		{"Parse refuses a 1 MiB text", func() error { _, err := Parse(text); return err }},
		{"Decode refuses one byte over the cap", func() error { _, err := Decode(big[:MaxTokenBytes+1]); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run() // warm up lazily built state
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := tc.run()
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<10 {
				t.Fatalf("allocated %d bytes refusing oversized input", n)
			}
		})
	}
}
