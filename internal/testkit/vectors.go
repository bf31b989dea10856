package testkit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Vectors returns the committed vectors in path (JSON, under testdata/)
// and checks that they are what build generates today, so a format change
// cannot go unnoticed. With update set (the package's -update flag) it
// first rewrites the file from build. The file is read back either way:
// the test always runs on the committed bytes.
func Vectors[V any](t testing.TB, path string, update bool, build func() []V) []V {
	t.Helper()
	fresh, err := json.MarshalIndent(build(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	fresh = append(fresh, '\n')
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, fresh, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with -update)", err)
	}
	var vs []V
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !bytes.Equal(data, fresh) {
		t.Errorf("%s is stale: rerun the test with -update and review the diff", path)
	}
	return vs
}

// ReadVectors reads committed vectors without regenerating them, for
// vectors whose builder is not deterministic.
func ReadVectors[V any](t testing.TB, path string) []V {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vs []V
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return vs
}

// VectorBytes is a vector's input: h in hex or, where parts is set (for
// inputs too long to write out), the concatenation of its parts, each a
// hex string or a pair [hex, n] standing for n repeats of it (the
// "parts" of internal/wire/testdata/README.md).
func VectorBytes(t testing.TB, h string, parts []any) []byte {
	t.Helper()
	unhex := func(h string) []byte {
		t.Helper()
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("%q: %v", h, err)
		}
		return b
	}
	if parts == nil {
		return unhex(h)
	}
	var out []byte
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			out = append(out, unhex(p)...)
		case []any:
			s, ok := p[0].(string)
			if len(p) != 2 || !ok {
				t.Fatalf("part %v is not [hex, count]", p)
			}
			var n int
			switch c := p[1].(type) {
			case float64: // read back from JSON
				n = int(c)
			case int: // as the builder wrote it
				n = c
			default:
				t.Fatalf("part %v: the count is a %T", p, c)
			}
			out = append(out, bytes.Repeat(unhex(s), n)...)
		default:
			t.Fatalf("part %v is a %T, not hex or [hex, count]", p, p)
		}
	}
	return out
}
