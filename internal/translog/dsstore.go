package translog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	"github.com/transparency-dev/merkle/compact"
)

// DatastoreStore is a Store in a go-datastore (the bootstrap's pebble
// store, under a namespace of its own):
//
//	/size            the number of leaves, u64 big-endian
//	/leaf/INDEX      a leaf (INDEX in 20 decimal digits)
//	/node/L/INDEX    the hash of the node at level L (2 digits), INDEX (20 digits)
//
// Append writes a leaf, the nodes it completes and the new size in one
// batch: a crash leaves the log as it was before or after the append.
type DatastoreStore struct{ d ds.Batching }

// NewDatastoreStore returns a Store in d.
func NewDatastoreStore(d ds.Batching) *DatastoreStore { return &DatastoreStore{d: d} }

var sizeKey = ds.NewKey("/size")

func leafKey(i uint64) ds.Key { return ds.NewKey(fmt.Sprintf("/leaf/%020d", i)) }

func nodeKey(id compact.NodeID) ds.Key {
	return ds.NewKey(fmt.Sprintf("/node/%02d/%020d", id.Level, id.Index))
}

// Size implements Store.
func (s *DatastoreStore) Size() (uint64, error) {
	b, err := s.d.Get(context.Background(), sizeKey)
	switch {
	case errors.Is(err, ds.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(b) != 8:
		return 0, fmt.Errorf("%w: the stored size is %d bytes", ErrMalformed, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// Append implements Store.
func (s *DatastoreStore) Append(index uint64, leaf []byte, nodes []Node) error {
	ctx := context.Background()
	size, err := s.Size()
	if err != nil {
		return err
	}
	if index != size {
		return fmt.Errorf("translog: appending at %d to a store of %d leaves", index, size)
	}
	b, err := s.d.Batch(ctx)
	if err != nil {
		return err
	}
	if err := b.Put(ctx, leafKey(index), leaf); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := b.Put(ctx, nodeKey(n.ID), n.Hash); err != nil {
			return err
		}
	}
	if err := b.Put(ctx, sizeKey, binary.BigEndian.AppendUint64(nil, index+1)); err != nil {
		return err
	}
	return b.Commit(ctx)
}

// Nodes implements Store.
func (s *DatastoreStore) Nodes(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := s.d.Get(context.Background(), nodeKey(id))
		if err != nil {
			return nil, fmt.Errorf("translog: no node at level %d index %d: %w", id.Level, id.Index, err)
		}
		out[i] = h
	}
	return out, nil
}

// Leaf implements Store.
func (s *DatastoreStore) Leaf(index uint64) ([]byte, error) {
	size, err := s.Size()
	if err != nil {
		return nil, err
	}
	if index >= size {
		return nil, ErrRange
	}
	return s.d.Get(context.Background(), leafKey(index))
}
