package revsync

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

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
		limiter: peerlimit.New(1e9, 1<<30, 0, nil), pushes: rate.NewLimiter(rate.Inf, 1)}
	good, _ := wire.Marshal(Request{Since: 0})
	f.Add(good)
	withEpoch, _ := wire.Marshal(Request{Since: 7, Epoch: make([]byte, epochLen)})
	f.Add(withEpoch)
	push, _ := wire.Marshal(Request{Push: []byte{0xa2, 0x01, 0x40, 0x02, 0x40}})
	f.Add(push)
	batch, _ := wire.Marshal(Request{Records: [][]byte{{0xa0}, {0xa2, 0x01, 0x40, 0x02, 0x40}}})
	f.Add(batch)
	f.Add([]byte{0xa1, 0x01, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := s.serve(ctx, peer.ID("fuzz"), b)
		if err == nil {
			if rep, ok := resp.(Reply); ok && len(rep.Records) > MaxRecordsPerReply {
				t.Fatalf("a page of %d records", len(rep.Records))
			}
			if rep, ok := resp.(PushReply); ok && (len(rep.Results) == 0 || len(rep.Results) > MaxPushRecords) {
				t.Fatalf("%d results for a batch push", len(rep.Results))
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

// FuzzPushReply decodes arbitrary batch-push reply bodies as PushAll
// does: strict CBOR, then every result in range.
func FuzzPushReply(f *testing.F) {
	r, _ := wire.Marshal(PushReply{Results: []Result{Added, Held, Skipped}})
	f.Add(r)
	f.Fuzz(func(t *testing.T, b []byte) {
		var rep PushReply
		if wire.UnmarshalCanonical(b, &rep) != nil {
			return
		}
		err := rep.check(len(rep.Results))
		if err == nil && slices.ContainsFunc(rep.Results, func(r Result) bool { return r > maxValid }) {
			t.Fatalf("check accepted an unknown result in %v", rep.Results)
		}
	})
}
