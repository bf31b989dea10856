package directory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// FuzzServe feeds arbitrary request frames to the directory server as an
// authenticated peer: it answers or refuses and never panics, and a
// request reaches its op's handler only if it is the canonical encoding
// of a request whose fields are exactly what the field table allows.
func FuzzServe(f *testing.F) {
	k := keys.GeneratePeerKey()
	now := time.Now()
	sr, _ := SignRecord(&k, Record{Handle: "alice", Seq: 1, Issued: now})
	id32, id16 := make([]byte, 32), make([]byte, MailIDLen)
	for _, r := range []request{
		{Op: OpPublish, Record: sr},
		{Op: OpLookup, Handle: "alice"},
		{Op: OpLookupPeer, Peer: []byte(k.ID())},
		{Op: OpMailboxPut, Peer: []byte(k.ID()), Sealed: []byte("x")},
		{Op: OpMailboxPut, Peer: []byte(k.ID()), Sealed: []byte("x"), Tokens: [][]byte{id32}},
		{Op: OpMailboxFetch},
		{Op: OpMailboxAck, IDs: [][]byte{id16}},
		// Fields the table refuses: field 7 on publish and lookup (once
		// accepted), a fetch naming a mailbox, an ack naming tokens.
		{Op: OpPublish, Record: sr, Tokens: [][]byte{id32}},
		{Op: OpLookup, Handle: "alice", Tokens: [][]byte{id32}},
		{Op: OpLookupPeer, Peer: []byte(k.ID()), Sealed: []byte("x")},
		{Op: OpMailboxFetch, Peer: []byte(k.ID())},
		{Op: OpMailboxAck, IDs: [][]byte{id16}, Tokens: [][]byte{id32}},
		{Op: OpMailboxPut, Peer: []byte(k.ID())},
		{Op: 7, Handle: "alice"},
	} {
		b, _ := wire.Marshal(r)
		f.Add(b)
	}
	f.Add([]byte{0xa2, 0x01, 0x18, 0x02, 0x03, 0x62, 'a', 'l'}) // op in a two-byte uint
	f.Add([]byte{0xa2, 0x03, 0x62, 'a', 'l', 0x01, 0x02})       // keys out of order
	f.Add([]byte{0xa2, 0x01, 0x05, 0x04, 0x40})                 // an empty peer present on fetch
	st := &recStore{}
	s := testServer(st, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := s.serve(context.Background(), k.ID(), b)
		reached := st.take()
		if len(reached) == 0 {
			if err == nil {
				t.Fatal("answered OK without reaching the store")
			}
			return
		}
		var req request
		if cerr := wire.UnmarshalCanonical(b, &req); cerr != nil {
			t.Fatalf("a non-canonical request reached %v: %v", reached, cerr)
		}
		sp, ok := specOf(req.Op)
		if !ok || sp.check(req.present()) != nil || len(reached) != 1 || reached[0] != sp.name {
			t.Fatalf("op %d with fields %v reached %v", req.Op, req.present(), reached)
		}
		if errors.Is(err, wire.Internal) {
			t.Fatalf("internal error: %v", err)
		}
	})
}
