package revocation

import (
	"bytes"
	"encoding/base64"
	"errors"
	"runtime"
	"testing"

	"github.com/ocmt/mesh/internal/wire"
)

// FuzzParse: no panic; anything that parses keeps and re-encodes to the
// same bytes; oversized input is refused as too large; every error wraps a
// sentinel.
func FuzzParse(f *testing.F) {
	for _, v := range readVectors(f) {
		if b, err := base64.StdEncoding.DecodeString(v.Record); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			if r != nil {
				t.Fatal("record returned with an error")
			}
			if len(b) > MaxRecordBytes && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("oversized input gave %v", err)
			}
			if errorName(err) == "error" {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if !bytes.Equal(r.Bytes(), b) {
			t.Fatal("record bytes differ from input")
		}
		env, err := wire.Marshal(envelope{Payload: r.payload, Signature: r.sig})
		if err != nil || !bytes.Equal(env, b) {
			t.Fatalf("envelope does not re-encode identically: %v", err)
		}
		if r.Token().ID() != r.ID() {
			t.Fatal("parsed record's proof is not the revoked token")
		}
		if !issuedBy(r.Token(), r.Revoker()) {
			t.Fatal("parsed record's revoker has no standing")
		}
	})
}

// TestOversizedRecordIsRefusedBeforeAllocating: refusing 1 MiB allocates a
// few error strings, not the input.
func TestOversizedRecordIsRefusedBeforeAllocating(t *testing.T) {
	big := bytes.Repeat([]byte{0xa2}, 1<<20)
	Parse(big)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Parse(big)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<10 {
		t.Fatalf("allocated %d bytes refusing oversized input", n)
	}
}
