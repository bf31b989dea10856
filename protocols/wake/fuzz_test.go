package wake

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// FuzzParseRequest: the server's decoder either refuses with BadRequest
// or TooLarge, or gives a request that re-encodes to the same bytes and
// keeps its op's field rules.
func FuzzParseRequest(f *testing.F) {
	for _, v := range buildRequestVectors(f) {
		b, _ := hex.DecodeString(v.Hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			if !errors.Is(err, wire.BadRequest) && !errors.Is(err, wire.TooLarge) {
				t.Fatalf("refusal %v is neither BadRequest nor TooLarge", err)
			}
			return
		}
		enc := r.encode()
		again, err := wire.Marshal(enc)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed request does not encode back: %v", err)
		}
		switch r.op {
		case OpHibernate:
			if r.handle == "" || len(r.half) > MaxHalfBytes || (len(r.half) > 0) == r.until.IsZero() {
				t.Fatalf("a hibernate breaks its rules: %+v", enc)
			}
		case OpWake:
			if r.owner.Validate() != nil || len(r.token) == 0 {
				t.Fatalf("a wake breaks its rules: %+v", enc)
			}
		}
	})
}

// FuzzParseResumeReply: the client's decoder of a resume's body.
func FuzzParseResumeReply(f *testing.F) {
	for _, rep := range []ResumeReply{{Half: []byte{1}, Until: 1}, {Half: make([]byte, MaxHalfBytes), Until: 1 << 40}, {}} {
		b, _ := wire.Marshal(rep)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseResumeReply(b)
		if err != nil {
			return
		}
		if len(r.Half) == 0 || len(r.Half) > MaxHalfBytes || r.Until <= 0 {
			t.Fatalf("accepted %+v", r)
		}
		if again, _ := wire.Marshal(r); !bytes.Equal(again, b) {
			t.Fatal("a parsed reply does not encode back")
		}
	})
}

// FuzzParseRecord: the decoder of a stored entry.
func FuzzParseRecord(f *testing.F) {
	for _, e := range []*entry{
		{handle: "alice", half: []byte{1, 2}, until: testkit.Epoch, asleepUntil: testkit.Epoch},
		{handle: "bob", asleepUntil: testkit.Epoch},
		{handle: "carol", half: []byte{3}, until: testkit.Epoch},
	} {
		b, _ := e.marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseRecord(b)
		if err != nil {
			return
		}
		if e.empty() || len(e.half) > MaxHalfBytes || (len(e.half) > 0) == e.until.IsZero() {
			t.Fatalf("accepted %+v", e)
		}
		if again, _ := e.marshal(); !bytes.Equal(again, b) {
			t.Fatal("a parsed record does not encode back")
		}
	})
}

// FuzzServe: whatever a peer sends, the handler answers with a known
// status and never Internal, and never waits (the owner is reserved).
func FuzzServe(f *testing.F) {
	for _, v := range buildRequestVectors(f) {
		b, _ := hex.DecodeString(v.Hex)
		f.Add(b)
	}
	r := newRig(f, func(c *Config) {
		c.Authorizer = func(peer.ID) bool { return true }
		c.IsReserved = func(peer.ID) bool { return true }
	})
	r.srv.lim = peerlimit.New(1e9, 1e9, 0, nil)
	remote := testkit.Key(f, "bob").ID()
	f.Fuzz(func(t *testing.T, b []byte) {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := r.srv.serve(c, remote, b)
		if err == nil {
			if resp != nil {
				if _, ok := resp.(ResumeReply); !ok {
					t.Fatalf("a reply body of type %T", resp)
				}
			}
			return
		}
		we := wire.ToWire(err)
		if !we.Status.Known() || we.Status == wire.Internal || we.Message == "" {
			t.Fatalf("refusal %v", err)
		}
	})
}
