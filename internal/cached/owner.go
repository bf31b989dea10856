package cached

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	protosnap "github.com/ocmt/mesh/protocols/snapshot"
	"github.com/ocmt/mesh/vault"
)

// SealFunc seals src as a snapshot with the owner's key (the node's
// signer: it refuses while the vault is locked).
type SealFunc func(ctx context.Context, src []byte, opt snapshot.Options, sink snapshot.BlockSink) (*snapshot.Sealed, error)

// OwnerConfig is what an Owner uses of its node.
type OwnerConfig struct {
	Host  host.Host
	Store ds.Datastore // the owner's push records (a namespace of the node's store)
	Seal  SealFunc
	// Read reads one of the owner's resources, audited as a snapshot.
	Read func(ctx context.Context, path string) ([]byte, error)
	// Resources lists the owner's resource paths.
	Resources func(ctx context.Context) ([]string, error)
	// Shares lists the shares the owner issued, with their states.
	Shares func(ctx context.Context) ([]localapi.Grant, error)
	// Caches are the relays that hold a reservation for the node now.
	Caches func() []peer.ID
	// Unlocked returns vault.ErrLocked while the vault is locked.
	Unlocked func() error
	// Lifetime of a manifest. Default DefaultLifetime.
	Lifetime time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
}

// Owner keeps the cached copies of what its node shares (doc.go "Owner").
type Owner struct {
	cfg OwnerConfig

	pushMu sync.Mutex // one push at a time: versions and records stay in order

	mu      sync.Mutex
	pending map[string]bool // patterns; "" is everything shared
	wake    chan struct{}
}

// NewOwner returns an Owner; Run does its background work.
func NewOwner(cfg OwnerConfig) *Owner {
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Owner{cfg: cfg, pending: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// ErrNoCache means no relay holds a reservation for the node yet, so
// there is nowhere to push.
var ErrNoCache = errors.New("no relay holds a reservation for this node yet, so there is no cache to push to")

// Changed asks for the resources pattern covers (a path or a share's
// pattern; "" for everything shared) to be pushed again, in the
// background.
func (o *Owner) Changed(pattern string) {
	o.mu.Lock()
	if len(o.pending) >= maxPending {
		clear(o.pending)
		pattern = ""
	}
	o.pending[pattern] = true
	o.mu.Unlock()
	o.Kick()
}

// Kick makes Run look at pending work now (the vault was unlocked, a
// reservation came back).
func (o *Owner) Kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Pending reports whether pushes are waiting.
func (o *Owner) Pending() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending) > 0
}

// Run pushes pending work and refreshes manifests past half their life
// until ctx ends; a signal on kicks (a reservation taken) is a Kick.
func (o *Owner) Run(ctx context.Context, kicks <-chan struct{}) {
	t := time.NewTicker(RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-kicks:
		case <-t.C:
			o.markStale(ctx)
		}
		o.Flush(ctx)
	}
}

// Flush pushes whatever is pending now; what still cannot be pushed (the
// vault is locked, no relay) stays pending.
func (o *Owner) Flush(ctx context.Context) error {
	if o.cfg.Unlocked() != nil || len(o.cfg.Caches()) == 0 {
		return nil
	}
	o.mu.Lock()
	todo := make([]string, 0, len(o.pending))
	for p := range o.pending {
		todo = append(todo, p)
	}
	clear(o.pending)
	o.mu.Unlock()
	if slices.Contains(todo, "") {
		todo = []string{""}
	}
	var errs []error
	for _, p := range todo {
		rep, err := o.Push(ctx, p)
		if err == nil && rep.transient() {
			err = rep.Err()
		}
		if err != nil {
			o.cfg.Logger.Info("snapshot push failed; will retry", "pattern", p, "err", err)
			o.mu.Lock()
			o.pending[p] = true
			o.mu.Unlock()
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// markStale queues the resources whose manifest is past half its life.
func (o *Owner) markStale(ctx context.Context) {
	recs, err := o.Status(ctx)
	if err != nil {
		return
	}
	now := o.cfg.Now()
	for _, r := range recs {
		if now.After(r.Created.Add(r.Expiry.Sub(r.Created) / 2)) {
			o.Changed(r.Resource)
		}
	}
}

// Report is what one Push did.
type Report struct {
	Resources []Record
}

// Err is the first relay's refusal in the report, or nil.
func (r Report) Err() error {
	for _, rec := range r.Resources {
		for _, c := range rec.Caches {
			if c.Err != "" {
				return fmt.Errorf("pushing %s to %s: %s", rec.Resource, c.Relay, c.Err)
			}
		}
	}
	return nil
}

// transient reports whether a relay failed for a reason other than a
// refusal (unreachable, reset): worth trying again. A refusal (too large
// for its cache, not served there) stands until something changes, which
// queues the resource again anyway.
func (r Report) transient() bool {
	for _, rec := range r.Resources {
		for _, c := range rec.Caches {
			if c.Err != "" && !c.refused {
				return true
			}
		}
	}
	return false
}

// Push seals and pushes, to every relay that holds a reservation for the
// node, each resource pattern covers ("" for all) that an active share
// allows reading, or that was cached before (it is resealed to those who
// may still read it, perhaps the owner alone).
func (o *Owner) Push(ctx context.Context, pattern string) (Report, error) {
	o.pushMu.Lock()
	defer o.pushMu.Unlock()
	var pat capability.Pattern
	if pattern != "" {
		var err error
		if pat, err = capability.ParsePattern(pattern); err != nil {
			return Report{}, fmt.Errorf("%q is not a resource pattern (such as calendar/* or files/report.pdf): %w", pattern, err)
		}
	}
	if err := o.cfg.Unlocked(); err != nil {
		return Report{}, err
	}
	caches := o.cfg.Caches()
	if len(caches) == 0 {
		return Report{}, ErrNoCache
	}
	names, err := o.cfg.Resources(ctx)
	if err != nil {
		return Report{}, err
	}
	shares, err := o.cfg.Shares(ctx)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	if err := o.forgetDeleted(ctx, pat, names); err != nil {
		return rep, err
	}
	for _, name := range names {
		p := capability.ResourcePath(name)
		if pat != "" && !pat.Match(p) {
			continue
		}
		readers := readersOf(shares, p)
		prev, err := o.record(ctx, name)
		if err != nil {
			return rep, err
		}
		if len(readers) == 0 && prev == nil {
			continue // not shared, never cached
		}
		rec, err := o.pushOne(ctx, name, readers, prev, caches)
		if err != nil {
			return rep, err
		}
		rep.Resources = append(rep.Resources, *rec)
	}
	return rep, nil
}

// readersOf are the audiences of the shares, neither revoked nor expired
// (delivered or not yet), that allow reading p.
func readersOf(shares []localapi.Grant, p capability.ResourcePath) []peer.ID {
	var out []peer.ID
	for _, g := range shares {
		if g.Status == meshstate.Revoked || g.Status == meshstate.Expired || !slices.Contains(g.Actions, capability.Read.String()) {
			continue
		}
		if !capability.Pattern(g.Resource).Match(p) {
			continue
		}
		if id, err := peer.Decode(g.Audience); err == nil {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (o *Owner) pushOne(ctx context.Context, name string, readers []peer.ID, prev *Record, caches []peer.ID) (*Record, error) {
	data, err := o.cfg.Read(ctx, name)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, o.Forget(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	now := o.cfg.Now()
	version := uint64(now.UnixNano())
	if prev != nil && version <= prev.Version {
		version = prev.Version + 1
	}
	sink := &memBlocks{}
	sealed, err := o.cfg.Seal(ctx, data, snapshot.Options{Resource: name, Version: version, Readers: readers,
		Created: now, Expiry: now.Add(o.cfg.Lifetime)}, sink)
	clear(data)
	if err != nil {
		return nil, err
	}
	rec := &Record{Resource: name, Version: version, Size: sealed.Manifest.Size, Readers: len(sealed.Manifest.Recipients),
		Created: sealed.Manifest.Created, Expiry: sealed.Manifest.Expiry}
	for _, c := range caches {
		if len(rec.Caches) == MaxCaches {
			break
		}
		pctx, cancel := context.WithTimeout(ctx, PushTimeout)
		err := protosnap.Push(pctx, o.cfg.Host, c, sealed.Signed, sink)
		cancel()
		res := CacheResult{Relay: c, At: o.cfg.Now()}
		if err != nil {
			var we *wire.Error
			res.Err, res.refused = err.Error(), errors.As(err, &we)
			if res.refused && we.Message != "" {
				res.Err = "refused: " + we.Message // the relay's words, for mesh snapshot status
			}
		}
		rec.Caches = append(rec.Caches, res)
	}
	b, err := EncodeRecord(rec)
	if err != nil {
		return nil, err
	}
	if err := o.cfg.Store.Put(ctx, recordKey(name), b); err != nil {
		return nil, err
	}
	return rec, nil
}

// forgetDeleted drops the records, under pat, of resources that are gone.
func (o *Owner) forgetDeleted(ctx context.Context, pat capability.Pattern, names []string) error {
	recs, err := o.Status(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if (pat == "" || pat.Match(capability.ResourcePath(r.Resource))) && !slices.Contains(names, r.Resource) {
			if err := o.Forget(ctx, r.Resource); err != nil {
				return err
			}
		}
	}
	return nil
}

// Forget drops the push record of a deleted resource.
func (o *Owner) Forget(ctx context.Context, name string) error {
	err := o.cfg.Store.Delete(ctx, recordKey(name))
	if errors.Is(err, ds.ErrNotFound) {
		return nil
	}
	return err
}

func (o *Owner) record(ctx context.Context, name string) (*Record, error) {
	b, err := o.cfg.Store.Get(ctx, recordKey(name))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return DecodeRecord(name, b)
}

// Status lists the push records, by resource.
func (o *Owner) Status(ctx context.Context) ([]Record, error) {
	return records(ctx, o.cfg.Store, o.cfg.Logger)
}

// records lists the push records in st, by resource; an unreadable one
// is logged and left out.
func records(ctx context.Context, st ds.Datastore, log *slog.Logger) ([]Record, error) {
	res, err := st.Query(ctx, query.Query{Prefix: "/pushed"})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var out []Record
	for e := range res.Next() {
		if e.Error != nil {
			return nil, e.Error
		}
		name, ok := resourceOfKey(ds.NewKey(e.Key))
		if !ok {
			continue
		}
		r, err := DecodeRecord(name, e.Value)
		if err != nil {
			log.Info("unreadable push record", "resource", name, "err", err)
			continue
		}
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Record) int { return bytes.Compare([]byte(a.Resource), []byte(b.Resource)) })
	return out, nil
}

// memBlocks holds a sealed snapshot's blocks while it is pushed: a
// resource is at most a few MiB (the vault's cap).
type memBlocks struct{ m map[cid.Cid][]byte }

func (s *memBlocks) PutBlock(_ context.Context, c cid.Cid, b []byte) error {
	if s.m == nil {
		s.m = map[cid.Cid][]byte{}
	}
	s.m[c] = bytes.Clone(b)
	return nil
}

func (s *memBlocks) Block(_ context.Context, c cid.Cid) ([]byte, error) {
	b, ok := s.m[c]
	if !ok {
		return nil, fmt.Errorf("block %s not sealed", c)
	}
	return b, nil
}
