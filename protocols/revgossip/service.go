package revgossip

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
//
// Which records a service keeps. A record that verified is kept when the
// admission rule lets it in:
//
//	Relevant == nil || Trusted(peer) || Relevant(record)
//
// and then Admit admits it and the set has room for it (MaxEntries,
// MaxBytes). peer is where the record came from, on each path:
//
//   - gossip: the neighbour that forwarded it (the validator's from), not
//     its publisher; a record not kept is ignored: not stored, not
//     forwarded, no penalty, since an honest neighbour may forward it;
//   - pull (the sync loop, or a neighbour's digest): the server pulled
//     from; a record not kept is skipped and the sync goes on;
//   - push (the revsync server, single or batch, including the pushes
//     that answer this node's digest): the pushing peer; a record not
//     kept is refused as Forbidden (NotKept in a batch).
//
// The node's own revocations (Revoke) are always kept. Each role sets:
//
//   - home node: Relevant = RelevantTo(its peer ID, its contacts), so a
//     record revoking a token whose chain it issued or received, or rooted
//     at a contact, is kept from anyone; Trusted = its bootstrap and relay
//     IDs, whose records it keeps whether relevant or not (they admitted
//     only records rooted at registered users); SyncFrom = the same
//     peers; Admit nil. A stranger's record about a stranger's token is
//     kept only once an infrastructure peer has admitted it.
//   - bootstrap: Admit = AdmitRegistered(its directory's Registered);
//     Relevant, Trusted and SyncFrom nil; PeerExchange true. It keeps
//     records rooted at registered users, from anyone.
//   - relay: Admit = AdmitRegistered(itself or registered, asked of the
//     bootstrap's directory); SyncFrom = its bootstraps; OnAdd = its cut;
//     Relevant and Trusted nil. The same rule as the bootstrap.
//
// A relevant record the set refuses because it is full
// (revocation.ErrFull) is logged at error level (at most one line a
// minute, with the count).
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
	// Relevant tells the records that matter to this node (a home node
	// passes RelevantTo). When set, records that are not relevant are
	// kept only from Trusted peers, and the set keeps the last quarter
	// of its caps for relevant ones (revocation.Config.Relevant). It is
	// asked about records that verified, in the gossip validator, for
	// every record pulled from an untrusted server and every push, so it
	// must be fast and must not block. Default nil: every record is
	// relevant, and Admit alone filters (infrastructure peers).
	Relevant func(*revocation.Revocation) bool
	// Trusted tells the node's infrastructure peers (bootstrap, relays):
	// they filter what they keep and forward with Admit, so records that
	// come from them are kept whether relevant or not. It matters only
	// with Relevant set. It is asked for every gossiped record that is
	// not already held (the forwarding neighbour), once per pull and for
	// every push, so it must be fast and must not block. Default nil: no
	// peer is trusted, and only relevant records are kept.
	Trusted func(peer.ID) bool
	// Admit filters records (revocation.Config.Admit): infrastructure
	// peers keep only those whose root issuer is registered (see
	// AdmitRegistered). Default: admit all.
	Admit func(*revocation.Revocation) error
	// MaxEntries and MaxBytes cap the set (revocation.Config.MaxEntries
	// and MaxBytes: past three quarters only relevant records, at the cap
	// none but the node's own). Defaults revocation.DefaultMaxEntries and
	// revocation.DefaultMaxBytes.
	MaxEntries int
	MaxBytes   int64
	// OnAdd sees each new record once in force (revocation.Config.OnAdd);
	// it must not block. Default none.
	OnAdd func(*revocation.Revocation)
	// Timings are the sync loop's waits and the digest period; tests
	// shorten them. Zero fields take the defaults.
	Timings Timings

	// dropGossip, when set, is asked about every gossiped record from a
	// neighbour before it is judged; true drops it (ignored, as if lost
	// on the way). Tests only.
	dropGossip func(data []byte) bool
	// pubsubExtra are more gossipsub options (a tracer). Tests only.
	pubsubExtra []pubsub.Option
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
	// DigestEvery is the anti-entropy period: how often the service
	// announces its digest on DigestTopic. Default DigestEvery.
	DigestEvery time.Duration
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
	def(&t.DigestEvery, DigestEvery)
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

// Service is every role's revocation machinery: the persistent set, the
// gossipsub topic, the revsync server, a syncer that pulls the set from
// the infrastructure peers on start, on every reconnection and
// periodically, so a node that was offline during a revocation is
// consistent before it serves again, the anti-entropy digest that heals a
// lost message within DigestEvery, and the outbox that carries the node's
// own revocations to the infrastructure by push.
type Service struct {
	set      *revocation.Set
	ps       *pubsub.PubSub
	psCancel context.CancelFunc
	gossip   *gossip
	server   *revsync.Server
	ae       *antiEntropy
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
	policy policy           // Config.Relevant, Config.Trusted
	alarm  *alarm           // logs relevant records refused as full

	mu      sync.Mutex
	cursors map[peer.ID]revsync.Cursor
	syncing map[peer.ID]bool // a pull from the peer is under way
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
		policy: policy{relevant: cfg.Relevant, trusted: cfg.Trusted}, alarm: &alarm{log: log, now: cfg.Now},
		cursors: map[peer.ID]revsync.Cursor{}, syncing: map[peer.ID]bool{}}
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
		Clock: cfg.Now, Logger: log, Admit: cfg.Admit, OnAdd: cfg.OnAdd, MaxEntries: cfg.MaxEntries,
		MaxBytes: cfg.MaxBytes, Relevant: cfg.Relevant, Self: h.ID()}); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.set.Close() })
	psctx, psCancel := context.WithCancel(context.Background())
	s.psCancel = psCancel
	undo = append(undo, psCancel)
	opts := append(pubsubOptions(s.budget), pubsub.WithPeerExchange(cfg.PeerExchange))
	opts = append(opts, cfg.pubsubExtra...)
	if s.ps, err = pubsub.NewGossipSub(psctx, h, opts...); err != nil {
		return nil, fmt.Errorf("revgossip: starting gossipsub: %w", err)
	}
	if s.gossip, err = joinGossip(s.ps, h.ID(), s.set, gossipConfig{logger: log, clock: cfg.Now, budget: s.budget,
		policy: s.policy, alarm: s.alarm, drop: cfg.dropGossip}); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.gossip.close() })
	if s.server, err = revsync.NewServer(h, s.set, revsync.ServerConfig{Logger: log, Accept: s.accept}); err != nil {
		return nil, err
	}
	if s.ae, err = joinDigest(s, s.timings.DigestEvery); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.ae.close() })
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Go(func() { s.ae.run(s.ctx) })
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

// Publish puts rev in force here and gossips it, whatever Relevant says:
// the caller vouches for it. A node's own revocations go through Revoke,
// which also keeps them in the outbox; pushed records go through the
// admission rule first (see Config).
func (s *Service) Publish(ctx context.Context, rev *revocation.Revocation) error {
	return s.gossip.publish(ctx, rev)
}

// accept is the revsync server's Accept: a record pushed by from goes on
// as if gossiped if the admission rule keeps it from that peer, and is
// refused as not kept (revocation.ErrQuota, Forbidden to the pusher)
// otherwise.
func (s *Service) accept(ctx context.Context, from peer.ID, rev *revocation.Revocation) error {
	if !s.policy.keeps(from, rev) {
		return fmt.Errorf("%w: %w", revocation.ErrQuota, errNotRelevant)
	}
	err := s.gossip.publish(ctx, rev)
	if errors.Is(err, revocation.ErrFull) {
		s.alarm.full(1, "push", from, err)
	}
	return err
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
		err = errors.Join(s.server.Close(), s.ae.close(), s.gossip.close())
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
				if s.syncOnce(sctx, p) {
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

// syncOnce pulls from infrastructure peer p unless a pull from it is
// already under way (the sync loop's and a digest's), opening the gate
// when it succeeds, and reports whether it did.
func (s *Service) syncOnce(ctx context.Context, p peer.ID) bool {
	s.mu.Lock()
	if s.syncing[p] {
		s.mu.Unlock()
		return false
	}
	s.syncing[p] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.syncing, p)
		s.mu.Unlock()
	}()
	if err := s.syncFrom(ctx, p); err != nil {
		s.log.Debug("revocation sync failed", "peer", p, "err", err)
		return false
	}
	s.gate.open()
	return true
}

// isInfra reports whether p is one of the infrastructure peers the
// service syncs from.
func (s *Service) isInfra(p peer.ID) bool {
	return s.infra != nil && slices.Contains(s.infra(), p)
}

// syncFrom pulls what p has that we lack.
func (s *Service) syncFrom(ctx context.Context, p peer.ID) error {
	s.mu.Lock()
	cur := s.cursors[p]
	s.mu.Unlock()
	cur, st, err := revsync.SyncWith(ctx, s.h, p, s.set, cur, revsync.SyncOptions{Keep: s.policy.keepFrom(p)})
	s.alarm.full(st.Full, "pull", p, revocation.ErrFull)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cursors[p] = cur
	s.mu.Unlock()
	if st.Added > 0 {
		s.log.Info("revocations synced", "peer", p, "added", st.Added)
	}
	if st.NotKept > 0 {
		s.log.Debug("revocations not relevant here skipped in a sync from an untrusted peer", "peer", p, "skipped", st.NotKept)
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

// PubSub is the host's gossipsub router, which other topics of the same
// peer join (a group vault's audit topics).
func (s *Service) PubSub() *pubsub.PubSub { return s.ps }
