package legacy

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseExport: ParseExport never panics; what parses re-encodes to
// bytes that parse to the same encoding; and opening it (when its KDF is
// cheap enough to run per input) never panics and fails only with the
// package's errors.
func FuzzParseExport(f *testing.F) {
	f.Add(makeExport(f, 3, lowScrypt))
	f.Add(makeExport(f, 2, lowPBKDF2))
	f.Add(makeExport(f, 0, lowPBKDF2))
	f.Add([]byte(`{"format":"legacy-vault-export","version":1,"records":[{}]}`))
	f.Add([]byte(`{"format":"legacy-vault-export","format":1}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseExport(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("ParseExport error not ErrFormat: %v", err)
			}
			return
		}
		if len(e.Records) > MaxRecords {
			t.Fatal("more records than the cap")
		}
		enc, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		e2, err := ParseExport(enc)
		if err != nil {
			t.Fatalf("the re-encoding does not parse: %v", err)
		}
		enc2, _ := e2.Encode()
		if !bytes.Equal(enc, enc2) {
			t.Fatal("re-encoding is not stable")
		}
		cheap := (e.KDF.Name == KDFScrypt && e.KDF.N*e.KDF.R*e.KDF.P <= 1<<13) ||
			(e.KDF.Name == KDFPBKDF2 && e.KDF.Iterations <= 2000)
		if !cheap {
			return
		}
		ps, err := e.Open([]byte(pwCanary))
		if err != nil && !errors.Is(err, ErrBadPassword) && !errors.Is(err, ErrTampered) {
			t.Fatalf("Open: %v", err)
		}
		WipeAll(ps)
	})
}
