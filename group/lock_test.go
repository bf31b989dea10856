package group

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestTwoOfThreeOpensAndOneDoesNot(t *testing.T) {
	f := deal(t, "board", 2, 3)
	l := f.lock()
	a0, s0 := f.approval(t, 0, time.Hour)
	st, err := l.Offer(a0, s0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Unlocked || !slices.Equal(st.Pending, []peer.ID{f.ids[0]}) {
		t.Fatalf("one approval of three: %+v", st)
	}
	_, err = l.Key()
	testkit.Sentence(t, "the key after one approval", err, "needs 2 admins' approvals", ErrLocked)

	a2, s2 := f.approval(t, 2, 30*time.Minute)
	st, err = l.Offer(a2, s2)
	if err != nil {
		t.Fatal(err)
	}
	want := []peer.ID{f.ids[0], f.ids[2]}
	if !st.Unlocked || !slices.Equal(st.Approvers, want) || !st.Until.Equal(f.clk.Now().Add(30*time.Minute)) {
		t.Fatalf("two approvals of three: %+v, want unlocked by %v for the shorter window", st, want)
	}
	k, err := l.Key()
	if err != nil {
		t.Fatal(err)
	}
	direct, err := Recover(f.d.Commitments, []*Share{f.d.Shares[1], f.d.Shares[2]})
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(direct) || k.IsZero() {
		t.Fatal("the lock's key is not the one admins 1 and 2 recover")
	}
	if got := l.Status(); !got.Unlocked || !slices.Equal(got.Approvers, want) {
		t.Fatalf("Status: %+v", got)
	}
}

func TestEveryKSubsetRecoversTheSameKey(t *testing.T) {
	f := deal(t, "family", 3, 5)
	sh := f.d.Shares
	first, err := Recover(f.d.Commitments, []*Share{sh[0], sh[1], sh[2]})
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range [][]int{{0, 1, 3}, {4, 2, 0}, {1, 2, 3, 4}, {0, 1, 2, 3, 4}} {
		var in []*Share
		for _, i := range set {
			in = append(in, sh[i])
		}
		k, err := Recover(f.d.Commitments, in)
		if err != nil || !k.Equal(first) {
			t.Fatalf("shares %v: %v, or another key", set, err)
		}
	}
	_, err = Recover(f.d.Commitments, []*Share{sh[0], sh[1], sh[1]})
	testkit.Sentence(t, "two distinct shares of three", err, "needs 3 admins' shares, 2 given", ErrTooFewShares)
}

func TestRefusedApprovals(t *testing.T) {
	f := deal(t, "board", 3, 3)
	l := f.lock()
	a0, s0 := f.approval(t, 0, time.Hour)
	if _, err := l.Offer(a0, s0); err != nil {
		t.Fatal(err)
	}

	// Replayed: the same approval again.
	_, err := l.Offer(a0, s0)
	testkit.Sentence(t, "a replayed approval", err, "offered twice", ErrReplay)

	// Forged: a field changed after signing, and a signature by another key.
	a1, s1 := f.approval(t, 1, time.Hour)
	forged := *a1
	forged.Window = 2 * time.Hour
	_, err = l.Offer(&forged, s1)
	testkit.Sentence(t, "a changed approval", err, "was not signed by its key", ErrBadSignature)
	mallory := testkit.Key(t, "mallory")
	fake, _ := f.approvalOf(t, mallory, f.d.Shares[1], f.clk.Now(), time.Hour)
	fake.Admin = f.ids[1]
	_, err = l.Offer(fake, s1)
	testkit.Sentence(t, "an approval signed by another key", err, f.ids[1].String(), ErrBadSignature)

	// Stale and future.
	old, olds := f.approvalOf(t, f.keys[1], f.d.Shares[1], f.clk.Now().Add(-16*time.Minute), time.Hour)
	_, err = l.Offer(old, olds)
	testkit.Sentence(t, "a 16-minute-old approval", err, "16m0s old", ErrStale)
	ahead, aheads := f.approvalOf(t, f.keys[1], f.d.Shares[1], f.clk.Now().Add(2*time.Minute), time.Hour)
	_, err = l.Offer(ahead, aheads)
	testkit.Sentence(t, "an approval from the future", err, "check the admin's clock", ErrStale)

	// Not an admin, and another group.
	out, outs := f.approvalOf(t, mallory, f.d.Shares[1], f.clk.Now(), time.Hour)
	_, err = l.Offer(out, outs)
	testkit.Sentence(t, "an outsider's approval", err, "is not an admin of group \"board\"", ErrNotAdmin)
	other := deal(t, "other", 2, 3)
	oa, os := other.approval(t, 1, time.Hour)
	_, err = l.Offer(oa, os)
	testkit.Sentence(t, "an approval for another group", err, `is for group "other"`, ErrNotAdmin)

	if st := l.Status(); st.Unlocked || !slices.Equal(st.Pending, []peer.ID{f.ids[0]}) {
		t.Fatalf("the refusals changed the lock: %+v", st)
	}
	// The genuine ones still open it.
	a2, s2 := f.approval(t, 2, time.Hour)
	for _, o := range []struct {
		a *Approval
		s *Share
	}{{a1, s1}, {a2, s2}} {
		if _, err := l.Offer(o.a, o.s); err != nil {
			t.Fatal(err)
		}
	}
	if !l.Status().Unlocked {
		t.Fatal("three genuine approvals did not open the group")
	}
	a3, s3 := f.approval(t, 0, time.Hour)
	_, err = l.Offer(a3, s3)
	testkit.Sentence(t, "an approval while open", err, "is not needed", ErrOpen)
}

func TestAReplayIsRefusedByAnotherLockSharingTheNonces(t *testing.T) {
	f := deal(t, "board", 2, 3)
	ns := NewNonceSet(0)
	a0, s0 := f.approval(t, 0, time.Hour)
	if _, err := NewLock(f.d.Commitments, LockConfig{Now: f.clk.Now, Nonces: ns}).Offer(a0, s0); err != nil {
		t.Fatal(err)
	}
	_, err := NewLock(f.d.Commitments, LockConfig{Now: f.clk.Now, Nonces: ns}).Offer(a0, s0)
	if !errors.Is(err, ErrReplay) {
		t.Fatalf("a replay to a restarted lock: %v", err)
	}
}

func TestAWrongShareIsNamedAndSpoilsNothing(t *testing.T) {
	f := deal(t, "board", 2, 3)
	l := f.lock()
	a1, s1 := f.approval(t, 1, time.Hour)
	bad := *s1
	bad.value[0] ^= 1
	_, err := l.Offer(a1, &bad)
	testkit.Sentence(t, "a wrong share", err, "the share of "+f.ids[1].String()+" does not match", ErrBadShare)
	// Another admin's share offered with admin 1's approval.
	_, err = l.Offer(a1, f.d.Shares[2])
	testkit.Sentence(t, "someone else's share", err, "the approval from "+f.ids[1].String(), ErrBadShare)
	// A share moved to another admin's place.
	moved := *s1
	moved.Index = 3
	_, err = l.Offer(a1, &moved)
	testkit.Sentence(t, "a share at the wrong place", err, f.ids[1].String()+" holds no share", ErrBadShare)

	// The refused approval's nonce was not spent: admin 1 can offer it
	// with the right share, and with admin 0 the group opens.
	if _, err := l.Offer(a1, s1); err != nil {
		t.Fatal(err)
	}
	a0, s0 := f.approval(t, 0, time.Hour)
	if st, err := l.Offer(a0, s0); err != nil || !st.Unlocked {
		t.Fatalf("after a wrong share, two good ones: %+v %v", st, err)
	}

	// Recover names every bad share.
	_, err = Recover(f.d.Commitments, []*Share{f.d.Shares[0], &bad, f.d.Shares[2]})
	testkit.Sentence(t, "Recover with a wrong share", err, "the share of "+f.ids[1].String(), ErrBadShare)
	bad0 := *f.d.Shares[0]
	bad0.value[1] ^= 1
	_, err = Recover(f.d.Commitments, []*Share{&bad0, &bad, f.d.Shares[2]})
	testkit.Sentence(t, "Recover with two wrong shares", err, "the shares of "+f.ids[0].String()+", "+f.ids[1].String(), ErrBadShare)
}

func TestTheWindowEndsAndTheKeyIsWiped(t *testing.T) {
	f := deal(t, "board", 2, 2)
	l := f.lock()
	for i := range 2 {
		a, s := f.approval(t, i, 10*time.Minute)
		if _, err := l.Offer(a, s); err != nil {
			t.Fatal(err)
		}
	}
	held := l.key
	f.clk.Advance(10*time.Minute - time.Second)
	if _, err := l.Key(); err != nil || !l.Sweep() {
		t.Fatalf("a second before the end: %v", err)
	}
	f.clk.Advance(time.Second)
	_, err := l.Key()
	testkit.Sentence(t, "the key after the window", err, "needs 2 admins' approvals to unlock", ErrLocked)
	if !held.IsZero() {
		t.Fatal("the key was not wiped at the window's end")
	}
	if st := l.Status(); st.Unlocked || len(st.Approvers) != 0 {
		t.Fatalf("after the window: %+v", st)
	}

	// Sweep alone ends a window, and Relock ends one early.
	for i := range 2 {
		a, s := f.approval(t, i, time.Minute)
		if _, err := l.Offer(a, s); err != nil {
			t.Fatal(err)
		}
	}
	held = l.key
	f.clk.Advance(time.Minute)
	if l.Sweep() || !held.IsZero() {
		t.Fatal("Sweep did not end the window")
	}
	for i := range 2 {
		a, s := f.approval(t, i, time.Minute)
		if _, err := l.Offer(a, s); err != nil {
			t.Fatal(err)
		}
	}
	held = l.key
	l.Relock()
	if _, err := l.Key(); !errors.Is(err, ErrLocked) || !held.IsZero() {
		t.Fatal("Relock did not lock")
	}
}

func TestStalePendingApprovalsAreDropped(t *testing.T) {
	f := deal(t, "board", 2, 3)
	l := f.lock()
	a0, s0 := f.approval(t, 0, time.Hour)
	if _, err := l.Offer(a0, s0); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(MaxApprovalAge + time.Second)
	a1, s1 := f.approval(t, 1, time.Hour)
	st, err := l.Offer(a1, s1)
	if err != nil || st.Unlocked || !slices.Equal(st.Pending, []peer.ID{f.ids[1]}) {
		t.Fatalf("a stale pending approval counted: %+v %v", st, err)
	}
}

func TestALockIsSafeForConcurrentUse(t *testing.T) {
	f := deal(t, "board", 3, MaxAdmins)
	l := f.lock()
	type pair struct {
		a *Approval
		s *Share
	}
	var offers []pair
	for i := range MaxAdmins {
		a, s := f.approval(t, i, time.Hour)
		offers = append(offers, pair{a, s})
	}
	testkit.Each(t, 4, MaxAdmins, func(i int) error {
		_, err := l.Offer(offers[i].a, offers[i].s)
		l.Status()
		l.Sweep()
		_, _ = l.Key()
		if err != nil && !errors.Is(err, ErrOpen) {
			return err
		}
		return nil
	})
	st := l.Status()
	if !st.Unlocked || len(st.Approvers) != 3 {
		t.Fatalf("after %d concurrent offers: %+v", MaxAdmins, st)
	}
}

func TestOfferSealedOpensTheSignedShare(t *testing.T) {
	f := deal(t, "board", 2, 3)
	l := f.lock()
	a0, _ := f.approval(t, 0, time.Hour)
	if _, err := l.OfferSealed(a0, f.keys[1]); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), f.ids[0].String()) {
		t.Fatalf("a share opened with an admin's key instead of the vault's: %v", err)
	}
	if _, err := l.OfferSealed(a0, f.vault); err != nil {
		t.Fatal(err)
	}
	a1, _ := f.approval(t, 1, time.Hour)
	if st, err := l.OfferSealed(a1, f.vault); err != nil || !st.Unlocked {
		t.Fatalf("two sealed approvals: %+v %v", st, err)
	}
}
