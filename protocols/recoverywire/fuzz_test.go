package recoverywire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ocmt/mesh/internal/wire"
)

func seeds() [][]byte {
	var out [][]byte
	for _, r := range []any{
		Request{Op: OpDeliver, Message: []byte("signed")},
		Request{Op: OpFetch, Request: make([]byte, RequestIDLen)},
		Request{Op: OpDone, Request: bytes.Repeat([]byte{1}, RequestIDLen)},
		Request{Op: 9},
		Status{State: StateHelping, Until: 1 << 31, Text: "approved"},
		Status{State: StateReleased, Release: []byte("release")},
		Mail{Message: []byte("signed")},
		Mail{Done: make([]byte, RequestIDLen)},
	} {
		b, _ := wire.Marshal(r)
		out = append(out, b)
	}
	return out
}

// FuzzParseRequest: the server's decoder refuses with BadRequest or
// TooLarge, or gives a request that re-encodes to the same bytes and keeps
// its op's rules.
func FuzzParseRequest(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			if !errors.Is(err, wire.BadRequest) && !errors.Is(err, wire.TooLarge) {
				t.Fatalf("refusal %v is neither BadRequest nor TooLarge", err)
			}
			return
		}
		again, err := wire.Marshal(r)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed request does not encode back: %v", err)
		}
		switch r.Op {
		case OpDeliver:
			if len(r.Message) == 0 || len(r.Message) > MaxMessageBytes || len(r.Request) != 0 {
				t.Fatalf("a deliver breaks its rules: %+v", r)
			}
		case OpFetch, OpDone:
			if len(r.Request) != RequestIDLen || len(r.Message) != 0 {
				t.Fatalf("a fetch or done breaks its rules: %+v", r)
			}
		default:
			t.Fatalf("unknown op %d parsed", r.Op)
		}
	})
}

// FuzzParseStatus: the client's decoder of a reply's body.
func FuzzParseStatus(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStatus(b)
		if err != nil {
			return
		}
		again, err := wire.Marshal(s)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed status does not encode back: %v", err)
		}
		if (s.State == StateReleased) != (len(s.Release) > 0) || len(s.Release) > MaxMessageBytes || len(s.Text) > MaxTextLen {
			t.Fatalf("a status breaks its rules: %+v", s)
		}
	})
}

// FuzzParseMail: a mailbox item's plaintext.
func FuzzParseMail(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMail(b)
		if err != nil {
			return
		}
		again, err := m.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed mail does not encode back: %v", err)
		}
		if (len(m.Message) > 0) == (len(m.Done) > 0) || len(m.Message) > MaxMessageBytes || (len(m.Done) > 0 && len(m.Done) != RequestIDLen) {
			t.Fatalf("a mail breaks its rules: %+v", m)
		}
	})
}
