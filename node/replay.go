package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/capability"
)

// usesPrefix keeps the use counts of budgeted tokens (max-uses), so a
// single-use token stays used across restarts.
var usesPrefix = ds.NewKey("/mesh/uses")

// maxUseEntries bounds the tokens whose uses a node remembers.
const maxUseEntries = 1 << 16

// durableReplay is a capability.ReplayStore that writes every use to the
// node's store (fsynced) before it counts: a restart does not refill a
// token's budget. Entries are dropped once their token has expired.
type durableReplay struct {
	store ds.Batching

	mu      sync.Mutex
	entries map[capability.ID]useEntry
}

type useEntry struct {
	count int
	until time.Time
}

func (e useEntry) marshal() []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(e.count))
	return binary.BigEndian.AppendUint64(b, uint64(e.until.Unix()))
}

func useKey(id capability.ID) ds.Key { return usesPrefix.ChildString(id.String()) }

// openReplay loads the remembered uses.
func openReplay(ctx context.Context, store ds.Batching) (*durableReplay, error) {
	r := &durableReplay{store: store, entries: map[capability.ID]useEntry{}}
	res, err := store.Query(ctx, query.Query{Prefix: usesPrefix.String()})
	if err != nil {
		return nil, err
	}
	all, err := res.Rest()
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		id, err := capability.ParseID(ds.RawKey(e.Key).BaseNamespace())
		if err != nil || len(e.Value) != 12 {
			return nil, fmt.Errorf("token use record %s is corrupt", e.Key)
		}
		r.entries[id] = useEntry{int(binary.BigEndian.Uint32(e.Value)), time.Unix(int64(binary.BigEndian.Uint64(e.Value[4:])), 0)}
	}
	return r, nil
}

// Spend implements capability.ReplayStore.
func (r *durableReplay) Spend(ctx context.Context, now time.Time, uses []capability.Budget) error {
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
	next := make(map[capability.ID]useEntry, len(uses))
	for _, u := range uses {
		e := r.entries[u.ID]
		if e.count >= u.Max {
			return fmt.Errorf("%w: token %s used %d of %d times", capability.ErrReplayed, u.ID.Short(), e.count, u.Max)
		}
		next[u.ID] = useEntry{e.count + 1, u.Until}
	}
	if fresh := len(next) - countKnown(r.entries, next); len(r.entries)+fresh > maxUseEntries {
		return fmt.Errorf("%w: %d tokens remembered", capability.ErrReplayFull, len(r.entries))
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

func countKnown(have, next map[capability.ID]useEntry) int {
	n := 0
	for id := range next {
		if _, ok := have[id]; ok {
			n++
		}
	}
	return n
}
