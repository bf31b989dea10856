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
	"time"

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
	markKey    = ds.NewKey("/meta/mark")
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
// expired ones.
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

	var persisted time.Time
	switch b, err := s.ds.Get(ctx, markKey); {
	case errors.Is(err, ds.ErrNotFound):
	case err != nil:
		return fmt.Errorf("revocation: reading the time mark: %w", err)
	case len(b) != 8:
		return fmt.Errorf("%w: stored time mark is %d bytes", ErrMalformed, len(b))
	default:
		persisted = time.Unix(int64(binary.BigEndian.Uint64(b)), 0)
	}
	s.mark = capability.NewTimeMark(persisted, s.elapsed)
	cutoff := s.mark.Advance(s.clock()).Add(-s.skew).Unix()
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
		s.entries[r.id] = entry{version: st.Version, expiry: r.expiry.Unix(), rc: rc, size: uint32(len(st.Record))}
		s.byVersion = append(s.byVersion, versioned{st.Version, r.id})
		s.version = max(s.version, st.Version)
		s.bytes += int64(len(st.Record))
	}
	slices.SortFunc(s.byVersion, func(a, b versioned) int { return cmp.Compare(a.version, b.version) })
	for _, k := range expired {
		if err := s.ds.Delete(ctx, k); err != nil {
			s.log.Warn("revocation: dropping expired entry", "key", k.String(), "err", err)
		}
	}
	s.live.Store(int64(len(s.entries)))
	trimmed, err := s.trim(ctx)
	if err != nil {
		return err
	}
	s.log.Debug("revocation: set loaded", "entries", len(s.entries), "bytes", s.bytes, "expired", len(expired),
		"trimmed", trimmed, "version", s.version)
	return nil
}

// overOther reports whether the set is past the limits for records that
// are not relevant.
func (s *Set) overOther() bool {
	return len(s.entries) > s.caps.otherEntries || s.bytes > s.caps.otherBytes
}

// trim brings a set loaded past the limits for records that are not
// relevant back under them, dropping non-relevant entries newest first
// (see Config.MaxEntries); relevant ones are kept even past the caps.
// Open runs it, before any Add.
func (s *Set) trim(ctx context.Context) (int, error) {
	var gone []capability.ID
	if s.relev != nil && s.overOther() {
		n, b := len(s.entries), s.bytes
		for i := len(s.byVersion) - 1; i >= 0 && (n > s.caps.otherEntries || b > s.caps.otherBytes); i-- {
			id := s.byVersion[i].id
			r, _, err := s.read(ctx, id)
			if err != nil {
				return 0, fmt.Errorf("revocation: trimming: %w", err)
			}
			if (s.self != "" && r.revoker == s.self) || s.relev(r) {
				continue
			}
			gone = append(gone, id)
			n--
			b -= int64(s.entries[id].size)
		}
		if err := s.remove(ctx, gone); err != nil {
			s.log.Warn("revocation: deleting trimmed entries", "err", err)
		}
		if len(gone) > 0 {
			s.log.Warn("revocation: the stored set was past its limit for records not relevant here; dropped the newest of them",
				"dropped", len(gone), "entries", len(s.entries), "bytes", s.bytes)
		}
	}
	if len(s.entries) > s.caps.entries || s.bytes > s.caps.bytes {
		s.log.Warn("revocation: the stored set is past its caps; new records are refused until entries expire",
			"entries", len(s.entries), "bytes", s.bytes, "max_entries", s.caps.entries, "max_bytes", s.caps.bytes)
	}
	return len(gone), nil
}

// saveMark persists the time mark, rounded down to the second (a mark that
// lags keeps entries longer, never shorter).
func (s *Set) saveMark(ctx context.Context, mark time.Time) error {
	if mark.IsZero() {
		return nil
	}
	if err := s.ds.Put(ctx, markKey, binary.BigEndian.AppendUint64(nil, uint64(mark.Unix()))); err != nil {
		return fmt.Errorf("revocation: storing the time mark: %w", err)
	}
	return nil
}
