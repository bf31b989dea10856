package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 1 << 16} {
		var buf bytes.Buffer
		body := bytes.Repeat([]byte{0xab}, n)
		if err := WriteFrame(&buf, body, 1<<16); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != n+FrameOverhead(n) {
			t.Fatalf("n=%d: wrote %d bytes", n, buf.Len())
		}
		got, err := ReadFrame(&buf, 1<<16)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("n=%d: got %d bytes, err %v", n, len(got), err)
		}
		if _, err := ReadFrame(&buf, 1<<16); err != io.EOF {
			t.Fatalf("want clean io.EOF after the last frame, got %v", err)
		}
	}
}

func TestReadFrameRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"a declared length over the cap is refused before reading the body", []byte{0x81, 0x01}, 128, ErrFrameTooLarge},
		{"a huge declared length does not allocate", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 1 << 20, ErrFrameTooLarge},
		{"a prefix longer than five bytes is malformed", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 1 << 20, ErrBadFrame},
		{"a non-minimal prefix is malformed", []byte{0x81, 0x00, 0x01}, 1 << 20, ErrBadFrame},
		{"a truncated body is an unexpected EOF", []byte{0x05, 'a', 'b'}, 16, io.ErrUnexpectedEOF},
		{"a truncated prefix is an unexpected EOF", []byte{0x80}, 16, io.ErrUnexpectedEOF},
		{"a negative cap refuses everything", []byte{0x00}, -1, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.in), tt.max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWriteFrameRefusesOverCap(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, make([]byte, 10), 9); !errors.Is(err, TooLarge) {
		t.Fatalf("got %v", err)
	}
	if buf.Len() != 0 {
		t.Fatal("wrote bytes for a refused frame")
	}
}

// onlyReader hides ByteReader so the slow prefix path is exercised too.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestReadFrameDoesNotOverread(t *testing.T) {
	var buf bytes.Buffer
	WriteFrame(&buf, []byte("one"), 10)
	WriteFrame(&buf, []byte("two"), 10)
	r := onlyReader{&buf}
	a, _ := ReadFrame(r, 10)
	b, _ := ReadFrame(r, 10)
	if string(a) != "one" || string(b) != "two" {
		t.Fatalf("got %q %q", a, b)
	}
}

func TestStatusErrors(t *testing.T) {
	err := error(Errorf(NotFound, "no such handle %q", "bob"))
	wrapped := errors.Join(errors.New("context"), err)
	if !errors.Is(wrapped, NotFound) {
		t.Fatal("errors.Is against a bare Status failed")
	}
	if !errors.Is(wrapped, &Error{Status: NotFound}) {
		t.Fatal("errors.Is against an *Error sentinel failed")
	}
	if errors.Is(wrapped, Forbidden) || errors.Is(wrapped, &Error{Status: NotFound, Message: "other"}) {
		t.Fatal("matched the wrong sentinel")
	}
	if StatusOf(errors.New("disk on fire")) != Internal || StatusOf(nil) != OK || StatusOf(wrapped) != NotFound {
		t.Fatal("StatusOf")
	}
	if we := ToWire(errors.New("/secret/path: EIO")); we.Status != Internal || we.Message != "" {
		t.Fatalf("local detail leaked: %+v", we)
	}
	if !strings.Contains(Status(999).String(), "999") || Status(999).Known() {
		t.Fatal("unknown status naming")
	}
	// The numbers are a wire contract.
	fixed := map[Status]uint16{OK: 0, BadRequest: 1, Forbidden: 3, NotFound: 4, TooLarge: 5, RateLimited: 6, Internal: 10, Conflict: 11, Unavailable: 12}
	for s, n := range fixed {
		if uint16(s) != n {
			t.Fatalf("%v renumbered", s)
		}
	}
}
