package relay

import (
	"container/list"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Authorizer is what the relay asks about a peer. The node satisfies it with
// the directory (Registered: a bootstrap's voucher the peer presented, else
// the bootstrap's answer; see node/infra) and the operator's relay-access
// grants (AllowReserve); capability tokens can back AllowReserve later
// without changing the relay.
//
// Policy, enforced through the relay library's ACL hook (relayv2.WithACL):
//
//   - Reserve: p may reserve iff Registered(p) || AllowReserve(p). Unknown
//     peers get nothing, not even a rate-limit bucket.
//   - Connect src → dst: dst must be authorized as above (and the library
//     then requires that dst holds a live reservation), and either src is
//     authorized too or dst is Registered. A registered home node may thus be
//     contacted through the relay by any peer that can reach it: the home
//     node authenticates the caller and checks its capability end to end over
//     the secure channel the relay cannot read, so the relay adds nothing by
//     filtering sources, and callers (new contacts, agents) need no relay
//     account. A peer that is only granted (not registered) is reachable only
//     from authorized peers.
//
// Both methods are called on the relay's stream-handling path and must be
// fast and safe for concurrent use.
type Authorizer interface {
	// Registered reports whether p is a home node in the directory.
	Registered(p peer.ID) bool
	// AllowReserve reports whether p holds a relay-access grant from the
	// operator (or, later, a capability) that lets it reserve without being
	// registered.
	AllowReserve(p peer.ID) bool
}

// AuthorizerFuncs adapts two functions to an Authorizer; a nil function
// answers false.
type AuthorizerFuncs struct {
	RegisteredFunc   func(peer.ID) bool
	AllowReserveFunc func(peer.ID) bool
}

// Registered calls RegisteredFunc.
func (f AuthorizerFuncs) Registered(p peer.ID) bool {
	return f.RegisteredFunc != nil && f.RegisteredFunc(p)
}

// AllowReserve calls AllowReserveFunc.
func (f AuthorizerFuncs) AllowReserve(p peer.ID) bool {
	return f.AllowReserveFunc != nil && f.AllowReserveFunc(p)
}

// PeerSet is a concurrency-safe set of peers, usable as a static directory
// or an operator allow-list: PeerSet.Has fits AuthorizerFuncs.
type PeerSet struct {
	mu    sync.RWMutex
	peers map[peer.ID]struct{}
}

// NewPeerSet returns a set holding ids.
func NewPeerSet(ids ...peer.ID) *PeerSet {
	s := &PeerSet{peers: make(map[peer.ID]struct{}, len(ids))}
	for _, id := range ids {
		s.peers[id] = struct{}{}
	}
	return s
}

// Add puts p in the set.
func (s *PeerSet) Add(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peers[p] = struct{}{}
}

// Remove takes p out of the set.
func (s *PeerSet) Remove(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.peers, p)
}

// Has reports whether p is in the set.
func (s *PeerSet) Has(p peer.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.peers[p]
	return ok
}

// acl implements relayv2.ACLFilter: authorization, then the per-peer rate
// limits. The library answers every ACL refusal with the same
// PERMISSION_DENIED, so the acl notes why it refused and the hop observer
// takes the note when it audits the refusal (same key, same order).
type acl struct {
	svc      *Service
	auth     Authorizer
	reserve  *peerLimiter // per reserving peer
	connect  *peerLimiter // per circuit source
	toDst    *peerLimiter // per circuit destination, shared by its sources
	relayAll *peerLimiter // relay-wide, one bucket (key "")

	mu      sync.Mutex
	pending map[pendingKey][]Reason // refusal reasons not yet audited
}

type pendingKey struct {
	connect  bool
	src, dst peer.ID
}

// maxPending bounds the notes; they are normally taken within the same
// request, so hitting it means answers failed to write.
const maxPending = 4096

func (a *acl) authorized(p peer.ID) bool {
	return a.auth != nil && (a.auth.Registered(p) || a.auth.AllowReserve(p))
}

// AllowReserve implements relayv2.ACLFilter.
func (a *acl) AllowReserve(p peer.ID, _ ma.Multiaddr) bool {
	k := pendingKey{src: p}
	switch {
	case !a.authorized(p):
		return a.refuse(k, ReasonUnauthorized)
	case !a.svc.auditHealthy():
		return a.refuse(k, ReasonAuditUnavailable)
	case !a.reserve.allow(p):
		a.svc.metrics.rateLimited.WithLabelValues("reserve").Inc()
		return a.refuse(k, ReasonRateLimited)
	}
	return true
}

// AllowConnect implements relayv2.ACLFilter. The rate limits are checked
// from the narrowest to the widest (source, destination, relay); a request
// one of them refuses gets its tokens back from the others, so refused
// floods spend no one else's budget.
func (a *acl) AllowConnect(src peer.ID, _ ma.Multiaddr, dst peer.ID) bool {
	k := pendingKey{connect: true, src: src, dst: dst}
	switch {
	case a.auth == nil:
		return a.refuse(k, ReasonUnauthorized)
	case !a.auth.Registered(dst) && !(a.auth.AllowReserve(dst) && a.authorized(src)):
		return a.refuse(k, ReasonUnauthorized)
	case !a.svc.auditHealthy():
		return a.refuse(k, ReasonAuditUnavailable)
	case !a.connect.allow(src):
		a.svc.metrics.rateLimited.WithLabelValues("connect").Inc()
		return a.refuse(k, ReasonRateLimited)
	}
	stranger := !a.authorized(src)
	if !a.toDst.take(dst, stranger) {
		a.connect.refund(src)
		a.svc.metrics.rateLimited.WithLabelValues("destination").Inc()
		return a.refuse(k, ReasonDestinationRateLimited)
	}
	if !a.relayAll.take("", stranger) {
		a.connect.refund(src)
		a.toDst.refund(dst)
		a.svc.metrics.rateLimited.WithLabelValues("relay").Inc()
		return a.refuse(k, ReasonRelayRateLimited)
	}
	return true
}

// refuse notes why k was refused and returns false.
func (a *acl) refuse(k pendingKey, r Reason) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pending) >= maxPending {
		clear(a.pending)
	}
	a.pending[k] = append(a.pending[k], r)
	return false
}

// takeReason returns and forgets the oldest note for k.
func (a *acl) takeReason(k pendingKey) (Reason, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rs := a.pending[k]
	if len(rs) == 0 {
		return "", false
	}
	if len(rs) == 1 {
		delete(a.pending, k)
	} else {
		a.pending[k] = rs[1:]
	}
	return rs[0], true
}

// bucket is a token bucket: rate tokens a second up to burst. It is not
// safe for concurrent use; its owner locks.
type bucket struct {
	tokens float64
	last   time.Time
}

// fill brings b up to now.
func (b *bucket) fill(now time.Time, rate float64, burst int) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(float64(burst), b.tokens+dt*rate)
	}
	b.last = now
}

// peerLimiter is a per-key token bucket (perMinute tokens a minute, burst
// `burst`) over a bounded map. When the map is full the least recently seen
// key is evicted; an evicted key starts again with a full bucket, which is
// the state its bucket would reach after a minute idle anyway. Only peers
// that passed authorization get a bucket (see acl.go), so strangers cannot
// churn the map.
//
// reserve is the part of each bucket strangers may not take (take's
// stranger argument): a stranger is refused once the bucket holds no more
// than reserve tokens, which stay for authorized peers.
type peerLimiter struct {
	rate    float64 // tokens a second
	burst   int
	reserve float64
	max     int
	now     func() time.Time

	mu    sync.Mutex
	lru   *list.List // of *limiterEntry, most recently seen at the front
	peers map[peer.ID]*list.Element
}

type limiterEntry struct {
	id peer.ID
	b  bucket
}

// newPeerLimiter returns a per-peer limiter with a minute's burst, or nil
// (allow everything) when perMinute is negative.
func newPeerLimiter(perMinute, maxPeers int, now func() time.Time) *peerLimiter {
	if perMinute < 0 {
		return nil
	}
	return newLimiter(perMinute, perMinute, 0, maxPeers, now)
}

// newSharedLimiter returns the limiter of a budget many sources share (per
// destination, or relay-wide with maxKeys 1): a burst of ten seconds'
// worth, the lower half of which strangers may not take; nil when
// perMinute is negative.
func newSharedLimiter(perMinute, maxKeys int, now func() time.Time) *peerLimiter {
	if perMinute < 0 {
		return nil
	}
	burst := max(1, perMinute/6)
	return newLimiter(perMinute, burst, float64(burst/2), maxKeys, now)
}

func newLimiter(perMinute, burst int, reserve float64, maxKeys int, now func() time.Time) *peerLimiter {
	return &peerLimiter{
		rate:    float64(perMinute) / 60,
		burst:   burst,
		reserve: reserve,
		max:     maxKeys,
		now:     now,
		lru:     list.New(),
		peers:   make(map[peer.ID]*list.Element),
	}
}

// allow takes one token from p's bucket and reports whether there was one.
func (l *peerLimiter) allow(p peer.ID) bool { return l.take(p, false) }

// take takes one token from p's bucket and reports whether there was one
// that a stranger (or an authorized peer) may take.
func (l *peerLimiter) take(p peer.ID, stranger bool) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(p)
	floor := 0.0
	if stranger {
		floor = l.reserve
	}
	if b.tokens < floor+1 {
		return false
	}
	b.tokens--
	return true
}

// refund gives back a token take took, when a later check refused the
// request after all.
func (l *peerLimiter) refund(p peer.ID) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.peers[p]; ok {
		b := &el.Value.(*limiterEntry).b
		b.tokens = min(float64(l.burst), b.tokens+1)
	}
}

// bucketLocked returns p's bucket, filled up to now, creating it full.
func (l *peerLimiter) bucketLocked(p peer.ID) *bucket {
	now := l.now()
	el, ok := l.peers[p]
	if ok {
		l.lru.MoveToFront(el)
	} else {
		for l.lru.Len() >= l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.peers, old.Value.(*limiterEntry).id)
		}
		el = l.lru.PushFront(&limiterEntry{id: p, b: bucket{tokens: float64(l.burst), last: now}})
		l.peers[p] = el
	}
	b := &el.Value.(*limiterEntry).b
	b.fill(now, l.rate, l.burst)
	return b
}

// size reports how many peers have a bucket.
func (l *peerLimiter) size() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers)
}
