package groupvault

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// TestKApprovalsOfAChangeRedealAndResealAndTheRemovedAdminsShareIsUseless:
// carol leaves smiths and dave joins. One approval does nothing; the
// K-th re-deals (new commitments, new sealed shares) and re-seals every
// secret under a fresh key, which the new admins unlock; the old shares
// and the old key open nothing the vault keeps.
func TestKApprovalsOfAChangeRedealAndResealAndTheRemovedAdminsShareIsUseless(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, carol := smiths(f)
	dave := newAdmin(t, "dave")
	g.unlock(time.Hour, alice, bob)
	release := f.clock.Now().Add(30 * 24 * time.Hour)
	want := map[string]string{"wifi": canary + "-wifi", "door": canary + "-door"}
	for n, v := range want {
		g.put(alice, n, v, time.Time{})
	}
	g.put(alice, "will", canary+"-will", release)
	f.must(bob.id, groupwire.Request{Op: groupwire.OpRelock, Group: "smiths"})

	before := g.info(alice)
	oldShares := map[string]*group.Share{"alice": g.share(alice), "carol": g.share(carol)}
	oldSealed := map[string][]byte{}
	for _, n := range []string{"wifi", "door", "will"} {
		b, err := f.store.Get(f.ctx, secretKey("smiths", n))
		if err != nil {
			t.Fatal(err)
		}
		oldSealed[n] = b
	}
	enc, digest := g.change(2, 2*time.Hour, alice, bob, dave)

	// one approval of the change does nothing
	in, err := g.offerChange(alice, g.approval(alice, group.MinWindow, digest[:]), enc)
	if err != nil || !bytes.Equal(in.Commitments, before.Commitments) || in.Unlocked {
		t.Fatalf("one approval of the change: %+v %v", in, err)
	}
	if r := f.last(); r.Kind != "change.approve" || r.Actor != alice.id || !strings.Contains(r.Detail, "1 of 2") {
		t.Fatalf("the approval's record: %s by %s: %q", r.Kind, r.Actor, r.Detail)
	}
	f.refused("dave before the change", dave.id, groupwire.Request{Op: groupwire.OpInfo, Group: "smiths"}, wire.NotFound)

	// an unlock's approval offered as a change, a change's as an unlock
	_, err = g.offerChange(bob, g.approval(bob, time.Hour, nil), enc)
	statusIs(t, "an unlock's approval offered as a change", err, wire.Forbidden)
	says(t, "an unlock's approval offered as a change", err, "for an unlock, not a membership change", bob.id.String())
	if r := f.last(); r.Kind != "change.refuse" || r.Actor != bob.id {
		t.Fatalf("the refusal's record: %s by %s", r.Kind, r.Actor)
	}
	_, err = g.approve(bob, g.approval(bob, group.MinWindow, digest[:]))
	statusIs(t, "a change's approval offered as an unlock", err, wire.Forbidden)
	says(t, "a change's approval offered as an unlock", err, "for a membership change, not an unlock", bob.id.String())
	if r := f.last(); r.Kind != "unlock.refuse" || r.Actor != bob.id {
		t.Fatalf("the refusal's record: %s by %s", r.Kind, r.Actor)
	}
	// an approval of another change is not counted for this one
	_, other := g.change(2, 0, alice, bob)
	_, err = g.offerChange(bob, g.approval(bob, group.MinWindow, other[:]), enc)
	statusIs(t, "an approval of another change", err, wire.Forbidden)
	if in := g.info(alice); !bytes.Equal(in.Commitments, before.Commitments) || in.Unlocked || len(in.Pending) != 0 {
		t.Fatalf("refused approvals changed the group: %+v", in)
	}

	// the K-th approval re-deals and re-seals
	in, err = g.offerChange(bob, g.approval(bob, group.MinWindow, digest[:]), enc)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(in.Commitments, before.Commitments) || in.Unlocked || in.Window != int64(2*time.Hour/time.Second) || in.Secrets != 3 {
		t.Fatalf("after the change: %+v", in)
	}
	c, err := group.ParseCommitments(in.Commitments)
	if err != nil || c.Threshold != 2 || len(c.Admins) != 3 || c.Admins[2] != dave.id || c.IsAdmin(carol.id) {
		t.Fatalf("the new commitments: %+v %v", c, err)
	}
	r := f.last()
	if r.Kind != "group.change" || r.Actor != bob.id || !strings.Contains(r.Detail, "re-sealed 3 secrets") || !strings.Contains(r.Detail, dave.id.String()) {
		t.Fatalf("the change's record: %s by %s: %q", r.Kind, r.Actor, r.Detail)
	}
	for n, old := range oldSealed {
		now, err := f.store.Get(f.ctx, secretKey("smiths", n))
		if err != nil || bytes.Equal(now, old) {
			t.Fatalf("%s was not re-sealed: %v", n, err)
		}
		// the old key, from the old shares, opens nothing
		oldKey, err := group.Recover(mustCommitments(t, before.Commitments), []*group.Share{oldShares["alice"], oldShares["carol"]})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := group.OpenSecret(oldKey, "smiths", n, now); !errors.Is(err, group.ErrSealed) {
			t.Fatalf("the old key opens the re-sealed %s: %v", n, err)
		}
		oldKey.Wipe()
	}
	for _, a := range []*admin{alice, bob, dave} {
		sh := g.share(a)
		if err := group.VerifyShare(c, sh); err != nil {
			t.Fatalf("%s's new share: %v", a.name, err)
		}
		sh.Wipe()
	}

	// carol is nobody to the group now; her old share opens nothing
	f.refused("carol's info after the change", carol.id, groupwire.Request{Op: groupwire.OpInfo, Group: "smiths"}, wire.NotFound)
	raw := g.approvalWith(carol, oldShares["carol"], f.clock.Now(), time.Hour, nil)
	f.refused("carol's approval with her old share", carol.id, groupwire.Request{Op: groupwire.OpApprove, Group: "smiths", Approval: raw}, wire.NotFound)
	if err := group.VerifyShare(c, oldShares["carol"]); !errors.Is(err, group.ErrBadShare) {
		t.Fatalf("carol's old share against the new commitments: %v", err)
	}
	// alice's old share, in a fresh approval of hers, is refused
	_, err = g.approve(alice, g.approvalWith(alice, oldShares["alice"], f.clock.Now(), time.Hour, nil))
	statusIs(t, "alice's old share", err, wire.Forbidden)
	says(t, "alice's old share", err, "from another dealing", alice.id.String())
	// the same change approved again is another digest now: refused
	_, err = g.offerChange(alice, g.approval(alice, group.MinWindow, digest[:]), enc)
	statusIs(t, "an approval of the change to the old membership", err, wire.Forbidden)

	// the new admins unlock, and read what the old ones wrote
	in = g.unlock(time.Hour, alice, dave)
	if len(in.Approvers) != 2 || string(in.Approvers[1]) != string(dave.id) {
		t.Fatalf("approvers: %+v", in.Approvers)
	}
	for n, v := range want {
		if got, err := g.get(dave.id, n, nil); err != nil || got != v {
			t.Fatalf("dave reads %s: %q %v", n, got, err)
		}
	}
	_, err = g.get(dave.id, "will", nil)
	statusIs(t, "the time-locked secret after the change", err, wire.Forbidden)
	says(t, "the time-locked secret after the change", err, release.UTC().Format(time.RFC3339))
	for _, sh := range oldShares {
		sh.Wipe()
	}
}

func mustCommitments(t *testing.T, b []byte) *group.Commitments {
	t.Helper()
	c, err := group.ParseCommitments(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAChangeApprovalIsNotCountedAgainAfterARestart: the vault keeps the
// nonces of the approvals it counted (doc.go "Store": /g/NAME/n/NONCE),
// so a restart does not let one be counted twice, whatever its purpose.
func TestAChangeApprovalIsNotCountedAgainAfterARestart(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, _ := smiths(f)
	enc, digest := g.change(2, 0, alice, bob)
	raw := g.approval(alice, group.MinWindow, digest[:])
	if _, err := g.offerChange(alice, raw, enc); err != nil {
		t.Fatal(err)
	}
	_, err := g.offerChange(alice, raw, enc)
	statusIs(t, "a change approval offered twice", err, wire.Conflict)
	f.reopen()
	_, err = g.offerChange(alice, raw, enc)
	if wire.StatusOf(err) != wire.Conflict {
		t.Fatal("a change approval counted before a restart is counted again after it (" + errString(err) + "): " +
			"change.go commits change.approve without the approval's nonce, so load() does not restore it. Fix: in " +
			"change(), write gkey(g.name, \"n\", hex(a.Nonce)) = a.Time.Unix() in the change.approve batch, as approve() does.")
	}
}

func errString(err error) string {
	if err == nil {
		return "served"
	}
	return err.Error()
}

// TestARefusedChangeApprovalDropsNoOtherChangesApprovals: a refused
// offer leaves the others as they were (group's Lock and Tally). A vault
// waits on at most maxTallies changes at once; approvals it refuses must
// not take a place among them.
func TestARefusedChangeApprovalDropsNoOtherChangesApprovals(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, carol := smiths(f)
	enc, digest := g.change(2, 0, alice, bob) // carol leaves
	if _, err := g.offerChange(alice, g.approval(alice, group.MinWindow, digest[:]), enc); err != nil {
		t.Fatal(err)
	}
	// bob offers stale approvals of other changes, each refused
	at := f.clock.Now().Add(-group.MaxApprovalAge - time.Minute)
	for w := range maxTallies {
		oenc, od := g.change(2, time.Duration(w+2)*time.Minute, alice, bob, carol)
		sh := g.share(bob)
		_, err := g.offerChange(bob, g.approvalWith(bob, sh, at, group.MinWindow, od[:]), oenc)
		sh.Wipe()
		statusIs(t, "a stale approval of another change", err, wire.Expired)
	}
	in, err := g.offerChange(bob, g.approval(bob, group.MinWindow, digest[:]), enc)
	if err != nil {
		t.Fatal(err)
	}
	if c := mustCommitments(t, in.Commitments); c.IsAdmin(carol.id) {
		t.Fatalf("%d refused approvals of other changes dropped alice's pending approval of this one: change.go "+
			"makes (and counts against maxTallies, evicting the oldest) a tally for a change's digest before the "+
			"approval is checked, so refused approvals evict waiting ones. Fix: offer to the tally first and insert a "+
			"new tally in g.tallies (evicting the oldest) only once an approval of it was accepted.", maxTallies)
	}
}

func TestAChangeLocksAnOpenGroup(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, carol := smiths(f)
	g.unlock(time.Hour, alice, bob)
	g.put(alice, "wifi", canary, time.Time{})
	enc, digest := g.change(2, 0, alice, bob, carol) // the same admins: a fresh key
	for _, a := range []*admin{alice, carol} {
		if _, err := g.offerChange(a, g.approval(a, group.MinWindow, digest[:]), enc); err != nil {
			t.Fatal(err)
		}
	}
	_, err := g.get(bob.id, "wifi", nil)
	statusIs(t, "a read after a change", err, wire.Locked)
	g.unlock(time.Hour, bob, carol)
	if v, err := g.get(alice.id, "wifi", nil); err != nil || v != canary {
		t.Fatalf("a read after a fresh unlock: %v", err)
	}
}
