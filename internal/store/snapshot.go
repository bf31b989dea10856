package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// ErrSnapshotClosed is returned by a Snapshot's reads after its Close.
var ErrSnapshotClosed = errors.New("store: snapshot closed")

// Snapshot is a read-only view of the store at one instant (a pebble
// snapshot): every write committed before Snapshot returned is in it, and
// none committed after. A batch (a vault write with its audit record) is in
// it whole or not at all. Writers are neither blocked nor slowed: the store
// keeps serving while the snapshot is read (it only keeps old versions of
// overwritten keys on disk until Close).
//
// Snapshot implements ds.Read (Get, Has, GetSize, Query) and Each, which
// walks every key in order without copying. It is safe for concurrent use.
// Close it, and stop its reads, before the store is closed: pebble reports
// an iterator still open at Close as a leak, and a read after the store's
// Close is undefined.
type Snapshot struct {
	mu   sync.RWMutex
	snap *pebble.Snapshot // nil once closed
}

var _ ds.Read = (*Snapshot)(nil)

// Snapshot takes a snapshot of the store now. It costs no I/O.
func (s *Store) Snapshot() *Snapshot {
	return &Snapshot{snap: s.Datastore.DB.NewSnapshot()}
}

// Close releases the snapshot. It is idempotent.
func (sn *Snapshot) Close() error {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.snap == nil {
		return nil
	}
	err := sn.snap.Close()
	sn.snap = nil
	return err
}

// Get implements ds.Read.
func (sn *Snapshot) Get(_ context.Context, key ds.Key) ([]byte, error) {
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	if sn.snap == nil {
		return nil, ErrSnapshotClosed
	}
	v, closer, err := sn.snap.Get(key.Bytes())
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ds.ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("store: snapshot read: %w", err)
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, nil
}

// Has implements ds.Read.
func (sn *Snapshot) Has(ctx context.Context, key ds.Key) (bool, error) {
	_, err := sn.GetSize(ctx, key)
	if errors.Is(err, ds.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// GetSize implements ds.Read.
func (sn *Snapshot) GetSize(_ context.Context, key ds.Key) (int, error) {
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	if sn.snap == nil {
		return -1, ErrSnapshotClosed
	}
	v, closer, err := sn.snap.Get(key.Bytes())
	if errors.Is(err, pebble.ErrNotFound) {
		return -1, ds.ErrNotFound
	} else if err != nil {
		return -1, fmt.Errorf("store: snapshot read: %w", err)
	}
	n := len(v)
	closer.Close()
	return n, nil
}

// Query implements ds.Read: the prefix is served from the snapshot in key
// order; filters, orders, offset and limit are applied as go-datastore's
// naive implementation does.
func (sn *Snapshot) Query(_ context.Context, q query.Query) (query.Results, error) {
	prefix := ds.NewKey(q.Prefix).String()
	if prefix != "/" {
		prefix += "/"
	}
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	if sn.snap == nil {
		return nil, ErrSnapshotClosed
	}
	it, err := sn.snap.NewIter(&pebble.IterOptions{LowerBound: []byte(prefix), UpperBound: upperBound([]byte(prefix))})
	if err != nil {
		return nil, fmt.Errorf("store: snapshot query: %w", err)
	}
	started, closed := false, false
	next := func() (query.Result, bool) {
		if closed {
			return query.Result{}, false
		}
		if started {
			it.Next()
		} else {
			it.First()
			started = true
		}
		fail := func(err error) (query.Result, bool) {
			closed = true // an error ends the results, and may end their reading
			it.Close()
			return query.Result{Error: fmt.Errorf("store: snapshot query: %w", err)}, true
		}
		if !it.Valid() {
			if err := it.Error(); err != nil {
				return fail(err)
			}
			return query.Result{}, false
		}
		e := query.Entry{Key: string(it.Key())}
		if !q.KeysOnly || q.ReturnsSizes {
			v, err := it.ValueAndErr()
			if err != nil {
				return fail(err)
			}
			e.Size = len(v)
			if !q.KeysOnly {
				e.Value = bytes.Clone(v)
			}
		}
		return query.Result{Entry: e}, true
	}
	res := query.ResultsFromIterator(q, query.Iterator{Next: next, Close: func() error {
		if closed {
			return nil
		}
		closed = true
		return it.Close()
	}})
	naive := q
	naive.Prefix = ""
	return query.NaiveQueryApply(naive, res), nil
}

// Each calls fn with every key and value of the snapshot in key order. key
// and value are pebble's own buffers, valid only during the call: fn copies
// what it keeps. Each stops at fn's first error, and between entries when
// ctx ends.
func (sn *Snapshot) Each(ctx context.Context, fn func(key, value []byte) error) error {
	sn.mu.RLock()
	defer sn.mu.RUnlock()
	if sn.snap == nil {
		return ErrSnapshotClosed
	}
	it, err := sn.snap.NewIter(nil)
	if err != nil {
		return fmt.Errorf("store: snapshot iteration: %w", err)
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("store: snapshot iteration: %w", err)
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("store: snapshot iteration: %w", err)
	}
	return ctx.Err()
}

// upperBound is the first key after every key starting with prefix (nil:
// none, for a prefix of 0xff bytes).
func upperBound(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			up := bytes.Clone(prefix[:i+1])
			up[i]++
			return up
		}
	}
	return nil
}
