package group

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// proposal is a change of f's group to its last two admins, 2 of 2.
func (f *fixture) proposal() (Change, [ChangeDigestSize]byte) {
	c := Change{Admins: f.ids[1:], Threshold: 2, Window: time.Hour}
	return c, c.Digest(f.d.Commitments.Group, f.d.Commitments.ID())
}

func TestAnApprovalCarriesItsPurposeInKey9(t *testing.T) {
	f := deal(t, "board", 2, 3)
	a, _ := f.approval(t, 0, time.Hour)
	enc, err := a.Encode()
	if err != nil || !bytes.HasSuffix(enc, []byte{0x09, 0x40}) || a.IsChange() {
		t.Fatalf("an unlock approval does not end with key 9, empty: %x %v", enc, err)
	}
	_, d := f.proposal()
	c := f.changeApproval(t, 0, d)
	enc, err = c.Encode()
	if err != nil || !bytes.HasSuffix(enc, append([]byte{0x09, 0x58, 0x20}, d[:]...)) || !c.IsChange() {
		t.Fatalf("a change approval does not end with key 9, the digest: %x %v", enc, err)
	}
	// The change is under the signature.
	other := *c
	other.Change = bytes.Clone(c.Change)
	other.Change[0] ^= 1
	err = Verify(f.d.Commitments, &other, f.clk.Now())
	testkit.Sentence(t, "a change approval with another digest", err, "was not signed by its key", ErrBadSignature)
	unlock := *c
	unlock.Change = nil
	err = Verify(f.d.Commitments, &unlock, f.clk.Now())
	testkit.Sentence(t, "a change approval made an unlock one", err, "was not signed by its key", ErrBadSignature)
	// A change of another size is no change.
	_, err = Sign(f.keys[0], Approval{Group: "board", Window: time.Hour, Time: f.clk.Now(), Share: []byte{1}, Change: d[:31]})
	testkit.Sentence(t, "a 31-byte change", err, "names no membership change", ErrMalformed)
}

func TestAChangeFollowsSplitsRules(t *testing.T) {
	f := deal(t, "board", 2, 3)
	good := Change{Admins: f.ids, Threshold: 2}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	many := make([]peer.ID, MaxAdmins+1)
	for i := range many {
		many[i] = testkit.Key(t, "many-"+string(rune('a'+i))).ID()
	}
	for _, c := range []struct {
		name string
		c    Change
		want string
	}{
		{"one admin", Change{Admins: f.ids[:1], Threshold: 1}, "a threshold of 1"},
		{"a threshold of one", Change{Admins: f.ids, Threshold: 1}, "a threshold of 1"},
		{"a threshold above the admins", Change{Admins: f.ids, Threshold: 4}, "a threshold of 4"},
		{"an admin twice", Change{Admins: []peer.ID{f.ids[0], f.ids[1], f.ids[0]}, Threshold: 2}, "is listed twice"},
		{"too many admins", Change{Admins: many, Threshold: 2}, "at most 16"},
		{"not a peer ID", Change{Admins: []peer.ID{f.ids[0], "nobody"}, Threshold: 2}, "is not a peer ID"},
		{"a short window", Change{Admins: f.ids, Threshold: 2, Window: 30 * time.Second}, "unlock window"},
		{"a long window", Change{Admins: f.ids, Threshold: 2, Window: 25 * time.Hour}, "unlock window"},
		{"a window in fractions", Change{Admins: f.ids, Threshold: 2, Window: 90*time.Second + 1}, "whole seconds"},
	} {
		t.Run(c.name, func(t *testing.T) {
			testkit.Sentence(t, c.name, c.c.Check(), c.want, ErrBadDealing)
		})
	}
}

func TestTheDigestIsTheSpecsAndBindsEveryField(t *testing.T) {
	f := deal(t, "board", 2, 3)
	id := f.d.Commitments.ID()
	c := Change{Admins: f.ids, Threshold: 2, Window: time.Hour}
	d := c.Digest("board", id)
	// doc.go "Membership changes", built from the table.
	body, err := wire.Marshal(map[uint64]any{1: 1, 2: "board", 3: id[:], 4: 2,
		5: [][]byte{[]byte(f.ids[0]), []byte(f.ids[1]), []byte(f.ids[2])}, 6: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(append([]byte("ocmt-mesh/group-change/v1\x00"), body...)); d != want {
		t.Fatal("the digest is not the one doc.go specifies")
	}
	if c.Digest("board", id) != d {
		t.Fatal("the digest is not deterministic")
	}
	other := id
	other[0] ^= 1
	for name, o := range map[string][ChangeDigestSize]byte{
		"another group":      c.Digest("other", id),
		"another dealing":    c.Digest("board", other),
		"another order":      Change{Admins: []peer.ID{f.ids[1], f.ids[0], f.ids[2]}, Threshold: 2, Window: time.Hour}.Digest("board", id),
		"another threshold":  Change{Admins: f.ids, Threshold: 3, Window: time.Hour}.Digest("board", id),
		"another window":     Change{Admins: f.ids, Threshold: 2, Window: 2 * time.Hour}.Digest("board", id),
		"one admin fewer":    Change{Admins: f.ids[:2], Threshold: 2, Window: time.Hour}.Digest("board", id),
		"the window kept, 0": Change{Admins: f.ids, Threshold: 2, Window: 0}.Digest("board", id),
	} {
		if o == d {
			t.Errorf("%s gives the same digest", name)
		}
	}
}

func TestKOfTheAdminsApproveAChangeAndOneDoesNothing(t *testing.T) {
	f := deal(t, "board", 2, 3)
	_, d := f.proposal()
	tl := NewTally(f.d.Commitments, d, LockConfig{Now: f.clk.Now})
	who, done, err := tl.OfferSealed(f.changeApproval(t, 2, d), f.vault)
	if err != nil || done || !slices.Equal(who, []peer.ID{f.ids[2]}) {
		t.Fatalf("one approval of three: %v %v %v", who, done, err)
	}
	_, err = tl.Key()
	testkit.Sentence(t, "the key after one change approval", err, "needs 2 admins' approvals", ErrLocked)

	who, done, err = tl.OfferSealed(f.changeApproval(t, 0, d), f.vault)
	if err != nil || !done || !slices.Equal(who, []peer.ID{f.ids[0], f.ids[2]}) {
		t.Fatalf("two approvals of three: %v %v %v", who, done, err)
	}
	k, err := tl.Key()
	if err != nil {
		t.Fatal(err)
	}
	want, err := Recover(f.d.Commitments, f.d.Shares[:2])
	if err != nil || !k.Equal(want) {
		t.Fatalf("the tally's key is not the group's: %v", err)
	}
	// Done: a third approval changes nothing.
	who, done, err = tl.OfferSealed(f.changeApproval(t, 1, d), f.vault)
	if err != nil || !done || !slices.Equal(who, []peer.ID{f.ids[0], f.ids[2]}) {
		t.Fatalf("an approval after the tally is done: %v %v %v", who, done, err)
	}

	held := tl.key
	tl.Wipe()
	if !held.IsZero() {
		t.Fatal("Wipe left the key")
	}
	if _, err := tl.Key(); !errors.Is(err, ErrLocked) {
		t.Fatalf("the key after Wipe: %v", err)
	}
	_, _, err = tl.OfferSealed(f.changeApproval(t, 1, d), f.vault)
	testkit.Sentence(t, "an approval after Wipe", err, "was closed", ErrLocked)
}

func TestApprovalsAreRefusedForAnotherPurpose(t *testing.T) {
	f := deal(t, "board", 2, 3)
	ns := NewNonceSet(0)
	cfg := LockConfig{Now: f.clk.Now, Nonces: ns}
	c, d := f.proposal()

	// A change approval offered to a Lock.
	l := NewLock(f.d.Commitments, cfg)
	ca := f.changeApproval(t, 0, d)
	_, err := l.OfferSealed(ca, f.vault)
	testkit.Sentence(t, "a change approval offered to unlock", err, "this approval is for a membership change, not an unlock", ErrWrongPurpose)
	opened, _ := OpenShare(ca.Share, f.vault)
	_, err = l.Offer(ca, opened)
	testkit.Sentence(t, "a change approval offered with its share", err, "for a membership change", ErrWrongPurpose)
	if st := l.Status(); len(st.Pending) != 0 {
		t.Fatalf("a change approval is pending in the lock: %+v", st)
	}

	// An unlock approval offered to a Tally.
	tl := NewTally(f.d.Commitments, d, cfg)
	ua, _ := f.approval(t, 1, time.Hour)
	_, _, err = tl.OfferSealed(ua, f.vault)
	testkit.Sentence(t, "an unlock approval offered to a change", err, "is for an unlock, not a membership change", ErrWrongPurpose)

	// An approval of another change (another window).
	c.Window = 2 * time.Hour
	other := f.changeApproval(t, 1, c.Digest("board", f.d.Commitments.ID()))
	_, _, err = tl.OfferSealed(other, f.vault)
	testkit.Sentence(t, "an approval of another change", err, "is for another membership change", ErrWrongPurpose)

	// None of them spent a nonce: the change approval counts in the
	// tally, the unlock approval in the lock.
	if who, done, err := tl.OfferSealed(ca, f.vault); err != nil || done || len(who) != 1 {
		t.Fatalf("the change approval after its refusal by the lock: %v %v %v", who, done, err)
	}
	if st, err := l.OfferSealed(ua, f.vault); err != nil || len(st.Pending) != 1 {
		t.Fatalf("the unlock approval after its refusal by the tally: %+v %v", st, err)
	}
}

func TestARefusedChangeApprovalChangesNothing(t *testing.T) {
	f := deal(t, "board", 3, 3)
	_, d := f.proposal()
	ns := NewNonceSet(0)
	tl := NewTally(f.d.Commitments, d, LockConfig{Now: f.clk.Now, Nonces: ns})
	a0 := f.changeApproval(t, 0, d)
	if _, _, err := tl.OfferSealed(a0, f.vault); err != nil {
		t.Fatal(err)
	}
	// Replayed, to the same tally and to another sharing the nonces.
	_, _, err := tl.OfferSealed(a0, f.vault)
	testkit.Sentence(t, "a replayed change approval", err, "offered twice", ErrReplay)
	_, _, err = NewTally(f.d.Commitments, d, LockConfig{Now: f.clk.Now, Nonces: ns}).OfferSealed(a0, f.vault)
	testkit.Sentence(t, "a change approval replayed to a new tally", err, "offered twice", ErrReplay)

	// Forged: another admin's name on admin 1's signature.
	a1 := f.changeApproval(t, 1, d)
	forged := *a1
	forged.Admin = f.ids[2]
	_, _, err = tl.OfferSealed(&forged, f.vault)
	testkit.Sentence(t, "a forged change approval", err, "was not signed by its key", ErrBadSignature)
	// An outsider.
	mallory := testkit.Key(t, "mallory")
	out, _ := f.signed(t, mallory, f.d.Shares[1], f.clk.Now(), MinWindow, d[:])
	_, _, err = tl.OfferSealed(out, f.vault)
	testkit.Sentence(t, "an outsider's change approval", err, "is not an admin", ErrNotAdmin)
	// Admin 1's approval carrying admin 2's share.
	theirs, _ := f.signed(t, f.keys[1], f.d.Shares[2], f.clk.Now(), MinWindow, d[:])
	_, _, err = tl.OfferSealed(theirs, f.vault)
	testkit.Sentence(t, "a change approval with another's share", err, "is not theirs", ErrBadShare)
	// A share the vault cannot open.
	_, _, err = tl.OfferSealed(a1, f.keys[0])
	testkit.Sentence(t, "a share sealed to another peer", err, "the approval from "+f.ids[1].String(), ErrMalformed)

	// Stale: admin 0's approval lapses before the others come.
	f.clk.Advance(MaxApprovalAge + time.Second)
	who, done, err := tl.OfferSealed(f.changeApproval(t, 1, d), f.vault)
	if err != nil || done || !slices.Equal(who, []peer.ID{f.ids[1]}) {
		t.Fatalf("a stale change approval still counts: %v %v %v", who, done, err)
	}
	who, done, err = tl.OfferSealed(f.changeApproval(t, 2, d), f.vault)
	if err != nil || done || len(who) != 2 {
		t.Fatalf("two fresh of three: %v %v %v", who, done, err)
	}
	if who, done, err = tl.OfferSealed(f.changeApproval(t, 0, d), f.vault); err != nil || !done || len(who) != 3 {
		t.Fatalf("three fresh of three: %v %v %v", who, done, err)
	}
}

func TestAChangeIsNotBoundByTheSchedule(t *testing.T) {
	f := deal(t, "board", 2, 2)
	never, err := ParseSchedule("sun 03:00-03:01")
	if err != nil {
		t.Fatal(err)
	}
	_, d := f.proposal()
	tl := NewTally(f.d.Commitments, d, LockConfig{Now: f.clk.Now, Schedule: never})
	for i := range 2 {
		if _, _, err := tl.OfferSealed(f.changeApproval(t, i, d), f.vault); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tl.Key(); err != nil {
		t.Fatal(err)
	}
}

func TestAfterARedealTheOldApprovalsAndSharesAreWorthless(t *testing.T) {
	f := deal(t, "board", 2, 3)
	c, d := f.proposal()
	old := f.changeApproval(t, 1, d)

	d2, key, err := Deal(rand.Reader, "board", c.Threshold, c.Admins)
	if err != nil {
		t.Fatal(err)
	}
	defer key.Wipe()
	got, err := Recover(d2.Commitments, d2.Shares)
	if err != nil || !got.Equal(key) || key.IsZero() {
		t.Fatalf("Deal's key is not the one its shares recover: %v", err)
	}
	// The same change proposed again names the new dealing.
	d2digest := c.Digest("board", d2.Commitments.ID())
	if d2digest == d {
		t.Fatal("the digest does not bind the dealing")
	}
	tl := NewTally(d2.Commitments, d2digest, LockConfig{Now: f.clk.Now})
	_, _, err = tl.OfferSealed(old, f.vault)
	testkit.Sentence(t, "an approval of the old membership", err, "another membership change", ErrWrongPurpose)
	// An admin who left cannot approve at all.
	err = Verify(d2.Commitments, f.changeApproval(t, 0, d2digest), f.clk.Now())
	testkit.Sentence(t, "a removed admin's approval", err, "is not an admin", ErrNotAdmin)
}

func TestATallyIsSafeForConcurrentUse(t *testing.T) {
	f := deal(t, "board", 3, MaxAdmins)
	c := Change{Admins: f.ids[:4], Threshold: 2}
	d := c.Digest("board", f.d.Commitments.ID())
	tl := NewTally(f.d.Commitments, d, LockConfig{Now: f.clk.Now})
	var as []*Approval
	for i := range MaxAdmins {
		as = append(as, f.changeApproval(t, i, d))
	}
	testkit.Each(t, 4, MaxAdmins, func(i int) error {
		_, _, err := tl.OfferSealed(as[i], f.vault)
		_, _ = tl.Key()
		return err
	})
	who, done, err := tl.OfferSealed(as[0], f.vault)
	if err != nil || !done || len(who) != 3 {
		t.Fatalf("after %d concurrent approvals: %v %v %v", MaxAdmins, who, done, err)
	}
}

func TestAWipedKeySignsNothing(t *testing.T) {
	k := *testkit.Key(t, "admin-0")
	k.Wipe()
	if _, err := Sign(&k, Approval{Group: "board", Window: time.Hour, Time: testkit.Epoch, Share: []byte{1}}); err == nil {
		t.Fatal("a wiped key signed an approval")
	}
	if _, _, err := SignRecord(&k, Record{Group: "board", Height: 1, Time: testkit.Epoch, Kind: "a"}); err == nil {
		t.Fatal("a wiped key signed an audit record")
	}
}
