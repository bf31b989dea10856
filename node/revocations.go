package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/ipfs/go-datastore/query"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/revsync"
	"github.com/ocmt/mesh/vault"
)

// OpTokenRevoke is the audit operation for a revocation.
const OpTokenRevoke = "token.revoke"

// revocations is every role's revocation machinery: the persistent set
// (Bloom filter + exact set), the gossipsub topic, the revsync server, and
// a syncer that pulls the set from the infrastructure peers on start, on
// every reconnection and periodically, so a node that was offline during a
// revocation is consistent before it serves again.
type revocations struct {
	set    *revocation.Set
	ps     *pubsub.PubSub
	gossip *revocation.Gossip
	server *revsync.Server
	h      host.Host
	log    *slog.Logger
	// outbox holds the revocations this node signed until an
	// infrastructure peer has taken one by push: gossip alone is lost if
	// the node dies between signing and publishing, and infrastructure
	// peers never pull from home nodes.
	outbox ds.Datastore
	infra  func() []peer.ID // revConfig.syncFrom

	mu      sync.Mutex
	cursors map[peer.ID]revsync.Cursor

	// synced is closed once the set has caught up: after the first
	// successful sync, or firstSyncDeadline after start if no
	// infrastructure peer answered by then.
	synced     chan struct{}
	syncedOnce sync.Once
	syncWait   time.Duration // maxSyncWait; tests shorten it
	deadline   *time.Timer   // marks synced at firstSyncDeadline

	ctx    context.Context // ends at close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// maxSyncWait is how long a request waits for the first sync before it is
// refused with Unavailable (the caller retries); firstSyncDeadline is when
// a node whose infrastructure peers do not answer serves anyway, with the
// set it persisted.
const (
	maxSyncWait       = 5 * time.Second
	firstSyncDeadline = 20 * time.Second
)

func (r *revocations) markSynced() { r.syncedOnce.Do(func() { close(r.synced) }) }

func (r *revocations) isSynced() bool {
	select {
	case <-r.synced:
		return true
	default:
		return false
	}
}

// ready is share.Config.Ready: it returns once the set has caught up with
// the infrastructure peers, or refuses after maxSyncWait.
func (r *revocations) ready(ctx context.Context) error {
	if r.isSynced() {
		return nil
	}
	t := time.NewTimer(r.syncWait)
	defer t.Stop()
	select {
	case <-r.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return wire.Errorf(wire.Unavailable, "catching up on revocations after a restart; retry shortly")
	}
}

// revConfig is what a role's revocation machinery needs.
type revConfig struct {
	host   host.Host
	budget *revocation.Budget // the one whose gater the host was built with
	store  ds.Batching        // the set lives under /revocations in it
	log    *slog.Logger
	// bootstrap turns on gossipsub peer exchange.
	bootstrap bool
	// syncFrom lists the peers to pull revsync from (nil: none).
	syncFrom func() []peer.ID
	// admit filters records (infrastructure peers keep only those whose
	// root issuer is in the directory); nil admits all.
	admit func(*revocation.Revocation) error
	// onAdd sees each new record once in force (revocation.Config.OnAdd).
	onAdd func(*revocation.Revocation)
}

// revocationStore is where a role's revocation set lives in its store.
func revocationStore(store ds.Batching) ds.Batching {
	return namespace.Wrap(store, ds.NewKey("/revocations"))
}

// startRevocations opens the set, joins the gossip topic and serves revsync.
func startRevocations(ctx context.Context, cfg revConfig) (*revocations, error) {
	h, budget, log := cfg.host, cfg.budget, cfg.log
	set, err := revocation.Open(ctx, revocation.Config{Datastore: revocationStore(cfg.store),
		Logger: log, Admit: cfg.admit, OnAdd: cfg.onAdd})
	if err != nil {
		return nil, err
	}
	r := &revocations{set: set, h: h, log: log, cursors: map[peer.ID]revsync.Cursor{},
		outbox: namespace.Wrap(cfg.store, ds.NewKey("/revoutbox")), infra: cfg.syncFrom,
		synced: make(chan struct{}), syncWait: maxSyncWait}
	budget.OnAbuse = func(p peer.ID) {
		log.Warn("cutting off a peer that sent forged revocations", "peer", p)
		revocation.CutOff(h, p)
	}
	opts := append(revocation.PubSubOptions(budget), pubsub.WithPeerExchange(cfg.bootstrap))
	if r.ps, err = pubsub.NewGossipSub(context.Background(), h, opts...); err != nil {
		set.Close()
		return nil, fmt.Errorf("starting gossipsub: %w", err)
	}
	if r.gossip, err = revocation.JoinGossip(r.ps, h.ID(), set, revocation.GossipConfig{Logger: log, Budget: budget}); err != nil {
		set.Close()
		return nil, err
	}
	if r.server, err = revsync.NewServer(h, set, revsync.ServerConfig{Logger: log, Accept: r.gossip.Publish}); err != nil {
		r.gossip.Close()
		set.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	r.ctx, r.cancel = sctx, cancel
	if r.infra == nil {
		r.markSynced()
	} else {
		r.deadline = time.AfterFunc(firstSyncDeadline, r.markSynced)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.syncLoop(sctx)
		}()
	}
	return r, nil
}

// syncLoop pulls the set from each infrastructure peer at start, whenever
// the connection to one comes back, and every two minutes (every second
// until the first sync succeeds).
func (r *revocations) syncLoop(ctx context.Context) {
	last := map[peer.ID]network.Connectedness{}
	next := time.Now()
	for {
		ps := r.infra()
		if len(ps) == 0 {
			r.markSynced() // no infrastructure to catch up with: our own set is all there is
		}
		for _, p := range ps {
			c := r.h.Network().Connectedness(p)
			reconnected := c == network.Connected && last[p] != network.Connected
			last[p] = c
			if reconnected || time.Now().After(next) {
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				if err := r.syncFrom(sctx, p); err != nil {
					r.log.Debug("revocation sync failed", "peer", p, "err", err)
				} else {
					r.markSynced()
					r.flushOutbox(sctx, p)
				}
				cancel()
			}
		}
		if time.Now().After(next) {
			next = time.Now().Add(2 * time.Minute)
			if !r.isSynced() {
				next = time.Now().Add(time.Second) // not caught up yet: try again soon
			}
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			return
		}
	}
}

// syncFrom pulls what p has that we lack.
func (r *revocations) syncFrom(ctx context.Context, p peer.ID) error {
	r.mu.Lock()
	cur := r.cursors[p]
	r.mu.Unlock()
	cur, st, err := revsync.Sync(ctx, r.h, p, r.set, cur)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.cursors[p] = cur
	r.mu.Unlock()
	if st.Added > 0 {
		r.log.Info("revocations synced", "peer", p, "added", st.Added)
	}
	return nil
}

// post records rev in the outbox (before it is gossiped), so it reaches
// the infrastructure even if this node stops before gossip carries it.
func (r *revocations) post(ctx context.Context, rev *revocation.Revocation) error {
	id := rev.ID()
	return r.outbox.Put(ctx, ds.NewKey(hex.EncodeToString(id[:])), rev.Bytes())
}

// flushOutbox pushes every outbox record to infrastructure peer p and
// drops those p took. Records that no longer parse or whose token expired
// are dropped too: there is nothing left to tell.
func (r *revocations) flushOutbox(ctx context.Context, p peer.ID) {
	res, err := r.outbox.Query(ctx, query.Query{})
	if err != nil {
		return
	}
	entries, _ := res.Rest()
	for _, e := range entries {
		rev, err := revocation.Parse(e.Value)
		if err == nil {
			err = revsync.Push(ctx, r.h, p, rev)
			if err != nil && !errors.Is(err, wire.Expired) {
				r.log.Debug("pushing a revocation to the infrastructure failed; will retry", "peer", p, "err", err)
				continue
			}
		}
		r.outbox.Delete(ctx, ds.NewKey(e.Key))
	}
}

// flushAll flushes the outbox to every infrastructure peer.
func (r *revocations) flushAll() {
	if r.infra == nil {
		return
	}
	for _, p := range r.infra() {
		ctx, cancel := context.WithTimeout(r.ctx, 15*time.Second)
		r.flushOutbox(ctx, p)
		cancel()
	}
}

func (r *revocations) close() {
	if r == nil {
		return
	}
	r.cancel()
	r.wg.Wait()
	if r.deadline != nil {
		r.deadline.Stop()
	}
	r.server.Close()
	r.gossip.Close()
	r.set.Close()
}

// Revoke implements localapi.Backend: `mesh revoke SHARE_ID` (a share this
// node issued, by its ID or a unique prefix) or `mesh revoke --token TEXT`
// (a token received by delegation, or any token whose chain this node
// issued a link of). The revocation is signed, added to the local set and
// gossiped; everything delegated from the token dies with it.
func (l *Local) Revoke(ctx context.Context, shareOrToken string) (string, error) {
	if l.rev == nil {
		return "", ErrNeedsNode
	}
	if l.vault.Locked() {
		return "", vault.ErrLocked
	}
	tok, err := l.findToken(ctx, shareOrToken)
	if err != nil {
		return "", err
	}
	rev, err := revocation.New(&l.peer, tok, time.Now())
	if err != nil {
		return "", err
	}
	e := vault.AuditEntry{Actor: l.actor, Op: OpTokenRevoke, Target: tok.ID().Short(), Outcome: vault.OutcomeOK,
		Detail: fmt.Sprintf("%s for %s until %s", tok.Resource(), tok.Audience(), tok.Expiry().UTC().Format(time.RFC3339))}
	if err := l.vault.Audit(ctx, e); err != nil {
		return "", errors.Join(errors.New("not revoked"), err)
	}
	if err := l.rev.post(ctx, rev); err != nil {
		return "", errors.Join(errors.New("not revoked"), err)
	}
	if _, err := l.rev.set.Add(ctx, rev); err != nil {
		return "", err
	}
	if err := l.rev.gossip.Publish(ctx, rev); err != nil {
		l.log.Warn("gossiping the revocation failed; the infrastructure gets it by push", "err", err)
	}
	l.rev.wg.Add(1)
	go func() { // and by push, now, so no gossip mesh is needed at all
		defer l.rev.wg.Done()
		l.rev.flushAll()
	}()
	return tok.ID().String(), nil
}

// RevokedAmong implements localapi.Backend.
func (l *Local) RevokedAmong(_ context.Context, ids []string) ([]string, error) {
	if l.rev == nil {
		return nil, ErrNeedsNode
	}
	if len(ids) > capability.MaxDepth {
		return nil, fmt.Errorf("at most %d token IDs (a chain)", capability.MaxDepth)
	}
	var out []string
	for _, s := range ids {
		id, err := capability.ParseID(s)
		if err != nil {
			return nil, err
		}
		if l.rev.set.IsRevoked(id) {
			out = append(out, s)
		}
	}
	return out, nil
}

// findToken resolves a share ID (or prefix) among issued grants, or parses
// token text.
func (l *Local) findToken(ctx context.Context, s string) (*capability.Token, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, capability.TextPrefix) {
		return capability.Parse(s)
	}
	if len(s) < 8 {
		return nil, fmt.Errorf("share ID %q is too short (give at least 8 hex digits)", s)
	}
	gs, err := l.issued(ctx)
	if err != nil {
		return nil, err
	}
	rs, err := l.received(ctx)
	if err != nil {
		return nil, err
	}
	var found []localapi.Grant
	for _, g := range append(gs, rs...) {
		if strings.HasPrefix(g.ID, s) {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: no share %s (see `mesh shares`)", vault.ErrNotFound, s)
	case 1:
		return capability.Parse(found[0].Token)
	}
	return nil, fmt.Errorf("share ID %s is ambiguous; give more digits", s)
}

// revokedBy names who revoked a token and when, for refusals.
func (l *Local) revokedBy(id capability.ID) (peer.ID, time.Time, bool) {
	if l.rev == nil {
		return "", time.Time{}, false
	}
	r, ok := l.rev.set.RevokedBy(id)
	if !ok {
		return "", time.Time{}, false
	}
	return r.Revoker(), r.Time(), true
}

// revokedError explains a revoked share from the grantee's side: who
// revoked it, by handle where we know it.
func (l *Local) revokedError(handle string, owner, by peer.ID, when time.Time) error {
	who := by.String()
	if by == owner {
		who = handle
	} else if name := l.nameOf(by); name != "" {
		who = name // the delegator, by handle
	}
	if when.IsZero() {
		return fmt.Errorf("%w: %s revoked this share", capability.ErrRevoked, who)
	}
	return fmt.Errorf("%w: %s revoked this share at %s", capability.ErrRevoked, who, when.Local().Format(time.DateTime))
}

// admitRegistered keeps revocations whose token's owner (root issuer) is a
// registered mesh user, so strangers cannot fill infrastructure sets.
func admitRegistered(registered func(peer.ID) bool) func(*revocation.Revocation) error {
	return func(r *revocation.Revocation) error {
		if owner := r.Token().Chain()[0].Issuer(); !registered(owner) {
			return fmt.Errorf("owner %s is not in the directory", owner)
		}
		return nil
	}
}

// IsRevoked reports whether the node's revocation set holds id.
func (n *Node) IsRevoked(id capability.ID) bool {
	return n.local.rev != nil && n.local.rev.set.IsRevoked(id)
}
