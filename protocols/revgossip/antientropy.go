package revgossip

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/protocols/revsync"
)

// antiEntropy is the digest side of a Service: every Timings.DigestEvery
// it announces a Digest of its recent window on DigestTopic, and for each
// digest a neighbour announces it pushes the records of its own window the
// neighbour's filter lacks and pulls when the neighbour's window holds
// records it lacks. Digests travel one hop: the validator acts on a
// digest and then ignores it, so it is neither delivered nor forwarded.
type antiEntropy struct {
	s     *Service
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	every time.Duration

	perPeer *peerlimit.Limiter // digests acted on, per neighbour
	total   *rate.Limiter      // digests acted on, in all
	pushes  *rate.Limiter      // records pushed, in all
	pulls   *rate.Limiter      // pulls from peers that are not infrastructure, in all
	jobs    chan digestJob     // digests waiting for a worker

	mu      sync.Mutex
	heads   []uint64                   // Set.Version at the last digestWindow rounds, oldest first
	cursors map[peer.ID]revsync.Cursor // where this node stands in neighbours' sets (not infrastructure's)
	pushed  map[pushKey]struct{}       // records already pushed to a peer: not again

	stats aeStats
}

// aeStats counts what digests made this node do, for tests and the
// report.
type aeStats struct {
	published, received, acted, dropped, malformed atomic.Uint64
	pushedRecords, pushes, pulls, pulled           atomic.Uint64
}

type digestJob struct {
	from peer.ID
	d    *Digest
}

type pushKey struct {
	to peer.ID
	id capability.ID
}

// joinDigest registers the digest validator and joins DigestTopic.
func joinDigest(s *Service, every time.Duration) (*antiEntropy, error) {
	a := &antiEntropy{s: s, every: every,
		perPeer: peerlimit.New(rate.Every(every/digestsPerPeriod), digestsPerPeriod, maxLimiters, nil),
		total:   rate.NewLimiter(DigestRate, DigestBurst),
		pushes:  rate.NewLimiter(DigestPushRate, DigestPushBurst),
		pulls:   rate.NewLimiter(DigestPullRate, DigestPullBurst),
		jobs:    make(chan digestJob, digestQueue),
		cursors: map[peer.ID]revsync.Cursor{}, pushed: map[pushKey]struct{}{},
		heads: []uint64{s.set.Version()}}
	if err := s.ps.RegisterTopicValidator(DigestTopic, a.validate, pubsub.WithValidatorInline(true)); err != nil {
		return nil, fmt.Errorf("revgossip: registering the digest validator: %w", err)
	}
	var err error
	if a.topic, err = s.ps.Join(DigestTopic); err != nil {
		s.ps.UnregisterTopicValidator(DigestTopic)
		return nil, fmt.Errorf("revgossip: joining %s: %w", DigestTopic, err)
	}
	if a.sub, err = a.topic.Subscribe(); err != nil {
		a.topic.Close()
		s.ps.UnregisterTopicValidator(DigestTopic)
		return nil, fmt.Errorf("revgossip: subscribing to %s: %w", DigestTopic, err)
	}
	return a, nil
}

// run publishes a digest every period (the first after one period) and,
// on digestWorkers workers, answers received digests, until ctx ends. A
// neighbour that does not answer holds a worker for at most
// digestActTimeout; the rounds never wait for the workers.
func (a *antiEntropy) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { // the subscription needs a reader; nothing is ever delivered
		for {
			if _, err := a.sub.Next(ctx); err != nil {
				return
			}
		}
	})
	for range digestWorkers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-a.jobs:
					a.act(ctx, j)
				}
			}
		})
	}
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.round(ctx); err != nil {
				a.s.log.Debug("revgossip: publishing the digest", "err", err)
			}
		}
	}
}

// close leaves the topic; run must have returned.
func (a *antiEntropy) close() error {
	a.sub.Cancel()
	return errors.Join(a.topic.Close(), a.s.ps.UnregisterTopicValidator(DigestTopic))
}

// window is this node's recent window: the entries added over the last
// digestWindow rounds, at most MaxDigestIDs of them (the newest).
func (a *antiEntropy) window() ([]capability.ID, uint64) {
	a.mu.Lock()
	after := a.heads[0]
	a.mu.Unlock()
	return a.s.set.Recent(after, MaxDigestIDs)
}

// round moves the window on by one round and publishes its digest.
func (a *antiEntropy) round(ctx context.Context) error {
	a.mu.Lock()
	a.heads = append(a.heads, a.s.set.Version())
	if len(a.heads) > digestWindow {
		a.heads = a.heads[1:]
	}
	a.mu.Unlock()
	ids, from := a.window()
	d, err := newDigest(a.s.set.Epoch(), a.s.set.Version(), uint64(a.s.set.Len()), from, ids, nil)
	if err != nil {
		return err
	}
	b, err := d.marshal()
	if err != nil {
		return err
	}
	a.stats.published.Add(1)
	return a.topic.Publish(ctx, b)
}

// validate is the digest topic's validator. It accepts this node's own
// digest (so it is sent) and ignores every other after queueing it for
// a worker, so digests travel one hop: a digest relayed by a neighbour
// (from is not its publisher) is dropped unread. A malformed digest is
// rejected and its sender made a suspect: no honest node sends one.
func (a *antiEntropy) validate(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if from == a.s.h.ID() {
		return pubsub.ValidationAccept
	}
	a.stats.received.Add(1)
	if m.GetFrom() != from {
		return pubsub.ValidationIgnore
	}
	d, err := DecodeDigest(m.GetData())
	if err != nil {
		a.stats.malformed.Add(1)
		a.s.budget.suspect(from)
		a.s.log.Debug("revgossip: rejected a malformed digest", "from", from, "err", err)
		return pubsub.ValidationReject
	}
	a.offer(from, d)
	return pubsub.ValidationIgnore
}

// offer queues a digest for a worker if from and the node are within
// their digest budgets and the queue has room.
func (a *antiEntropy) offer(from peer.ID, d *Digest) bool {
	if !a.perPeer.Allow(from) || !a.total.Allow() {
		a.stats.dropped.Add(1)
		return false
	}
	select {
	case a.jobs <- digestJob{from, d}:
		return true
	default:
		a.stats.dropped.Add(1)
		return false
	}
}

// act answers one digest: push what the sender's window lacks of ours,
// pull what ours lacks of its window.
func (a *antiEntropy) act(ctx context.Context, j digestJob) {
	a.stats.acted.Add(1)
	mine, _ := a.window()
	hits := uint64(0)
	var lacks []capability.ID // newest first
	for i := len(mine) - 1; i >= 0; i-- {
		if j.d.Has(mine[i]) {
			hits++
		} else if len(lacks) < revsync.MaxPushRecords && !a.wasPushed(j.from, mine[i]) {
			lacks = append(lacks, mine[i])
		}
	}
	// A push that fails (a neighbour too slow to answer within
	// digestActTimeout, a stream reset) is tried once more: otherwise the
	// records wait for the next round, an hour away.
	for try := 0; len(lacks) > 0 && try < 2 && ctx.Err() == nil; try++ {
		pctx, cancel := context.WithTimeout(ctx, digestActTimeout)
		ok := a.push(pctx, j.from, lacks)
		cancel()
		if ok {
			break
		}
	}
	a.pull(ctx, j.from, j.d, hits < j.d.IDs)
}

func (a *antiEntropy) wasPushed(to peer.ID, id capability.ID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.pushed[pushKey{to, id}]
	return ok
}

// push sends the sender the records its window lacks, within the node's
// push budget, and remembers those it judged so they are not sent again.
// It reports false when the exchange failed (nothing was judged).
func (a *antiEntropy) push(ctx context.Context, to peer.ID, ids []capability.ID) bool {
	n := len(ids)
	for n > 0 && !a.pushes.AllowN(time.Now(), n) {
		n /= 2
	}
	var recs [][]byte
	var sent []capability.ID
	for _, id := range ids[:n] {
		if r, ok := a.s.set.RevokedBy(id); ok && r.Size() > 0 {
			recs, sent = append(recs, r.Bytes()), append(sent, id)
		}
	}
	if len(recs) == 0 {
		return true
	}
	a.stats.pushes.Add(1)
	res, err := revsync.PushAll(ctx, a.s.h, to, recs)
	if err != nil {
		a.s.log.Debug("revgossip: pushing records a neighbour's digest lacks", "peer", to, "err", err)
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pushed)+len(sent) > maxPushedMemory {
		clear(a.pushed)
	}
	for i, r := range res {
		if r != revsync.Skipped && r != revsync.Failed {
			a.pushed[pushKey{to, sent[i]}] = struct{}{}
		}
		if r == revsync.Added {
			a.stats.pushedRecords.Add(1)
		}
	}
	return true
}

// pull brings in what p's digest says p added since this node last
// looked, when the digest's window holds records this node lacks (or the
// window does not reach back to where this node stands). From an
// infrastructure peer it is the sync loop's pull; from any other it reads
// at most one page, within the node's pull budget, starting at the
// digest's window the first time.
func (a *antiEntropy) pull(ctx context.Context, p peer.ID, d *Digest, lacking bool) {
	infra := a.s.isInfra(p)
	var cur revsync.Cursor
	if infra {
		a.s.mu.Lock()
		cur = a.s.cursors[p]
		a.s.mu.Unlock()
	} else {
		a.mu.Lock()
		cur = a.cursors[p]
		a.mu.Unlock()
	}
	if string(cur.Epoch[:]) != string(d.Epoch) {
		if infra {
			if lacking {
				a.syncInfra(ctx, p) // a new epoch: the sync loop's snapshot
			}
			return
		}
		copy(cur.Epoch[:], d.Epoch)
		cur.Version = d.From
	}
	switch {
	case d.Head <= cur.Version:
		return // nothing new since the last look
	case !lacking && infra:
		return // the sync loop reads it in its time: a false match must not move its cursor
	case !lacking && cur.Version >= d.From:
		cur.Version = d.Head // its window covers everything since, and we hold it all
		a.setCursor(p, cur)
		return
	}
	if infra {
		a.syncInfra(ctx, p)
		return
	}
	if !a.pulls.Allow() {
		return
	}
	a.stats.pulls.Add(1)
	ctx, cancel := context.WithTimeout(ctx, digestActTimeout)
	defer cancel()
	next, st, err := revsync.SyncWith(ctx, a.s.h, p, a.s.set, cur,
		revsync.SyncOptions{Keep: a.s.policy.keepFrom(p), MaxPages: digestPullPages})
	a.s.alarm.full(st.Full, "digest pull", p, revocation.ErrFull)
	a.stats.pulled.Add(uint64(st.Added))
	if err != nil {
		a.s.log.Debug("revgossip: pulling what a neighbour's digest holds", "peer", p, "err", err)
		return
	}
	a.setCursor(p, next)
}

// syncInfra is the sync loop's pull from infrastructure peer p, now,
// bounded as the loop's is (SyncTimeout).
func (a *antiEntropy) syncInfra(ctx context.Context, p peer.ID) {
	a.stats.pulls.Add(1)
	ctx, cancel := context.WithTimeout(ctx, SyncTimeout)
	defer cancel()
	a.s.syncOnce(ctx, p)
}

// setCursor records where the node stands in the set of p, a peer that
// is not infrastructure.
func (a *antiEntropy) setCursor(p peer.ID, cur revsync.Cursor) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.cursors[p]; !ok && len(a.cursors) >= maxDigestPeers {
		clear(a.cursors) // start over: at worst a neighbour's window is read again
	}
	a.cursors[p] = cur
}
