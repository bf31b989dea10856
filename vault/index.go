package vault

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/internal/xcrypto"
)

// ErrRolledBack reports a record older than the version index says (an
// older sealed copy put back), a deleted record put back, a record removed
// outside the vault, or an index that does not verify.
var ErrRolledBack = errors.New("vault: record rolled back")

var (
	indexStateKey = ds.NewKey("/meta/index")
	versionPrefix = ds.NewKey("/meta/ver")
)

func versionKey(ns Namespace, name string) ds.Key {
	return versionPrefix.ChildString(string(ns)).ChildString(base64.RawURLEncoding.EncodeToString([]byte(name)))
}

type indexKey struct {
	ns   Namespace
	name string
}

// versionIndex is the keyed index of record versions (doc.go: "Version
// index"). It is loaded and verified at unlock and kept in memory; every
// write updates it in the same batch as the record.
type versionIndex struct {
	key     [32]byte // K_index
	vaultID []byte
	gen     uint32
	entries map[indexKey]uint64
	digest  [32]byte // XOR of the entries' tags
	state   indexState
	// err is set when the stored index did not verify at unlock: every
	// read is refused with it until RebuildIndex.
	err error
}

func newIndex(master, vaultID []byte, gen uint32) *versionIndex {
	return &versionIndex{key: xcrypto.Expand(master, vaultID, labelIndex), vaultID: vaultID, gen: gen, entries: map[indexKey]uint64{}}
}

func (x *versionIndex) entryTag(k indexKey, version uint64) [32]byte {
	b := make([]byte, 0, 5+len(k.ns)+len(k.name)+20)
	b = append(b, "entry"...)
	b = binary.AppendUvarint(b, uint64(len(k.ns)))
	b = append(b, k.ns...)
	b = binary.AppendUvarint(b, uint64(len(k.name)))
	b = append(b, k.name...)
	b = binary.BigEndian.AppendUint64(b, version)
	return xcrypto.MAC(x.key[:], labelIndex, b)
}

func (x *versionIndex) stateTag(counter, count uint64, digest [32]byte) [32]byte {
	b := append([]byte("digest"), x.vaultID...)
	b = binary.BigEndian.AppendUint32(b, x.gen)
	b = binary.BigEndian.AppendUint64(b, counter)
	b = binary.BigEndian.AppendUint64(b, count)
	return xcrypto.MAC(x.key[:], labelIndex, b, digest[:])
}

func xor(a *[32]byte, b [32]byte) {
	for i := range a {
		a[i] ^= b[i]
	}
}

// seal recomputes the stored summary from the entries (migration,
// rotation, rebuild).
func (x *versionIndex) seal(counter uint64) {
	x.digest = [32]byte{}
	for k, v := range x.entries {
		xor(&x.digest, x.entryTag(k, v))
		counter = max(counter, v)
	}
	x.state = indexState{counter: counter, count: uint64(len(x.entries))}
	x.state.tag = x.stateTag(counter, x.state.count, x.digest)
}

// indexChange is a write's effect on the index, applied once it commits.
type indexChange struct {
	k       indexKey
	version uint64 // 0: delete
	digest  [32]byte
	state   indexState
}

// change computes the index after setting k to version (0 deletes it).
func (x *versionIndex) change(k indexKey, version uint64) indexChange {
	c := indexChange{k: k, version: version, digest: x.digest, state: x.state}
	if old, ok := x.entries[k]; ok {
		xor(&c.digest, x.entryTag(k, old))
		c.state.count--
	}
	if version != 0 {
		xor(&c.digest, x.entryTag(k, version))
		c.state.count++
		c.state.counter = max(c.state.counter, version)
	}
	c.state.tag = x.stateTag(c.state.counter, c.state.count, c.digest)
	return c
}

// stage writes c's entry and the summary into b.
func (c indexChange) stage(ctx context.Context, b ds.Batch) error {
	if c.version == 0 {
		if err := b.Delete(ctx, versionKey(c.k.ns, c.k.name)); err != nil {
			return err
		}
	} else if err := b.Put(ctx, versionKey(c.k.ns, c.k.name), binary.BigEndian.AppendUint64(nil, c.version)); err != nil {
		return err
	}
	return b.Put(ctx, indexStateKey, c.state.marshal())
}

func (x *versionIndex) apply(c indexChange) {
	if c.version == 0 {
		delete(x.entries, c.k)
	} else {
		x.entries[c.k] = c.version
	}
	x.digest, x.state = c.digest, c.state
}

// stageAll writes every entry and the summary (migration, rotation, rebuild).
func (x *versionIndex) stageAll(ctx context.Context, b ds.Batch) error {
	for k, v := range x.entries {
		if err := b.Put(ctx, versionKey(k.ns, k.name), binary.BigEndian.AppendUint64(nil, v)); err != nil {
			return err
		}
	}
	return b.Put(ctx, indexStateKey, x.state.marshal())
}

// check compares a stored record's version with the index. Callers hold
// the vault's idxMu (read) from before the record was read.
func (x *versionIndex) check(ns Namespace, name string, found bool, version uint64) error {
	if x.err != nil {
		return x.err
	}
	want, ok := x.entries[indexKey{ns, name}]
	switch {
	case !ok && found:
		return fmt.Errorf("%w: record %q was deleted, and an older copy was put back", ErrRolledBack, name)
	case ok && !found:
		return fmt.Errorf("%w: record %q (version %d) was removed from the store outside the vault", ErrRolledBack, name, want)
	case ok && version < want:
		return fmt.Errorf("%w: record %q is version %d but the index says %d: an older copy was put back", ErrRolledBack, name, version, want)
	case ok && version > want:
		return fmt.Errorf("%w: record %q is version %d but the index says %d: the index was put back from an older copy", ErrRolledBack, name, version, want)
	}
	return nil
}

// loadIndex reads the entries and the summary and verifies them. A
// mismatch is not an error here: it is kept in x.err and refuses reads.
func loadIndex(ctx context.Context, store ds.Datastore, master, vaultID []byte, gen uint32) (*versionIndex, error) {
	x := newIndex(master, vaultID, gen)
	res, err := store.Query(ctx, query.Query{Prefix: versionPrefix.String() + "/"})
	if err != nil {
		return nil, fmt.Errorf("vault: reading version index: %w", err)
	}
	es, err := res.Rest()
	if err != nil {
		return nil, fmt.Errorf("vault: reading version index: %w", err)
	}
	for _, e := range es {
		k, ok := parseVersionKey(e.Key)
		v, err := parseVersion(e.Value)
		if !ok || err != nil {
			x.err = fmt.Errorf("%w: the version index holds a malformed entry %q, put there outside the vault", ErrRolledBack, e.Key)
			continue
		}
		x.entries[k] = v
		xor(&x.digest, x.entryTag(k, v))
	}
	b, err := store.Get(ctx, indexStateKey)
	switch {
	case errors.Is(err, ds.ErrNotFound):
		x.err = fmt.Errorf("%w: the version index was deleted (records may have been put back)", ErrRolledBack)
	case err != nil:
		return nil, fmt.Errorf("vault: reading version index: %w", err)
	default:
		st, perr := parseIndexState(b)
		if perr != nil {
			x.err = fmt.Errorf("%w: the version index is unreadable", ErrRolledBack)
			break
		}
		x.state = st
		if want := x.stateTag(st.counter, uint64(len(x.entries)), x.digest); x.err == nil && (st.count != uint64(len(x.entries)) || !xcrypto.MACEqual(want[:], st.tag[:])) {
			x.err = fmt.Errorf("%w: the version index does not verify: records or index entries were put back from an older copy, added or removed outside the vault", ErrRolledBack)
		}
	}
	return x, nil
}

func parseVersionKey(k string) (indexKey, bool) {
	rest, ok := strings.CutPrefix(k, versionPrefix.String()+"/")
	if !ok {
		return indexKey{}, false
	}
	ns, enc, ok := strings.Cut(rest, "/")
	if !ok || !Namespace(ns).valid() {
		return indexKey{}, false
	}
	name, err := base64.RawURLEncoding.DecodeString(enc)
	// Only the canonical encoding: "X0" also decodes to "_" (as "Xw"), and
	// an alias must not stand for a name whose record lives elsewhere.
	if err != nil || base64.RawURLEncoding.EncodeToString(name) != enc || CheckName(string(name)) != nil {
		return indexKey{}, false
	}
	return indexKey{Namespace(ns), string(name)}, true
}
