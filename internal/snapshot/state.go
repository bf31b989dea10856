package snapshot

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
)

// State is a reader's memory of the newest manifest it has seen for each
// (owner, resource), so an older one is refused (doc.go "Rollback").
type State interface {
	// See records version (and the hash of its payload) for (owner,
	// resource), and refuses with ErrRolledBack a version below the
	// highest seen, or equal to it with another hash.
	See(ctx context.Context, owner peer.ID, resource string, version uint64, hash [32]byte) error
	// Highest is the highest version seen, 0 if none.
	Highest(ctx context.Context, owner peer.ID, resource string) (uint64, error)
}

// DatastoreState is a State kept in a datastore: one key per (owner,
// resource) holding the version and the payload hash (40 bytes). The node
// gives it a namespace of its store (the key map in doc.go).
type DatastoreState struct {
	d  ds.Datastore
	mu sync.Mutex // See is a read-modify-write
}

// NewDatastoreState keeps the state in d.
func NewDatastoreState(d ds.Datastore) *DatastoreState { return &DatastoreState{d: d} }

var _ State = (*DatastoreState)(nil)

const stateValueSize = 8 + 32

// StateKey is where (owner, resource) is kept: /OWNER/RESOURCE, the
// owner's peer ID in base58 and the resource in unpadded base64url.
func StateKey(owner peer.ID, resource string) ds.Key {
	return ds.RawKey("/" + owner.String() + "/" + base64.RawURLEncoding.EncodeToString([]byte(resource)))
}

func (s *DatastoreState) get(ctx context.Context, k ds.Key) (uint64, [32]byte, error) {
	var h [32]byte
	v, err := s.d.Get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return 0, h, nil
	}
	if err != nil {
		return 0, h, err
	}
	if len(v) != stateValueSize {
		return 0, h, fmt.Errorf("snapshot: reader state at %s is %d bytes, want %d", k, len(v), stateValueSize)
	}
	copy(h[:], v[8:])
	return binary.BigEndian.Uint64(v), h, nil
}

// See implements State.
func (s *DatastoreState) See(ctx context.Context, owner peer.ID, resource string, version uint64, hash [32]byte) error {
	k := StateKey(owner, resource)
	s.mu.Lock()
	defer s.mu.Unlock()
	seen, h, err := s.get(ctx, k)
	if err != nil {
		return err
	}
	switch {
	case version < seen:
		return fmt.Errorf("%w: version %d of %s, and version %d was seen before", ErrRolledBack, version, resource, seen)
	case version == seen && h != hash:
		return fmt.Errorf("%w: a second, different version %d of %s", ErrRolledBack, version, resource)
	case version == seen:
		return nil
	}
	v := make([]byte, stateValueSize)
	binary.BigEndian.PutUint64(v, version)
	copy(v[8:], hash[:])
	return s.d.Put(ctx, k, v)
}

// Highest implements State.
func (s *DatastoreState) Highest(ctx context.Context, owner peer.ID, resource string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, _, err := s.get(ctx, StateKey(owner, resource))
	return v, err
}
