package revocation

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/wire"
)

// Datastore layout, under the caller's namespace:
//
//	/meta/epoch    8 random bytes, made when the datastore is first opened
//	/meta/version  uint64 big-endian, the last version handed out
//	/rev/<hex ID>  CBOR {1: version, 2: the exact revocation envelope}
//
// The version key is written after every record, so a counter never goes
// back when the newest entry is collected.
var (
	epochKey   = ds.NewKey("/meta/epoch")
	versionKey = ds.NewKey("/meta/version")
)

const recordPrefix = "/rev/"

func recordKey(id capability.ID) ds.Key {
	return ds.RawKey(recordPrefix + hex.EncodeToString(id[:]))
}

// stored is the datastore value of one entry.
type stored struct {
	Version uint64 `cbor:"1,keyasint"`
	Record  []byte `cbor:"2,keyasint"`
}

// write persists one entry and the new version counter.
func (s *Set) write(ctx context.Context, v uint64, rev *Revocation) error {
	b, err := wire.Marshal(stored{Version: v, Record: rev.raw})
	if err != nil {
		return err
	}
	if err := s.ds.Put(ctx, recordKey(rev.id), b); err != nil {
		return fmt.Errorf("revocation: storing %s: %w", rev.id.Short(), err)
	}
	if err := s.ds.Put(ctx, versionKey, binary.BigEndian.AppendUint64(nil, v)); err != nil {
		return fmt.Errorf("revocation: storing version: %w", err)
	}
	return nil
}

// read loads one record without re-verifying its signatures: it was
// verified before it was written, and the node trusts its own disk as it
// trusts its own key file.
func (s *Set) read(ctx context.Context, id capability.ID) (*Revocation, []byte, error) {
	b, err := s.ds.Get(ctx, recordKey(id))
	if err != nil {
		return nil, nil, err
	}
	var st stored
	if err := wire.UnmarshalCanonical(b, &st); err != nil {
		return nil, nil, fmt.Errorf("%w: stored entry %s: %v", ErrMalformed, id.Short(), err)
	}
	r, err := decode(st.Record)
	if err != nil {
		return nil, nil, err
	}
	if r.id != id {
		return nil, nil, fmt.Errorf("%w: stored under %s but revokes %s", ErrMalformed, id.Short(), r.id.Short())
	}
	return r, st.Record, nil
}

// load reads the epoch, the version counter and every live entry, drops
// expired ones, and builds the filter.
func (s *Set) load(ctx context.Context, rnd io.Reader) error {
	switch b, err := s.ds.Get(ctx, epochKey); {
	case errors.Is(err, ds.ErrNotFound):
		if _, err := io.ReadFull(rnd, s.epoch[:]); err != nil {
			return fmt.Errorf("revocation: making epoch: %w", err)
		}
		if err := s.ds.Put(ctx, epochKey, s.epoch[:]); err != nil {
			return fmt.Errorf("revocation: storing epoch: %w", err)
		}
	case err != nil:
		return fmt.Errorf("revocation: reading epoch: %w", err)
	case len(b) != epochLen:
		return fmt.Errorf("%w: stored epoch is %d bytes", ErrMalformed, len(b))
	default:
		copy(s.epoch[:], b)
	}
	switch b, err := s.ds.Get(ctx, versionKey); {
	case errors.Is(err, ds.ErrNotFound):
	case err != nil:
		return fmt.Errorf("revocation: reading version: %w", err)
	case len(b) != 8:
		return fmt.Errorf("%w: stored version is %d bytes", ErrMalformed, len(b))
	default:
		s.version = binary.BigEndian.Uint64(b)
	}

	cutoff := s.clock().Add(-s.skew).Unix()
	var expired []ds.Key
	for res, err := range ds.QueryIter(ctx, s.ds, query.Query{Prefix: recordPrefix}) {
		if err != nil {
			return fmt.Errorf("revocation: loading: %w", err)
		}
		key := ds.RawKey(res.Key)
		var st stored
		if err := wire.UnmarshalCanonical(res.Value, &st); err != nil {
			return fmt.Errorf("%w: stored entry %s: %v", ErrMalformed, res.Key, err)
		}
		r, err := decode(st.Record)
		if err != nil {
			return fmt.Errorf("revocation: stored entry %s: %w", res.Key, err)
		}
		if !bytes.Equal(key.Bytes(), recordKey(r.id).Bytes()) {
			return fmt.Errorf("%w: %s holds a revocation of %s", ErrMalformed, res.Key, r.id.Short())
		}
		if r.expiry.Unix() <= cutoff {
			expired = append(expired, key)
			continue
		}
		rc := s.revokers[r.revoker]
		if rc == nil {
			rc = &revokerCount{}
			s.revokers[r.revoker] = rc
		}
		rc.n++
		s.entries[r.id] = entry{version: st.Version, expiry: r.expiry.Unix(), rc: rc}
		s.byVersion = append(s.byVersion, versioned{st.Version, r.id})
		s.version = max(s.version, st.Version)
	}
	slices.SortFunc(s.byVersion, func(a, b versioned) int { return cmp.Compare(a.version, b.version) })
	for _, k := range expired {
		if err := s.ds.Delete(ctx, k); err != nil {
			s.log.Warn("revocation: dropping expired entry", "key", k.String(), "err", err)
		}
	}
	s.filterCap = max(s.minCap, uint(2*len(s.entries)))
	s.filter = s.buildFilter(s.filterCap)
	s.log.Debug("revocation: set loaded", "entries", len(s.entries), "expired", len(expired), "version", s.version)
	return nil
}
