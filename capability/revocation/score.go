package revocation

import (
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/peerlimit"
)

// Score thresholds. An invalid message costs its forwarder
// InvalidPenalty × (count)² (gossipsub's P4, squared), so two forged
// revocations push a peer under the gossip threshold, three under publish
// and four under graylist, where pubsub drops its RPCs before validation.
const (
	InvalidPenalty     = -100.0
	GossipThreshold    = -100.0
	PublishThreshold   = -500.0
	GraylistThreshold  = -1000.0
	acceptPXThreshold  = 10.0
	opportunisticGraft = 3.0
)

// ScoreParams returns gossipsub peer-score parameters with a topic score
// for Topic. Pass them to pubsub.WithPeerScore (PubSubOptions does). The
// application score and other topics are left neutral; a node that also
// gossips on other topics adds their TopicScoreParams to the map.
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
		TopicScoreCap:             20,
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

// PubSubOptions are the options every mesh node should build its gossipsub
// with (pubsub.NewGossipSub(ctx, h, PubSubOptions(b)...)), b being the
// node's Budget (also given to JoinGossip):
//
//   - an RPC inspector that budgets suspect neighbours (see Budget) and
//     drops a whole RPC over budget before gossipsub looks inside: before
//     the StrictSign check, the seen-cache and our validator. A flood then
//     costs each node a bounded amount of work per attacker.
//   - WithMaxMessageSize(MaxRPCBytes): a batch larger than a few records is
//     cut off at the read.
//   - StrictSign (the default, stated): every message carries its
//     publisher's signature, so scores and rate limits attach to real peers.
//   - WithPeerScore(ScoreParams()): forged revocations cost the sender.
//   - WithFloodPublish(true): a publisher sends to every topic peer above
//     the publish threshold, not only its mesh, which is what takes a
//     revocation from "one heartbeat" to "one round trip" in small meshes.
//   - WithValidateQueueSize(1024): the default 32 overflows under a burst,
//     and an overflow drops honest messages with the flood.
//
// Options that are not the revocation topic's business (peer exchange on
// the bootstrap node, direct peers for relays, WithPeerScoreInspect, which
// must come after WithPeerScore) are appended by the caller. The default
// 1 MiB message cap is far above MaxRecordBytes; the validator enforces
// the latter.
func PubSubOptions(b *Budget) []pubsub.Option {
	params, thresholds := ScoreParams()
	return []pubsub.Option{
		pubsub.WithAppSpecificRpcInspector(b.inspect),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithFloodPublish(true),
		pubsub.WithValidateQueueSize(1024),
		pubsub.WithMaxMessageSize(MaxRPCBytes),
	}
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
// Create one per node and pass it to both PubSubOptions and GossipConfig.
type Budget struct {
	lim *peerlimit.Limiter
	now func() time.Time

	// OnAbuse, when set, is called (at most once per CutOffFor) when a
	// neighbour sends a forgery or a suspect exceeds its budget, on
	// gossipsub's event loop, so it must not block: nodes pass a function
	// calling CutOff, which stops reading the peer at once and closes its
	// connections in the background. Default none.
	OnAbuse func(peer.ID)

	// Dropped counts RPCs dropped unread: forged on arrival or over a
	// suspect's budget.
	Dropped atomic.Uint64

	mu       sync.Mutex
	suspects map[peer.ID]time.Time // until when
	abused   map[peer.ID]time.Time // when OnAbuse was last called for a peer
	verified map[[32]byte]bool     // record hash → its signatures and proof verified
}

// NewBudget makes a node's budget (now: nil for time.Now).
func NewBudget(now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	return &Budget{lim: peerlimit.New(RPCBudgetRate, RPCBudgetBurst, maxLimiters, now), now: now,
		suspects: map[peer.ID]time.Time{}, abused: map[peer.ID]time.Time{}, verified: map[[32]byte]bool{}}
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

func (b *Budget) isSuspect(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.suspects[p]
	return ok && b.now().Before(until)
}

// inspect is gossipsub's RPC inspector. It runs as each RPC arrives,
// before gossipsub queues the RPC's messages for validation, so a
// neighbour is suspected from its first forgery on, not once the
// validation queue has caught up with it: for each revocation in a
// non-suspect's RPC it checks the signatures now (remembering valid ones,
// so the validator does not check them twice); at the first invalid one
// it drops the whole RPC, marks the sender a suspect and closes its
// connections (OnAbuse).
func (b *Budget) inspect(from peer.ID, rpc *pubsub.RPC) error {
	n := len(rpc.GetPublish())
	if n == 0 {
		return nil
	}
	if b.isSuspect(from) {
		// While its connections are being closed, everything it already sent
		// is dropped; once it comes back it gets the small budget.
		if b.cuttingOff(from) || !b.lim.AllowN(from, n) {
			b.Dropped.Add(1)
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
			b.Dropped.Add(1)
			b.suspect(from)
			b.abuse(from)
			return errForged
		}
	}
	return nil
}

// abuse calls OnAbuse, at most once per CutOffFor. It runs on gossipsub's
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
	b.mu.Unlock()
	if first && b.OnAbuse != nil {
		b.OnAbuse(p)
	}
}

// cuttingOff reports whether p was cut off within CutOffFor: what it sent
// before its connections closed is still arriving.
func (b *Budget) cuttingOff(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	last, ok := b.abused[p]
	return ok && b.now().Sub(last) < CutOffFor
}

// precheck reports whether data is a record whose signatures and proof
// verify, caching the answer for valid ones.
func (b *Budget) precheck(data []byte) bool {
	h := sha256.Sum256(data)
	if b.wasVerified(h) {
		return true
	}
	r, err := decode(data)
	if err != nil || r.verify() != nil {
		return false
	}
	b.mu.Lock()
	if len(b.verified) >= maxVerifiedCache {
		clear(b.verified)
	}
	b.verified[h] = true
	b.mu.Unlock()
	return true
}

// wasVerified reports whether a record with hash h passed precheck.
func (b *Budget) wasVerified(h [32]byte) bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.verified[h]
}

var (
	errOverBudget = errors.New("revocation: suspect neighbour over its message budget")
	errForged     = errors.New("revocation: neighbour sent a forged revocation")
)

// IsSuspect reports whether p is a suspect now.
func (b *Budget) IsSuspect(p peer.ID) bool { return b.isSuspect(p) }
