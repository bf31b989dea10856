package revgossip

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
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
	"github.com/ocmt/mesh/protocols/revsync"
)

// Config configures a Service. Host and Store are required; the zero value
// of every other field works.
type Config struct {
	// Host is the node's libp2p host, built with Budget.Gater. Required.
	Host host.Host
	// Store holds the revocation set (under /revocations, see
	// RevocationStore) and the outbox (under /revoutbox). Required.
	Store ds.Batching
	// Budget is the node's flood budget, the one whose Gater the host was
	// built with. Default: a new Budget on Now, which cuts flooders off but
	// cannot refuse their reconnections (no gater in the host).
	Budget *Budget
	// Logger: default discard.
	Logger *slog.Logger
	// Now is the service's clock: the set's (token expiry), the gossip's
	// rate limits, a default Budget's, and when the next periodic sync or
	// retry is due (a clock that stands still syncs only at start and on
	// reconnection). Default time.Now.
	Now func() time.Time
	// PeerExchange turns on gossipsub peer exchange: bootstrap peers
	// hand the peers they prune to others. Default off.
	PeerExchange bool
	// SyncFrom lists the infrastructure peers to pull revsync from and to
	// push the outbox to; it is called again on every round, so the list
	// may change. Default nil: none, and the service is synced at once.
	SyncFrom func() []peer.ID
	// Admit filters records (revocation.Config.Admit): infrastructure
	// peers keep only those whose root issuer is registered (see
	// AdmitRegistered). Default: admit all.
	Admit func(*revocation.Revocation) error
	// OnAdd sees each new record once in force (revocation.Config.OnAdd);
	// it must not block. Default none.
	OnAdd func(*revocation.Revocation)
	// Timings are the sync loop's waits; tests shorten them. Zero fields
	// take the defaults.
	Timings Timings
}

// Timings are the waits of a Service's first-sync gate and sync loop.
// Every zero field takes the default named in its comment.
type Timings struct {
	// MaxSyncWait is how long Ready waits for the first sync before it
	// refuses. Default MaxSyncWait.
	MaxSyncWait time.Duration
	// FirstSyncDeadline is when the service counts as synced though no
	// infrastructure peer answered. Default FirstSyncDeadline.
	FirstSyncDeadline time.Duration
	// RetryEvery is how often a sync is retried until one succeeds.
	// Default RetryEvery.
	RetryEvery time.Duration
	// PollEvery is how often the loop looks at its peers' connections.
	// Default PollEvery.
	PollEvery time.Duration
}

func (t *Timings) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.MaxSyncWait, MaxSyncWait)
	def(&t.FirstSyncDeadline, FirstSyncDeadline)
	def(&t.RetryEvery, RetryEvery)
	def(&t.PollEvery, PollEvery)
}

// RevocationStore is the part of a role's store a Service keeps its
// revocation set in. Open a revocation.Set there to put a record in force
// while the service is not running (it loads it at its next start).
func RevocationStore(store ds.Batching) ds.Batching {
	return namespace.Wrap(store, ds.NewKey("/revocations"))
}

// outboxStore is the part of a role's store the outbox lives in.
func outboxStore(store ds.Batching) ds.Batching {
	return namespace.Wrap(store, ds.NewKey("/revoutbox"))
}

// AdmitRegistered is a Config.Admit that keeps revocations whose token's
// owner (root issuer) is a registered mesh user, so strangers cannot fill
// infrastructure sets.
func AdmitRegistered(registered func(peer.ID) bool) func(*revocation.Revocation) error {
	return func(r *revocation.Revocation) error {
		if owner := r.Token().Chain()[0].Issuer(); !registered(owner) {
			return fmt.Errorf("owner %s is not in the directory", owner)
		}
		return nil
	}
}

// Service is every role's revocation machinery: the persistent set
// (Bloom filter + exact set), the gossipsub topic, the revsync server, a
// syncer that pulls the set from the infrastructure peers on start, on
// every reconnection and periodically, so a node that was offline during a
// revocation is consistent before it serves again, and the outbox that
// carries the node's own revocations to the infrastructure by push.
type Service struct {
	set      *revocation.Set
	ps       *pubsub.PubSub
	psCancel context.CancelFunc
	gossip   *gossip
	server   *revsync.Server
	h        host.Host
	budget   *Budget
	log      *slog.Logger
	now      func() time.Time
	timings  Timings
	// outbox holds the revocations this node signed until an
	// infrastructure peer has taken one by push: gossip alone is lost if
	// the node dies between signing and publishing, and infrastructure
	// peers never pull from home nodes.
	outbox ds.Datastore
	infra  func() []peer.ID // Config.SyncFrom

	mu      sync.Mutex
	cursors map[peer.ID]revsync.Cursor
	closed  bool

	gate *gate // the first-sync gate

	ctx       context.Context // ends at Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start opens the set in cfg.Store, starts gossipsub on cfg.Host with the
// budget's inspector, joins Topic, serves revsync and, when cfg.SyncFrom
// is set, starts syncing from the infrastructure peers. ctx bounds the
// start only (loading the set); the service runs until Close.
func Start(ctx context.Context, cfg Config) (_ *Service, err error) {
	if cfg.Host == nil || cfg.Store == nil {
		return nil, errors.New("revgossip: a service needs a host and a store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Budget == nil {
		cfg.Budget = NewBudget(BudgetConfig{Now: cfg.Now})
	}
	cfg.Timings.fill()
	h, log := cfg.Host, cfg.Logger
	s := &Service{h: h, budget: cfg.Budget, log: log, now: cfg.Now, timings: cfg.Timings,
		outbox: outboxStore(cfg.Store), infra: cfg.SyncFrom,
		cursors: map[peer.ID]revsync.Cursor{}}
	if err := s.budget.bind(h, log); err != nil {
		return nil, err
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	undo = append(undo, s.budget.unbind)
	if s.set, err = revocation.Open(ctx, revocation.Config{Datastore: RevocationStore(cfg.Store),
		Clock: cfg.Now, Logger: log, Admit: cfg.Admit, OnAdd: cfg.OnAdd}); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.set.Close() })
	psctx, psCancel := context.WithCancel(context.Background())
	s.psCancel = psCancel
	undo = append(undo, psCancel)
	opts := append(pubsubOptions(s.budget), pubsub.WithPeerExchange(cfg.PeerExchange))
	if s.ps, err = pubsub.NewGossipSub(psctx, h, opts...); err != nil {
		return nil, fmt.Errorf("revgossip: starting gossipsub: %w", err)
	}
	if s.gossip, err = joinGossip(s.ps, h.ID(), s.set, gossipConfig{logger: log, clock: cfg.Now, budget: s.budget}); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.gossip.close() })
	if s.server, err = revsync.NewServer(h, s.set, revsync.ServerConfig{Logger: log, Accept: s.Publish}); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.gate = newGate(s.timings, s.infra == nil)
	if s.infra != nil {
		s.wg.Go(func() { s.syncLoop(s.ctx) })
	}
	return s, nil
}

// Set is the service's revocation set: the verifier's RevocationChecker.
func (s *Service) Set() *revocation.Set { return s.set }

// RevokedBy names who revoked id and when (second precision), for
// refusals (share.Config.RevokedBy). If id is revoked but its record
// cannot be read, the peer is empty and the time zero.
func (s *Service) RevokedBy(id capability.ID) (peer.ID, time.Time, bool) {
	r, ok := s.set.RevokedBy(id)
	if !ok {
		return "", time.Time{}, false
	}
	return r.Revoker(), r.Time(), true
}

// Publish puts rev in force here and gossips it. It is the revsync
// server's Accept: a pushed record goes on as if gossiped. A node's own
// revocations go through Revoke, which also keeps them in the outbox.
func (s *Service) Publish(ctx context.Context, rev *revocation.Revocation) error {
	return s.gossip.publish(ctx, rev)
}

// Revoke puts a revocation this node signed in force and spreads it:
//
//  1. it keeps rev in the durable outbox, so the infrastructure gets it
//     even if the node stops before gossip carries it (an error here
//     means nothing was done: "not revoked");
//  2. it adds rev to the set: in force here when Revoke returns (an error
//     is returned as is; the record stays in the outbox);
//  3. it publishes rev on the gossip (a failure is logged: the
//     infrastructure still gets it by push);
//  4. it pushes the outbox to every infrastructure peer in the
//     background, so no gossip mesh is needed at all.
func (s *Service) Revoke(ctx context.Context, rev *revocation.Revocation) error {
	if s.isClosed() {
		return revocation.ErrClosed
	}
	if err := s.post(ctx, rev); err != nil {
		return errors.Join(errors.New("not revoked"), err)
	}
	if _, err := s.set.Add(ctx, rev); err != nil {
		return err
	}
	if err := s.gossip.publish(ctx, rev); err != nil {
		s.log.Warn("gossiping the revocation failed; the infrastructure gets it by push", "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed { // closing: the outbox keeps it for the next start
		s.wg.Go(s.flushAll)
	}
	return nil
}

func (s *Service) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Ready is share.Config.Ready: it returns once the set has caught up with
// the infrastructure peers, or refuses with wire.Unavailable after
// Timings.MaxSyncWait (the caller retries).
func (s *Service) Ready(ctx context.Context) error { return s.gate.ready(ctx) }

// gate is the first-sync gate. It opens after the first successful sync,
// at once when there is no infrastructure to sync from, or at
// FirstSyncDeadline if no infrastructure peer answered by then.
type gate struct {
	wait     time.Duration // Timings.MaxSyncWait
	synced   chan struct{} // closed when open
	once     sync.Once
	deadline *time.Timer // opens the gate at FirstSyncDeadline
}

func newGate(t Timings, open bool) *gate {
	g := &gate{wait: t.MaxSyncWait, synced: make(chan struct{})}
	if open {
		g.open()
	} else {
		g.deadline = time.AfterFunc(t.FirstSyncDeadline, g.open)
	}
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.synced) }) }

func (g *gate) isOpen() bool {
	select {
	case <-g.synced:
		return true
	default:
		return false
	}
}

// ready returns once the gate is open, or refuses after g.wait.
func (g *gate) ready(ctx context.Context) error {
	if g.isOpen() {
		return nil
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case <-g.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return wire.Errorf(wire.Unavailable, "catching up on revocations after a restart; retry shortly")
	}
}

// stop cancels the deadline.
func (g *gate) stop() {
	if g.deadline != nil {
		g.deadline.Stop()
	}
}

// Close stops syncing and pushing, the revsync server, the gossip and the
// set, and frees the budget for another Service. It does not close the
// host or the store.
func (s *Service) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		s.gate.stop()
		err = errors.Join(s.server.Close(), s.gossip.close())
		s.psCancel()
		err = errors.Join(err, s.set.Close())
		s.budget.unbind()
	})
	return err
}

// syncLoop pulls the set from each infrastructure peer at start, whenever
// the connection to one comes back, and every SyncEvery (every
// Timings.RetryEvery until the first sync succeeds).
func (s *Service) syncLoop(ctx context.Context) {
	last := map[peer.ID]network.Connectedness{}
	next := s.now()
	t := time.NewTicker(s.timings.PollEvery)
	defer t.Stop()
	for {
		ps := s.infra()
		if len(ps) == 0 {
			s.gate.open() // no infrastructure to catch up with: our own set is all there is
		}
		for _, p := range ps {
			c := s.h.Network().Connectedness(p)
			reconnected := c == network.Connected && last[p] != network.Connected
			last[p] = c
			if reconnected || !s.now().Before(next) {
				sctx, cancel := context.WithTimeout(ctx, SyncTimeout)
				if err := s.syncFrom(sctx, p); err != nil {
					s.log.Debug("revocation sync failed", "peer", p, "err", err)
				} else {
					s.gate.open()
					s.flushOutbox(sctx, p)
				}
				cancel()
			}
		}
		if now := s.now(); !now.Before(next) {
			next = now.Add(SyncEvery)
			if !s.gate.isOpen() {
				next = now.Add(s.timings.RetryEvery) // not caught up yet: try again soon
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// syncFrom pulls what p has that we lack.
func (s *Service) syncFrom(ctx context.Context, p peer.ID) error {
	s.mu.Lock()
	cur := s.cursors[p]
	s.mu.Unlock()
	cur, st, err := revsync.Sync(ctx, s.h, p, s.set, cur)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cursors[p] = cur
	s.mu.Unlock()
	if st.Added > 0 {
		s.log.Info("revocations synced", "peer", p, "added", st.Added)
	}
	return nil
}

// post records rev in the outbox (before it is gossiped), so it reaches
// the infrastructure even if this node stops before gossip carries it.
func (s *Service) post(ctx context.Context, rev *revocation.Revocation) error {
	id := rev.ID()
	return s.outbox.Put(ctx, ds.NewKey(hex.EncodeToString(id[:])), rev.Bytes())
}

// flushOutbox pushes every outbox record to infrastructure peer p and
// drops those p took. Records that no longer parse or whose token expired
// are dropped too: there is nothing left to tell.
func (s *Service) flushOutbox(ctx context.Context, p peer.ID) {
	res, err := s.outbox.Query(ctx, query.Query{})
	if err != nil {
		return
	}
	entries, _ := res.Rest()
	for _, e := range entries {
		rev, err := revocation.Parse(e.Value)
		if err == nil {
			err = revsync.Push(ctx, s.h, p, rev)
			if err != nil && !errors.Is(err, wire.Expired) {
				s.log.Debug("pushing a revocation to the infrastructure failed; will retry", "peer", p, "err", err)
				continue
			}
		}
		s.outbox.Delete(ctx, ds.NewKey(e.Key))
	}
}

// flushAll flushes the outbox to every infrastructure peer.
func (s *Service) flushAll() {
	if s.infra == nil {
		return
	}
	for _, p := range s.infra() {
		ctx, cancel := context.WithTimeout(s.ctx, FlushTimeout)
		s.flushOutbox(ctx, p)
		cancel()
	}
}
