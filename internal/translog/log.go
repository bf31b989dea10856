package translog

import (
	"crypto"
	_ "crypto/sha256" // the hasher below is SHA-256
	"errors"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// hasher is RFC 6962 hashing with SHA-256: a leaf hashes as
// SHA-256(0x00 || leaf), a node as SHA-256(0x01 || left || right).
var hasher = rfc6962.New(crypto.SHA256)

// ErrRange is returned for a size or index the log does not have.
var ErrRange = errors.New("translog: beyond the log's size")

// Node is one stored hash of the tree: the root of a perfect subtree.
type Node struct {
	ID   compact.NodeID
	Hash []byte
}

// Store keeps the log's leaves and the hashes of its perfect subtrees. The
// lead backs it with pebble; MemStore is the in-memory one. A Store is used
// by one Log at a time, which serialises its calls.
type Store interface {
	// Size is the number of leaves stored.
	Size() (uint64, error)
	// Append stores leaf at index (always the current Size) and the
	// nodes it completes, all or nothing.
	Append(index uint64, leaf []byte, nodes []Node) error
	// Nodes returns the hashes of ids, in order; every one was stored by
	// an earlier Append.
	Nodes(ids []compact.NodeID) ([][]byte, error)
	// Leaf returns the leaf at index.
	Leaf(index uint64) ([]byte, error)
}

// MemStore is a Store in memory.
type MemStore struct {
	leaves [][]byte
	nodes  map[compact.NodeID][]byte
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{nodes: map[compact.NodeID][]byte{}} }

// Size implements Store.
func (m *MemStore) Size() (uint64, error) { return uint64(len(m.leaves)), nil }

// Append implements Store.
func (m *MemStore) Append(index uint64, leaf []byte, nodes []Node) error {
	if index != uint64(len(m.leaves)) {
		return fmt.Errorf("translog: appending at %d to a store of %d leaves", index, len(m.leaves))
	}
	m.leaves = append(m.leaves, append([]byte(nil), leaf...))
	for _, n := range nodes {
		m.nodes[n.ID] = append([]byte(nil), n.Hash...)
	}
	return nil
}

// Nodes implements Store.
func (m *MemStore) Nodes(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := m.nodes[id]
		if !ok {
			return nil, fmt.Errorf("translog: no node at level %d index %d", id.Level, id.Index)
		}
		out[i] = append([]byte(nil), h...)
	}
	return out, nil
}

// Leaf implements Store.
func (m *MemStore) Leaf(index uint64) ([]byte, error) {
	if index >= uint64(len(m.leaves)) {
		return nil, ErrRange
	}
	return append([]byte(nil), m.leaves[index]...), nil
}

var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// Log is the bootstrap's append-only Merkle log. It is safe for concurrent
// use.
type Log struct {
	mu    sync.Mutex
	store Store
	rng   *compact.Range // [0, size): the roots of the perfect subtrees
}

// OpenLog opens the log kept in store, empty or not.
func OpenLog(store Store) (*Log, error) {
	size, err := store.Size()
	if err != nil {
		return nil, fmt.Errorf("translog: opening the log: %w", err)
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := store.Nodes(ids)
	if err != nil {
		return nil, fmt.Errorf("translog: opening the log: %w", err)
	}
	rng, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("translog: opening the log: %w", err)
	}
	return &Log{store: store, rng: rng}, nil
}

// Append adds an encoded leaf (Leaf.Encode) and returns its index.
func (l *Log) Append(leaf []byte) (uint64, error) {
	if _, err := DecodeLeaf(leaf); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	index := l.rng.End()
	// Grow a copy so that a failed store leaves the log as it was.
	next, err := rangeFactory.NewRange(0, index, append([][]byte(nil), l.rng.Hashes()...))
	if err != nil {
		return 0, err
	}
	var nodes []Node
	visit := func(id compact.NodeID, h []byte) { nodes = append(nodes, Node{ID: id, Hash: h}) }
	if err := next.Append(hasher.HashLeaf(leaf), visit); err != nil {
		return 0, err
	}
	if err := l.store.Append(index, leaf, nodes); err != nil {
		return 0, fmt.Errorf("translog: storing leaf %d: %w", index, err)
	}
	l.rng = next
	return index, nil
}

// Size is the number of leaves.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.End()
}

// Root returns the current size and the root hash at that size.
func (l *Log) Root() (uint64, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	size := l.rng.End()
	root, err := rootOf(l.rng)
	return size, root, err
}

// RootAt returns the root hash the log had at size.
func (l *Log) RootAt(size uint64) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if size > l.rng.End() {
		return nil, ErrRange
	}
	hashes, err := l.store.Nodes(compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	rng, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return rootOf(rng)
}

func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

// Leaf returns the encoded leaf at index.
func (l *Log) Leaf(index uint64) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if index >= l.rng.End() {
		return nil, ErrRange
	}
	return l.store.Leaf(index)
}

// InclusionProof proves that the leaf at index is in the tree of size
// leaves (index < size <= Size).
func (l *Log) InclusionProof(index, size uint64) ([][]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if index >= size || size > l.rng.End() {
		return nil, ErrRange
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return l.fetch(nodes)
}

// ConsistencyProof proves that the tree of old leaves is a prefix of the
// tree of size leaves (old <= size <= Size).
func (l *Log) ConsistencyProof(old, size uint64) ([][]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old > size || size > l.rng.End() {
		return nil, ErrRange
	}
	nodes, err := proof.Consistency(old, size)
	if err != nil {
		return nil, err
	}
	return l.fetch(nodes)
}

func (l *Log) fetch(nodes proof.Nodes) ([][]byte, error) {
	hashes, err := l.store.Nodes(nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}
