package capability

import (
	"sync"
	"time"
)

// TimeMark is a high-water mark of time for deciding when something can be
// forgotten (a use record, a revocation): a clock set forward and then back
// must not make a verifier forget what keeps a token refused. The mark
// never moves back, and it moves forward no faster than this process's
// monotonic clock has run since the mark last moved, nor past the wall
// clock. Persist Get and give it to NewTimeMark at the next start, so a
// restart does not reset it. Safe for concurrent use.
type TimeMark struct {
	mu sync.Mutex
	m  timeMark
}

// NewTimeMark starts a mark at at (a persisted mark; zero: the first
// reading sets it). elapsed is the monotonic time since the mark was made;
// nil: this process's monotonic clock (tests with a fake wall clock pass
// one that follows it).
func NewTimeMark(at time.Time, elapsed func() time.Duration) *TimeMark {
	m := newTimeMark(at)
	if elapsed != nil {
		m.elapsed = elapsed
	}
	return &TimeMark{m: m}
}

// Advance moves the mark for a wall-clock reading now and returns it.
func (t *TimeMark) Advance(now time.Time) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m.advance(now)
}

// Get returns the mark without moving it (zero before the first reading).
func (t *TimeMark) Get() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m.at
}
