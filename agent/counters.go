package agent

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/capability"
)

// Lock is an agent's lock state. A locked agent's calls are refused until
// the owner unlocks it.
type Lock struct {
	Locked bool
	Auto   bool      // set by the anomaly detector, not by hand
	Reason string    // in words, naming the numbers that locked it
	At     time.Time // when it was locked
}

// CounterConfig configures Counters. The zero value works, with the
// defaults of limits.go and no persistence.
type CounterConfig struct {
	// Now is the clock every window and baseline runs on. Default time.Now.
	Now func() time.Time
	// Factor: a last hour over Factor × the baseline locks. Default
	// DefaultFactor (100).
	Factor float64
	// MinPerHour: the fewest calls in the last hour that can lock an
	// established agent. Default DefaultMinPerHour (500).
	MinPerHour int
	// NewAgentCap: the most calls in the last hour of an agent with less
	// than NewAgentAge of history. Default DefaultNewAgentCap (200).
	NewAgentCap int
	// MaxAgents and MaxTokens bound what is tracked. Defaults
	// DefaultMaxAgents and DefaultMaxTokens.
	MaxAgents, MaxTokens int
	// Store, if set, keeps the series and locks across restarts: give it
	// a namespace of its own. Locks are written at once, the rest by Save.
	Store ds.Datastore
}

// Counters counts agents' calls, per agent and per token, learns each
// one's baseline and locks an agent whose calls spike. It is safe for
// concurrent use.
type Counters struct {
	now        func() time.Time
	factor     float64
	minPerHour uint64
	newCap     uint64
	maxAgents  int
	maxTokens  int
	store      ds.Datastore

	mu      sync.Mutex
	agents  map[string]*agentState
	tokens  map[capability.ID]*tokenState
	gone    map[ds.Key]struct{} // forgotten records to delete at the next Save
	dropped int
}

type agentState struct {
	series
	lock Lock
}

type tokenState struct {
	series
	agent string
}

// OpenCounters applies cfg's defaults and loads what cfg.Store holds. A
// stored record that does not decode is deleted and counted (Dropped).
// Save holds the counters while it writes, so a lock written at once is
// never overwritten by an older copy.
func OpenCounters(ctx context.Context, cfg CounterConfig) (*Counters, error) {
	c := &Counters{now: cfg.Now, factor: cfg.Factor, minPerHour: uint64(max(cfg.MinPerHour, 0)),
		newCap: uint64(max(cfg.NewAgentCap, 0)), maxAgents: cfg.MaxAgents, maxTokens: cfg.MaxTokens, store: cfg.Store,
		agents: map[string]*agentState{}, tokens: map[capability.ID]*tokenState{}, gone: map[ds.Key]struct{}{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.factor <= 0 || math.IsNaN(c.factor) || math.IsInf(c.factor, 0) {
		c.factor = DefaultFactor
	}
	if c.minPerHour == 0 {
		c.minPerHour = DefaultMinPerHour
	}
	if c.newCap == 0 {
		c.newCap = DefaultNewAgentCap
	}
	if c.maxAgents <= 0 {
		c.maxAgents = DefaultMaxAgents
	}
	if c.maxTokens <= 0 {
		c.maxTokens = DefaultMaxTokens
	}
	if c.store != nil {
		if err := c.load(ctx); err != nil {
			return nil, fmt.Errorf("agent: reading the call counters: %w", err)
		}
	}
	return c, nil
}

// Record counts one call of agent, made with token tok (the zero ID when
// none), and judges it. A locked agent's call is refused with a
// *LockedError and not counted. A call that makes the last hour a spike
// locks the agent and is refused with a *LockedError whose New is true:
// the node raises the alert for that one. The lock is written to the
// store before Record returns.
func (c *Counters) Record(ctx context.Context, agent string, tok capability.ID) error {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.agents[agent]
	if a == nil {
		if _, err := ParseName(agent); err != nil {
			return err
		}
		if len(c.agents) >= c.maxAgents {
			return fmt.Errorf("%w: the node tracks %d agents already; remove one with mesh agent rm", ErrTooMany, c.maxAgents)
		}
		a = &agentState{series: newSeries(now)}
		c.agents[agent] = a
	}
	if a.lock.Locked {
		return &LockedError{Agent: agent, Lock: a.lock}
	}
	a.advance(now)
	a.add()
	var t *tokenState
	if !tok.IsZero() {
		t = c.tokenFor(tok, agent, now)
		t.advance(now)
		t.add()
	}
	reason := c.judge(&a.series, now, true)
	if reason == "" && t != nil {
		if reason = c.judge(&t.series, now, false); reason != "" {
			reason = "token " + tok.Short() + ": " + reason
		}
	}
	if reason == "" {
		return nil
	}
	a.lock = Lock{Locked: true, Auto: true, Reason: reason, At: now}
	a.skip = hourIndex(now.Unix()) // the spike's hour is never learned
	if err := c.writeAgent(ctx, agent, a); err != nil {
		return fmt.Errorf("agent: agent %q is locked, but the lock could not be stored: %w", agent, err)
	}
	return &LockedError{Agent: agent, Lock: a.lock, New: true}
}

// tokenFor returns tok's series, making room by forgetting the least
// recently used token when MaxTokens are tracked.
func (c *Counters) tokenFor(tok capability.ID, agent string, now time.Time) *tokenState {
	t := c.tokens[tok]
	if t != nil {
		t.agent = agent
		return t
	}
	if len(c.tokens) >= c.maxTokens {
		var oldest capability.ID
		var at int64 = math.MaxInt64
		for id, o := range c.tokens {
			if o.last < at {
				oldest, at = id, o.last
			}
		}
		delete(c.tokens, oldest)
		if c.store != nil && len(c.gone) < c.maxTokens {
			c.gone[tokenKey(oldest)] = struct{}{}
		}
	}
	t = &tokenState{series: newSeries(now), agent: agent}
	c.tokens[tok] = t
	delete(c.gone, tokenKey(tok))
	return t
}

// judge returns why s's last hour is a spike, "" when it is not. The
// new-agent cap applies to agents only: a token's history starts with the
// token, and its agent's series judges its first day.
func (c *Counters) judge(s *series, now time.Time, isAgent bool) string {
	n := s.minSum
	age := now.Unix() - s.first
	if isAgent && age < int64(NewAgentAge/time.Second) {
		if n > c.newCap {
			return fmt.Sprintf("%d calls in the last hour; an agent with less than %d days of history may make at most %d",
				n, int(NewAgentAge/(24*time.Hour)), c.newCap)
		}
		return ""
	}
	if !isAgent && age < int64(tokenMinHistory/time.Second) {
		return ""
	}
	if n < c.minPerHour {
		return ""
	}
	ref := s.reference(now.Unix())
	if float64(n) > c.factor*ref {
		return fmt.Sprintf("%d calls in the last hour, over %g times the usual %.1f per hour", n, c.factor, ref)
	}
	return ""
}

// Unlock lifts agent's lock. Its last minute and last hour are cleared,
// so the spike that locked it does not lock it again; its baseline and
// day are kept. The change is written at once.
func (c *Counters) Unlock(ctx context.Context, agent string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.agents[agent]
	if a == nil || !a.lock.Locked {
		return fmt.Errorf("%w: agent %q is not locked", ErrNotFound, agent)
	}
	a.lock = Lock{}
	a.advance(c.now())
	a.sec, a.min, a.secSum, a.minSum = [minuteBuckets]uint32{}, [hourBuckets]uint32{}, 0, 0
	return c.writeAgent(ctx, agent, a)
}

// Lock locks agent by hand (for example while it is being removed), with
// reason in words. The lock is written at once.
func (c *Counters) Lock(ctx context.Context, agent, reason string) error {
	if _, err := ParseName(agent); err != nil {
		return err
	}
	if len(reason) > MaxReasonLen {
		reason = reason[:MaxReasonLen]
	}
	reason = strings.ToValidUTF8(reason, "?")
	if reason == "" {
		reason = "locked by the owner"
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.agents[agent]
	if a == nil {
		if len(c.agents) >= c.maxAgents {
			return fmt.Errorf("%w: the node tracks %d agents already", ErrTooMany, c.maxAgents)
		}
		a = &agentState{series: newSeries(now)}
		c.agents[agent] = a
	}
	a.lock = Lock{Locked: true, Reason: reason, At: now}
	return c.writeAgent(ctx, agent, a)
}

// LockState returns agent's lock, the zero Lock when it is not locked or
// not known.
func (c *Counters) LockState(agent string) Lock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.agents[agent]; a != nil {
		return a.lock
	}
	return Lock{}
}

// Forget drops agent and every token it used, in memory and in the store
// (mesh agent rm).
func (c *Counters) Forget(ctx context.Context, agent string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.agents, agent)
	keys := []ds.Key{agentKey(agent)}
	for id, t := range c.tokens {
		if t.agent == agent {
			delete(c.tokens, id)
			keys = append(keys, tokenKey(id))
		}
	}
	if c.store == nil {
		return nil
	}
	for _, k := range keys {
		if err := c.store.Delete(ctx, k); err != nil {
			return err
		}
		delete(c.gone, k)
	}
	return nil
}

// Stats is what the counters know of one agent or token now.
type Stats struct {
	LastMinute int     // calls in the last 60 seconds
	LastHour   int     // calls in the last 60 minutes
	LastDay    int     // calls in the last 24 hours (whole hours)
	Baseline   float64 // the usual calls per hour the detector compares with now
	First      time.Time
	Lock       Lock // agents only
	Agent      string
}

// Agent returns agent's stats; false when it made no call yet.
func (c *Counters) Agent(agent string) (Stats, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.agents[agent]
	if a == nil {
		return Stats{}, false
	}
	st := a.stats(now)
	st.Lock, st.Agent = a.lock, agent
	return st, true
}

// Token returns the stats of the token tok; false when it is not tracked.
func (c *Counters) Token(tok capability.ID) (Stats, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tokens[tok]
	if t == nil {
		return Stats{}, false
	}
	st := t.stats(now)
	st.Agent = t.agent
	return st, true
}

// Tracked returns how many agents and tokens are tracked.
func (c *Counters) Tracked() (agents, tokens int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.agents), len(c.tokens)
}

// Dropped is the number of stored records OpenCounters deleted: corrupt
// ones, and the least recently used tokens beyond MaxTokens.
func (c *Counters) Dropped() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// Save writes every series changed since the last Save, and deletes the
// records of forgotten tokens. The node calls it every few minutes and
// when it stops; a crash loses at most that much counting, never a lock.
func (c *Counters) Save(ctx context.Context) error {
	if c.store == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := batchOf(ctx, c.store)
	if err != nil {
		return err
	}
	for name, a := range c.agents {
		if a.dirty {
			if err := b.Put(ctx, agentKey(name), a.encode("", a.lock)); err != nil {
				return err
			}
		}
	}
	for id, t := range c.tokens {
		if t.dirty {
			if err := b.Put(ctx, tokenKey(id), t.encode(t.agent, Lock{})); err != nil {
				return err
			}
		}
	}
	for k := range c.gone {
		if err := b.Delete(ctx, k); err != nil {
			return err
		}
	}
	if err := b.Commit(ctx); err != nil {
		return err
	}
	for _, a := range c.agents {
		a.dirty = false
	}
	for _, t := range c.tokens {
		t.dirty = false
	}
	clear(c.gone)
	return nil
}

// writeAgent writes one agent's record at once (locks and unlocks).
func (c *Counters) writeAgent(ctx context.Context, name string, a *agentState) error {
	if c.store == nil {
		return nil
	}
	if err := c.store.Put(ctx, agentKey(name), a.encode("", a.lock)); err != nil {
		return err
	}
	a.dirty = false
	return nil
}

func agentKey(name string) ds.Key      { return ds.NewKey("/a/" + name) }
func tokenKey(id capability.ID) ds.Key { return ds.NewKey("/t/" + id.String()) }
func hourIndex(unix int64) int64       { return unix / 3600 }
func fromUnix(s int64) time.Time       { return time.Unix(s, 0).UTC() }
func batchOf(ctx context.Context, s ds.Datastore) (ds.Batch, error) {
	if b, ok := s.(ds.Batching); ok {
		return b.Batch(ctx)
	}
	return plainBatch{s}, nil
}

// plainBatch writes at once, for a store without batches.
type plainBatch struct{ s ds.Datastore }

func (p plainBatch) Put(ctx context.Context, k ds.Key, v []byte) error { return p.s.Put(ctx, k, v) }
func (p plainBatch) Delete(ctx context.Context, k ds.Key) error        { return p.s.Delete(ctx, k) }
func (p plainBatch) Commit(context.Context) error                      { return nil }

// load reads every stored record.
func (c *Counters) load(ctx context.Context) error {
	res, err := c.store.Query(ctx, query.Query{})
	if err != nil {
		return err
	}
	all, err := res.Rest()
	if err != nil {
		return err
	}
	var bad []ds.Key
	for _, e := range all {
		k := ds.NewKey(e.Key)
		switch {
		case strings.HasPrefix(e.Key, "/a/"):
			name := strings.TrimPrefix(e.Key, "/a/")
			s, lock, _, err := parseSeries(e.Value, false)
			if _, nerr := ParseName(name); err != nil || nerr != nil {
				bad = append(bad, k)
				continue
			}
			c.agents[name] = &agentState{series: *s, lock: lock}
		case strings.HasPrefix(e.Key, "/t/"):
			id, ierr := capability.ParseID(strings.TrimPrefix(e.Key, "/t/"))
			s, _, agent, err := parseSeries(e.Value, true)
			if err != nil || ierr != nil || id.IsZero() {
				bad = append(bad, k)
				continue
			}
			c.tokens[id] = &tokenState{series: *s, agent: agent}
		default:
			bad = append(bad, k)
		}
	}
	for len(c.tokens) > c.maxTokens { // a smaller cap than the last run's
		var oldest capability.ID
		var at int64 = math.MaxInt64
		for id, t := range c.tokens {
			if t.last < at {
				oldest, at = id, t.last
			}
		}
		delete(c.tokens, oldest)
		bad = append(bad, tokenKey(oldest))
	}
	for _, k := range bad {
		if err := c.store.Delete(ctx, k); err != nil {
			return err
		}
	}
	c.dropped = len(bad)
	return nil
}
