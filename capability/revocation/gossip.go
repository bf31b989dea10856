package revocation

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

	"github.com/ocmt/mesh/internal/peerlimit"
)

// Topic is the gossipsub topic revocations travel on.
const Topic = "/ocmt/revocations/1"

// GossipConfig configures a Gossip. The zero value works.
type GossipConfig struct {
	// Logger: default discard.
	Logger *slog.Logger
	// Clock feeds the per-peer rate limiters. Default time.Now.
	Clock func() time.Time
	// PeerRate is how many revocations per second one neighbour may make us
	// verify; past PeerBurst its messages are ignored (dropped, not
	// forwarded, no penalty). Default DefaultPeerRate / DefaultPeerBurst.
	PeerRate  rate.Limit
	PeerBurst int
	// Budget is the node's flood budget, the one given to PubSubOptions;
	// neighbours whose messages are rejected become suspects in it.
	// Default nil: no suspects are recorded.
	Budget *Budget
}

// Gossip joins Topic on a caller-built *pubsub.PubSub (see PubSubOptions)
// and feeds every valid revocation it receives into a Set before
// forwarding it. Close leaves the topic.
type Gossip struct {
	ps      *pubsub.PubSub
	self    peer.ID
	set     *Set
	topic   *pubsub.Topic
	sub     *pubsub.Subscription
	log     *slog.Logger
	clock   func() time.Time
	limiter *peerlimit.Limiter
	budget  *Budget

	stats     GossipStats
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// GossipStats counts validation outcomes, for metrics and tests.
type GossipStats struct {
	Accepted, Rejected, Ignored, RateLimited atomic.Uint64
}

// JoinGossip registers the topic validator, joins Topic with content-hash
// message IDs (the same record published twice is one message) and
// subscribes. self is the host's peer ID, to recognise local publishes.
func JoinGossip(ps *pubsub.PubSub, self peer.ID, set *Set, cfg GossipConfig) (*Gossip, error) {
	if ps == nil || set == nil {
		return nil, errors.New("revocation: gossip needs a pubsub and a set")
	}
	g := &Gossip{ps: ps, self: self, set: set, log: cfg.Logger, clock: cfg.Clock,
		budget: cfg.Budget, done: make(chan struct{})}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.clock == nil {
		g.clock = time.Now
	}
	r, burst := cfg.PeerRate, cfg.PeerBurst
	if r <= 0 {
		r, burst = DefaultPeerRate, DefaultPeerBurst
	}
	g.limiter = peerlimit.New(r, max(burst, 1), maxLimiters, g.clock)
	// Inline: the validator never blocks on the network, and running it in
	// the validation front end skips a goroutine hop per message.
	if err := ps.RegisterTopicValidator(Topic, g.validate, pubsub.WithValidatorInline(true)); err != nil {
		return nil, fmt.Errorf("revocation: registering validator: %w", err)
	}
	var err error
	if g.topic, err = ps.Join(Topic, pubsub.WithTopicMessageIdFn(MessageID)); err != nil {
		ps.UnregisterTopicValidator(Topic)
		return nil, fmt.Errorf("revocation: joining %s: %w", Topic, err)
	}
	if g.sub, err = g.topic.Subscribe(); err != nil {
		g.topic.Close()
		ps.UnregisterTopicValidator(Topic)
		return nil, fmt.Errorf("revocation: subscribing to %s: %w", Topic, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go g.drain(ctx)
	return g, nil
}

// MessageID is the topic's message ID: SHA-256 of the record bytes, so the
// same revocation from two publishers is deduplicated by pubsub itself.
func MessageID(m *pb.Message) string {
	h := sha256.Sum256(m.GetData())
	return string(h[:])
}

// Topic returns the joined topic (ListPeers, EventHandler).
func (g *Gossip) Topic() *pubsub.Topic { return g.topic }

// Stats returns the validation counters.
func (g *Gossip) Stats() *GossipStats { return &g.stats }

// Publish adds rev to the local Set (so it is in force here before any
// peer hears of it) and publishes it. Publishing a revocation the Set
// already holds re-announces it.
func (g *Gossip) Publish(ctx context.Context, rev *Revocation) error {
	if _, err := g.set.Add(ctx, rev); err != nil {
		return err
	}
	if err := g.topic.Publish(ctx, rev.raw); err != nil {
		return fmt.Errorf("revocation: publishing %s: %w", rev.id.Short(), err)
	}
	return nil
}

// Close unsubscribes, leaves the topic and removes the validator.
func (g *Gossip) Close() error {
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
func (g *Gossip) drain(ctx context.Context) {
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
// revoker over quota, or a neighbour past its rate. A valid new record is
// added to the Set before it is forwarded.
func (g *Gossip) validate(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	local := from == g.self
	res, why := g.judge(ctx, from, local, m.GetData())
	switch res {
	case pubsub.ValidationAccept:
		g.stats.Accepted.Add(1)
	case pubsub.ValidationReject:
		g.stats.Rejected.Add(1)
		if !local {
			g.budget.suspect(from)
		}
		g.log.Debug("revocation: rejected gossip", "from", from.String(), "err", why)
	default:
		g.stats.Ignored.Add(1)
	}
	return res
}

func (g *Gossip) judge(ctx context.Context, from peer.ID, local bool, data []byte) (pubsub.ValidationResult, error) {
	if len(data) > MaxRecordBytes {
		return pubsub.ValidationReject, ErrTooLarge
	}
	if !local && !g.allow(from) {
		g.stats.RateLimited.Add(1)
		return pubsub.ValidationIgnore, nil
	}
	r, err := decode(data)
	if err != nil {
		return pubsub.ValidationReject, err
	}
	if local {
		return pubsub.ValidationAccept, nil // Publish verified and added it
	}
	if g.set.IsRevoked(r.id) {
		return pubsub.ValidationIgnore, nil
	}
	if !g.set.clock().Before(r.expiry.Add(g.set.skew)) {
		return pubsub.ValidationIgnore, ErrExpired
	}
	if !g.budget.wasVerified(sha256.Sum256(data)) {
		if err := r.verify(); err != nil {
			return pubsub.ValidationReject, err
		}
	}
	added, err := g.set.Add(ctx, r)
	switch {
	case errors.Is(err, ErrQuota), errors.Is(err, ErrExpired), errors.Is(err, ErrClosed):
		return pubsub.ValidationIgnore, err
	case err != nil && !added:
		g.log.Warn("revocation: adding gossiped record", "id", r.id.Short(), "err", err)
		return pubsub.ValidationIgnore, err
	case err != nil:
		g.log.Warn("revocation: in force but not persisted", "id", r.id.Short(), "err", err)
	case !added:
		return pubsub.ValidationIgnore, nil // raced with another copy
	}
	return pubsub.ValidationAccept, nil
}

// allow spends one token of from's bucket.
func (g *Gossip) allow(from peer.ID) bool { return g.limiter.Allow(from) }
