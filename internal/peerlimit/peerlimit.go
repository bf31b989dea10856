// Package peerlimit keeps one token bucket per remote peer, with a bound on
// how many peers it remembers, for protocol servers that rate-limit each
// caller.
package peerlimit

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// Limiter is safe for concurrent use.
type Limiter struct {
	rate  rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[peer.ID]*rate.Limiter
}

// New makes a limiter allowing each peer r events per second with the given
// burst. It remembers at most max peers; when full it starts over, which at
// worst gives a flood of new peers a fresh burst and never grows memory.
// now is the clock (nil: time.Now).
func New(r rate.Limit, burst, max int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if max <= 0 {
		max = 4096
	}
	return &Limiter{rate: r, burst: burst, max: max, now: now, buckets: map[peer.ID]*rate.Limiter{}}
}

// Allow spends one token of p's bucket, reporting whether there was one.
func (l *Limiter) Allow(p peer.ID) bool { return l.AllowN(p, 1) }

// Len reports how many peers are tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// AllowN spends n tokens of p's bucket at once, or none.
func (l *Limiter) AllowN(p peer.ID, n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[p]
	if !ok {
		if len(l.buckets) >= l.max {
			clear(l.buckets)
		}
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[p] = b
	}
	return b.AllowN(l.now(), n)
}
