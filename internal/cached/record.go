package cached

import (
	"context"
	"log/slog"

	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/ocmt/mesh/node/localapi"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/wire"
)

// Record is what the owner knows of the cached copies of one resource.
type Record struct {
	Resource string
	Version  uint64
	Size     uint64 // sealed bytes
	Readers  int    // recipients, the owner included
	Created  time.Time
	Expiry   time.Time
	Caches   []CacheResult
}

// CacheResult is one relay's answer to a push.
type CacheResult struct {
	Relay peer.ID
	At    time.Time
	Err   string // "" when the relay took the snapshot
	// refused: Err is the relay's answer, not a failure to reach it (not stored).
	refused bool
}

// Stored reports whether at least one relay holds the snapshot.
func (r *Record) Stored() bool {
	for _, c := range r.Caches {
		if c.Err == "" {
			return true
		}
	}
	return false
}

type recordWire struct {
	Version uint64      `cbor:"1,keyasint"`
	Size    uint64      `cbor:"2,keyasint"`
	Readers uint64      `cbor:"3,keyasint"`
	Created int64       `cbor:"4,keyasint"`
	Expiry  int64       `cbor:"5,keyasint"`
	Caches  []cacheWire `cbor:"6,keyasint"`
}

type cacheWire struct {
	Relay []byte `cbor:"1,keyasint"`
	At    int64  `cbor:"2,keyasint"`
	Err   string `cbor:"3,keyasint"`
}

var errBadRecord = errors.New("cached: malformed push record")

// EncodeRecord encodes r's stored fields (doc.go "Push record").
func EncodeRecord(r *Record) ([]byte, error) {
	if len(r.Caches) > MaxCaches {
		return nil, fmt.Errorf("cached: %d relays in one record, cap %d", len(r.Caches), MaxCaches)
	}
	w := recordWire{Version: r.Version, Size: r.Size, Readers: uint64(r.Readers), Created: r.Created.Unix(), Expiry: r.Expiry.Unix()}
	for _, c := range r.Caches {
		w.Caches = append(w.Caches, cacheWire{Relay: []byte(c.Relay), At: c.At.Unix(), Err: c.Err})
	}
	b, err := wire.Marshal(w)
	if err == nil && len(b) > MaxRecordBytes {
		return nil, fmt.Errorf("cached: push record of %d bytes, cap %d", len(b), MaxRecordBytes)
	}
	return b, err
}

// DecodeRecord decodes a push record of resource.
func DecodeRecord(resource string, b []byte) (*Record, error) {
	if len(b) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", errBadRecord, len(b), MaxRecordBytes)
	}
	var w recordWire
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	if w.Version == 0 || len(w.Caches) > MaxCaches || w.Readers > 1<<16 {
		return nil, errBadRecord
	}
	r := &Record{Resource: resource, Version: w.Version, Size: w.Size, Readers: int(w.Readers),
		Created: time.Unix(w.Created, 0), Expiry: time.Unix(w.Expiry, 0)}
	for _, c := range w.Caches {
		id, err := peer.IDFromBytes(c.Relay)
		if err != nil {
			return nil, fmt.Errorf("%w: relay: %v", errBadRecord, err)
		}
		r.Caches = append(r.Caches, CacheResult{Relay: id, At: time.Unix(c.At, 0), Err: c.Err})
	}
	return r, nil
}

func recordKey(resource string) ds.Key {
	return ds.NewKey("/pushed/" + base64.RawURLEncoding.EncodeToString([]byte(resource)))
}

func resourceOfKey(k ds.Key) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(k.BaseNamespace())
	return string(b), err == nil
}

// API is the local API's form of r.
func (r *Record) API() localapi.Snapshot {
	s := localapi.Snapshot{Resource: r.Resource, Version: r.Version, SealedBytes: r.Size, Readers: r.Readers,
		Sealed: r.Created.UTC(), Expiry: r.Expiry.UTC(), Caches: []localapi.SnapshotCache{}}
	for _, c := range r.Caches {
		s.Caches = append(s.Caches, localapi.SnapshotCache{Relay: c.Relay.String(), At: c.At.UTC(), Error: c.Err})
	}
	return s
}

// Records lists the push records in st (an owner's store, running or not).
func Records(ctx context.Context, st ds.Datastore) ([]localapi.Snapshot, error) {
	recs, err := records(ctx, st, slog.New(slog.DiscardHandler))
	out := []localapi.Snapshot{}
	for _, r := range recs {
		out = append(out, r.API())
	}
	return out, err
}
