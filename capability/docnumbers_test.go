package capability

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/edwards25519"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// specNumbers are the constants doc.go must state, by the name it uses.
func specNumbers() map[string]int64 {
	return map[string]int64{
		"Version":                 Version,
		"MaxTokenBytes":           MaxTokenBytes,
		"MaxTextLen":              int64(MaxTextLen),
		"MaxDepth":                MaxDepth,
		"MaxResourceLen":          MaxResourceLen,
		"MaxResourceSegments":     MaxResourceSegments,
		"MaxSegmentLen":           MaxSegmentLen,
		"MaxMaxUses":              MaxMaxUses,
		"NonceSize":               NonceSize,
		"PeerIDLen":               int64(keys.PeerIDLen),
		"SignatureSize":           int64(len(keys.Signature{})),
		"maxUnix":                 maxUnix,
		"DefaultSkew":             testkit.Seconds(DefaultSkew),
		"MaxSkew":                 testkit.Seconds(MaxSkew),
		"DefaultMaxReplayEntries": DefaultMaxReplayEntries,
		"DefaultCacheEntries":     DefaultCacheEntries,
		"DefaultCacheBytes":       DefaultCacheBytes,
		"cborMaxNestedLevels":     cborMaxNestedLevels,
		"cborMaxArrayElements":    cborMaxArrayElements,
		"cborMaxMapPairs":         cborMaxMapPairs,
	}
}

// TestDocNumbersMatchTheConstants: every number doc.go writes for a named
// limit is the constant's value, in the Limits table and wherever the text
// says "Name (value)"; every constant is in the table; and the values the
// table explains (the text length, the 9999 bound, 2^20, the action bits,
// the prefix and label) are the code's. The spec and the code cannot drift
// apart silently.
func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, specNumbers())
	if n := len(regexp.MustCompile(`\b(MaxTokenBytes|MaxTextLen|MaxDepth|MaxResource\w*|MaxSegmentLen|PeerIDLen|maxUnix|\w*Skew|DefaultMaxReplayEntries) \(\d+\)`).FindAllString(doc, -1)); n < 10 {
		t.Errorf("only %d \"Name (value)\" mentions found: has the notation changed?", n)
	}
	testkit.DocSays(t, doc,
		fmt.Sprintf("%d + %d", len(TextPrefix), base64.RawURLEncoding.EncodedLen(MaxTokenBytes)),
		time.Unix(maxUnix, 0).UTC().Format(time.RFC3339),
		strconv.Quote(TextPrefix),
		strconv.Quote(keys.LabelToken),
		fmt.Sprintf("mask 0x%02x", uint8(allActions&^forbiddenInCeiling)),
		fmt.Sprintf("≤ 0x%02x", uint8(allActions)),
	)
	for i, n := range actionNames() {
		testkit.DocSays(t, doc, fmt.Sprintf("%s 0x%02x", n, 1<<i))
	}
	if MaxMaxUses != 1<<20 || !strings.Contains(doc, "(2^20)") {
		t.Errorf("doc.go and MaxMaxUses disagree on 2^20")
	}
	if time.Unix(maxUnix+1, 0).UTC().Year() != 10000 {
		t.Errorf("maxUnix is not the last second of the year 9999")
	}
	// The Example is the first vector.
	first := testkit.ReadVectors[vector](t, vectorsFile)[0]
	tok, err := Parse(first.Token)
	if err != nil {
		t.Fatal(err)
	}
	testkit.DocSays(t, doc, fmt.Sprintf("%d envelope bytes; its text form is %d characters", len(tok.raw), len(first.Token)),
		first.Token[:70])
}

// TestDocListsEveryError: the Errors table of doc.go names every sentinel
// errors.go declares (ErrBadPattern, never a verification outcome, is in
// the prose after it).
func TestDocListsEveryError(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
			for _, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					if strings.HasPrefix(n.Name, "Err") {
						declared[n.Name] = true
					}
				}
			}
		}
	}
	doc := testkit.SpecDoc(t)
	_, sec, _ := strings.Cut(doc, "\n# Errors\n")
	sec, _, _ = strings.Cut(sec, "\n# ")
	rows := regexp.MustCompile(`(?m)^\t(Err\w+)\s`).FindAllStringSubmatch(sec, -1)
	listed := map[string]bool{"ErrBadPattern": strings.Contains(sec, "ErrBadPattern is never")}
	for _, r := range rows {
		listed[r[1]] = true
	}
	for name := range declared {
		if !listed[name] {
			t.Errorf("errors.go declares %s; doc.go's Errors section does not list it", name)
		}
	}
	for name := range listed {
		if !declared[name] {
			t.Errorf("doc.go lists %s, which errors.go does not declare", name)
		}
	}
	if len(rows) < 18 {
		t.Errorf("the Errors table has %d rows", len(rows))
	}
}

// TestDocCurveConstants: the group order and the small-order y-coordinates
// doc.go writes are the ones the code uses.
func TestDocCurveConstants(t *testing.T) {
	doc := testkit.SpecDoc(t)
	m := regexp.MustCompile(`ℓ = 2\^252 \+ (\d+)`).FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("doc.go does not give ℓ")
	}
	l, _ := new(big.Int).SetString(m[1], 10)
	l.Add(l, new(big.Int).Lsh(big.NewInt(1), 252))
	le := func(n *big.Int) []byte { // 32 bytes, little endian
		b := n.FillBytes(make([]byte, 32))
		for i, j := 0, 31; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		return b
	}
	if _, err := edwards25519.NewScalar().SetCanonicalBytes(le(new(big.Int).Sub(l, big.NewInt(1)))); err != nil {
		t.Errorf("ℓ − 1 is not a canonical scalar: doc.go's ℓ is too small")
	}
	if _, err := edwards25519.NewScalar().SetCanonicalBytes(le(l)); err == nil {
		t.Errorf("ℓ is a canonical scalar: doc.go's ℓ is too large")
	}

	_, sec, _ := strings.Cut(doc, "\n# Peer IDs and keys\n")
	sec, _, _ = strings.Cut(sec, "\n# ")
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	ys := [][]byte{le(big.NewInt(0)), le(big.NewInt(1)), le(new(big.Int).Sub(p, big.NewInt(1)))}
	for _, h := range regexp.MustCompile(`\b[0-9a-f]{64}\b`).FindAllString(sec, -1) {
		b, _ := hex.DecodeString(h)
		ys = append(ys, b)
	}
	if len(ys) != 5 {
		t.Fatalf("doc.go gives %d small-order y, want 5", len(ys))
	}
	for _, y := range ys {
		for _, sign := range []byte{0, 0x80} {
			k := append([]byte(nil), y...)
			k[31] |= sign
			if keys.CheckPeerPublic(k) == nil {
				t.Errorf("doc.go lists y = %x as small order, but CheckPeerPublic accepts %x", y, k)
			}
			// The eight points of order dividing 8, and only they.
			pt, err := new(edwards25519.Point).SetBytes(k)
			if err != nil || new(edwards25519.Point).MultByCofactor(pt).Equal(edwards25519.NewIdentityPoint()) != 1 {
				t.Errorf("y = %x (sign %x) is not a point of small order", y, sign)
			}
		}
	}
}
