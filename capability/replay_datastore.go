package capability

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// maxDatastoreReplay bounds the tokens whose uses a DatastoreReplay
// remembers: 64 Ki entries of 12 bytes, well under a megabyte on disk.
const maxDatastoreReplay = 1 << 16

// DatastoreReplay is a ReplayStore that writes every use to a datastore
// (a node's pebble store, fsynced) before it counts: a restart does not
// refill a token's budget, so a single-use token stays used. Keys are token
// IDs (hex) at the datastore's root, plus "/mark": give it a namespace of
// its own.
//
// Records are forgotten by MemoryReplay's time-mark rule, never by the
// clock alone, and the mark M is persisted with every spend (in the same
// batch as the records it lets go, rounded down to the second; each
// record's Until is rounded up), so a restart never lowers it below a
// forgotten record. After a restart M moves again by the monotonic time
// since the store was opened: time while the node was down does not count,
// so records outlive their tokens by the node's accumulated downtime (and
// suspended time), which costs room (ErrReplayFull beyond 64 Ki tokens),
// never a replay. A store from before the mark existed starts its mark at
// the first spend's clock reading.
type DatastoreReplay struct {
	store ds.Batching

	mu      sync.Mutex
	entries map[ID]useEntry
	mark    timeMark
}

type useEntry struct {
	count int
	until time.Time // whole seconds, rounded up
}

func (e useEntry) marshal() []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(e.count))
	return binary.BigEndian.AppendUint64(b, uint64(e.until.Unix()))
}

func useKey(id ID) ds.Key { return ds.NewKey(id.String()) }

// markKey holds the time mark: unix seconds, big-endian int64.
var markKey = ds.NewKey("mark")

// ceilSecond rounds t up to a whole second, so a record stored in seconds
// lives at least as long as asked.
func ceilSecond(t time.Time) time.Time {
	s := t.Truncate(time.Second)
	if s.Before(t) {
		s = s.Add(time.Second)
	}
	return s.Round(0)
}

// OpenDatastoreReplay loads the uses remembered in store, and its mark.
func OpenDatastoreReplay(ctx context.Context, store ds.Batching) (*DatastoreReplay, error) {
	r := &DatastoreReplay{store: store, entries: map[ID]useEntry{}}
	var mark time.Time
	res, err := store.Query(ctx, query.Query{})
	if err != nil {
		return nil, err
	}
	all, err := res.Rest()
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if e.Key == markKey.String() {
			if len(e.Value) != 8 {
				return nil, fmt.Errorf("token use time mark is corrupt")
			}
			mark = time.Unix(int64(binary.BigEndian.Uint64(e.Value)), 0)
			continue
		}
		id, err := ParseID(ds.RawKey(e.Key).BaseNamespace())
		if err != nil || len(e.Value) != 12 {
			return nil, fmt.Errorf("token use record %s is corrupt", e.Key)
		}
		r.entries[id] = useEntry{int(binary.BigEndian.Uint32(e.Value)), time.Unix(int64(binary.BigEndian.Uint64(e.Value[4:])), 0)}
	}
	r.mark = newTimeMark(mark)
	return r, nil
}

// Spend implements ReplayStore. Nothing changes, in memory or on disk,
// unless the batch with the new uses, the forgotten records and the mark
// commits.
func (r *DatastoreReplay) Spend(ctx context.Context, now time.Time, uses []Budget) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	mark, movedAt := r.mark.peek(now)
	gone := map[ID]bool{}
	for id, e := range r.entries {
		if !mark.Before(e.until) {
			gone[id] = true
		}
	}
	next := make(map[ID]useEntry, len(uses))
	known := 0
	for _, u := range uses {
		e, ok := r.entries[u.ID]
		if ok && !gone[u.ID] {
			known++
		} else if err := pastMark(u, mark); err != nil {
			return err
		} else {
			e = useEntry{}
		}
		if e.count >= u.Max {
			return fmt.Errorf("%w: token %s used %d of %d times", ErrReplayed, u.ID.Short(), e.count, u.Max)
		}
		until := ceilSecond(u.Until)
		if e.until.After(until) {
			until = e.until
		}
		next[u.ID] = useEntry{e.count + 1, until}
	}
	if n := len(r.entries) - len(gone) + len(next) - known; n > maxDatastoreReplay {
		return fmt.Errorf("%w: %d tokens remembered", ErrReplayFull, len(r.entries)-len(gone))
	}
	b, err := r.store.Batch(ctx)
	if err != nil {
		return err
	}
	for id := range gone {
		if err := b.Delete(ctx, useKey(id)); err != nil {
			return err
		}
	}
	for id, e := range next {
		if err := b.Put(ctx, useKey(id), e.marshal()); err != nil {
			return err
		}
	}
	if err := b.Put(ctx, markKey, binary.BigEndian.AppendUint64(nil, uint64(mark.Unix()))); err != nil {
		return err
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("recording a token use: %w", err)
	}
	for id := range gone {
		delete(r.entries, id)
	}
	for id, e := range next {
		r.entries[id] = e
	}
	r.mark.at, r.mark.movedAt = mark, movedAt
	return nil
}
