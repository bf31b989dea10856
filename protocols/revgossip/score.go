package revgossip

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/peerlimit"
)

// ScoreParams returns gossipsub peer-score parameters with a topic score
// for Topic. The Service builds its gossipsub with them, with the
// application score set to its Budget's (SuspectPenalty for a suspect, see
// pubsubOptions). Here the application score and other topics are left
// neutral; a node that also gossips on other topics adds their
// TopicScoreParams to the map.
//
// Choices: P4 (invalid messages) carries the weight, decaying over an hour,
// because a forged revocation is never an accident; P3 (mesh delivery
// deficit) is off, because revocations are rare and silence is normal;
// the IP-colocation penalty is off, because many mesh peers share an
// address behind one relay or NAT (and every test peer is on 127.0.0.1).
func ScoreParams() (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	topic := &pubsub.TopicScoreParams{
		TopicWeight:                    1,
		TimeInMeshWeight:               0.01,
		TimeInMeshQuantum:              time.Second,
		TimeInMeshCap:                  100, // at most +1 for staying
		FirstMessageDeliveriesWeight:   1,
		FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(time.Hour),
		FirstMessageDeliveriesCap:      10,
		InvalidMessageDeliveriesWeight: InvalidPenalty,
		InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
	}
	params := &pubsub.PeerScoreParams{
		Topics:                    map[string]*pubsub.TopicScoreParams{Topic: topic},
		TopicScoreCap:             topicScoreCap,
		AppSpecificScore:          func(peer.ID) float64 { return 0 },
		AppSpecificWeight:         1,
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:             time.Second,
		DecayToZero:               pubsub.DefaultDecayToZero,
		RetainScore:               30 * time.Minute,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:             GossipThreshold,
		PublishThreshold:            PublishThreshold,
		GraylistThreshold:           GraylistThreshold,
		AcceptPXThreshold:           acceptPXThreshold,
		OpportunisticGraftThreshold: opportunisticGraft,
	}
	return params, thresholds
}

// pubsubOptions are the options every mesh node builds its gossipsub with
// (the Service does), b being the node's Budget (also given to joinGossip):
//
//   - an RPC inspector that budgets suspect neighbours (see Budget) and
//     drops a whole RPC over budget before gossipsub looks inside: before
//     the StrictSign check, the seen-cache and our validator. A flood then
//     costs each node a bounded amount of work per attacker.
//   - WithMaxMessageSize(MaxRPCBytes): a batch larger than a few records is
//     cut off at the read.
//   - StrictSign (the default, stated): every message carries its
//     publisher's signature, so scores and rate limits attach to real peers.
//   - WithPeerScore(ScoreParams()), with b's application score:
//     forged revocations cost the sender (P4, when the validator rejects
//     them), and a suspect scores SuspectPenalty for as long as it is one
//     (when the inspector dropped its forgeries unread, P4 never sees
//     them).
//   - WithFloodPublish(true): a publisher sends to every topic peer above
//     the publish threshold, not only its mesh, which is what takes a
//     revocation from "one heartbeat" to "one round trip" in small meshes.
//   - WithValidateQueueSize(validateQueue): the default 32 overflows under
//     a burst, and an overflow drops honest messages with the flood.
//   - WithPeerOutboundQueueSize(outboundQueue): likewise for the RPCs
//     queued to one peer whose writer lags.
//
// Options that are not the revocation topic's business (peer exchange on
// the bootstrap node, WithPeerScoreInspect in tests, which must come after
// WithPeerScore) are appended by the caller. The validator enforces
// revocation.MaxRecordBytes per message.
func pubsubOptions(b *Budget) []pubsub.Option {
	params, thresholds := ScoreParams()
	params.AppSpecificScore = b.appScore
	return []pubsub.Option{
		pubsub.WithAppSpecificRpcInspector(b.inspect),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithFloodPublish(true),
		pubsub.WithValidateQueueSize(validateQueue),
		pubsub.WithPeerOutboundQueueSize(outboundQueue),
		pubsub.WithMaxMessageSize(MaxRPCBytes),
	}
}

// BudgetConfig configures a Budget. The zero value works.
type BudgetConfig struct {
	// Now is the clock suspicion and cut-offs are timed by. Default
	// time.Now.
	Now func() time.Time
	// OnAbuse, when set, is told each time the budget cuts a neighbour
	// off (at most once per CutOffFor per peer), after CutOff has started:
	// for metrics and tests. It runs on gossipsub's event loop, so it must
	// not block. Default none.
	OnAbuse func(peer.ID)
}

// Budget is one node's defence against floods: neighbours that have
// forwarded an invalid revocation (honest peers validate before forwarding,
// so they never do) are suspects for SuspectFor, and a suspect's RPCs are
// dropped unread once they exceed RPCBudgetRate published messages a second
// (burst RPCBudgetBurst). Honest neighbours are never budgeted, so a burst
// of real revocations spreads at full speed. A dropped RPC is never looked
// into, so nothing in it is marked seen: an honest copy of a valid record in
// it still arrives from another neighbour.
//
// At a neighbour's first forgery, and when a suspect exceeds its budget,
// the budget cuts it off (CutOff on the host of the Service it serves) and
// its Gater refuses the neighbour for CutOffFor.
//
// Make one per node before its host (the host is built with Gater) and
// give it to Start; a Budget serves one running Service at a time.
type Budget struct {
	lim     *peerlimit.Limiter
	now     func() time.Time
	onAbuse func(peer.ID)
	checked *revocation.VerifyCache // records verified as their RPC arrived

	dropped atomic.Uint64 // RPCs dropped unread

	mu       sync.Mutex
	host     host.Host             // the running Service's, cut off on; nil before Start
	log      *slog.Logger          // the running Service's
	suspects map[peer.ID]time.Time // until when
	abused   map[peer.ID]time.Time // when a peer was last cut off
}

// NewBudget makes a node's budget.
func NewBudget(cfg BudgetConfig) *Budget {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Budget{lim: peerlimit.New(RPCBudgetRate, RPCBudgetBurst, maxLimiters, now), now: now,
		onAbuse: cfg.OnAbuse, checked: revocation.NewVerifyCache(maxVerifiedCache),
		suspects: map[peer.ID]time.Time{}, abused: map[peer.ID]time.Time{}}
}

var errBudgetInUse = errors.New("revgossip: the budget already serves a running service")

// bind makes the budget cut off on h, logging to log, until unbind.
func (b *Budget) bind(h host.Host, log *slog.Logger) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.host != nil {
		return errBudgetInUse
	}
	b.host, b.log = h, log
	return nil
}

func (b *Budget) unbind() {
	b.mu.Lock()
	b.host, b.log = nil, nil
	b.mu.Unlock()
}

// Dropped counts the RPCs dropped unread: forged on arrival, or over a
// suspect's budget, or sent by a peer being cut off.
func (b *Budget) Dropped() uint64 { return b.dropped.Load() }

// IsSuspect reports whether p is a suspect now.
func (b *Budget) IsSuspect(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.suspects[p]
	return ok && b.now().Before(until)
}

// IsCutOff reports whether p was cut off (its connections closed for
// flooding forgeries) within CutOffFor.
func (b *Budget) IsCutOff(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	last, ok := b.abused[p]
	return ok && b.now().Sub(last) < CutOffFor
}

// appScore is gossipsub's application-specific score (P5, weight 1):
// SuspectPenalty while p is a suspect, 0 otherwise. pubsub asks it on
// every score computation, under its own lock; it takes b.mu only.
func (b *Budget) appScore(p peer.ID) float64 {
	if b.IsSuspect(p) {
		return SuspectPenalty
	}
	return 0
}

// suspect marks p as having forwarded an invalid revocation.
func (b *Budget) suspect(p peer.ID) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.suspects) >= maxLimiters {
		clear(b.suspects)
		clear(b.abused)
	}
	b.suspects[p] = b.now().Add(SuspectFor)
	delete(b.abused, p)
}

// verified is the cache of records verified as their RPC arrived (nil
// for no budget: the validator then verifies everything itself).
func (b *Budget) verified() *revocation.VerifyCache {
	if b == nil {
		return nil
	}
	return b.checked
}

// inspect is gossipsub's RPC inspector. It runs as each RPC arrives,
// before gossipsub queues the RPC's messages for validation, so a
// neighbour is suspected from its first forgery on, not once the
// validation queue has caught up with it: for each revocation in a
// non-suspect's RPC it checks the signatures now (remembering valid ones,
// so the validator does not check them twice); at the first invalid one
// it drops the whole RPC, marks the sender a suspect and cuts it off.
func (b *Budget) inspect(from peer.ID, rpc *pubsub.RPC) error {
	n := len(rpc.GetPublish())
	if n == 0 {
		return nil
	}
	if b.IsSuspect(from) {
		// While its connections are being closed, everything it already sent
		// is dropped; once it comes back it gets the small budget.
		if b.IsCutOff(from) || !b.lim.AllowN(from, n) {
			b.dropped.Add(1)
			b.abuse(from)
			return errOverBudget
		}
		return nil
	}
	for _, m := range rpc.GetPublish() {
		if m.GetTopic() != Topic {
			continue
		}
		if !b.precheck(m.GetData()) {
			// The whole RPC is dropped unread by gossipsub (nothing in it is
			// marked seen), the sender becomes a suspect and is cut off.
			b.dropped.Add(1)
			b.suspect(from)
			b.abuse(from)
			return errForged
		}
	}
	return nil
}

// abuse cuts p off, at most once per CutOffFor. It runs on gossipsub's
// event loop, before the next RPC is taken: every RPC the peer sends after
// this one costs reading and decoding until its streams stop.
func (b *Budget) abuse(p peer.ID) {
	b.mu.Lock()
	now := b.now()
	last, ok := b.abused[p]
	first := !ok || now.Sub(last) >= CutOffFor
	if first {
		b.abused[p] = now
	}
	h, log := b.host, b.log
	b.mu.Unlock()
	if !first {
		return
	}
	if h != nil {
		log.Warn("cutting off a peer that sent forged revocations", "peer", p)
		CutOff(h, p)
	}
	if b.onAbuse != nil {
		b.onAbuse(p)
	}
}

// precheck reports whether data is a record whose signatures and proof
// verify, remembering valid ones.
func (b *Budget) precheck(data []byte) bool {
	u, err := revocation.Decode(data)
	if err != nil {
		return false
	}
	_, err = b.checked.Verify(u)
	return err == nil
}

var (
	errOverBudget = errors.New("revgossip: suspect neighbour over its message budget")
	errForged     = errors.New("revgossip: neighbour sent a forged revocation")
)
