package relay

import (
	"container/list"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/time/rate"
)

// Authorizer is what the relay asks about a peer. The node satisfies it with
// the directory (Registered) and the operator's relay-access grants
// (AllowReserve); capability tokens can back AllowReserve later without
// changing the relay.
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
	svc     *Service
	auth    Authorizer
	reserve *peerLimiter
	connect *peerLimiter

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

// AllowConnect implements relayv2.ACLFilter.
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

// peerLimiter is a per-peer token bucket (perMinute tokens a minute, burst
// perMinute) over a bounded map. When the map is full the least recently seen
// peer is evicted; an evicted peer starts again with a full bucket, which is
// the state its bucket would reach after a minute idle anyway. Only peers
// that passed authorization get a bucket (see acl.go), so strangers cannot
// churn the map.
type peerLimiter struct {
	limit rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu    sync.Mutex
	lru   *list.List // of *limiterEntry, most recently seen at the front
	peers map[peer.ID]*list.Element
}

type limiterEntry struct {
	id  peer.ID
	lim *rate.Limiter
}

// newPeerLimiter returns a limiter, or nil (allow everything) when
// perMinute is negative.
func newPeerLimiter(perMinute, maxPeers int, now func() time.Time) *peerLimiter {
	if perMinute < 0 {
		return nil
	}
	return &peerLimiter{
		limit: rate.Limit(float64(perMinute) / 60),
		burst: perMinute,
		max:   maxPeers,
		now:   now,
		lru:   list.New(),
		peers: make(map[peer.ID]*list.Element),
	}
}

// allow takes one token from p's bucket and reports whether there was one.
func (l *peerLimiter) allow(p peer.ID) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.peers[p]
	if ok {
		l.lru.MoveToFront(el)
	} else {
		for l.lru.Len() >= l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.peers, old.Value.(*limiterEntry).id)
		}
		el = l.lru.PushFront(&limiterEntry{id: p, lim: rate.NewLimiter(l.limit, l.burst)})
		l.peers[p] = el
	}
	return el.Value.(*limiterEntry).lim.AllowN(l.now(), 1)
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
