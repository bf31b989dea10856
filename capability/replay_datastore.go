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
// refill a token's budget, so a single-use token stays used. Entries are
// dropped once their token has expired. Keys are token IDs (hex) at the
// datastore's root: give it a namespace of its own.
type DatastoreReplay struct {
	store ds.Batching

	mu      sync.Mutex
	entries map[ID]useEntry
}

type useEntry struct {
	count int
	until time.Time
}

func (e useEntry) marshal() []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(e.count))
	return binary.BigEndian.AppendUint64(b, uint64(e.until.Unix()))
}

func useKey(id ID) ds.Key { return ds.NewKey(id.String()) }

// OpenDatastoreReplay loads the uses remembered in store.
func OpenDatastoreReplay(ctx context.Context, store ds.Batching) (*DatastoreReplay, error) {
	r := &DatastoreReplay{store: store, entries: map[ID]useEntry{}}
	res, err := store.Query(ctx, query.Query{})
	if err != nil {
		return nil, err
	}
	all, err := res.Rest()
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		id, err := ParseID(ds.RawKey(e.Key).BaseNamespace())
		if err != nil || len(e.Value) != 12 {
			return nil, fmt.Errorf("token use record %s is corrupt", e.Key)
		}
		r.entries[id] = useEntry{int(binary.BigEndian.Uint32(e.Value)), time.Unix(int64(binary.BigEndian.Uint64(e.Value[4:])), 0)}
	}
	return r, nil
}

// Spend implements ReplayStore.
func (r *DatastoreReplay) Spend(ctx context.Context, now time.Time, uses []Budget) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := r.store.Batch(ctx)
	if err != nil {
		return err
	}
	for id, e := range r.entries { // forget expired tokens
		if !now.Before(e.until) {
			delete(r.entries, id)
			b.Delete(ctx, useKey(id))
		}
	}
	next := make(map[ID]useEntry, len(uses))
	for _, u := range uses {
		e := r.entries[u.ID]
		if e.count >= u.Max {
			return fmt.Errorf("%w: token %s used %d of %d times", ErrReplayed, u.ID.Short(), e.count, u.Max)
		}
		next[u.ID] = useEntry{e.count + 1, u.Until}
	}
	if fresh := len(next) - countKnown(r.entries, next); len(r.entries)+fresh > maxDatastoreReplay {
		return fmt.Errorf("%w: %d tokens remembered", ErrReplayFull, len(r.entries))
	}
	for id, e := range next {
		if err := b.Put(ctx, useKey(id), e.marshal()); err != nil {
			return err
		}
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("recording a token use: %w", err)
	}
	for id, e := range next {
		r.entries[id] = e
	}
	return nil
}

func countKnown(have, next map[ID]useEntry) int {
	n := 0
	for id := range next {
		if _, ok := have[id]; ok {
			n++
		}
	}
	return n
}
