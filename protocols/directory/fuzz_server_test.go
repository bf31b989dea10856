package directory

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// nullStore accepts everything and knows nothing: the fuzz target is the
// server's request handling, not the stores.
type nullStore struct{}

func (nullStore) Publish(context.Context, *SignedRecord) error { return nil }
func (nullStore) Lookup(context.Context, Handle) (*SignedRecord, error) {
	return nil, ErrNotFound
}
func (nullStore) LookupPeer(context.Context, peer.ID) (*SignedRecord, error) {
	return nil, ErrNotFound
}
func (nullStore) Put(context.Context, peer.ID, peer.ID, []byte, ...capability.ID) error { return nil }
func (nullStore) Fetch(context.Context, peer.ID, int) ([]Mail, bool, error) {
	return nil, false, nil
}
func (nullStore) Ack(context.Context, peer.ID, [][]byte) error { return nil }

// FuzzServe feeds arbitrary request frames to the directory server as an
// authenticated peer: it answers or refuses, and never panics.
func FuzzServe(f *testing.F) {
	k := keys.GeneratePeerKey()
	now := time.Now()
	sr, _ := SignRecord(&k, Record{Handle: "alice", Seq: 1, Issued: now})
	for _, r := range []request{
		{Op: OpPublish, Record: sr},
		{Op: OpLookup, Handle: "alice"},
		{Op: OpLookupPeer, Peer: []byte(k.ID())},
		{Op: OpMailboxPut, Peer: []byte(k.ID()), Sealed: []byte("x")},
		{Op: OpMailboxPut, Peer: []byte(k.ID()), Sealed: []byte("x"), Tokens: [][]byte{make([]byte, 32)}},
		{Op: OpMailboxFetch},
		{Op: OpMailboxAck, IDs: [][]byte{make([]byte, 16)}},
	} {
		b, _ := wire.Marshal(r)
		f.Add(b)
	}
	s := &Server{cfg: ServerConfig{Records: nullStore{}, Mailboxes: nullStore{}, Now: time.Now}, log: slog.New(slog.DiscardHandler),
		lim: newPeerLimiter(1e9, 1<<30, 16)}
	f.Fuzz(func(t *testing.T, b []byte) {
		s.serve(context.Background(), k.ID(), b)
	})
}
