package wake

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// entry is what a relay keeps for one owner (doc.go "Server state").
type entry struct {
	handle      directory.Handle
	half        []byte    // nil when none is held
	until       time.Time // the half's end; zero without a half
	asleepUntil time.Time // zero when the owner is not asleep
}

func (e *entry) asleep(now time.Time) bool {
	return !e.asleepUntil.IsZero() && now.Before(e.asleepUntil)
}

func (e *entry) halfLive(now time.Time) bool { return len(e.half) > 0 && now.Before(e.until) }

// expire drops what has lapsed at now, reporting whether anything did.
func (e *entry) expire(now time.Time) bool {
	changed := false
	if len(e.half) > 0 && !e.halfLive(now) {
		clear(e.half)
		e.half, e.until, changed = nil, time.Time{}, true
	}
	if !e.asleepUntil.IsZero() && !e.asleep(now) {
		e.asleepUntil, changed = time.Time{}, true
	}
	return changed
}

// empty reports whether nothing is left to keep.
func (e *entry) empty() bool { return len(e.half) == 0 && e.asleepUntil.IsZero() }

// record is an entry as stored: canonical CBOR.
type record struct {
	Handle      string `cbor:"1,keyasint"`
	Half        []byte `cbor:"2,keyasint,omitempty"`
	Until       int64  `cbor:"3,keyasint,omitempty"`
	AsleepUntil int64  `cbor:"4,keyasint,omitempty"`
}

func (e *entry) marshal() ([]byte, error) {
	r := record{Handle: string(e.handle), Half: e.half}
	if len(e.half) > 0 {
		r.Until = e.until.Unix()
	}
	if !e.asleepUntil.IsZero() {
		r.AsleepUntil = e.asleepUntil.Unix()
	}
	return wire.Marshal(r)
}

// parseRecord decodes a stored entry with the rules a hibernate request
// follows.
func parseRecord(b []byte) (*entry, error) {
	var r record
	if err := wire.UnmarshalCanonical(b, &r); err != nil {
		return nil, err
	}
	h, err := directory.ParseHandle(r.Handle)
	if err != nil {
		return nil, err
	}
	if len(r.Half) > MaxHalfBytes || (len(r.Half) > 0) != (r.Until > 0) || r.Until < 0 || r.AsleepUntil < 0 {
		return nil, errors.New("a stored wake entry breaks its rules")
	}
	e := &entry{handle: h, half: r.Half}
	if r.Until > 0 {
		e.until = time.Unix(r.Until, 0).UTC()
	}
	if r.AsleepUntil > 0 {
		e.asleepUntil = time.Unix(r.AsleepUntil, 0).UTC()
	}
	if e.empty() {
		return nil, errors.New("a stored wake entry holds nothing")
	}
	return e, nil
}

func entryKey(owner peer.ID) ds.Key { return ds.NewKey("/" + owner.String()) }

func ownerOfKey(k string) (peer.ID, error) {
	id, err := keys.DecodePeerID(strings.TrimPrefix(k, "/"))
	if err != nil {
		return "", fmt.Errorf("a stored wake entry's key is not a peer ID")
	}
	return id, nil
}

// load reads every stored entry. An entry that does not parse is deleted
// and counted, never logged with its bytes (it may hold a sealed half).
func load(ctx context.Context, store ds.Datastore) (map[peer.ID]*entry, int, error) {
	res, err := store.Query(ctx, query.Query{})
	if err != nil {
		return nil, 0, err
	}
	defer res.Close()
	out := map[peer.ID]*entry{}
	var bad []string
	for r := range res.Next() {
		if r.Error != nil {
			return nil, 0, r.Error
		}
		owner, err := ownerOfKey(r.Key)
		if err != nil {
			bad = append(bad, r.Key)
			continue
		}
		e, err := parseRecord(r.Value)
		if err != nil {
			bad = append(bad, r.Key)
			continue
		}
		out[owner] = e
	}
	for _, k := range bad {
		if err := store.Delete(ctx, ds.NewKey(k)); err != nil {
			return nil, 0, err
		}
	}
	return out, len(bad), nil
}
