package revocation

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

// openSet opens a Set on store with a fake clock and no background loop.
func openSet(t testing.TB, store ds.Datastore, clk *testkit.Clock, cfg Config) *Set {
	t.Helper()
	cfg.Datastore, cfg.Clock, cfg.CollectEvery, cfg.Elapsed = store, clk.Now, -1, followClock(clk)
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore() ds.Datastore { return dssync.MutexWrap(ds.NewMapDatastore()) }

// followClock is a Config.Elapsed for a fake clock: monotonic time runs as
// far as the clock was moved forward (never back).
func followClock(clk *testkit.Clock) func() time.Duration {
	start := clk.Now()
	var most time.Duration
	return func() time.Duration {
		most = max(most, clk.Now().Sub(start))
		return most
	}
}

func TestSetAddsAndAnswers(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	s := openSet(t, newStore(), testkit.NewClock(testNow), Config{})
	ch := newChain(t, c, "set")
	rev := mustNew(t, c.alice, ch.mid)

	t.Run("an added revocation is revoked at once", func(t *testing.T) {
		added, err := s.Add(ctx, rev)
		if err != nil || !added {
			t.Fatalf("Add = %v, %v", added, err)
		}
		if !s.IsRevoked(ch.mid.ID()) {
			t.Fatal("mid not revoked")
		}
	})
	t.Run("tokens above and beside the revoked link stay valid", func(t *testing.T) {
		if s.IsRevoked(ch.root.ID()) || s.IsRevoked(ch.leaf.ID()) {
			t.Fatal("only the revoked ID itself is in the set")
		}
	})
	t.Run("adding the same revocation again is a no-op", func(t *testing.T) {
		added, err := s.Add(ctx, rev)
		if err != nil || added {
			t.Fatalf("second Add = %v, %v", added, err)
		}
		if s.Len() != 1 || s.Version() != 1 {
			t.Fatalf("len %d version %d", s.Len(), s.Version())
		}
	})
	t.Run("RevokedBy names the revoker", func(t *testing.T) {
		r, ok := s.RevokedBy(ch.mid.ID())
		if !ok || r.Revoker() != c.alice.ID() || r.ID() != ch.mid.ID() {
			t.Fatalf("RevokedBy = %v, %v", r.String(), ok)
		}
		if _, ok := s.RevokedBy(ch.root.ID()); ok {
			t.Fatal("RevokedBy found an unrevoked token")
		}
	})
	t.Run("a zero revocation is refused", func(t *testing.T) {
		if _, err := s.Add(ctx, &Revocation{}); !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a revocation of an expired token is refused", func(t *testing.T) {
		old := issueTo(t, c.owner, c.alice.ID(), nil, -time.Minute-capability.MaxSkew, "old")
		if _, err := s.Add(ctx, mustNew(t, c.owner, old)); !errors.Is(err, ErrExpired) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestCascadeThroughVerifier: revoking a link makes the verifier refuse
// every token delegated from it, and only those.
func TestCascadeThroughVerifier(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	s := openSet(t, newStore(), testkit.NewClock(testNow), Config{})
	ch := newChain(t, c, "cascade")
	other := issueTo(t, c.owner, c.alice.ID(), nil, time.Hour, "cascade/other")
	v := capability.NewVerifier(capability.Config{Clock: func() time.Time { return testNow }, Revocations: s})
	req := func(tok *capability.Token) capability.Request {
		return capability.Request{Remote: tok.Audience(), Owner: c.owner.ID(), Resource: "calendar/mon", Action: capability.Read}
	}
	if _, err := v.Verify(ctx, ch.leaf, req(ch.leaf)); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if _, err := s.Add(ctx, mustNew(t, c.owner, ch.root)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tok  *capability.Token
		link int // 0 = must verify
	}{
		{"the revoked root is refused", ch.root, 1},
		{"a delegation from the root is refused at link 1", ch.mid, 1},
		{"a second-hop delegation is refused at link 1", ch.leaf, 1},
		{"another root token of the same owner still verifies", other, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(ctx, tc.tok, req(tc.tok))
			var re *capability.RevokedError
			switch {
			case tc.link == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.link != 0 && !errors.As(err, &re):
				t.Fatalf("err = %v, want a RevokedError", err)
			case tc.link != 0 && (re.Link != tc.link || re.ID != ch.root.ID()):
				t.Fatalf("revoked link %d (%s), want %d", re.Link, re.ID.Short(), tc.link)
			}
		})
	}
}

func TestSetSurvivesRestart(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	store := newStore()
	clk := testkit.NewClock(testNow)
	s := openSet(t, store, clk, Config{})
	ch := newChain(t, c, "restart")
	for _, r := range []*Revocation{mustNew(t, c.owner, ch.root), mustNew(t, c.bob, ch.leaf)} {
		if _, err := s.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	epoch := s.Epoch()
	s.Close()

	again := openSet(t, store, clk, Config{})
	t.Run("a reopened set still refuses every revoked token", func(t *testing.T) {
		if !again.IsRevoked(ch.root.ID()) || !again.IsRevoked(ch.leaf.ID()) || again.IsRevoked(ch.mid.ID()) {
			t.Fatal("the restart changed what is revoked")
		}
	})
	t.Run("the version counter and epoch carry over", func(t *testing.T) {
		if again.Version() != 2 || again.Epoch() != epoch {
			t.Fatalf("version %d, epoch changed %v", again.Version(), again.Epoch() != epoch)
		}
	})
	t.Run("RevokedBy reads the stored record", func(t *testing.T) {
		r, ok := again.RevokedBy(ch.leaf.ID())
		if !ok || r.Revoker() != c.bob.ID() {
			t.Fatalf("RevokedBy = %s, %v", r.String(), ok)
		}
	})
	t.Run("a closed set refuses new entries", func(t *testing.T) {
		if _, err := s.Add(ctx, mustNew(t, c.alice, ch.mid)); !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestCollectDropsOnlyExpiredEntries(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	store := newStore()
	clk := testkit.NewClock(testNow)
	s := openSet(t, store, clk, Config{})
	short := issueTo(t, c.owner, c.alice.ID(), nil, time.Minute, "short")
	long := issueTo(t, c.owner, c.alice.ID(), nil, 24*time.Hour, "long")
	for _, tok := range []*capability.Token{long, short} { // the newest entry is collected
		if _, err := s.Add(ctx, mustNew(t, c.owner, tok)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(testNow.Add(time.Minute))
	if n, err := s.Collect(ctx, clk.Now()); n != 0 || err != nil {
		t.Fatalf("collected %d (%v) within the skew", n, err)
	}
	clk.Set(testNow.Add(time.Minute + capability.MaxSkew))
	n, err := s.Collect(ctx, clk.Now())
	if n != 1 || err != nil {
		t.Fatalf("Collect = %d, %v", n, err)
	}
	if s.IsRevoked(short.ID()) || !s.IsRevoked(long.ID()) || s.Len() != 1 {
		t.Fatal("collection dropped the wrong entries")
	}
	if ok, _ := store.Has(ctx, recordKey(short.ID())); ok {
		t.Fatal("collected entry still in the datastore")
	}
	clk.Advance(time.Hour)
	again := openSet(t, store, clk, Config{})
	if again.Version() != 2 || !again.IsRevoked(long.ID()) {
		t.Fatalf("reopened: version %d", again.Version())
	}
}

func TestSinceReturnsEntriesInVersionOrder(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	s := openSet(t, newStore(), testkit.NewClock(testNow), Config{})
	var ids []capability.ID
	for i := range 5 {
		tok := issueTo(t, c.owner, c.alice.ID(), nil, time.Hour, fmt.Sprint("since", i))
		ids = append(ids, tok.ID())
		if _, err := s.Add(ctx, mustNew(t, c.owner, tok)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name      string
		since     uint64
		max       int
		wantFirst int // index into ids, -1 for none
		wantN     int
		wantNext  uint64
		wantMore  bool
	}{
		{"since zero returns everything", 0, 10, 0, 5, 5, false},
		{"since two returns the last three", 2, 10, 2, 3, 5, false},
		{"a small page says there is more", 0, 2, 0, 2, 2, true},
		{"since the head returns nothing", 5, 10, -1, 0, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Since(ctx, tc.since, tc.max, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Records) != tc.wantN || p.Next != tc.wantNext || p.More != tc.wantMore {
				t.Fatalf("got %d records, next %d, more %v", len(p.Records), p.Next, p.More)
			}
			if tc.wantFirst >= 0 {
				r, err := Parse(p.Records[0])
				if err != nil || r.ID() != ids[tc.wantFirst] {
					t.Fatalf("first record: %v", err)
				}
			}
		})
	}
}

// TestRecentReturnsTheNewestEntries: Recent gives the IDs added after a
// version, oldest first, at most limit of them (the newest), and the
// version they follow, skipping collected entries.
func TestRecentReturnsTheNewestEntries(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	clk := testkit.NewClock(testNow)
	s := openSet(t, newStore(), clk, Config{})
	var ids []capability.ID
	for i := range 6 {
		life := time.Hour
		if i == 4 {
			life = time.Minute // collected below
		}
		tok := issueTo(t, c.owner, c.alice.ID(), nil, life, fmt.Sprint("recent", i))
		ids = append(ids, tok.ID())
		if _, err := s.Add(ctx, mustNew(t, c.owner, tok)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		after    uint64
		limit    int
		want     []capability.ID
		wantFrom uint64
	}{
		{"all after zero", 0, 10, ids, 0},
		{"after two, the last four", 2, 10, ids[2:], 2},
		{"the newest three of six", 0, 3, ids[3:], 3},
		{"nothing after the head", 6, 10, nil, 6},
		{"a limit of zero", 0, 0, nil, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, from := s.Recent(tc.after, tc.limit)
			if !slices.Equal(got, tc.want) || from != tc.wantFrom {
				t.Fatalf("got %d IDs after %d, want %d after %d", len(got), from, len(tc.want), tc.wantFrom)
			}
		})
	}
	clk.Advance(time.Minute + capability.MaxSkew)
	if n, err := s.Collect(ctx, clk.Now()); err != nil || n != 1 {
		t.Fatalf("collected %d: %v", n, err)
	}
	got, from := s.Recent(2, 10)
	if want := []capability.ID{ids[2], ids[3], ids[5]}; !slices.Equal(got, want) || from != 2 {
		t.Fatalf("after collection: %d IDs after %d", len(got), from)
	}
}

func TestQuotaBoundsOneRevoker(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	s := openSet(t, newStore(), testkit.NewClock(testNow), Config{MaxPerRevoker: 3})
	for i := range 4 {
		tok := issueTo(t, c.mallory, c.mallory.ID(), nil, time.Hour, fmt.Sprint("quota", i))
		_, err := s.Add(ctx, mustNew(t, c.mallory, tok))
		if want := i >= 3; errors.Is(err, ErrQuota) != want {
			t.Fatalf("entry %d: err = %v", i, err)
		}
	}
	tok := issueTo(t, c.owner, c.alice.ID(), nil, time.Hour, "quota/other")
	if _, err := s.Add(ctx, mustNew(t, c.owner, tok)); err != nil {
		t.Fatalf("another revoker refused: %v", err)
	}
}

// TestBackgroundCollectionStopsOnClose: the loop collects expired entries
// on its own, and Close stops it (no goroutine left behind).
func TestBackgroundCollectionStopsOnClose(t *testing.T) {
	c := newCast(t)
	before := runtime.NumGoroutine()
	clk := testkit.NewClock(testNow)
	s, err := Open(context.Background(), Config{Clock: clk.Now, Elapsed: followClock(clk), CollectEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tok := issueTo(t, c.owner, c.alice.ID(), nil, time.Minute, "bg")
	if _, err := s.Add(context.Background(), mustNew(t, c.owner, tok)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	testkit.Eventually(t, 2*time.Second, func() bool { return !s.IsRevoked(tok.ID()) },
		"background collection drops the expired entry")
	s.Close()
	s.Close() // idempotent
	if !testkit.Poll(2*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		t.Fatalf("%d goroutines before, %d after Close", before, runtime.NumGoroutine())
	}
}

// TestSetOnAddAnnouncesEachNewRecordOnce: OnAdd sees a record when it is in
// force, once, and not again for a duplicate or when a restart loads it.
func TestSetOnAddAnnouncesEachNewRecordOnce(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	store := newStore()
	var seen []capability.ID
	var s *Set
	s = openSet(t, store, testkit.NewClock(testNow), Config{OnAdd: func(r *Revocation) {
		if !s.IsRevoked(r.ID()) {
			t.Error("OnAdd ran before the record was in force")
		}
		seen = append(seen, r.ID())
	}})
	ch := newChain(t, c, "onadd")
	rev := mustNew(t, c.alice, ch.mid)
	for range 2 {
		if _, err := s.Add(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 1 || seen[0] != ch.mid.ID() {
		t.Fatalf("OnAdd saw %v, want the mid token once", seen)
	}
	s.Close()
	reopened := openSet(t, store, testkit.NewClock(testNow), Config{OnAdd: func(*Revocation) { t.Error("OnAdd announced a record loaded from the store") }})
	if !reopened.IsRevoked(ch.mid.ID()) {
		t.Fatal("the record did not survive the reopen")
	}
}

// TestExpiredIsWhereAddStops: Expired answers true exactly from the
// token's expiry plus the skew, where Add starts refusing.
func TestExpiredIsWhereAddStops(t *testing.T) {
	c := newCast(t)
	clk := testkit.NewClock(testNow)
	s := openSet(t, newStore(), clk, Config{})
	tok := issueTo(t, c.owner, c.alice.ID(), nil, time.Hour, "expired")
	rev := mustNew(t, c.owner, tok)
	clk.Set(tok.Expiry().Add(capability.MaxSkew - time.Second))
	if s.Expired(tok.Expiry()) {
		t.Fatal("expired a second before expiry plus skew")
	}
	clk.Set(tok.Expiry().Add(capability.MaxSkew))
	if !s.Expired(tok.Expiry()) {
		t.Fatal("not expired at expiry plus skew")
	}
	if _, err := s.Add(context.Background(), rev); !errors.Is(err, ErrExpired) {
		t.Fatalf("Add at expiry plus skew: %v, want ErrExpired", err)
	}
}

// TestAClockSetForwardAndBackForgetsNothing: the wall clock jumps past a
// revoked token's expiry and back, with no real time passing. The Set must
// neither collect the entry (the token would verify again once the clock is
// back) nor refuse the revocation as expired, and a restart in between must
// not reset what it knows of time.
func TestAClockSetForwardAndBackForgetsNothing(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	store := newStore()
	clk := testkit.NewClock(testNow)
	noTime := func() time.Duration { return 0 } // the monotonic clock stands still
	s, err := Open(ctx, Config{Datastore: store, Clock: clk.Now, Elapsed: noTime, CollectEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	tok := issueTo(t, c.owner, c.alice.ID(), nil, time.Hour, "jump")
	later := issueTo(t, c.owner, c.alice.ID(), nil, time.Hour, "jump/later")
	if _, err := s.Add(ctx, mustNew(t, c.owner, tok)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(48 * time.Hour)
	if n, err := s.Collect(ctx, clk.Now()); n != 0 || err != nil {
		t.Fatalf("a clock set two days forward collected %d entries (%v)", n, err)
	}
	if _, err := s.Add(ctx, mustNew(t, c.owner, later)); err != nil {
		t.Fatalf("a revocation refused as expired on a clock set forward: %v", err)
	}
	s.Close()
	again, err := Open(ctx, Config{Datastore: store, Clock: clk.Now, Elapsed: noTime, CollectEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	clk.Set(testNow) // and back
	if !again.IsRevoked(tok.ID()) || !again.IsRevoked(later.ID()) {
		t.Fatal("after the clock came back, a revoked token is not revoked any more")
	}
}

// TestALookupAfterAddReturnsSeesTheEntry: readers that start on an empty
// set (the lock-free path) while a writer adds see every entry whose Add
// has returned, and never an entry that was not added.
func TestALookupAfterAddReturnsSeesTheEntry(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	s := openSet(t, newStore(), testkit.NewClock(testNow), Config{})
	revs := make([]*Revocation, 20)
	for i := range revs {
		revs[i] = mustNew(t, c.owner, issueTo(t, c.owner, c.alice.ID(), nil, time.Hour, fmt.Sprint("race", i)))
	}
	stranger := issueTo(t, c.owner, c.bob.ID(), nil, time.Hour, "race/never").ID()
	var done atomic.Int64 // how many Adds have returned
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := int(done.Load())
				for _, r := range revs[:n] {
					if !s.IsRevoked(r.ID()) {
						t.Errorf("%s not revoked after its Add returned", r)
						return
					}
				}
				if s.IsRevoked(stranger) {
					t.Error("a token never revoked reads as revoked")
					return
				}
			}
		})
	}
	for _, r := range revs {
		if _, err := s.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
		done.Add(1)
	}
	close(stop)
	wg.Wait()
}
