package revsync

import (
	"context"
	"log/slog"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/wire"
)

// FuzzServe feeds arbitrary request frames to the server: it answers or
// refuses, never panics, and never returns more than a page.
func FuzzServe(f *testing.F) {
	ctx := context.Background()
	set, err := revocation.Open(ctx, revocation.Config{CollectEvery: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { set.Close() })
	accept := func(ctx context.Context, _ peer.ID, r *revocation.Revocation) error {
		_, err := set.Add(ctx, r)
		return err
	}
	s := &Server{set: set, cfg: ServerConfig{PageSize: MaxRecordsPerReply, Accept: accept, Logger: slog.New(slog.DiscardHandler)},
		limiter: peerlimit.New(1e9, 1<<30, 0, nil)}
	good, _ := wire.Marshal(Request{Since: 0})
	f.Add(good)
	withEpoch, _ := wire.Marshal(Request{Since: 7, Epoch: make([]byte, epochLen)})
	f.Add(withEpoch)
	push, _ := wire.Marshal(Request{Push: []byte{0xa2, 0x01, 0x40, 0x02, 0x40}})
	f.Add(push)
	f.Add([]byte{0xa1, 0x01, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := s.serve(ctx, peer.ID("fuzz"), b)
		if err == nil {
			if rep, ok := resp.(Reply); ok && len(rep.Records) > MaxRecordsPerReply {
				t.Fatalf("a page of %d records", len(rep.Records))
			}
		}
	})
}

// FuzzReply decodes arbitrary reply bodies as the client does: strict CBOR,
// then every record parsed in full.
func FuzzReply(f *testing.F) {
	r, _ := wire.Marshal(Reply{Epoch: make([]byte, epochLen), Next: 3, Records: [][]byte{{0xa0}}})
	f.Add(r)
	f.Fuzz(func(t *testing.T, b []byte) {
		var rep Reply
		if wire.UnmarshalCanonical(b, &rep) != nil {
			return
		}
		for _, rec := range rep.Records {
			revocation.Parse(rec)
		}
	})
}
