package capability

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"
)

// Budget is one use of a token with a max-uses budget.
type Budget struct {
	ID  ID
	Max int // the token's max-uses, ≥ 1
	// Until is the last moment any verifier could accept the token: the
	// verifier sets it to the token's expiry plus MaxSkew plus one second.
	// A store keeps the use until its time mark (see MemoryReplay) passes
	// Until, and refuses a token it has no record of once the mark has.
	Until time.Time
}

// ReplayStore counts uses of budgeted tokens. A persistent implementation
// can replace MemoryReplay; it must be atomic across the uses of one call,
// and must follow the time-mark rule MemoryReplay documents, or a verifier
// clock set forward and back revives spent tokens.
type ReplayStore interface {
	// Spend records one use of each entry, or of none: if any entry's
	// budget is already spent it returns ErrReplayed (naming the token);
	// so it does for a token it has no record of whose Until its time
	// mark has passed; if it cannot remember a new token it returns
	// ErrReplayFull. now is the verifier's clock, which moves the mark.
	Spend(ctx context.Context, now time.Time, uses []Budget) error
}

// MemoryReplay is an in-memory ReplayStore with a capacity. Safe for
// concurrent use. It forgets every use on restart: nodes use
// DatastoreReplay.
//
// It never forgets a use on the strength of the verifier's clock alone,
// which can be set forward and back again. It keeps a time mark M, the
// latest time it is sure has been reached, and on each Spend at clock
// reading now:
//
//  1. M moves to min(now, M + e), where e is the time elapsed on this
//     process's monotonic clock since M last moved, and never moves back
//     (the first Spend of a new store sets M = now);
//  2. a record whose Until ≤ M is forgotten;
//  3. a token with no record and Until ≤ M is refused as ErrReplayed: its
//     record may have been forgotten.
//
// So a clock pushed forward collects nothing that real time has not
// expired, and a clock set back cannot revive a token whose record is
// gone, whatever the clock does: the clock decides only how long records
// are kept (a mark that lags keeps them longer; monotonic time does not
// count a suspended machine) and, if it was ahead when the mark was set,
// refuses unspent tokens that end before the mark until real time gets
// there.
type MemoryReplay struct {
	mu      sync.Mutex
	max     int
	counts  map[ID]useCount
	byUntil untilHeap
	mark    timeMark
}

type useCount struct {
	n     int
	until time.Time // the latest Until spent for the token
}

// NewMemoryReplay returns a store that remembers at most max tokens
// (DefaultMaxReplayEntries if max ≤ 0).
func NewMemoryReplay(max int) *MemoryReplay {
	if max <= 0 {
		max = DefaultMaxReplayEntries
	}
	return &MemoryReplay{max: max, counts: make(map[ID]useCount), mark: newTimeMark(time.Time{})}
}

// Spend implements ReplayStore.
func (m *MemoryReplay) Spend(ctx context.Context, now time.Time, uses []Budget) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mark := m.mark.advance(now)
	m.gc(mark)
	fresh := 0
	for _, u := range uses {
		c, seen := m.counts[u.ID]
		if !seen {
			if err := pastMark(u, mark); err != nil {
				return err
			}
			fresh++
		}
		if c.n >= u.Max {
			return fmt.Errorf("%w: token %s used %d of %d times", ErrReplayed, u.ID.Short(), c.n, u.Max)
		}
	}
	if len(m.counts)+fresh > m.max {
		return fmt.Errorf("%w: %d tokens remembered", ErrReplayFull, len(m.counts))
	}
	for _, u := range uses {
		c, seen := m.counts[u.ID]
		if !seen || u.Until.After(c.until) {
			c.until = u.Until
			heap.Push(&m.byUntil, untilEntry{u.ID, u.Until})
		}
		c.n++
		m.counts[u.ID] = c
	}
	return nil
}

// Len is the number of tokens remembered.
func (m *MemoryReplay) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.counts)
}

// gc forgets tokens whose Until the mark has reached. A heap entry whose
// token's Until was raised since is dropped; the later entry stays.
func (m *MemoryReplay) gc(mark time.Time) {
	for len(m.byUntil) > 0 && !mark.Before(m.byUntil[0].until) {
		e := heap.Pop(&m.byUntil).(untilEntry)
		if c, ok := m.counts[e.id]; ok && !mark.Before(c.until) {
			delete(m.counts, e.id)
		}
	}
}

// pastMark refuses a token the store has no record of when its Until is
// not after the mark: a record of it may have been forgotten.
func pastMark(u Budget, mark time.Time) error {
	if mark.Before(u.Until) {
		return nil
	}
	return fmt.Errorf("%w: token %s: no use recorded, and its last valid moment %s is not after this store's time mark %s (a record may have been forgotten; was the clock set back?)",
		ErrReplayed, u.ID.Short(), u.Until.UTC().Format(time.RFC3339), mark.UTC().Format(time.RFC3339))
}

// timeMark is a replay store's high-water mark of time (the M of
// MemoryReplay's rule).
type timeMark struct {
	at      time.Time            // M; zero until the first reading
	movedAt time.Duration        // elapsed() when at last moved
	elapsed func() time.Duration // monotonic time since the store opened
}

// newTimeMark starts a mark at at (zero: set by the first reading), with
// elapsed time counted from now on this process's monotonic clock.
func newTimeMark(at time.Time) timeMark {
	start := time.Now()
	return timeMark{at: at, elapsed: func() time.Duration { return time.Since(start) }}
}

// peek returns where a reading of now moves the mark, and the monotonic
// time to record with it, without moving it.
func (m *timeMark) peek(now time.Time) (time.Time, time.Duration) {
	now = now.Round(0) // compare wall clocks, not monotonic readings
	e := m.elapsed()
	if m.at.IsZero() {
		return now, e
	}
	next := m.at.Add(e - m.movedAt)
	if now.Before(next) {
		next = now
	}
	if !next.After(m.at) {
		return m.at, m.movedAt
	}
	return next, e
}

// advance moves the mark for a reading of now and returns it.
func (m *timeMark) advance(now time.Time) time.Time {
	m.at, m.movedAt = m.peek(now)
	return m.at
}

type untilEntry struct {
	id    ID
	until time.Time
}

// untilHeap is a min-heap on until.
type untilHeap []untilEntry

func (h untilHeap) Len() int           { return len(h) }
func (h untilHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h untilHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *untilHeap) Push(x any)        { *h = append(*h, x.(untilEntry)) }
func (h *untilHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// RevocationChecker answers whether a token is revoked. The revocation
// protocol supplies the gossiped Bloom-filter-plus-exact-set one; it must
// answer from memory, as Verify calls it once per chain link.
type RevocationChecker interface {
	IsRevoked(id ID) bool
}

type noRevocations struct{}

func (noRevocations) IsRevoked(ID) bool { return false }

// MemoryRevocations is an in-memory exact set, for tests and for nodes
// before the gossiped set is wired. Safe for concurrent use.
type MemoryRevocations struct {
	mu  sync.RWMutex
	ids map[ID]struct{}
}

// NewMemoryRevocations returns an empty set.
func NewMemoryRevocations() *MemoryRevocations {
	return &MemoryRevocations{ids: make(map[ID]struct{})}
}

// Revoke adds id. Revocation is irreversible: there is no Unrevoke.
func (m *MemoryRevocations) Revoke(id ID) {
	m.mu.Lock()
	m.ids[id] = struct{}{}
	m.mu.Unlock()
}

// IsRevoked reports whether id was revoked.
func (m *MemoryRevocations) IsRevoked(id ID) bool {
	m.mu.RLock()
	_, ok := m.ids[id]
	m.mu.RUnlock()
	return ok
}

// Len is the number of revoked IDs.
func (m *MemoryRevocations) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.ids)
}
