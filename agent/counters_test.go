package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

func newStore() ds.Batching { return dssync.MutexWrap(ds.NewMapDatastore()) }

func openCounters(t *testing.T, cfg CounterConfig) *Counters {
	t.Helper()
	c, err := OpenCounters(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tokID(n int) capability.ID {
	var id capability.ID
	copy(id[:], fmt.Sprintf("token-%08d", n))
	return id
}

// spread makes n calls evenly over d on the clock, returning the first
// error and how many calls were made before it.
func spread(c *Counters, clk *testkit.Clock, agent string, tok capability.ID, n int, d time.Duration) (int, error) {
	start := clk.Now()
	for i := range n {
		clk.Set(start.Add(d * time.Duration(i) / time.Duration(n)))
		if err := c.Record(context.Background(), agent, tok); err != nil {
			return i, err
		}
	}
	clk.Set(start.Add(d))
	return n, nil
}

// quietDays makes an agent established: calls a day, each in its own
// hour from 09:00, for days days.
func quietDays(t *testing.T, c *Counters, clk *testkit.Clock, agent string, tok capability.ID, perDay, days int) {
	t.Helper()
	day := clk.Now().Truncate(24 * time.Hour)
	for d := range days {
		for i := range perDay {
			clk.Set(day.Add(time.Duration(d)*24*time.Hour + 9*time.Hour + time.Duration(i)*time.Hour))
			if err := c.Record(context.Background(), agent, tok); err != nil {
				t.Fatalf("a quiet day locked the agent: %v", err)
			}
		}
	}
	clk.Set(day.Add(time.Duration(days) * 24 * time.Hour))
}

// TestBurstLocksAnEstablishedAgent: 10 calls a day for five days, then
// 10,000 calls: the agent is locked within the first DefaultMinPerHour
// calls, the locking call says so once, and later calls are refused and
// not counted.
func TestBurstLocksAnEstablishedAgent(t *testing.T) {
	clk := testkit.NewClock(testkit.Epoch)
	c := openCounters(t, CounterConfig{Now: clk.Now})
	quietDays(t, c, clk, "helper", tokID(1), 10, 5)
	clk.Advance(10 * time.Hour)
	var lockedAt int
	var first *LockedError
	refused := 0
	for i := range 10000 {
		clk.Advance(100 * time.Millisecond)
		err := c.Record(context.Background(), "helper", tokID(1))
		var le *LockedError
		if err == nil {
			continue
		}
		if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
			t.Fatalf("call %d: %v", i, err)
		}
		if le.New {
			if first != nil {
				t.Fatal("two calls said they locked the agent")
			}
			first, lockedAt = le, i
		}
		refused++
	}
	if first == nil {
		t.Fatal("10,000 calls after 10 a day did not lock")
	}
	if lockedAt+1 != DefaultMinPerHour || refused != 10000-lockedAt {
		t.Fatalf("locked at call %d with %d refused; want the %dth call to lock", lockedAt+1, refused, DefaultMinPerHour)
	}
	if !strings.Contains(first.Lock.Reason, "500 calls in the last hour, over 100 times the usual") || !first.Lock.Auto {
		t.Fatalf("reason %q", first.Lock.Reason)
	}
	testkit.Sentence(t, "locked", first, "mesh agent unlock helper", ErrLocked, ErrRefused)
	st, _ := c.Agent("helper")
	if st.LastHour != DefaultMinPerHour || !st.Lock.Locked {
		t.Fatalf("refused calls were counted: %+v", st)
	}
}

// TestNewAgentCap: an agent with no history is capped absolutely.
func TestNewAgentCap(t *testing.T) {
	clk := testkit.NewClock(testkit.Epoch)
	c := openCounters(t, CounterConfig{Now: clk.Now})
	n, err := spread(c, clk, "fresh", capability.ID{}, 10000, 10*time.Minute)
	var le *LockedError
	if !errors.As(err, &le) || !le.New || n != DefaultNewAgentCap {
		t.Fatalf("a new agent's burst: %d calls, then %v", n, err)
	}
	if !strings.Contains(le.Lock.Reason, "less than 3 days of history may make at most 200") {
		t.Fatal(le.Lock.Reason)
	}
	// Under the cap, a new agent runs.
	c2 := openCounters(t, CounterConfig{Now: clk.Now})
	if n, err := spread(c2, clk, "steady", capability.ID{}, 3*24*DefaultNewAgentCap/2, 3*24*time.Hour); err != nil {
		t.Fatalf("half the cap for three days locked after %d: %v", n, err)
	}
}

// growthWeek runs an agent for three days at base calls per hour in
// daytime (08:00–20:00 UTC) and a few at night, then a week in which the
// rate doubles, hour by hour, with calls spread through each hour.
func growthWeek(t testing.TB, c *Counters, clk *testkit.Clock, base float64) {
	t.Helper()
	start := testkit.Epoch.Truncate(24 * time.Hour)
	total := 0
	for h := range (3 + 7) * 24 {
		clk.Set(start.Add(time.Duration(h) * time.Hour))
		rate := 2.0
		if hod := h % 24; hod >= 8 && hod < 20 {
			rate = base
			if h >= 3*24 {
				rate = base * math.Pow(2, float64(h-3*24)/(7*24))
			}
		}
		n := int(rate)
		if _, err := spread(c, clk, "grower", tokID(7), n, time.Hour); err != nil {
			t.Fatalf("hour %d (day %d, %02d:00), %d calls/h after %d calls: %v", h, h/24, h%24, n, total, err)
		}
		total += n
	}
	st, _ := c.Agent("grower")
	t.Logf("%d calls; baseline at the end %.0f/h", total, st.Baseline)
}

// TestNormalGrowthDoesNotLock: a baseline doubling in a week never locks,
// with the defaults (the busiest hour goes from 600 to 1200 calls, over
// DefaultMinPerHour) and with a factor of 3 and no floor, which only the
// learned baseline keeps from locking.
func TestNormalGrowthDoesNotLock(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulated week")
	}
	clk := testkit.NewClock(testkit.Epoch)
	growthWeek(t, openCounters(t, CounterConfig{Now: clk.Now, NewAgentCap: 1000}), clk, 600)
	clk = testkit.NewClock(testkit.Epoch)
	growthWeek(t, openCounters(t, CounterConfig{Now: clk.Now, Factor: 3, MinPerHour: 1, NewAgentCap: 1000}), clk, 150)
	// The same week with a factor of 1.2 must lock: the test can fail.
	clk = testkit.NewClock(testkit.Epoch)
	c := openCounters(t, CounterConfig{Now: clk.Now, Factor: 1.2, MinPerHour: 1, NewAgentCap: 1000})
	ft := &fakeT{TB: t}
	func() {
		defer func() { recover() }()
		growthWeek(ft, c, clk, 150)
	}()
	if !ft.failed {
		t.Fatal("a factor of 1.2 did not lock on a doubling week: the detector sees nothing")
	}
}

// fakeT catches a Fatalf.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Fatalf(string, ...any) { f.failed = true; panic("fatal") }
func (f *fakeT) Logf(string, ...any)   {}
func (f *fakeT) Helper()               {}

// TestUnlock: an unlocked agent is not locked again by the spike that
// locked it, and the spike's hour did not teach its baseline.
func TestUnlock(t *testing.T) {
	ctx := context.Background()
	clk := testkit.NewClock(testkit.Epoch)
	c := openCounters(t, CounterConfig{Now: clk.Now})
	quietDays(t, c, clk, "helper", capability.ID{}, 10, 4)
	clk.Advance(9*time.Hour + 30*time.Minute)
	if _, err := spread(c, clk, "helper", capability.ID{}, 1000, time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatalf("no lock: %v", err)
	}
	before, _ := c.Agent("helper")
	if err := c.Unlock(ctx, "helper"); err != nil {
		t.Fatal(err)
	}
	if err := c.Unlock(ctx, "helper"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unlocking twice: %v", err)
	}
	if err := c.Record(ctx, "helper", capability.ID{}); err != nil {
		t.Fatalf("the first call after unlock: %v", err)
	}
	// The next day at the same hour, the usual rate is what it was.
	clk.Advance(24 * time.Hour)
	after, _ := c.Agent("helper")
	if after.Baseline > before.Baseline+1 {
		t.Fatalf("the spike was learned: baseline %.2f → %.2f", before.Baseline, after.Baseline)
	}
	if _, err := spread(c, clk, "helper", capability.ID{}, 1000, time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatalf("the same spike a day later did not lock: %v", err)
	}
	if err := c.Lock(ctx, "other", ""); err != nil {
		t.Fatal(err)
	}
	if l := c.LockState("other"); !l.Locked || l.Auto || l.Reason != "locked by the owner" {
		t.Fatalf("a lock by hand: %+v", l)
	}
}

// TestTokenSpikeLocksItsAgent: an agent with a busy token and a quiet one
// is locked when the quiet token jumps a hundredfold, though the agent's
// own rate stays within its factor.
func TestTokenSpikeLocksItsAgent(t *testing.T) {
	clk := testkit.NewClock(testkit.Epoch)
	c := openCounters(t, CounterConfig{Now: clk.Now, Factor: 10, MinPerHour: 100})
	start := clk.Now()
	for h := range 5 * 24 {
		clk.Set(start.Add(time.Duration(h) * time.Hour))
		if _, err := spread(c, clk, "helper", tokID(1), 150, time.Hour); err != nil {
			t.Fatalf("hour %d: %v", h, err)
		}
		if err := c.Record(context.Background(), "helper", tokID(2)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := spread(c, clk, "helper", tokID(2), 300, 30*time.Minute)
	var le *LockedError
	if !errors.As(err, &le) || !strings.HasPrefix(le.Lock.Reason, "token "+tokID(2).Short()+": ") {
		t.Fatalf("a token's spike: %v", err)
	}
	if st, ok := c.Token(tokID(2)); !ok || st.Agent != "helper" || st.LastHour < 100 {
		t.Fatalf("token stats %+v", st)
	}
}

// TestCountersPersist: baselines, windows and locks survive a restart;
// the lock without a Save, the rest with one.
func TestCountersPersist(t *testing.T) {
	ctx := context.Background()
	store := newStore()
	clk := testkit.NewClock(testkit.Epoch)
	c := openCounters(t, CounterConfig{Now: clk.Now, Store: store})
	quietDays(t, c, clk, "helper", tokID(1), 10, 4)
	quietDays(t, c, clk, "mailer", tokID(2), 3, 1)
	want, _ := c.Agent("helper")
	if err := c.Save(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := spread(c, clk, "mailer", tokID(2), 300, time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatal("the new agent was not locked")
	}
	lock := c.LockState("mailer")
	// No Save after the lock: a crash now.
	c2 := openCounters(t, CounterConfig{Now: clk.Now, Store: store})
	if c2.Dropped() != 0 {
		t.Fatalf("%d records dropped", c2.Dropped())
	}
	if got := c2.LockState("mailer"); got != lock {
		t.Fatalf("lock after restart %+v, want %+v", got, lock)
	}
	if err := c2.Record(ctx, "mailer", tokID(2)); !errors.Is(err, ErrLocked) {
		t.Fatal("a locked agent ran after a restart")
	}
	got, _ := c2.Agent("helper")
	if math.Abs(got.Baseline-want.Baseline) > 0.001 || got.LastDay != want.LastDay || !got.First.Equal(want.First) {
		t.Fatalf("after restart %+v, want %+v", got, want)
	}
	if _, ok := c2.Token(tokID(1)); !ok {
		t.Fatal("a token's series was lost")
	}
	// A record that does not decode is dropped, not trusted.
	if err := store.Put(ctx, ds.NewKey("/a/broken"), []byte{0xa0}); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, ds.NewKey("/t/zz"), want2(t, c2)); err != nil {
		t.Fatal(err)
	}
	c3 := openCounters(t, CounterConfig{Now: clk.Now, Store: store})
	if c3.Dropped() != 2 {
		t.Fatalf("%d dropped, want 2", c3.Dropped())
	}
	if err := c3.Forget(ctx, "helper"); err != nil {
		t.Fatal(err)
	}
	c4 := openCounters(t, CounterConfig{Now: clk.Now, Store: store})
	if _, ok := c4.Agent("helper"); ok {
		t.Fatal("a forgotten agent came back")
	}
	if _, ok := c4.Token(tokID(1)); ok {
		t.Fatal("a forgotten agent's token came back")
	}
}

// want2 is a valid token record under a malformed key.
func want2(t *testing.T, c *Counters) []byte {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	tk := c.tokens[tokID(1)]
	return tk.encode(tk.agent, Lock{})
}

// TestBoundedMemory: many tokens keep at most MaxTokens series; agents
// beyond MaxAgents are refused; a series is the same size whatever its
// calls.
func TestBoundedMemory(t *testing.T) {
	ctx := context.Background()
	store := newStore()
	clk := testkit.NewClock(testkit.Epoch)
	c := openCounters(t, CounterConfig{Now: clk.Now, MaxAgents: 50, MaxTokens: 300, Store: store})
	for i := range 5000 {
		clk.Advance(time.Second)
		if err := c.Record(ctx, fmt.Sprintf("agent-%d", i%50), tokID(i)); err != nil {
			t.Fatal(err)
		}
	}
	if a, tk := c.Tracked(); a != 50 || tk != 300 {
		t.Fatalf("tracking %d agents, %d tokens", a, tk)
	}
	if _, ok := c.Token(tokID(4999)); !ok {
		t.Fatal("the newest token was forgotten")
	}
	if _, ok := c.Token(tokID(0)); ok {
		t.Fatal("the oldest token was kept")
	}
	err := c.Record(ctx, "one-too-many", capability.ID{})
	testkit.Sentence(t, "agents cap", err, "tracks 50 agents already", ErrTooMany)
	if err := c.Save(ctx); err != nil {
		t.Fatal(err)
	}
	res, _ := store.Query(ctx, queryAll)
	all, _ := res.Rest()
	if len(all) != 350 {
		t.Fatalf("%d records stored, want 350", len(all))
	}
	// A smaller cap on reopening keeps the most recent.
	c2 := openCounters(t, CounterConfig{Now: clk.Now, MaxTokens: 100, Store: store})
	if _, tk := c2.Tracked(); tk != 100 {
		t.Fatalf("%d tokens after reopening with a cap of 100", tk)
	}
	if _, ok := c2.Token(tokID(4999)); !ok {
		t.Fatal("the newest token was dropped")
	}
}

// TestClockBackAndIdle: a clock that goes back counts into the newest
// buckets; a month idle teaches one day of zeros and no more.
func TestClockBackAndIdle(t *testing.T) {
	ctx := context.Background()
	clk := testkit.NewClock(testkit.Epoch)
	c := openCounters(t, CounterConfig{Now: clk.Now})
	c.Record(ctx, "back", capability.ID{})
	clk.Advance(-time.Hour)
	c.Record(ctx, "back", capability.ID{})
	if st, _ := c.Agent("back"); st.LastMinute != 2 {
		t.Fatalf("after the clock went back: %+v", st)
	}
	clk.Set(testkit.Epoch.Add(24 * time.Hour))
	quietDays(t, c, clk, "helper", capability.ID{}, 24, 3)
	clk.Advance(30 * 24 * time.Hour)
	st, _ := c.Agent("helper")
	// Three days of one call an hour, then the last hour's call and 23
	// hours of zeros once: α·(0 − 1) leaves 0.8 in 23 hours of day.
	c.mu.Lock()
	var sum float64
	for _, b := range c.agents["helper"].base {
		sum += b
	}
	c.mu.Unlock()
	if math.Abs(sum-(23*0.8+1)) > 0.001 || st.LastDay != 0 {
		t.Fatalf("after a month idle: sum of baselines %.3f, %+v", sum, st)
	}
}

var queryAll = query.Query{}

// TestConcurrentRecords: calls from many goroutines are all counted once.
func TestConcurrentRecords(t *testing.T) {
	ctx := context.Background()
	clk := testkit.NewClock(testkit.Epoch)
	c := openCounters(t, CounterConfig{Now: clk.Now, NewAgentCap: 1 << 20, Store: newStore()})
	done := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 500 {
				if err := c.Record(ctx, fmt.Sprintf("agent-%d", g%2), tokID(i%10)); err != nil {
					done <- err
					return
				}
				if i%100 == 0 {
					if err := c.Save(ctx); err != nil {
						done <- err
						return
					}
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := testkit.Within(t, 30*time.Second, done, "the recording goroutines"); err != nil {
			t.Fatal(err)
		}
	}
	a0, _ := c.Agent("agent-0")
	a1, _ := c.Agent("agent-1")
	if a0.LastMinute != 2000 || a1.LastMinute != 2000 {
		t.Fatalf("counted %d and %d, want 2000 each", a0.LastMinute, a1.LastMinute)
	}
}
