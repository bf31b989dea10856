package dht

import (
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// Decoys (protocols/directory doc.go, "Decoys"). A lookup of a handle
// nobody holds answers the handle's decoy: a record signed by a key
// derived from the decoy secret and the handle, naming the relays most
// records name. Every lookup does the same work whichever it answers
// (one datastore read, one decoy derived and signed, one record
// verified), so neither the bytes nor the time tell a stranger which it
// got. The decoys handed out are remembered in MaxDecoys slots, so that
// lookup-peer and mailbox-put answer for them as for a real peer.

const (
	decoySecretKey = "/decoy/secret"
	decoyRelaysKey = "/decoy/relays"
	// decoyRelaysEvery bounds how often the relays decoys name change
	// (one datastore write each).
	decoyRelaysEvery = time.Hour
	// maxCensus bounds the distinct relay lists counted.
	maxCensus = 1024
	// maxSample bounds the handles balance draws from.
	maxSample = 1024
	// decoyAbsentKey is never written: balance reads it as a miss.
	decoyAbsentKey = "/decoy/absent"
)

// decoys is the Directory's decoy state.
type decoys struct {
	maker *directory.DecoyMaker
	dmu   sync.Mutex // guards kept, shadow, sink, census and snaps
	// kept remembers the decoys handed out; shadow is its twin for the
	// lookups that found a real record (remember).
	kept, shadow decoyMemory
	sink         directory.Handle
	// sample and holders are handles of records and their owners, for
	// balance.
	sample  []directory.Handle
	holders map[directory.Handle]peer.ID
	// census counts the relay lists the records name; its mode is what
	// decoys name.
	census census
	// snaps are the relay lists decoys name, each from its time on,
	// oldest first: a decoy names the list in force at its issued time,
	// so its bytes change only when it is (notionally) republished.
	snaps []relaySnap
}

type decoySlot struct {
	peer   peer.ID
	handle directory.Handle
	slot   uint64 // the decoy's secret slot number
}

type relaySnap struct {
	from   time.Time
	key    string
	relays []ma.Multiaddr
	// before: made while the directory held no record (in memory only:
	// after a restart the first snapshot stands).
	before bool
}

// openDecoys loads (or makes) the secret, the relay snapshots and the census.
func (d *Directory) openDecoys(ctx context.Context) error {
	secret, err := d.ds.Get(ctx, datastore.NewKey(decoySecretKey))
	if errors.Is(err, datastore.ErrNotFound) {
		secret = make([]byte, directory.DecoySecretSize)
		if _, err := io.ReadFull(d.cfg.Rand, secret); err != nil {
			return fmt.Errorf("dht: making the decoy secret: %w", err)
		}
		if err := d.ds.Put(ctx, datastore.NewKey(decoySecretKey), secret); err != nil {
			return fmt.Errorf("dht: storing the decoy secret: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("dht: reading the decoy secret: %w", err)
	}
	// NewDecoyMaker copies the secret; secret itself is not wiped, since
	// a datastore may hand out (and keep) the very slice it stores.
	d.maker, err = directory.NewDecoyMaker(secret)
	if err != nil {
		return fmt.Errorf("dht: the stored decoy secret is damaged (%d bytes)", len(secret))
	}
	d.kept, d.shadow = newDecoyMemory(d.cfg.MaxDecoys), newDecoyMemory(d.cfg.MaxDecoys)
	d.holders = map[directory.Handle]peer.ID{}
	d.census = census{}
	if err := d.scanValues(ctx, decoyRelaysKey, func(k string, v []byte) {
		from, relays, err := decodeRelaySnap(k, v)
		if err != nil {
			d.cfg.Logger.Warn("skipping a damaged decoy relay list", "key", k, "err", err)
			return
		}
		d.snaps = append(d.snaps, relaySnap{from: from, key: relayKey(relays), relays: relays})
	}); err != nil {
		return err
	}
	if err := d.scanValues(ctx, decoyKeptKey, func(k string, v []byte) {
		e, err := decodeKept(v)
		if err != nil {
			d.cfg.Logger.Warn("skipping a damaged remembered decoy", "key", k, "err", err)
			return
		}
		d.kept.place(e)
	}); err != nil {
		return err
	}
	clear(d.kept.dirty)
	if err := d.scanValues(ctx, "/handle", func(_ string, v []byte) {
		var sr directory.SignedRecord
		if wire.UnmarshalCanonical(v, &sr) != nil {
			return
		}
		if rec, err := sr.Unverified(); err == nil {
			d.census.add(rec.Relays)
			d.sampled(rec.Handle, "", rec.Peer)
		}
	}); err != nil {
		return err
	}
	if len(d.snaps) == 1 && len(d.snaps[0].relays) == 0 && len(d.census.n) == 0 {
		d.snaps[0].before = true
	}
	d.decoyRelays(ctx, d.cfg.Now(), d.cfg.Now()) // the first snapshot, if none
	return nil
}

func (d *Directory) scanValues(ctx context.Context, prefix string, fn func(key string, v []byte)) error {
	res, err := d.ds.Query(ctx, query.Query{Prefix: prefix, Orders: []query.Order{query.OrderByKey{}}})
	if err != nil {
		return fmt.Errorf("dht: reading %s: %w", prefix, err)
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return fmt.Errorf("dht: reading %s: %w", prefix, r.Error)
		}
		fn(r.Key, r.Value)
	}
	return nil
}

// decoy derives h's decoy as of now, naming the relays in force at its
// issued time.
func (d *Directory) decoy(ctx context.Context, h directory.Handle) (*directory.Decoy, error) {
	now := d.cfg.Now()
	relays := d.decoyRelays(ctx, d.maker.Issued(h, now), now)
	return d.maker.Make(h, relays, now)
}

// decoyRelays returns the relays a decoy issued at t names, first taking
// a new snapshot of the census's mode when it changed and the last is
// decoyRelaysEvery old (the new one holds for decoys issued from now on,
// never for one already handed out).
func (d *Directory) decoyRelays(ctx context.Context, t, now time.Time) []ma.Multiaddr {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	mode, key := d.census.mode()
	n := len(d.snaps)
	switch {
	case n == 0:
		d.snaps = append(d.snaps, d.storeSnap(ctx, now, mode))
		d.snaps[0].before = len(d.census.n) == 0
	case d.snaps[n-1].key == key:
	case n == 1 && d.snaps[0].before:
		// Decoys named no relays only because no record did yet (a new
		// bootstrap): replace that, keeping its time, so they do not
		// look relay-less for weeks. Nobody was there to hide.
		d.snaps[0] = d.storeSnap(ctx, d.snaps[0].from, mode)
		d.snaps[0].before = len(d.census.n) == 0
	case now.Sub(d.snaps[n-1].from) >= decoyRelaysEvery:
		d.snaps = append(d.snaps, d.storeSnap(ctx, now, mode))
	}
	pick := d.snaps[0].relays
	for _, s := range d.snaps {
		if s.from.After(t) {
			break
		}
		pick = s.relays
	}
	return pick
}

func (d *Directory) storeSnap(ctx context.Context, from time.Time, relays []ma.Multiaddr) relaySnap {
	if v, err := encodeRelaySnap(relays); err == nil {
		k := fmt.Sprintf("%s/%020d", decoyRelaysKey, from.UnixNano())
		if err := d.ds.Put(ctx, datastore.NewKey(k), v); err != nil {
			d.cfg.Logger.Warn("storing the decoys' relays failed", "err", err)
		}
	}
	return relaySnap{from: from, key: relayKey(relays), relays: relays}
}

// balance makes the store reads of a lookup the same on both paths: a
// lookup that found a record reads a key nobody holds (as a decoy's
// lookup did), and a decoy's reads a stored record's key (as a real
// lookup did), that of a handle drawn from a sample of the records, so
// that it is as likely to be cold in the store's caches.
func (d *Directory) balance(ctx context.Context, real bool, key func(directory.Handle) datastore.Key) {
	h := directory.Handle("")
	d.dmu.Lock()
	if n := len(d.sample); n > 0 {
		h = d.sample[mrand.IntN(n)]
	}
	d.dmu.Unlock()
	k := key(h) // on both paths: making a key costs (a peer ID in base58)
	if real || h == "" {
		k = datastore.NewKey(decoyAbsentKey)
	}
	_, _ = d.ds.Get(ctx, k)
}

// holder is the peer ID a sampled handle's peer index entry is under,
// remembered with the sample; "" when unknown (the read then misses).
func (d *Directory) holder(h directory.Handle) peer.ID {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	return d.holders[h]
}

// sampled keeps a sample of at most maxSample handles and their
// holders for balance: a new handle joins (replacing a random one when
// full), a released one leaves.
func (d *Directory) sampled(h, released directory.Handle, holder peer.ID) {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	if released != "" {
		if i := slices.Index(d.sample, released); i >= 0 {
			delete(d.holders, released)
			d.sample[i] = d.sample[len(d.sample)-1]
			d.sample = d.sample[:len(d.sample)-1]
		}
	}
	if _, ok := d.holders[h]; ok {
		return
	}
	if len(d.sample) < maxSample {
		d.sample = append(d.sample, h)
	} else {
		i := mrand.IntN(len(d.sample))
		delete(d.holders, d.sample[i])
		d.sample[i] = h
	}
	d.holders[h] = holder
}

// answer is Lookup: the stored record or the decoy, with the same work
// either way.
func (d *Directory) answer(ctx context.Context, h directory.Handle) (*directory.SignedRecord, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	stored, err := d.ds.Get(ctx, handleKey(h))
	real := err == nil
	if err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return nil, fmt.Errorf("dht: reading record: %w", err)
	}
	d.balance(ctx, real, handleKey)
	dec, err := d.decoy(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("dht: deriving a decoy: %w", err)
	}
	env := dec.Envelope
	if real {
		env = stored
	}
	// Re-verify on read (a damaged or edited store must not serve a
	// record its owner did not sign); a decoy is verified too, for the
	// same work.
	sr, rec, err := directory.ParseSignedRecord(env)
	d.remember(dec, !real)
	if err != nil || rec.Handle != h {
		return nil, fmt.Errorf("dht: the record for %q is invalid (%v)", h, err)
	}
	return sr, nil
}

// answerPeer is LookupPeer: the owner's record or a remembered decoy,
// with the same work either way.
func (d *Directory) answerPeer(ctx context.Context, id peer.ID) (*directory.SignedRecord, error) {
	b, err := d.ds.Get(ctx, peerKey(id))
	real := err == nil
	var h directory.Handle
	switch {
	case real:
		h = directory.Handle(b)
		d.recallShadow(id)
	case !errors.Is(err, datastore.ErrNotFound):
		return nil, fmt.Errorf("dht: reading peer index: %w", err)
	default:
		if h = d.recall(id); h == "" {
			return nil, directory.ErrNotFound
		}
	}
	stored, serr := d.ds.Get(ctx, handleKey(h))
	if serr != nil && !errors.Is(serr, datastore.ErrNotFound) {
		return nil, fmt.Errorf("dht: reading record: %w", serr)
	}
	d.balance(ctx, real, func(h directory.Handle) datastore.Key { return peerKey(d.holder(h)) })
	d.balance(ctx, real, handleKey)
	dec, err := d.decoy(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("dht: deriving a decoy: %w", err)
	}
	env := dec.Envelope
	if real {
		if serr != nil {
			return nil, directory.ErrNotFound // the index outlived its record
		}
		env = stored
	}
	sr, rec, err := directory.ParseSignedRecord(env)
	switch {
	case err != nil:
		return nil, fmt.Errorf("dht: the record for %s is invalid (%v)", id, err)
	case !real && serr == nil:
		// The handle has been claimed since the decoy was handed out:
		// the decoy is gone, as a released handle's old owner would be.
		d.forget(dec)
		return nil, directory.ErrNotFound
	case rec.Peer != id:
		return nil, fmt.Errorf("dht: peer index for %s points at %s's record", id, rec.Peer)
	}
	return sr, nil
}

// remember keeps dec in the memory of decoys handed out when keep, and
// otherwise in the shadow memory, of the same size and kind, which
// nothing reads: the two paths do the same work on equally large and
// equally cold memory (a new entry the first time a handle is asked,
// none after), so the time of a lookup does not say which it was.
func (d *Directory) remember(dec *directory.Decoy, keep bool) {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	if keep {
		d.kept.put(dec)
	} else {
		d.shadow.put(dec)
	}
}

// forget drops dec (its handle has a real owner now).
func (d *Directory) forget(dec *directory.Decoy) {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	d.kept.drop(dec.Peer)
}

// recall returns the handle of the remembered decoy with peer ID id, or
// "". With shadow, it asks the shadow memory too, for the same work as
// a caller that found a decoy.
func (d *Directory) recall(id peer.ID) directory.Handle {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	return d.kept.get(id)
}

// recallShadow is recall's twin for a path that found a real record.
func (d *Directory) recallShadow(id peer.ID) {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	d.sink = d.shadow.get(id)
}

// decoyMemory is MaxDecoys slots of decoys, each in the slot its secret
// slot number picks (replacing the one there), and an index by peer ID.
// The slot is secret-derived, so an attacker cannot aim new lookups at
// the slot of a decoy he wants forgotten: he must fill them all.
type decoyMemory struct {
	slots []decoySlot
	index map[peer.ID]int
	// dirty are the slots changed since the last SaveDecoys.
	dirty map[int]struct{}
}

func newDecoyMemory(n int) decoyMemory {
	// The maps never grow: an insert costs the same every time.
	return decoyMemory{slots: make([]decoySlot, n), index: make(map[peer.ID]int, n), dirty: make(map[int]struct{}, n)}
}

// put writes dec to its slot: the same steps whether the slot held it
// already (a repeated lookup) or not (a first one).
func (m *decoyMemory) put(dec *directory.Decoy) {
	m.place(decoySlot{peer: dec.Peer, handle: dec.Handle, slot: dec.Slot})
}

func (m *decoyMemory) place(e decoySlot) {
	i := int(e.slot % uint64(len(m.slots)))
	s := &m.slots[i]
	delete(m.index, s.peer)
	*s = e
	m.index[e.peer] = i
	m.dirty[i] = struct{}{}
}

func (m *decoyMemory) get(id peer.ID) directory.Handle {
	if i, ok := m.index[id]; ok {
		return m.slots[i].handle
	}
	return ""
}

func (m *decoyMemory) drop(id peer.ID) {
	if i, ok := m.index[id]; ok {
		delete(m.index, id)
		m.slots[i] = decoySlot{}
		m.dirty[i] = struct{}{}
	}
}

// keptEntry is a remembered decoy as SaveDecoys stores it, under
// /decoy/kept/<slot index, 8 hex digits>.
type keptEntry struct {
	Peer   []byte `cbor:"1,keyasint"`
	Handle string `cbor:"2,keyasint"`
	Slot   uint64 `cbor:"3,keyasint"`
}

const decoyKeptKey = "/decoy/kept"

// maxKeptEntry bounds a stored entry: a peer ID, a handle, a number.
const maxKeptEntry = 128

// decodeKept reads a stored keptEntry, canonically, and checks it.
func decodeKept(v []byte) (decoySlot, error) {
	if len(v) > maxKeptEntry {
		return decoySlot{}, errors.New("too long")
	}
	var e keptEntry
	if err := wire.UnmarshalCanonical(v, &e); err != nil {
		return decoySlot{}, err
	}
	id, err := keys.PeerIDFromBytes(e.Peer)
	if err != nil {
		return decoySlot{}, err
	}
	h, err := directory.ParseHandle(e.Handle)
	if err != nil {
		return decoySlot{}, err
	}
	return decoySlot{peer: id, handle: h, slot: e.Slot}, nil
}

// SaveDecoys stores the decoys remembered since the last save, in one
// batch (one sync), so that a restarted bootstrap still answers
// lookup-peer and mail for the decoys it handed out (doc.go, "What an
// enumerating caller still learns"). The bootstrap calls it off the
// request path: periodically and when it stops.
func (d *Directory) SaveDecoys(ctx context.Context) error {
	d.dmu.Lock()
	changed := make(map[int]decoySlot, len(d.kept.dirty))
	for i := range d.kept.dirty {
		changed[i] = d.kept.slots[i]
	}
	clear(d.kept.dirty)
	clear(d.shadow.dirty)
	d.dmu.Unlock()
	if len(changed) == 0 {
		return nil
	}
	b, err := d.ds.Batch(ctx)
	if err != nil {
		return err
	}
	for i, e := range changed {
		k := datastore.NewKey(fmt.Sprintf("%s/%08x", decoyKeptKey, i))
		if e.peer == "" {
			err = b.Delete(ctx, k)
		} else {
			var v []byte
			if v, err = wire.Marshal(keptEntry{Peer: []byte(e.peer), Handle: string(e.handle), Slot: e.slot}); err == nil {
				err = b.Put(ctx, k, v)
			}
		}
		if err != nil {
			return err
		}
	}
	if err := b.Commit(ctx); err != nil {
		d.dmu.Lock() // try again next time
		for i := range changed {
			d.kept.dirty[i] = struct{}{}
		}
		d.dmu.Unlock()
		return fmt.Errorf("dht: saving the decoys: %w", err)
	}
	return nil
}

// census counts the distinct relay lists records name (at most
// maxCensus of them; a list first seen past that is not counted).
type census struct {
	n       map[string]*censusEntry
	dirty   bool
	modeKey string
	modeOf  []ma.Multiaddr
}

type censusEntry struct {
	relays []ma.Multiaddr
	count  int
}

// relayKey identifies a relay list, order included.
func relayKey(relays []ma.Multiaddr) string {
	var b []byte
	for _, a := range relays {
		raw := a.Bytes()
		b = append(b, byte(len(raw)>>8), byte(len(raw)))
		b = append(b, raw...)
	}
	return string(b)
}

func (c *census) add(relays []ma.Multiaddr) {
	if c.n == nil {
		c.n = map[string]*censusEntry{}
	}
	k := relayKey(relays)
	e := c.n[k]
	if e == nil {
		if len(c.n) >= maxCensus {
			return
		}
		e = &censusEntry{relays: relays}
		c.n[k] = e
	}
	e.count++
	c.dirty = true
}

func (c *census) remove(relays []ma.Multiaddr) {
	k := relayKey(relays)
	if e := c.n[k]; e != nil {
		if e.count--; e.count <= 0 {
			delete(c.n, k)
		}
		c.dirty = true
	}
}

// mode returns the list most records name (ties: the smallest key), and
// its key; none when there are no records.
func (c *census) mode() ([]ma.Multiaddr, string) {
	if c.dirty {
		best, bestKey := -1, ""
		var relays []ma.Multiaddr
		for k, e := range c.n {
			if e.count > best || e.count == best && k < bestKey {
				best, bestKey, relays = e.count, k, e.relays
			}
		}
		c.modeKey, c.modeOf, c.dirty = bestKey, relays, false
	}
	return c.modeOf, c.modeKey
}

// encodeRelaySnap is the stored form of a decoy relay list: a CBOR array
// of binary multiaddrs.
func encodeRelaySnap(relays []ma.Multiaddr) ([]byte, error) {
	raw := make([][]byte, 0, len(relays))
	for _, a := range relays {
		raw = append(raw, a.Bytes())
	}
	return wire.Marshal(raw)
}

// decodeRelaySnap reads a stored decoy relay list and its key's time,
// holding the list to the rules of a record's relays.
func decodeRelaySnap(key string, v []byte) (time.Time, []ma.Multiaddr, error) {
	var ns int64
	name := datastore.NewKey(key).Name()
	if len(name) != 20 {
		return time.Time{}, nil, errors.New("key is not a 20-digit time")
	}
	if _, err := fmt.Sscanf(name, "%020d", &ns); err != nil || ns <= 0 || fmt.Sprintf("%020d", ns) != name {
		return time.Time{}, nil, errors.New("key is not a 20-digit time")
	}
	if len(v) > directory.MaxRelays*(directory.MaxAddrBytes+3)+1 {
		return time.Time{}, nil, errors.New("too long")
	}
	var raw [][]byte
	if err := wire.UnmarshalCanonical(v, &raw); err != nil {
		return time.Time{}, nil, err
	}
	if len(raw) > directory.MaxRelays {
		return time.Time{}, nil, fmt.Errorf("%d relays", len(raw))
	}
	relays := make([]ma.Multiaddr, 0, len(raw))
	for _, b := range raw {
		a, err := ma.NewMultiaddrBytes(b)
		if err != nil || string(a.Bytes()) != string(b) {
			return time.Time{}, nil, errors.New("not a multiaddr")
		}
		relays = append(relays, a)
	}
	if err := directory.CheckRelays(relays); err != nil {
		return time.Time{}, nil, err
	}
	return time.Unix(0, ns).UTC(), relays, nil
}
