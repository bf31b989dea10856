package revgossip

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/peerlimit"
)

// Topic is the gossipsub topic revocations travel on.
const Topic = "/ocmt/revocations/1"

// MessageID is the topic's message ID: SHA-256 of the record bytes, so the
// same revocation from two publishers is deduplicated by pubsub itself.
// Anyone joining Topic must use it (pubsub.WithTopicMessageIdFn).
func MessageID(m *pb.Message) string {
	h := sha256.Sum256(m.GetData())
	return string(h[:])
}

// gossipConfig configures a gossip. The zero value works.
type gossipConfig struct {
	// logger: default discard.
	logger *slog.Logger
	// clock feeds the per-peer rate limiters. Default time.Now.
	clock func() time.Time
	// peerRate is how many revocations per second one neighbour may make
	// us verify; past peerBurst its messages are ignored (dropped, not
	// forwarded, no penalty). Default DefaultPeerRate / DefaultPeerBurst.
	peerRate  rate.Limit
	peerBurst int
	// budget is the node's flood budget, the one given to pubsubOptions;
	// neighbours whose messages are rejected become suspects in it.
	// Default nil: no suspects are recorded.
	budget *Budget
	// policy is which records are kept from which neighbour
	// (Config.Relevant, Config.Trusted). Default: every record.
	policy policy
	// alarm logs relevant records the set refused as full. Default: one
	// on logger and clock.
	alarm *alarm
	// drop, when set, drops a neighbour's record before it is judged
	// (ignored, as if lost): Config.dropGossip, tests only.
	drop func(data []byte) bool
}

// gossip joins Topic on a pubsub built with pubsubOptions and feeds every
// valid revocation it receives into a Set before forwarding it. close
// leaves the topic.
type gossip struct {
	ps      *pubsub.PubSub
	self    peer.ID
	set     *revocation.Set
	topic   *pubsub.Topic
	sub     *pubsub.Subscription
	log     *slog.Logger
	clock   func() time.Time
	limiter *peerlimit.Limiter
	budget  *Budget
	policy  policy
	alarm   *alarm
	drop    func([]byte) bool

	stats     gossipStats
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// gossipStats counts validation outcomes, for tests. notKept counts the
// ignored records that were not relevant here and came from a neighbour
// that is not trusted.
type gossipStats struct {
	accepted, rejected, ignored, rateLimited, notKept, dropped atomic.Uint64
}

// joinGossip registers the topic validator, joins Topic with content-hash
// message IDs (the same record published twice is one message) and
// subscribes. self is the host's peer ID, to recognise local publishes.
func joinGossip(ps *pubsub.PubSub, self peer.ID, set *revocation.Set, cfg gossipConfig) (*gossip, error) {
	if ps == nil || set == nil {
		return nil, errors.New("revgossip: gossip needs a pubsub and a set")
	}
	g := &gossip{ps: ps, self: self, set: set, log: cfg.logger, clock: cfg.clock,
		budget: cfg.budget, policy: cfg.policy, alarm: cfg.alarm, drop: cfg.drop, done: make(chan struct{})}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.clock == nil {
		g.clock = time.Now
	}
	if g.alarm == nil {
		g.alarm = &alarm{log: g.log, now: g.clock}
	}
	r, burst := cfg.peerRate, cfg.peerBurst
	if r <= 0 {
		r, burst = DefaultPeerRate, DefaultPeerBurst
	}
	g.limiter = peerlimit.New(r, max(burst, 1), maxLimiters, g.clock)
	// Inline: the validator never blocks on the network, and running it in
	// the validation front end skips a goroutine hop per message.
	if err := ps.RegisterTopicValidator(Topic, g.validate, pubsub.WithValidatorInline(true)); err != nil {
		return nil, fmt.Errorf("revgossip: registering validator: %w", err)
	}
	var err error
	if g.topic, err = ps.Join(Topic, pubsub.WithTopicMessageIdFn(MessageID)); err != nil {
		ps.UnregisterTopicValidator(Topic)
		return nil, fmt.Errorf("revgossip: joining %s: %w", Topic, err)
	}
	if g.sub, err = g.topic.Subscribe(); err != nil {
		g.topic.Close()
		ps.UnregisterTopicValidator(Topic)
		return nil, fmt.Errorf("revgossip: subscribing to %s: %w", Topic, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go g.drain(ctx)
	return g, nil
}

// publish adds rev to the local Set (so it is in force here before any
// peer hears of it) and publishes it. Publishing a revocation the Set
// already holds re-announces it.
func (g *gossip) publish(ctx context.Context, rev *revocation.Revocation) error {
	if _, err := g.set.Add(ctx, rev); err != nil {
		return err
	}
	if err := g.topic.Publish(ctx, rev.Bytes()); err != nil {
		return fmt.Errorf("revgossip: publishing %s: %w", rev.ID().Short(), err)
	}
	return nil
}

// close unsubscribes, leaves the topic and removes the validator.
func (g *gossip) close() error {
	var err error
	g.closeOnce.Do(func() {
		g.cancel()
		g.sub.Cancel()
		<-g.done
		err = errors.Join(g.topic.Close(), g.ps.UnregisterTopicValidator(Topic))
	})
	return err
}

// drain consumes the subscription: validation already added every
// accepted record to the Set, but pubsub needs a reader to stay a member
// of the topic's mesh.
func (g *gossip) drain(ctx context.Context) {
	defer close(g.done)
	for {
		if _, err := g.sub.Next(ctx); err != nil {
			return
		}
	}
}

// validate is the topic validator. Reject (the forwarding peer's score
// drops) for anything no honest node would forward: oversized, malformed,
// wrong proof, bad signature. Ignore (drop quietly) for what an honest node
// may send: a record we already hold, an expired token (clocks differ), a
// revoker over quota, a record we do not keep from this neighbour (not
// relevant here, and the neighbour is not trusted), or a neighbour past its
// rate. A valid new record is added to the Set before it is forwarded.
//
// Trust is judged on from, the neighbour that forwarded the message, not
// on its publisher (m.GetFrom()): gossipsub forwards a message only after
// the forwarder's own validator accepted it, so a trusted forwarder (our
// bootstrap or relay, which admit only records rooted at registered users)
// vouches for every record it forwards, whoever published it, and most
// records it forwards were published by home nodes we do not trust. A
// trusted publisher vouches only for what it published itself, which its
// flood publish hands us directly. from is also the peer the score, the
// rate limit and suspicion already attach to.
func (g *gossip) validate(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	local := from == g.self
	if !local && g.drop != nil && g.drop(m.GetData()) {
		g.stats.dropped.Add(1)
		return pubsub.ValidationIgnore
	}
	res, why := g.judge(ctx, from, local, m.GetData())
	switch res {
	case pubsub.ValidationAccept:
		g.stats.accepted.Add(1)
	case pubsub.ValidationReject:
		g.stats.rejected.Add(1)
		if !local {
			g.budget.suspect(from)
		}
		g.log.Debug("revgossip: rejected gossip", "from", from.String(), "err", why)
	default:
		g.stats.ignored.Add(1)
	}
	return res
}

func (g *gossip) judge(ctx context.Context, from peer.ID, local bool, data []byte) (pubsub.ValidationResult, error) {
	if len(data) > revocation.MaxRecordBytes {
		return pubsub.ValidationReject, revocation.ErrTooLarge
	}
	if !local && !g.limiter.Allow(from) {
		g.stats.rateLimited.Add(1)
		return pubsub.ValidationIgnore, nil
	}
	u, err := revocation.Decode(data)
	if err != nil {
		return pubsub.ValidationReject, err
	}
	if local {
		return pubsub.ValidationAccept, nil // publish verified and added it
	}
	if g.set.IsRevoked(u.ID()) {
		return pubsub.ValidationIgnore, nil
	}
	if g.set.Expired(u.Expiry()) {
		return pubsub.ValidationIgnore, revocation.ErrExpired
	}
	r, err := g.budget.verified().Verify(u) // free if it verified as its RPC arrived
	if err != nil {
		return pubsub.ValidationReject, err
	}
	if !g.policy.keeps(from, r) {
		g.stats.notKept.Add(1)
		return pubsub.ValidationIgnore, errNotRelevant
	}
	added, err := g.set.Add(ctx, r)
	switch {
	case errors.Is(err, revocation.ErrFull):
		g.alarm.full(1, "gossip", from, err)
		return pubsub.ValidationIgnore, err
	case errors.Is(err, revocation.ErrQuota), errors.Is(err, revocation.ErrExpired), errors.Is(err, revocation.ErrClosed):
		return pubsub.ValidationIgnore, err
	case err != nil && !added:
		g.log.Warn("revgossip: adding gossiped record", "id", r.ID().Short(), "err", err)
		return pubsub.ValidationIgnore, err
	case err != nil:
		g.log.Warn("revgossip: in force but not persisted", "id", r.ID().Short(), "err", err)
	case !added:
		return pubsub.ValidationIgnore, nil // raced with another copy
	}
	return pubsub.ValidationAccept, nil
}
