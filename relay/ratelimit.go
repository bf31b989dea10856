package relay

import (
	"container/list"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

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
