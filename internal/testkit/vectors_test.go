package testkit

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestVectorBytesReadsHexAndParts(t *testing.T) {
	if got := VectorBytes(t, "a10102", nil); !bytes.Equal(got, []byte{0xa1, 0x01, 0x02}) {
		t.Errorf("hex: %x", got)
	}
	if got := VectorBytes(t, "", nil); len(got) != 0 {
		t.Errorf("no hex: %x", got)
	}
	// Parts as a builder writes them (int counts) and as JSON reads them
	// back (float64 counts) give the same bytes.
	parts := []any{"9a", []any{"60", 3}, "ff"}
	want := []byte{0x9a, 0x60, 0x60, 0x60, 0xff}
	if got := VectorBytes(t, "", parts); !bytes.Equal(got, want) {
		t.Errorf("parts: %x, want %x", got, want)
	}
	raw, err := json.Marshal(parts)
	if err != nil {
		t.Fatal(err)
	}
	var back []any
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if got := VectorBytes(t, "ignored", back); !bytes.Equal(got, want) {
		t.Errorf("parts read back: %x, want %x", got, want)
	}
}

func TestVectorBytesRefusesWhatIsNotHex(t *testing.T) {
	for _, c := range []struct {
		hex   string
		parts []any
	}{
		{"a1z0", nil},
		{"", []any{"6"}},
		{"", []any{[]any{"60"}}},
		{"", []any{[]any{"60", "3"}}},
		{"", []any{7}},
	} {
		r := &recorder{TB: t}
		if !fatal(func() { VectorBytes(r, c.hex, c.parts) }) {
			t.Errorf("%q %v was read", c.hex, c.parts)
		}
	}
}
