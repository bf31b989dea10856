package revsync

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/exchange"
)

// ErrBadServer is returned when a server's reply breaks the protocol: a
// record that does not verify, a page over its caps, a cursor that does
// not move. The records added before it stay added (each one verified).
var ErrBadServer = errors.New("revsync: server sent an invalid reply")

// Stats describes one Sync.
type Stats struct {
	Pages    int  // replies read
	Received int  // records received
	Added    int  // records new to the local set
	Skipped  int  // records verified but not kept: expired token, revoker over quota
	Snapshot bool // the server started over from version 0
}

// Sync fetches every record server p added after cur, verifies each and
// adds it to set, and returns the cursor to pass next time. Start with the
// zero Cursor. Each record is checked in full (revocation.Parse) before it
// is added; a record that fails ends the sync with ErrBadServer.
func Sync(ctx context.Context, h host.Host, p peer.ID, set *revocation.Set, cur Cursor) (Cursor, Stats, error) {
	var st Stats
	for st.Pages < MaxPages {
		req := Request{Since: cur.Version}
		if cur != (Cursor{}) {
			req.Epoch = cur.Epoch[:]
		}
		var rep Reply
		if err := exchange.Call(ctx, h, p, ID, Limits(), req, &rep); err != nil {
			return cur, st, err
		}
		st.Pages++
		if len(rep.Epoch) != epochLen || len(rep.Records) > MaxRecordsPerReply {
			return cur, st, fmt.Errorf("%w: epoch of %d bytes, %d records", ErrBadServer, len(rep.Epoch), len(rep.Records))
		}
		since := req.Since
		if rep.Snapshot {
			since, st.Snapshot = 0, true
		}
		if rep.Next < since || (rep.More && (rep.Next == since || len(rep.Records) == 0)) {
			return cur, st, fmt.Errorf("%w: cursor %d after %d does not advance", ErrBadServer, rep.Next, since)
		}
		for _, raw := range rep.Records {
			st.Received++
			rev, err := revocation.Parse(raw)
			if err != nil {
				return cur, st, fmt.Errorf("%w: %w", ErrBadServer, err)
			}
			added, err := set.Add(ctx, rev)
			switch {
			case errors.Is(err, revocation.ErrExpired), errors.Is(err, revocation.ErrQuota):
				st.Skipped++
			case err != nil && !added:
				return cur, st, err
			case err != nil: // in force, not persisted
				st.Added++
				return cur, st, err
			case added:
				st.Added++
			}
		}
		copy(cur.Epoch[:], rep.Epoch)
		cur.Version = rep.Next
		if !rep.More {
			return cur, st, nil
		}
	}
	return cur, st, fmt.Errorf("%w: more than %d pages", ErrBadServer, MaxPages)
}

// Push hands one revocation to server p, which verifies it, keeps it and
// gossips it: how a peer outside the gossip mesh (a relay operator's
// `mesh relay revoke`) puts a revocation in force.
func Push(ctx context.Context, h host.Host, p peer.ID, rev *revocation.Revocation) error {
	if err := exchange.Call(ctx, h, p, ID, Limits(), Request{Push: rev.Bytes()}, nil); err != nil {
		return fmt.Errorf("revsync: pushing %s to %s: %w", rev.ID().Short(), p, err)
	}
	return nil
}
