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
	ID    ID
	Max   int       // the token's max-uses, ≥ 1
	Until time.Time // after this the token can no longer verify: forget it
}

// ReplayStore counts uses of budgeted tokens. A persistent implementation
// can replace MemoryReplay; it must be atomic across the uses of one call.
type ReplayStore interface {
	// Spend records one use of each entry, or of none: if any entry's
	// budget is already spent it returns ErrReplayed (naming the token);
	// if it cannot remember a new token it returns ErrReplayFull. now is the
	// verifier's clock, for expiring old entries.
	Spend(ctx context.Context, now time.Time, uses []Budget) error
}

// MemoryReplay is an in-memory ReplayStore with a capacity; entries are
// dropped once their token has expired. Safe for concurrent use.
type MemoryReplay struct {
	mu      sync.Mutex
	max     int
	counts  map[ID]int
	byUntil untilHeap
}

// NewMemoryReplay returns a store that remembers at most max tokens
// (DefaultMaxReplayEntries if max ≤ 0).
func NewMemoryReplay(max int) *MemoryReplay {
	if max <= 0 {
		max = DefaultMaxReplayEntries
	}
	return &MemoryReplay{max: max, counts: make(map[ID]int)}
}

// Spend implements ReplayStore.
func (m *MemoryReplay) Spend(ctx context.Context, now time.Time, uses []Budget) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gc(now)
	fresh := 0
	for _, u := range uses {
		c, seen := m.counts[u.ID]
		if c >= u.Max {
			return fmt.Errorf("%w: token %s used %d of %d times", ErrReplayed, u.ID.Short(), c, u.Max)
		}
		if !seen {
			fresh++
		}
	}
	if len(m.counts)+fresh > m.max {
		return fmt.Errorf("%w: %d tokens remembered", ErrReplayFull, len(m.counts))
	}
	for _, u := range uses {
		if _, seen := m.counts[u.ID]; !seen {
			heap.Push(&m.byUntil, untilEntry{u.ID, u.Until})
		}
		m.counts[u.ID]++
	}
	return nil
}

// Len is the number of tokens remembered.
func (m *MemoryReplay) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.counts)
}

// gc forgets tokens whose Until has passed.
func (m *MemoryReplay) gc(now time.Time) {
	for len(m.byUntil) > 0 && !now.Before(m.byUntil[0].until) {
		e := heap.Pop(&m.byUntil).(untilEntry)
		delete(m.counts, e.id)
	}
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
