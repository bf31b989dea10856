package group

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzParseApproval: bytes are refused with ErrMalformed or decode to an
// approval that encodes back to the same bytes.
func FuzzParseApproval(f *testing.F) {
	fx := deal(f, "board", 2, 3)
	a, _ := fx.approval(f, 0, time.Hour)
	enc, err := a.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add([]byte{0xa0})
	f.Add(enc[:len(enc)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseApproval(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refusal %v is not ErrMalformed", err)
			}
			return
		}
		again, err := a.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed approval does not encode back: %v\n%x\n%x", err, b, again)
		}
		_ = Verify(fx.d.Commitments, a, a.Time)
	})
}

// FuzzParseShare: bytes are refused with ErrMalformed or decode to a
// share that encodes back to the same bytes and is checked without a
// panic.
func FuzzParseShare(f *testing.F) {
	fx := deal(f, "board", 2, 3)
	for _, s := range fx.d.Shares {
		f.Add(s.Encode())
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseShare(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refusal %v is not ErrMalformed", err)
			}
			return
		}
		if again := s.Encode(); !bytes.Equal(again, b) {
			t.Fatalf("a parsed share does not encode back:\n%x\n%x", b, again)
		}
		_ = VerifyShare(fx.d.Commitments, s)
	})
}

// FuzzParseCommitments: bytes are refused with ErrMalformed or decode to
// commitments that encode back to the same bytes.
func FuzzParseCommitments(f *testing.F) {
	fx := deal(f, "board", 2, 3)
	f.Add(fx.d.Commitments.Encode())
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommitments(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refusal %v is not ErrMalformed", err)
			}
			return
		}
		if !bytes.Equal(c.Encode(), b) {
			t.Fatal("parsed commitments do not encode back")
		}
		_, _ = Recover(c, fx.d.Shares)
	})
}
