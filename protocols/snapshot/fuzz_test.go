package snapshot

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/wire"
)

// FuzzParseRequest: the server's decoder of the first frame either
// refuses with BadRequest or gives a request that re-encodes to the same
// bytes and keeps its operation's field rules.
func FuzzParseRequest(f *testing.F) {
	for _, v := range buildRequestVectors(f) {
		b, _ := hex.DecodeString(v.Hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			if !errors.Is(err, wire.BadRequest) {
				t.Fatalf("refusal %v is not BadRequest", err)
			}
			return
		}
		again, err := wire.Marshal(r)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed request does not encode back: %v", err)
		}
		if r.Op == OpFetch {
			r.fetch()
		}
	})
}

// FuzzParseFetchReply: the client's decoder of a fetch's OK body.
func FuzzParseFetchReply(f *testing.F) {
	b, _ := wire.Marshal(FetchReply{Manifest: []byte{1}, Blocks: 2})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseFetchReply(b)
		if err != nil {
			return
		}
		if again, _ := wire.Marshal(r); !bytes.Equal(again, b) {
			t.Fatal("a parsed reply does not encode back")
		}
	})
}

// FuzzReadReply: the reply frame reader of both clients.
func FuzzReadReply(f *testing.F) {
	for _, rep := range []exchange.Reply{{Status: wire.OK}, {Status: wire.Forbidden, Message: "no"}, {Status: wire.OK, Body: []byte{0xa0}}} {
		b, _ := wire.Marshal(rep)
		var fr bytes.Buffer
		wire.WriteFrame(&fr, b, maxReply)
		f.Add(fr.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := readReply(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && len(body) > maxReply {
			t.Fatalf("a body of %d bytes from a frame capped at %d", len(body), maxReply)
		}
	})
}

// FuzzReadBlock: the block frame reader of both sides never returns more
// than MaxBlockFrame bytes, and reads back what WriteFrame wrote.
func FuzzReadBlock(f *testing.F) {
	f.Add([]byte{3, 1, 2, 3})
	f.Add([]byte{0x80, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		var buf []byte
		for {
			blk, err := readBlock(r, buf)
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, wire.BadRequest) || errors.Is(err, wire.TooLarge) {
					return
				}
				t.Fatalf("unexpected error %v", err)
			}
			if len(blk) > MaxBlockFrame {
				t.Fatalf("a block of %d bytes", len(blk))
			}
			var again bytes.Buffer
			wire.WriteFrame(&again, blk, MaxBlockFrame)
			if rr, err := readBlock(bufio.NewReader(&again), nil); err != nil || !bytes.Equal(rr, blk) {
				t.Fatalf("a block does not round-trip: %v", err)
			}
			buf = blk[:0]
		}
	})
}
