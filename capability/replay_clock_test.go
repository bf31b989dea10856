package capability

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/internal/testkit"
)

// clockJump is the attack on a replay store: spend a single-use token,
// push the verifier's clock past the token's expiry, have the store
// collect (any spend does), set the clock back, spend the token again.
type clockJump struct {
	c     *cast
	clk   *testkit.Clock
	once  *Token  // the single-use token under attack
	other *Token  // another single-use token, valid after the jump, to make the store collect
	req   Request // bob reading calendar/work/mon from the owner
}

func newClockJump(t *testing.T) *clockJump {
	c := newCast(t)
	j := &clockJump{c: c, clk: testkit.NewClock(testNow)}
	j.once = issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, MaxUses: 1})
	far := j.once.Expiry().Add(24 * time.Hour)
	j.other = issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, MaxUses: 1,
		NotBefore: far.Add(-time.Hour), Expiry: far.Add(time.Hour)})
	j.req = Request{Remote: c.bob.ID(), Owner: c.owner.ID(), Resource: "calendar/work/mon", Action: Read}
	return j
}

func (j *clockJump) verify(t *testing.T, r ReplayStore, tok *Token) error {
	t.Helper()
	_, err := NewVerifier(Config{Clock: j.clk.Now, Replay: r}).Verify(context.Background(), tok, j.req)
	return err
}

// spendThenJump spends once at testNow, then jumps the clock a day past
// its expiry and spends other there.
func (j *clockJump) spendThenJump(t *testing.T, r ReplayStore) {
	t.Helper()
	if err := j.verify(t, r, j.once); err != nil {
		t.Fatalf("first use: %v", err)
	}
	j.clk.Set(j.other.NotBefore())
	if err := j.verify(t, r, j.other); err != nil {
		t.Fatalf("a token valid after the jump: %v", err)
	}
}

// replayAfterJumpBack sets the clock back and presents once again.
func (j *clockJump) replayAfterJumpBack(t *testing.T, r ReplayStore) {
	t.Helper()
	j.clk.Set(testNow)
	if err := j.verify(t, r, j.once); !errors.Is(err, ErrReplayed) {
		t.Fatalf("single-use token after the clock jumped forward and back: %v, want ErrReplayed", err)
	}
}

func TestMemoryReplaySurvivesAClockJumpForwardAndBack(t *testing.T) {
	j := newClockJump(t)
	r := NewMemoryReplay(0)
	j.spendThenJump(t, r)
	j.replayAfterJumpBack(t, r)
}

func TestDatastoreReplaySurvivesAClockJumpForwardAndBack(t *testing.T) {
	ctx := context.Background()
	j := newClockJump(t)
	st := dssync.MutexWrap(ds.NewMapDatastore())
	r, err := OpenDatastoreReplay(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	j.spendThenJump(t, r)
	j.replayAfterJumpBack(t, r)
}

func TestDatastoreReplaySurvivesAClockJumpAndARestart(t *testing.T) {
	ctx := context.Background()
	j := newClockJump(t)
	st := dssync.MutexWrap(ds.NewMapDatastore())
	r, err := OpenDatastoreReplay(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	j.spendThenJump(t, r)
	r, err = OpenDatastoreReplay(ctx, st) // the restart
	if err != nil {
		t.Fatal(err)
	}
	j.replayAfterJumpBack(t, r)
}

// monotonic stands in for the process's monotonic clock in a store's time
// mark, so a test decides how much real time passes.
type monotonic struct {
	mu sync.Mutex
	d  time.Duration
}

// fakeMonotonic makes m count time from a new fake monotonic clock.
func fakeMonotonic(m *timeMark) *monotonic {
	mono := &monotonic{}
	m.elapsed, m.movedAt = mono.elapsed, 0
	return mono
}

func (m *monotonic) elapsed() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.d
}

func (m *monotonic) advance(d time.Duration) {
	m.mu.Lock()
	m.d += d
	m.mu.Unlock()
}

// TestMemoryReplayAClockJumpCollectsNothing: the jump itself moves the
// mark only as far as real time went, so the record is still there.
func TestMemoryReplayAClockJumpCollectsNothing(t *testing.T) {
	j := newClockJump(t)
	r := NewMemoryReplay(0)
	mono := fakeMonotonic(&r.mark)
	j.spendThenJump(t, r)
	if r.Len() != 2 {
		t.Fatalf("%d records after the jump, want both", r.Len())
	}
	mono.advance(time.Minute)
	j.replayAfterJumpBack(t, r)
}

// TestAForgottenTokenStaysRefusedWhenTheClockGoesBack: once real time has
// passed a token's Until its record goes, and setting the clock back to
// its window does not bring the token back: the mark refuses it.
func TestAForgottenTokenStaysRefusedWhenTheClockGoesBack(t *testing.T) {
	ctx := context.Background()
	for name, open := range map[string]func(t *testing.T) (ReplayStore, *timeMark, func() ReplayStore){
		"memory": func(t *testing.T) (ReplayStore, *timeMark, func() ReplayStore) {
			r := NewMemoryReplay(0)
			return r, &r.mark, nil
		},
		"datastore, restarted": func(t *testing.T) (ReplayStore, *timeMark, func() ReplayStore) {
			st := dssync.MutexWrap(ds.NewMapDatastore())
			r, err := OpenDatastoreReplay(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			return r, &r.mark, func() ReplayStore {
				r2, err := OpenDatastoreReplay(ctx, st)
				if err != nil {
					t.Fatal(err)
				}
				if !r2.mark.at.Equal(r.mark.at.Truncate(time.Second)) {
					t.Fatalf("mark reloaded as %s, was %s", r2.mark.at, r.mark.at)
				}
				if len(r2.entries) != len(r.entries) {
					t.Fatalf("%d records reloaded, %d before", len(r2.entries), len(r.entries))
				}
				return r2
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			j := newClockJump(t)
			r, mark, restart := open(t)
			mono := fakeMonotonic(mark)
			if err := j.verify(t, r, j.once); err != nil {
				t.Fatal(err)
			}
			gap := j.other.NotBefore().Sub(testNow)
			mono.advance(gap) // real time passes this time
			j.clk.Set(j.other.NotBefore())
			if err := j.verify(t, r, j.other); err != nil {
				t.Fatal(err)
			}
			if m, ok := r.(*MemoryReplay); ok && m.Len() != 1 {
				t.Fatalf("%d records; the expired one should be gone", m.Len())
			}
			if d, ok := r.(*DatastoreReplay); ok && len(d.entries) != 1 {
				t.Fatalf("%d records; the expired one should be gone", len(d.entries))
			}
			if restart != nil {
				r = restart()
			}
			j.replayAfterJumpBack(t, r)
			// A fresh token in the same window is not affected.
			fresh := issue(t, j.c.owner, Params{Audience: j.c.bob.ID(), Resource: "calendar/work/*", Actions: Read, MaxUses: 1,
				NotBefore: testNow.Add(-time.Hour), Expiry: j.other.Expiry()})
			if err := j.verify(t, r, fresh); err != nil {
				t.Fatalf("a token whose window reaches past the mark: %v", err)
			}
		})
	}
}

// TestDatastoreReplayDowntimeDoesNotMoveTheMark: after a restart the mark
// moves by the time since the store was opened, not by what the clock
// says happened meanwhile.
func TestDatastoreReplayDowntimeDoesNotMoveTheMark(t *testing.T) {
	ctx := context.Background()
	j := newClockJump(t)
	st := dssync.MutexWrap(ds.NewMapDatastore())
	r, err := OpenDatastoreReplay(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.verify(t, r, j.once); err != nil {
		t.Fatal(err)
	}
	r, err = OpenDatastoreReplay(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	mono := fakeMonotonic(&r.mark)
	mono.advance(time.Second)
	j.clk.Set(j.other.NotBefore()) // "the node was down for a day"
	if err := j.verify(t, r, j.other); err != nil {
		t.Fatal(err)
	}
	if len(r.entries) != 2 {
		t.Fatalf("%d records: the restart let the clock's day count", len(r.entries))
	}
	if want := testNow.Add(time.Second); r.mark.at.After(want) {
		t.Fatalf("mark %s, want at most %s", r.mark.at, want)
	}
	j.replayAfterJumpBack(t, r)
}

// TestRecordsOutliveAnySkewUpToMaxSkew: a record made under the default
// skew still stands when the verifier restarts with the largest skew.
func TestRecordsOutliveAnySkewUpToMaxSkew(t *testing.T) {
	ctx := context.Background()
	c := newCast(t)
	tok := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, MaxUses: 1})
	req := Request{Remote: c.bob.ID(), Owner: c.owner.ID(), Resource: "calendar/work/mon", Action: Read}
	clk := testkit.NewClock(tok.Expiry().Add(-time.Second))
	st := dssync.MutexWrap(ds.NewMapDatastore())
	r, err := OpenDatastoreReplay(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewVerifier(Config{Clock: clk.Now, Replay: r}).Verify(ctx, tok, req); err != nil {
		t.Fatal(err)
	}
	late := tok.Expiry().Add(MaxSkew - time.Second)
	fakeMonotonic(&r.mark).advance(late.Sub(clk.Now()))
	clk.Set(late)
	if err := r.Spend(ctx, late, nil); err != nil { // collects what the mark lets go
		t.Fatal(err)
	}
	r, err = OpenDatastoreReplay(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.entries) != 1 {
		t.Fatal("the record went before expiry plus MaxSkew")
	}
	wide := NewVerifier(Config{Clock: clk.Now, Replay: r, Skew: time.Hour}) // capped at MaxSkew
	if _, err := wide.Verify(ctx, tok, req); !errors.Is(err, ErrReplayed) {
		t.Fatalf("second use under a wider skew: %v, want ErrReplayed", err)
	}
	clk.Set(tok.Expiry().Add(MaxSkew))
	if _, err := wide.Verify(ctx, tok, req); !errors.Is(err, ErrExpired) {
		t.Fatalf("a skew over MaxSkew was not capped: %v", err)
	}
}
