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
	Held     int  // records the local set already held: not verified again
	Skipped  int  // records verified but not kept: expired token, revoker over quota, not admitted
	NotKept  int  // records verified but refused by SyncOptions.Keep (not relevant here)
	Full     int  // records refused because the local set is full (revocation.ErrFull): log them loudly
	Snapshot bool // the server started over from version 0
	Stopped  bool // SyncOptions.MaxPages was reached before the last page
}

// SyncOptions are the choices of one SyncWith. The zero value keeps every
// record the set takes.
type SyncOptions struct {
	// Keep, when set, is asked about every record that verified, before
	// it is added: a record it refuses is counted in Stats.NotKept and
	// skipped, not an error (the server may hold records this node does
	// not want). protocols/revgossip keeps everything from a trusted
	// infrastructure peer and only records relevant here from others.
	Keep func(*revocation.Revocation) bool
	// MaxPages, when positive and under MaxPages, bounds the pages this
	// sync reads: past it the sync stops with Stats.Stopped and the
	// cursor where it got (not an error). protocols/revgossip bounds the
	// pulls a digest from a stranger can make this node do with it.
	MaxPages int
}

// Sync is SyncWith with the zero SyncOptions.
func Sync(ctx context.Context, h host.Host, p peer.ID, set *revocation.Set, cur Cursor) (Cursor, Stats, error) {
	return SyncWith(ctx, h, p, set, cur, SyncOptions{})
}

// SyncWith fetches every record server p added after cur, verifies each,
// adds those opts.Keep keeps to set, and returns the cursor to pass next
// time. Start with the zero Cursor. Each record is checked in full
// (revocation.Parse) before it is looked at; a record that fails ends the
// sync with ErrBadServer. Records the set refuses as expired, over quota
// or not admitted are counted in Stats.Skipped, and those it refuses
// because it is full (revocation.ErrFull) in Stats.Full; neither ends the
// sync.
func SyncWith(ctx context.Context, h host.Host, p peer.ID, set *revocation.Set, cur Cursor, opts SyncOptions) (Cursor, Stats, error) {
	var st Stats
	pages := MaxPages
	if opts.MaxPages > 0 && opts.MaxPages < pages {
		pages = opts.MaxPages
	}
	for st.Pages < pages {
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
			u, err := revocation.Decode(raw)
			if err != nil {
				return cur, st, fmt.Errorf("%w: %w", ErrBadServer, err)
			}
			if set.IsRevoked(u.ID()) { // held: its signatures were checked when it came
				st.Held++
				continue
			}
			rev, err := (*revocation.VerifyCache)(nil).Verify(u)
			if err != nil {
				return cur, st, fmt.Errorf("%w: %w", ErrBadServer, err)
			}
			if opts.Keep != nil && !opts.Keep(rev) {
				st.NotKept++
				continue
			}
			added, err := set.Add(ctx, rev)
			switch {
			case errors.Is(err, revocation.ErrExpired), errors.Is(err, revocation.ErrQuota):
				st.Skipped++
			case errors.Is(err, revocation.ErrFull):
				st.Full++
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
	if pages < MaxPages {
		st.Stopped = true
		return cur, st, nil
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

// PushAll hands records (1 to MaxPushRecords envelopes) to server p in one
// request and returns what p did with each, in order. The server judges
// each as its gossip validator would, within its push budgets; see
// Result.
func PushAll(ctx context.Context, h host.Host, p peer.ID, records [][]byte) ([]Result, error) {
	if len(records) == 0 || len(records) > MaxPushRecords {
		return nil, fmt.Errorf("revsync: a batch push holds 1 to %d records, not %d", MaxPushRecords, len(records))
	}
	var rep PushReply
	if err := exchange.Call(ctx, h, p, ID, Limits(), Request{Records: records}, &rep); err != nil {
		return nil, fmt.Errorf("revsync: pushing %d records to %s: %w", len(records), p, err)
	}
	if err := rep.check(len(records)); err != nil {
		return nil, err
	}
	return rep.Results, nil
}

// check accepts a reply to a batch of n records: one known result each.
func (rep *PushReply) check(n int) error {
	if len(rep.Results) != n {
		return fmt.Errorf("%w: %d results for %d records", ErrBadServer, len(rep.Results), n)
	}
	for _, r := range rep.Results {
		if r > maxValid {
			return fmt.Errorf("%w: result %d", ErrBadServer, r)
		}
	}
	return nil
}
