package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

type sample struct {
	A uint64   `cbor:"1,keyasint"`
	B string   `cbor:"2,keyasint,omitempty"`
	C []byte   `cbor:"3,keyasint,omitempty"`
	D []string `cbor:"4,keyasint,omitempty"`
}

func TestCBORDeterministic(t *testing.T) {
	v := sample{A: 1, B: "x", C: []byte{1}, D: []string{"a"}}
	a, _ := Marshal(v)
	b, _ := Marshal(v)
	if !bytes.Equal(a, b) {
		t.Fatal("not deterministic")
	}
	var back sample
	if err := UnmarshalCanonical(a, &back); err != nil {
		t.Fatal(err)
	}
}

func TestCBORStrictDecode(t *testing.T) {
	tests := []struct{ name, hex string }{
		{"duplicate map keys are refused", "a2010102 01"},
		{"indefinite-length maps are refused", "bf0101ff"},
		{"tags are refused", "a101c11a00000001"},
		{"unknown fields are refused", "a2010109 01"},
		{"trailing bytes are refused", "a1010100"},
		{"invalid UTF-8 is refused", "a10262ff fe"},
		{"a wrong type is refused", "a10161 61"},
		{"too many array elements are refused", "a104 9a00010000"},
		{"deep nesting is refused", "8181818181818181818181818181818181818101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hex.DecodeString(stripSpaces(tt.hex))
			if err != nil {
				t.Fatal(err)
			}
			var v sample
			if err := Unmarshal(b, &v); !errors.Is(err, BadRequest) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestCBORNonCanonicalRefused(t *testing.T) {
	// A=1 encoded as a two-byte uint (0x18 0x01) instead of one byte.
	b, _ := hex.DecodeString("a1011801")
	var v sample
	if err := Unmarshal(b, &v); err != nil {
		t.Fatalf("plain decode should accept: %v", err)
	}
	if err := UnmarshalCanonical(b, &v); !errors.Is(err, BadRequest) {
		t.Fatalf("canonical decode accepted a non-shortest form: %v", err)
	}
}

func stripSpaces(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil))
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0x03, 'a', 'b', 'c'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0x81, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 64
		b, err := ReadFrame(bytes.NewReader(in), max)
		if err != nil {
			return
		}
		if len(b) > max {
			t.Fatalf("returned %d bytes over cap", len(b))
		}
		var out bytes.Buffer
		if err := WriteFrame(&out, b, max); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), in[:out.Len()]) {
			t.Fatal("re-encoding differs from the input prefix")
		}
	})
}

func FuzzUnmarshalCanonical(f *testing.F) {
	seed, _ := Marshal(sample{A: 7, B: "hi", C: []byte{1, 2}, D: []string{"x", "y"}})
	f.Add(seed)
	f.Add([]byte{0xa1, 0x01, 0x18, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		var v sample
		if err := UnmarshalCanonical(in, &v); err != nil {
			return
		}
		out, err := Marshal(v)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("canonical decode accepted bytes that do not re-encode identically")
		}
	})
}
