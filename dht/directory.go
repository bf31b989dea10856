package dht

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/protocols/directory"
)

// DefaultMaxRecords bounds the directory: peer keys are free to make, so the
// number of owners must be capped somewhere; 100k records × ≤2.7 KiB ≈ 270 MiB.
const DefaultMaxRecords = 100_000

// DefaultMaxDecoys bounds the memory of decoys handed out (below): as
// many as records, about 100 bytes each.
const DefaultMaxDecoys = 100_000

// DirectoryConfig configures a Directory. The zero value works.
type DirectoryConfig struct {
	// Now defaults to time.Now; records issued more than
	// directory.MaxClockSkew after it are refused.
	Now func() time.Time
	// MaxRecords defaults to DefaultMaxRecords.
	MaxRecords int
	// Logger defaults to discarding.
	Logger *slog.Logger
	// MaxDecoys bounds the decoys remembered for lookup-peer and mail
	// (below); default DefaultMaxDecoys.
	MaxDecoys int
	// Rand defaults to crypto/rand; it makes the decoy secret on first open.
	Rand io.Reader
}

// Directory stores signed directory records in a datastore:
//
//	/handle/<handle> → the signed envelope, exactly as received
//	/peer/<peer ID>  → the handle that peer owns
//	/decoy/secret    → the decoy secret (below), made on first open
//	/decoy/relays/<unix ns, 20 digits> → the relays decoys name from then on
//	/decoy/kept/<slot, 8 hex digits>   → a decoy handed out (SaveDecoys)
//
// Each owner (peer ID) holds at most one handle. The first valid claim of a
// handle wins; after that only the owner's key may replace it, with a higher
// sequence number. An owner publishing under a new handle releases the old.
// Directory implements directory.Records, as a stranger sees it: Lookup
// and LookupPeer answer a handle nobody holds with its decoy (below).
// Owns and Registration are the truth, for admission decisions.
type Directory struct {
	ds    datastore.Batching
	cfg   DirectoryConfig
	mu    sync.Mutex // serialises check-then-write in Publish
	count int
	decoys
}

var _ directory.Records = (*Directory)(nil)

// NewDirectory opens the directory over ds (a namespaced view is expected;
// Bootstrap uses /directory).
func NewDirectory(ctx context.Context, ds datastore.Batching, cfg DirectoryConfig) (*Directory, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxDecoys <= 0 {
		cfg.MaxDecoys = DefaultMaxDecoys
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	d := &Directory{ds: ds, cfg: cfg}
	if err := d.openDecoys(ctx); err != nil {
		return nil, err
	}
	res, err := ds.Query(ctx, query.Query{Prefix: "/peer", KeysOnly: true})
	if err != nil {
		return nil, fmt.Errorf("dht: counting directory records: %w", err)
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return nil, fmt.Errorf("dht: counting directory records: %w", r.Error)
		}
		d.count++
	}
	return d, nil
}

func handleKey(h directory.Handle) datastore.Key { return datastore.NewKey("/handle/" + string(h)) }
func peerKey(id peer.ID) datastore.Key           { return datastore.NewKey("/peer/" + id.String()) }

// Publish verifies sr and stores it if it wins: see the type comment.
func (d *Directory) Publish(ctx context.Context, sr *directory.SignedRecord) error {
	_, err := d.Apply(ctx, sr)
	return err
}

// Change is what a publish did or, refused, would have done. Peer and
// Handle are set once the record's signature verified.
type Change struct {
	Peer   peer.ID
	Handle directory.Handle
	// Old is the handle the peer held before ("" for a first record);
	// when it differs from Handle, Old was released.
	Old directory.Handle
	// New says this is the peer's first record: it registered.
	New bool
}

// Apply is Publish, reporting what changed (the bootstrap audits it).
func (d *Directory) Apply(ctx context.Context, sr *directory.SignedRecord) (Change, error) {
	var ch Change
	rec, err := sr.Verify()
	if err != nil {
		return ch, err
	}
	ch.Peer, ch.Handle = rec.Peer, rec.Handle
	if rec.Issued.After(d.cfg.Now().Add(directory.MaxClockSkew)) {
		return ch, directory.ErrFuture
	}
	env, err := sr.Marshal()
	if err != nil {
		return ch, err
	}

	d.mu.Lock()
	defer d.mu.Unlock()

	holder, _, err := d.lookup(ctx, rec.Handle)
	switch {
	case errors.Is(err, directory.ErrNotFound):
	case err != nil:
		return ch, err
	case holder.Peer != rec.Peer:
		return ch, directory.ErrHandleTaken
	}
	old, err := d.byPeer(ctx, rec.Peer)
	isNew := errors.Is(err, directory.ErrNotFound)
	if err != nil && !isNew {
		return ch, err
	}
	ch.New = isNew
	if !isNew {
		ch.Old = old.Handle
	}
	if !isNew && rec.Seq <= old.Seq {
		return ch, directory.ErrStale
	}
	if isNew && d.count >= d.cfg.MaxRecords {
		return ch, directory.ErrStoreFull
	}

	b, err := d.ds.Batch(ctx)
	if err != nil {
		return ch, err
	}
	if err := b.Put(ctx, handleKey(rec.Handle), env); err != nil {
		return ch, err
	}
	if err := b.Put(ctx, peerKey(rec.Peer), []byte(rec.Handle)); err != nil {
		return ch, err
	}
	if !isNew && old.Handle != rec.Handle {
		if err := b.Delete(ctx, handleKey(old.Handle)); err != nil {
			return ch, err
		}
	}
	if err := b.Commit(ctx); err != nil {
		return ch, fmt.Errorf("dht: storing record: %w", err)
	}
	if isNew {
		d.count++
	}
	d.dmu.Lock()
	if !isNew {
		d.census.remove(old.Relays)
	}
	d.census.add(rec.Relays)
	d.dmu.Unlock()
	released := directory.Handle("")
	if !isNew && old.Handle != rec.Handle {
		released = old.Handle
	}
	d.sampled(rec.Handle, released, rec.Peer)
	if isNew || old.Handle != rec.Handle {
		// The handle has an owner now: its decoy, if one was handed out,
		// is gone (lookup-peer and mail answer for it no more), as a
		// released handle's old owner would be.
		if dec, err := d.decoy(ctx, rec.Handle); err == nil {
			d.forget(dec)
		}
	}
	return ch, nil
}

// lookup reads and re-verifies the record stored for a handle.
func (d *Directory) lookup(ctx context.Context, h directory.Handle) (*directory.Record, *directory.SignedRecord, error) {
	if err := h.Validate(); err != nil {
		return nil, nil, err
	}
	b, err := d.ds.Get(ctx, handleKey(h))
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, nil, directory.ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("dht: reading record: %w", err)
	}
	// Re-verify on read: a damaged or edited store must not serve a record
	// that its owner did not sign.
	sr, rec, err := directory.ParseSignedRecord(b)
	if err != nil {
		return nil, nil, fmt.Errorf("dht: stored record for %q is invalid: %v", h, err)
	}
	if rec.Handle != h {
		return nil, nil, fmt.Errorf("dht: stored record for %q names %q", h, rec.Handle)
	}
	return rec, sr, nil
}

func (d *Directory) byPeer(ctx context.Context, id peer.ID) (*directory.Record, error) {
	rec, _, err := d.lookupPeer(ctx, id)
	return rec, err
}

func (d *Directory) lookupPeer(ctx context.Context, id peer.ID) (*directory.Record, *directory.SignedRecord, error) {
	b, err := d.ds.Get(ctx, peerKey(id))
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, nil, directory.ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("dht: reading peer index: %w", err)
	}
	rec, sr, err := d.lookup(ctx, directory.Handle(b))
	if err != nil {
		return nil, nil, err
	}
	if rec.Peer != id {
		return nil, nil, fmt.Errorf("dht: peer index for %s points at %s's record", id, rec.Peer)
	}
	return rec, sr, nil
}

// Lookup returns the signed record for a handle or, when nobody holds
// the handle, its decoy (below): what the protocol answers anyone.
// It never returns directory.ErrNotFound for a valid handle.
func (d *Directory) Lookup(ctx context.Context, h directory.Handle) (*directory.SignedRecord, error) {
	return d.answer(ctx, h)
}

// LookupPeer returns the signed record a peer owns, or the decoy a
// Lookup handed out under that peer ID while it is remembered, else
// directory.ErrNotFound: what the protocol answers anyone.
func (d *Directory) LookupPeer(ctx context.Context, id peer.ID) (*directory.SignedRecord, error) {
	return d.answerPeer(ctx, id)
}

// Registration returns the signed record a peer owns, never a decoy, or
// directory.ErrNotFound: the bootstrap vouches for a peer to relays
// with it (protocols/relayaccess).
func (d *Directory) Registration(ctx context.Context, id peer.ID) (*directory.SignedRecord, error) {
	_, sr, err := d.lookupPeer(ctx, id)
	return sr, err
}

// Resolve returns the verified record for a handle (local callers).
func (d *Directory) Resolve(ctx context.Context, h directory.Handle) (*directory.Record, error) {
	rec, _, err := d.lookup(ctx, h)
	return rec, err
}

// Registered reports whether the directory answers for id: it owns a
// handle, or it is a decoy a Lookup handed out and the directory still
// remembers. The mailboxes take mail for such a peer (a stranger must not
// tell a decoy from a real recipient by a refused put). A decoy's key is
// the bootstrap's secret, so nobody can act as one; still, decisions
// about who may do something use Owns. A storage error counts as not
// registered (fail closed).
func (d *Directory) Registered(id peer.ID) bool {
	owns := d.Owns(id)
	decoy := d.recall(id) != ""
	return owns || decoy
}

// Owns reports whether id owns a handle: never true of a decoy. The
// bootstrap admits revocations rooted at such peers. A storage error
// counts as not (fail closed).
func (d *Directory) Owns(id peer.ID) bool {
	ok, err := d.ds.Has(context.Background(), peerKey(id))
	return err == nil && ok
}

// Len returns the number of records.
func (d *Directory) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count
}
