package revocation

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// rootedAt is a Config.Relevant: records whose root issuer is who.
func rootedAt(who peer.ID) func(*Revocation) bool {
	return func(r *Revocation) bool { return r.Token().Root().Issuer() == who }
}

// selfRevoked makes n revocations of tokens signer issued itself, like a
// stranger minting throwaway entries.
func selfRevoked(t testing.TB, signer *keys.PeerKey, n int, seed string) []*Revocation {
	t.Helper()
	out := make([]*Revocation, n)
	for i := range out {
		out[i] = mustNew(t, signer, issueTo(t, signer, signer.ID(), nil, time.Hour, fmt.Sprint(seed, i)))
	}
	return out
}

// addAll adds every record and returns the errors, nil for added.
func addAll(t testing.TB, s *Set, revs []*Revocation) []error {
	t.Helper()
	out := make([]error, len(revs))
	for i, r := range revs {
		added, err := s.Add(context.Background(), r)
		if err == nil && !added {
			t.Fatalf("record %d was already there", i)
		}
		out[i] = err
	}
	return out
}

// TestCapsKeepRoomForRelevantRecords: past three quarters of MaxEntries a
// record that is not relevant is refused (ErrQuota), a relevant one is
// taken up to the cap and refused there with ErrFull, the node's own
// revocations are taken past the cap, and nothing already in the set is
// dropped.
func TestCapsKeepRoomForRelevantRecords(t *testing.T) {
	c := newCast(t)
	s := openSet(t, newStore(), testkit.NewClock(testNow), Config{MaxEntries: 8, Relevant: rootedAt(c.owner.ID()), Self: c.alice.ID()})
	junk := selfRevoked(t, c.mallory, 7, "caps/junk")
	for i, err := range addAll(t, s, junk) {
		if want := i >= 6; errors.Is(err, ErrQuota) != want || (err != nil && !want) {
			t.Fatalf("non-relevant record %d: %v", i, err)
		}
	}
	relevant := make([]*Revocation, 3)
	for i := range relevant {
		relevant[i] = mustNew(t, c.owner, issueTo(t, c.owner, c.bob.ID(), nil, time.Hour, fmt.Sprint("caps/relevant", i)))
	}
	errs := addAll(t, s, relevant)
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], ErrFull) {
		t.Fatalf("relevant records: %v", errs)
	}
	if s.Len() != 8 {
		t.Fatalf("len %d, want the cap 8", s.Len())
	}
	own := mustNew(t, c.alice, newChain(t, c, "caps/own").mid)
	if _, err := s.Add(context.Background(), own); err != nil {
		t.Fatalf("the node's own revocation at the cap: %v", err)
	}
	for _, r := range append(junk[:6], relevant[0], relevant[1], own) {
		if !s.IsRevoked(r.ID()) {
			t.Fatalf("%s was dropped", r)
		}
	}
	if s.Len() != 9 {
		t.Fatalf("len %d, want 9", s.Len())
	}
}

// TestCapsWithoutRelevantTreatEveryRecordAsRelevant: an infrastructure set
// (no Relevant) fills to the cap and then refuses with ErrFull.
func TestCapsWithoutRelevantTreatEveryRecordAsRelevant(t *testing.T) {
	c := newCast(t)
	s := openSet(t, newStore(), testkit.NewClock(testNow), Config{MaxEntries: 4})
	errs := addAll(t, s, selfRevoked(t, c.mallory, 5, "infra"))
	for i, err := range errs {
		if want := i >= 4; errors.Is(err, ErrFull) != want || (err != nil && !want) {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

// TestBytesCapCountsRecordSizes: MaxBytes bounds the sum of record sizes,
// Bytes reports it, and collection gives the room back.
func TestBytesCapCountsRecordSizes(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	revs := selfRevoked(t, c.mallory, 5, "bytes")
	size := int64(revs[0].Size())
	for _, r := range revs {
		if int64(r.Size()) != size {
			t.Fatal("the records differ in size")
		}
	}
	// Four records fit the cap; past three of them the rest is for relevant records.
	clk := testkit.NewClock(testNow)
	s := openSet(t, newStore(), clk, Config{MaxBytes: 4 * size, Relevant: rootedAt(c.owner.ID())})
	errs := addAll(t, s, revs[:4])
	if errs[0] != nil || errs[1] != nil || errs[2] != nil || !errors.Is(errs[3], ErrQuota) {
		t.Fatalf("errors %v", errs)
	}
	if s.Bytes() != 3*size {
		t.Fatalf("Bytes %d, want %d", s.Bytes(), 3*size)
	}
	rel := mustNew(t, c.owner, issueTo(t, c.owner, c.bob.ID(), nil, time.Minute, "bytes/relevant"))
	if _, err := s.Add(ctx, rel); err != nil {
		t.Fatalf("a relevant record within the cap: %v", err)
	}
	clk.Set(testNow.Add(time.Minute + capability.MaxSkew))
	if n, err := s.Collect(ctx, clk.Now()); n != 1 || err != nil {
		t.Fatalf("Collect = %d, %v", n, err)
	}
	if s.Bytes() != 3*size {
		t.Fatalf("after collection Bytes %d, want %d", s.Bytes(), 3*size)
	}
}

// TestOpenTrimsAStorePastTheLimits: a store written under larger caps (or
// before there were any) is brought back under the limit for non-relevant
// records when it is opened, newest non-relevant entries first; relevant
// entries are never dropped, even past the cap.
func TestOpenTrimsAStorePastTheLimits(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	store := newStore()
	clk := testkit.NewClock(testNow)
	s := openSet(t, store, clk, Config{})
	relevant := make([]*Revocation, 4)
	for i := range relevant {
		relevant[i] = mustNew(t, c.owner, issueTo(t, c.owner, c.bob.ID(), nil, time.Hour, fmt.Sprint("trim/relevant", i)))
	}
	junk := selfRevoked(t, c.mallory, 6, "trim/junk")
	addAll(t, s, relevant[:2])
	addAll(t, s, junk)
	addAll(t, s, relevant[2:])
	s.Close()

	t.Run("the newest non-relevant entries go first", func(t *testing.T) {
		again := openSet(t, store, clk, Config{MaxEntries: 12, Relevant: rootedAt(c.owner.ID())}) // limit 9
		if again.Len() != 9 || again.IsRevoked(junk[5].ID()) || !again.IsRevoked(junk[4].ID()) {
			t.Fatalf("len %d; newest junk kept %v", again.Len(), again.IsRevoked(junk[5].ID()))
		}
		if ok, _ := store.Has(ctx, recordKey(junk[5].ID())); ok {
			t.Fatal("the trimmed entry is still stored")
		}
		again.Close()
	})
	t.Run("relevant entries stay past the cap", func(t *testing.T) {
		again := openSet(t, store, clk, Config{MaxEntries: 2, Relevant: rootedAt(c.owner.ID())})
		if again.Len() != 4 || again.Version() != 10 {
			t.Fatalf("len %d version %d, want the 4 relevant entries at version 10", again.Len(), again.Version())
		}
		for _, r := range relevant {
			if !again.IsRevoked(r.ID()) {
				t.Fatalf("relevant %s dropped", r)
			}
		}
		if _, err := again.Add(ctx, mustNew(t, c.owner, issueTo(t, c.owner, c.bob.ID(), nil, time.Hour, "trim/more"))); !errors.Is(err, ErrFull) {
			t.Fatalf("a relevant record past the cap: %v", err)
		}
	})
}

// TestExpiredEntriesLeaveOnLoadAndInTheBackground: an entry whose token
// expired while the node was down is not loaded and is deleted from the
// store; one loaded live is collected by the background loop once its
// token expires. Neither needs anything but the clock.
func TestExpiredEntriesLeaveOnLoadAndInTheBackground(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	store := newStore()
	clk := testkit.NewClock(testNow)
	s := openSet(t, store, clk, Config{})
	short := mustNew(t, c.owner, issueTo(t, c.owner, c.alice.ID(), nil, time.Minute, "load/short"))
	long := mustNew(t, c.owner, issueTo(t, c.owner, c.alice.ID(), nil, time.Hour, "load/long"))
	addAll(t, s, []*Revocation{short, long})
	s.Close()

	// The clock jumps past short's expiry while the node is down: downtime
	// does not move the time mark (a clock set forward must not forget a
	// revocation), so both are still in force after the load.
	clk.Set(short.Expiry().Add(capability.MaxSkew))
	again, err := Open(ctx, Config{Datastore: store, Clock: clk.Now, Elapsed: followClock(clk), CollectEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	if !again.IsRevoked(short.ID()) || !again.IsRevoked(long.ID()) {
		t.Fatal("a clock set forward while the node was down dropped a revocation at load")
	}
	// Time that passes while the node runs counts: an hour and a bit later
	// (from the stored mark) short has gone and long follows.
	clk.Advance(time.Minute + capability.MaxSkew)
	testkit.Eventually(t, 5*time.Second, func() bool { return !again.IsRevoked(short.ID()) && again.Len() == 1 }, "the background loop collects the short entry")
	if ok, _ := store.Has(ctx, recordKey(short.ID())); ok || again.Bytes() != int64(long.Size()) {
		t.Fatalf("after collecting short: stored %v, bytes %d", ok, again.Bytes())
	}
	clk.Advance(time.Hour)
	testkit.Eventually(t, 5*time.Second, func() bool { return again.Len() == 0 }, "the background loop collects the entry loaded live")
	if ok, _ := store.Has(ctx, recordKey(long.ID())); ok || again.Bytes() != 0 || again.IsRevoked(long.ID()) {
		t.Fatalf("after collection: stored %v, bytes %d", ok, again.Bytes())
	}
}
