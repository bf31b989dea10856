package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// frameVector is one input to a frame reader with a cap (testdata/README.md).
type frameVector struct {
	Name string `json:"name"`
	Hex  string `json:"hex"`
	Max  int    `json:"max"`
	Want string `json:"want"`           // ok, BadRequest, TooLarge, truncated, end
	Body string `json:"body,omitempty"` // hex, when ok
	Len  int    `json:"len,omitempty"`  // the body's length, when ok
}

func buildFrameVectors() []frameVector {
	ok := func(name, prefix string, n, max int) frameVector {
		body := strings.Repeat("ab", n)
		v := frameVector{Name: name, Hex: prefix + body, Max: max, Want: "ok", Len: n}
		if n <= 64 {
			v.Body = body
		}
		return v
	}
	return []frameVector{
		ok("an empty frame", "00", 0, 16),
		ok("a three-byte frame", "03", 3, 16),
		ok("127 bytes take a one-byte prefix", "7f", 127, 127),
		ok("128 bytes take a two-byte prefix", "8001", 128, 128),
		ok("300 bytes, at the cap", "ac02", 300, 300),
		{Name: "301 bytes, one over the cap, are refused before the body is read", Hex: "ad02", Max: 300, Want: "TooLarge"},
		{Name: "a declared length of 2^35 - 1 (five-byte prefix) over the cap", Hex: "ffffffff0f", Max: 1 << 20, Want: "TooLarge"},
		{Name: "a prefix of six bytes is malformed", Hex: "808080808001", Max: 1 << 20, Want: "BadRequest"},
		{Name: "a five-byte prefix whose last byte continues is malformed", Hex: "8080808080", Max: 1 << 20, Want: "BadRequest"},
		{Name: "a non-minimal prefix (1 as 81 00) is malformed", Hex: "810001", Max: 16, Want: "BadRequest"},
		{Name: "a non-minimal five-byte prefix is malformed", Hex: "8080808000", Max: 1 << 20, Want: "BadRequest"},
		{Name: "a truncated body", Hex: "05616263", Max: 16, Want: "truncated"},
		{Name: "a truncated prefix", Hex: "80", Max: 16, Want: "truncated"},
		{Name: "no byte at all is a clean end", Hex: "", Max: 16, Want: "end"},
		{Name: "a cap of 0 admits only the empty frame", Hex: "0100", Max: 0, Want: "TooLarge"},
		{Name: "bytes after the frame are not read", Hex: "0161ff", Max: 16, Want: "ok", Body: "61", Len: 1},
	}
}

// cborVector is one body decoded canonically as the sample message:
// {1 a: uint, required; 2 b: text, optional; 3 c: bytes, optional;
// 4 d: [text], optional} (testdata/README.md).
type cborVector struct {
	Name  string       `json:"name"`
	Hex   string       `json:"hex,omitempty"`
	Parts []any        `json:"parts,omitempty"`
	Want  string       `json:"want"` // ok or BadRequest
	Value *sampleValue `json:"value,omitempty"`
}

type sampleValue struct {
	A uint64   `json:"a"`
	B string   `json:"b,omitempty"`
	C string   `json:"c,omitempty"` // hex
	D []string `json:"d,omitempty"`
}

func buildCBORVectors(t testing.TB) []cborVector {
	good := func(name string, v sample) cborVector {
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return cborVector{Name: name, Hex: hex.EncodeToString(b), Want: "ok", Value: &sampleValue{A: v.A, B: v.B, C: hex.EncodeToString(v.C), D: v.D}}
	}
	bad := func(name, h string) cborVector {
		return cborVector{Name: name, Hex: stripSpaces(h), Want: "BadRequest"}
	}
	texts := func(n int) []string { return make([]string, n) }
	vs := []cborVector{
		good("the required field alone, zero", sample{}),
		good("every field", sample{A: 7, B: "hi", C: []byte{1, 2}, D: []string{"x", "y"}}),
		good("the largest uint", sample{A: 1<<64 - 1}),
		good("23 takes the initial byte, 24 one more", sample{A: 23, D: []string{strings.Repeat("x", 24)}}),
		good("multi-byte UTF-8 text", sample{A: 1, B: "héllo ☃ 𝄞"}),
		good("empty strings inside an array are values, not absent fields", sample{A: 1, D: []string{"", ""}}),
		bad("an empty input", ""),
		bad("not a map", "8100"),
		bad("the required field missing", "a0"),
		bad("a non-shortest integer (1 as 18 01)", "a1 01 1801"),
		bad("a non-shortest integer (1 as 19 0001)", "a1 01 190001"),
		bad("a non-shortest length (58 01)", "a2 0100 03 5801aa"),
		bad("a non-shortest map length", "b80101 00"),
		bad("keys out of order", "a2 02 6178 01 00"),
		bad("a duplicate key", "a2 0100 0101"),
		bad("an indefinite-length map", "bf 0100 ff"),
		bad("an indefinite-length byte string", "a2 0100 03 5f41aaff"),
		bad("an indefinite-length array", "a2 0100 04 9f6178ff"),
		bad("a tag on a value", "a1 01 c100"),
		bad("the self-describe tag on the whole item", "d9d9f7 a10100"),
		bad("a byte after the item", "a10100 00"),
		bad("a truncated map", "a2 0100"),
		bad("a truncated string", "a2 0100 02 6561"),
		bad("an unknown field", "a2 0100 0900"),
		bad("a negative key", "a2 0100 2000"),
		bad("a text key", "a1 6131 00"),
		bad("a text where a uint goes", "a1 01 6161"),
		bad("a negative integer where a uint goes", "a1 01 20"),
		bad("true where a uint goes", "a1 01 f5"),
		bad("a byte string where text goes", "a2 0100 02 4161"),
		bad("a text where bytes go", "a2 0100 03 6161"),
		bad("null for an optional field", "a2 0100 02 f6"),
		bad("null for the required field", "a1 01 f6"),
		bad("undefined for an optional field", "a2 0100 03 f7"),
		bad("a half-precision float zero", "a1 01 f90000"),
		bad("a simple value (16)", "a1 01 f0"),
		bad("a two-byte simple value below 32", "a1 01 f810"),
		bad("reserved additional information 28", "a1 01 1c"),
		bad("a lone break byte", "ff"),
		bad("an optional text present and empty", "a2 0100 02 60"),
		bad("an optional byte string present and empty", "a2 0100 03 40"),
		bad("an optional array present and empty", "a2 0100 04 80"),
		bad("invalid UTF-8", "a2 0100 02 62c328"),
		bad("a UTF-8 surrogate", "a2 0100 02 63eda080"),
		bad("overlong UTF-8", "a2 0100 02 62c0af"),
		bad("a number inside an array of text", "a2 0100 04 8101"),
		bad("null inside an array of text", "a2 0100 04 81f6"),
	}
	// The array cap: 1024 elements are read, 1025 are refused whatever
	// they hold.
	at, _ := Marshal(sample{A: 1, D: texts(MaxArrayElements)})
	vs = append(vs, cborVector{Name: "an array of MaxArrayElements elements", Parts: []any{hex.EncodeToString(at[:7]), []any{"60", MaxArrayElements}},
		Want: "ok", Value: &sampleValue{A: 1, D: texts(MaxArrayElements)}})
	if !bytes.Equal(at[7:], bytes.Repeat([]byte{0x60}, MaxArrayElements)) {
		t.Fatalf("the array vector's layout changed: %x", at[:8])
	}
	vs = append(vs, cborVector{Name: "an array of MaxArrayElements + 1 elements", Parts: []any{"a201010419" + fmt.Sprintf("%04x", MaxArrayElements+1), []any{"60", MaxArrayElements + 1}}, Want: "BadRequest"})
	return vs
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated"
	case err == io.EOF:
		return "end"
	}
	return StatusOf(err).Name()
}

// TestFrameVectors checks testdata/frames.json against ReadFrame, and that
// it is what buildFrameVectors generates (-update rewrites it).
func TestFrameVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/frames.json", *update, buildFrameVectors)
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			in, _ := hex.DecodeString(v.Hex)
			body, err := ReadFrame(bytes.NewReader(in), v.Max)
			if got := outcome(err); got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
			if err == nil && (len(body) != v.Len || v.Body != "" && hex.EncodeToString(body) != v.Body) {
				t.Fatalf("body %x", body)
			}
		})
	}
}

// TestCBORVectors checks testdata/cbor.json against UnmarshalCanonical.
func TestCBORVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/cbor.json", *update, func() []cborVector { return buildCBORVectors(t) })
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			var s sample
			err := UnmarshalCanonical(testkit.VectorBytes(t, v.Hex, v.Parts), &s)
			if got := outcome(err); got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
			if err == nil {
				got := sampleValue{A: s.A, B: s.B, C: hex.EncodeToString(s.C), D: s.D}
				if fmt.Sprint(got) != fmt.Sprint(*v.Value) {
					t.Fatalf("decoded %+v, want %+v", got, *v.Value)
				}
			}
		})
	}
}

// TestNilIsWrittenEmpty: the encoder never writes null, so what it writes
// decodes canonically (a nil required byte string is 40, not f6).
func TestNilIsWrittenEmpty(t *testing.T) {
	type required struct {
		B []byte   `cbor:"1,keyasint"`
		A []string `cbor:"2,keyasint"`
	}
	b, err := Marshal(required{})
	if err != nil || hex.EncodeToString(b) != "a2014002 80" && hex.EncodeToString(b) != "a201400280" {
		t.Fatalf("nil fields encoded as %x (%v)", b, err)
	}
	var back required
	if err := UnmarshalCanonical(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := UnmarshalCanonical([]byte{0xa2, 0x01, 0xf6, 0x02, 0x80}, &back); !errors.Is(err, BadRequest) {
		t.Fatalf("null for a required byte string was accepted: %v", err)
	}
}

// TestDocNumbersMatchTheConstants: the Limits table and every "Name
// (value)" of doc.go are the constants; the status table is the Status
// constants; the small-order y values are the ones internal/keys refuses.
func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxVarintLen":     MaxVarintLen,
		"MaxArrayElements": MaxArrayElements,
		"MaxMapPairs":      MaxMapPairs,
		"MaxNestedLevels":  MaxNestedLevels,
		"PeerIDLen":        int64(keys.PeerIDLen),
	})
	_, table, ok := strings.Cut(doc, "\n# Statuses\n")
	if !ok {
		t.Fatal("doc.go has no Statuses section")
	}
	rows := regexp.MustCompile(`(?m)^\t(\d+)\s+(\w+)\s`).FindAllStringSubmatch(table, -1)
	if len(rows) != len(statusNames) {
		t.Fatalf("doc.go lists %d statuses, the code %d", len(rows), len(statusNames))
	}
	for _, r := range rows {
		n, _ := strconv.Atoi(r[1])
		if s := Status(n); !s.Known() || s.Name() != r[2] {
			t.Errorf("doc.go gives status %s = %s; the code names %d %s", r[1], r[2], n, s.Name())
		}
	}
	_, peers, _ := strings.Cut(doc, "\n# Peer IDs\n")
	peers, _, _ = strings.Cut(peers, "\n# ")
	ys := regexp.MustCompile(`(?m)^\t([0-9a-f]{64})$`).FindAllStringSubmatch(peers, -1)
	if len(ys) != 5 {
		t.Fatalf("doc.go gives %d small-order y, want 5", len(ys))
	}
	for _, y := range ys {
		k, _ := hex.DecodeString(y[1])
		for _, sign := range []byte{0, 0x80} {
			k[31] = k[31]&0x7f | sign
			if keys.CheckPeerPublic(k) == nil {
				t.Errorf("doc.go lists y = %s, but CheckPeerPublic accepts %x", y[1], k)
			}
		}
	}
	testkit.DocSays(t, doc, "00 24 08 01 12 20 || key")
}

// TestIndependentDecoderAgrees runs specs/wire/check.py, written from
// doc.go alone, on the committed vectors.
func TestIndependentDecoderAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/wire/check.py") }
