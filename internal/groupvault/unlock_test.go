package groupvault

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// smiths is the usual group: alice, bob and carol, 2 of 3, an 8-hour
// default window.
func smiths(f *fixture) (*grp, *admin, *admin, *admin) {
	f.t.Helper()
	alice, bob, carol := newAdmin(f.t, "alice"), newAdmin(f.t, "bob"), newAdmin(f.t, "carol")
	return f.create("smiths", 2, 8*time.Hour, "", alice, bob, carol), alice, bob, carol
}

func TestTwoOfThreeAdminsOpenTheGroupAndOneDoesNot(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, carol := smiths(f)
	if in := g.info(carol); in.Unlocked || in.Height != 1 {
		t.Fatalf("a new group: %+v", in)
	}
	// locked: reads and writes answer Locked, names are listed
	for _, who := range []*admin{alice, bob, carol} {
		_, err := g.get(who.id, "wifi", nil)
		statusIs(t, "a read while locked", err, wire.Locked)
		says(t, "a read while locked", err, "2 of its 3 admins must approve")
	}
	f.refused("a write while locked", alice.id, groupwire.Request{Op: groupwire.OpPut, Group: "smiths", Name: "wifi", Value: []byte("x")}, wire.Locked)
	f.refused("a deletion while locked", alice.id, groupwire.Request{Op: groupwire.OpRemove, Group: "smiths", Name: "wifi"}, wire.Locked)

	// one of three: pending, still locked
	in, err := g.approve(alice, g.approval(alice, 2*time.Hour, nil))
	if err != nil || in.Unlocked || len(in.Pending) != 1 || string(in.Pending[0]) != string(alice.id) {
		t.Fatalf("after one approval: %+v %v", in, err)
	}
	_, err = g.get(bob.id, "wifi", nil)
	statusIs(t, "a read after one approval", err, wire.Locked)

	// the K-th opens, for the shortest window approved, from its time
	f.clock.Advance(time.Minute)
	in, err = g.approve(bob, g.approval(bob, time.Hour, nil))
	if err != nil || !in.Unlocked || len(in.Approvers) != 2 {
		t.Fatalf("after two approvals: %+v %v", in, err)
	}
	if want := f.clock.Now().Add(time.Hour).Unix(); in.Until != want {
		t.Fatalf("open until %s, want %s (the shorter window, from the second approval)", time.Unix(in.Until, 0).UTC(), time.Unix(want, 0).UTC())
	}
	if string(in.Approvers[0]) != string(alice.id) || string(in.Approvers[1]) != string(bob.id) {
		t.Fatal("the approvers are not listed in share order")
	}
	g.put(carol, "wifi", canary, time.Time{})
	if v, err := g.get(alice.id, "wifi", nil); err != nil || v != canary {
		t.Fatalf("a read while open: %q %v", v, err)
	}
	// a third approval while open is refused, and changes nothing
	_, err = g.approve(carol, g.approval(carol, 24*time.Hour, nil))
	statusIs(t, "an approval while open", err, wire.Conflict)
	if in := g.info(alice); !in.Unlocked || in.Until != f.clock.Now().Add(time.Hour).Unix() {
		t.Fatalf("an approval while open moved the window: %+v", in)
	}
	var got []string
	for _, r := range f.records("smiths") {
		got = append(got, r.Kind)
	}
	want := "group.create unlock.approve unlock.approve group.open secret.write secret.read unlock.refuse"
	if strings.Join(got, " ") != want {
		t.Fatalf("records %v, want %s", got, want)
	}
}

// forge re-encodes an approval signed by another key as if by admin: its
// signature is then not admin's.
func forge(t *testing.T, raw []byte, as *admin) []byte {
	t.Helper()
	var w struct {
		Version uint64 `cbor:"1,keyasint"`
		Group   string `cbor:"2,keyasint"`
		Window  int64  `cbor:"3,keyasint"`
		Nonce   []byte `cbor:"4,keyasint"`
		Time    int64  `cbor:"5,keyasint"`
		Admin   []byte `cbor:"6,keyasint"`
		Share   []byte `cbor:"7,keyasint"`
		Sig     []byte `cbor:"8,keyasint,omitempty"`
		Change  []byte `cbor:"9,keyasint"`
	}
	if err := wire.UnmarshalCanonical(raw, &w); err != nil {
		t.Fatal(err)
	}
	w.Admin = []byte(as.id)
	out, err := wire.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := group.ParseApproval(out); err != nil {
		t.Fatalf("the forgery does not parse: %v", err)
	}
	return out
}

func TestAForgedReplayedStaleOrFutureApprovalIsRefusedAuditedAndOpensNothing(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, _ := smiths(f)
	mallory := newAdmin(t, "mallory")

	// bob's approval waits, so any one more counted would open the group
	if _, err := g.approve(bob, g.approval(bob, time.Hour, nil)); err != nil {
		t.Fatal(err)
	}
	replayed := g.approval(alice, time.Hour, nil)
	stale := g.approval(alice, time.Hour, nil)
	cases := []struct {
		name     string
		approval func() []byte
		status   wire.Status
		says     string
	}{
		{"signed by a key that is not alice's", func() []byte {
			// mallory signs alice's share as alice: the share is right,
			// the signature is not alice's
			sh := g.share(alice)
			defer sh.Wipe()
			return forge(t, g.approvalWith(mallory, sh, f.clock.Now(), time.Hour, nil), alice)
		}, wire.Forbidden, "was not signed by its key"},
		{"dated more than 15 minutes before the vault's clock", func() []byte {
			f.clock.Advance(group.MaxApprovalAge + time.Second)
			return stale
		}, wire.Expired, "approvals last"},
		{"dated more than a minute ahead of the vault's clock", func() []byte {
			sh := g.share(alice)
			defer sh.Wipe()
			return g.approvalWith(alice, sh, f.clock.Now().Add(2*time.Minute), time.Hour, nil)
		}, wire.Expired, "check the admin's clock"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(f.published())
			_, err := g.approve(alice, c.approval())
			statusIs(t, c.name, err, c.status)
			says(t, c.name, err, alice.id.String())
			says(t, c.name, err, c.says)
			if p := f.published(); len(p) != before+1 {
				t.Fatalf("%d records for one refusal", len(p)-before)
			}
			r := f.last()
			if r.Kind != "unlock.refuse" || r.Actor != alice.id || !strings.Contains(r.Detail, alice.id.String()) {
				t.Fatalf("the refusal's record: %s by %s: %q", r.Kind, r.Actor, r.Detail)
			}
			if in := g.info(alice); in.Unlocked {
				t.Fatal("a refused approval opened the group")
			}
		})
	}

	// replayed: the same bytes twice. bob's approval went stale above;
	// the first offer counts (alice waits), the second is refused
	t.Run("the same bytes twice", func(t *testing.T) {
		replayed = g.approval(alice, time.Hour, nil)
		in, err := g.approve(alice, replayed)
		if err != nil || in.Unlocked || len(in.Pending) != 1 {
			t.Fatalf("the first offer: %+v %v", in, err)
		}
		_, err = g.approve(alice, replayed)
		statusIs(t, "a replay", err, wire.Conflict)
		says(t, "a replay", err, "offered twice")
		if r := f.last(); r.Kind != "unlock.refuse" || r.Actor != alice.id {
			t.Fatalf("the replay's record: %s by %s", r.Kind, r.Actor)
		}
		if in := g.info(alice); in.Unlocked || len(in.Pending) != 1 {
			t.Fatalf("a replay counted: %+v", in)
		}
	})
	for _, b := range f.published() {
		if strings.Contains(string(b), canary) {
			t.Fatal("a record holds the secret")
		}
	}
}

// TestAnApprovalOfferedByAnotherAdminIsRefusedAndAudited: only the admin
// who signed an approval may offer it (doc.go), and every refused
// approval is a record of the chain.
func TestAnApprovalOfferedByAnotherAdminIsRefusedAndAudited(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, _ := smiths(f)
	aliceApproval := g.approval(alice, time.Hour, nil)
	before := len(f.published())
	_, err := g.approve(bob, aliceApproval) // bob offers alice's approval
	statusIs(t, "an approval offered by another admin", err, wire.Forbidden)
	says(t, "an approval offered by another admin", err, "offered by the admin who signed it")
	if in := g.info(alice); in.Unlocked || len(in.Pending) != 0 {
		t.Fatalf("an approval offered by another admin counted: %+v", in)
	}
	// alice may still offer it herself: the refusal spent no nonce
	if in, err := g.approve(alice, aliceApproval); err != nil || len(in.Pending) != 1 {
		t.Fatalf("alice's own offer after bob's: %+v %v", in, err)
	}
	recs := f.published()[before:]
	if len(recs) != 2 {
		t.Fatalf("approve (and change) refuse an approval offered by a peer other than its signer " +
			"without an audit record (service.go approve: `if a.Admin != remote { return ... }` before any commit); " +
			"doc.go says every refused approval is a record. Fix: commit an unlock.refuse (change.refuse) record " +
			"with actor remote and a detail naming a.Admin before returning Forbidden.")
	}
	r, err := group.ParseRecord(recs[0])
	if err != nil || r.Kind != "unlock.refuse" || r.Actor != bob.id || !strings.Contains(r.Detail, alice.id.String()) {
		t.Fatalf("the refusal's record: %+v %v", r, err)
	}
}

func TestAWrongShareIsDetectedAndTheErrorNamesTheAdminWhoOfferedIt(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, carol := smiths(f)
	bobs := g.share(bob)
	defer bobs.Wipe()

	// another dealing of the same group and admins: alice's share of it
	other, err := group.Split(rand.Reader, "smiths", 2, []peer.ID{alice.id, bob.id, carol.id})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		share *group.Share
		says  string
	}{
		{"bob's share in alice's approval", bobs, "is not theirs"},
		{"alice's share of another dealing", other.Shares[0], "from another dealing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := g.approvalWith(alice, c.share, f.clock.Now(), time.Hour, nil)
			_, err := g.approve(alice, raw)
			statusIs(t, c.name, err, wire.Forbidden)
			says(t, c.name, err, alice.id.String())
			says(t, c.name, err, c.says)
			if r := f.last(); r.Kind != "unlock.refuse" || r.Actor != alice.id || !strings.Contains(r.Detail, alice.id.String()) {
				t.Fatalf("the refusal's record: %s by %s: %q", r.Kind, r.Actor, r.Detail)
			}
			if in := g.info(alice); in.Unlocked || len(in.Pending) != 0 {
				t.Fatalf("a wrong share counted: %+v", in)
			}
		})
	}
	// a share sealed to another peer than the vault does not open
	t.Run("a share sealed to alice, not the vault", func(t *testing.T) {
		sh := g.share(alice)
		defer sh.Wipe()
		toAlice, err := group.SealShare(sh, alice.id)
		if err != nil {
			t.Fatal(err)
		}
		ap := group.Approval{Group: "smiths", Window: time.Hour, Time: f.clock.Now(), Share: toAlice}
		rand.Read(ap.Nonce[:])
		raw, err := group.Sign(alice.key, ap)
		if err != nil {
			t.Fatal(err)
		}
		_, err = g.approve(alice, raw)
		statusIs(t, "a share sealed to alice", err, wire.BadRequest)
		says(t, "a share sealed to alice", err, alice.id.String())
	})
	// the right shares still open it
	g.unlock(time.Hour, alice, bob)
}

func TestTheWindowEndsOnTheVaultsClockAndSweepRelocksAndAuditsIt(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, carol := smiths(f)
	in := g.unlock(time.Hour, alice, bob)
	g.put(alice, "wifi", canary, time.Time{})
	f.clock.Set(time.Unix(in.Until, 0).Add(-time.Second))
	if v, err := g.get(carol.id, "wifi", nil); err != nil || v != canary {
		t.Fatalf("a read a second before the end: %v", err)
	}
	f.clock.Advance(time.Second)
	f.s.Sweep(f.ctx)
	r := f.last()
	if r.Kind != "group.relock" || r.Actor != "" || !strings.Contains(r.Detail, "wiped") {
		t.Fatalf("the window's end was recorded as %s by %q: %q", r.Kind, r.Actor, r.Detail)
	}
	n := len(f.published())
	f.s.Sweep(f.ctx)
	if len(f.published()) != n {
		t.Fatal("a second sweep recorded the re-lock again")
	}
	_, err := g.get(carol.id, "wifi", nil)
	statusIs(t, "a read after the window", err, wire.Locked)
	noCanary(t, "a read after the window", err)
	// the key is gone: the service's lock holds none
	f.s.mu.Lock()
	st := f.s.groups["smiths"]
	f.s.mu.Unlock()
	if k, err := st.lock.Key(); err == nil {
		k.Wipe()
		t.Fatal("the lock still gives a key after the window")
	}
	// a fresh unlock opens it again
	g.unlock(time.Hour, bob, carol)
	if v, err := g.get(alice.id, "wifi", nil); err != nil || v != canary {
		t.Fatalf("a read after a fresh unlock: %v", err)
	}
}

func TestRunRelocksAnEndedWindowWithoutARequest(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, _ := smiths(f)
	base := testkit.SettledGoroutines(t, 10*time.Second)
	in := g.unlock(time.Minute, alice, bob)
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { f.s.Run(ctx); close(done) }()
	f.clock.Set(time.Unix(in.Until, 0))
	testkit.Eventually(t, 10*time.Second, func() bool {
		p := f.published()
		r, err := group.ParseRecord(p[len(p)-1])
		return err == nil && r.Kind == "group.relock"
	}, "Run records the re-lock")
	cancel()
	testkit.Within(t, 10*time.Second, done, "Run returns when its context ends")
	testkit.GoroutinesDropTo(t, 10*time.Second, base)
}

func TestARestartStartsLockedKeepsTheChainAndRefusesAReplay(t *testing.T) {
	dir := t.TempDir()
	st := pebbleStore(t, dir)
	f := openFixture(t, st)
	g, alice, bob, carol := smiths(f)
	aliceApproval := g.approval(alice, time.Hour, nil)
	if _, err := g.approve(alice, aliceApproval); err != nil {
		t.Fatal(err)
	}
	if _, err := g.approve(bob, g.approval(bob, time.Hour, nil)); err != nil {
		t.Fatal(err)
	}
	g.put(alice, "wifi", canary, time.Time{})
	head := g.info(alice)
	if !head.Unlocked {
		t.Fatal("not open before the restart")
	}

	// the restart: service and store closed, both opened again
	f.s.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	f.s = nil
	f.store = pebbleStore(t, dir)
	f.cfg.Store = f.store
	f.clock.Advance(time.Minute)
	f.reopen()

	// the stop re-locked the open group and said so: one record more
	in := g.info(carol)
	if in.Unlocked || len(in.Pending) != 0 || in.Height != head.Height+1 || in.Secrets != 1 {
		t.Fatalf("after a restart: %+v, before: %+v", in, head)
	}
	_, err := g.get(carol.id, "wifi", nil)
	statusIs(t, "a read after a restart", err, wire.Locked)

	// alice's approval, accepted before the restart, is a replay after it
	_, err = g.approve(alice, aliceApproval)
	statusIs(t, "a replay after a restart", err, wire.Conflict)
	says(t, "a replay after a restart", err, "offered twice")

	// the next record follows the last one before the restart
	raw, _ := g.audit(alice)
	recs := verifyChain(t, f.key.ID(), "smiths", raw)
	if n := uint64(len(recs)); n != head.Height+2 || recs[n-2].Kind != "group.relock" || recs[n-1].Kind != "unlock.refuse" {
		t.Fatalf("%d records after the restart (head %d before): %v", n, head.Height, kinds(recs))
	}
	// and fresh approvals open it again
	g.unlock(time.Hour, alice, carol)
	if v, err := g.get(bob.id, "wifi", nil); err != nil || v != canary {
		t.Fatalf("a read after the restart and a fresh unlock: %v", err)
	}
}

func TestATimeLockedSecretIsRefusedUntilItsReleaseTime(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, carol := smiths(f)
	g.unlock(2*time.Hour, alice, bob)
	release := f.clock.Now().Add(30 * time.Minute)
	g.put(alice, "will", canary, release)
	_, err := g.get(carol.id, "will", nil)
	statusIs(t, "a time-locked read", err, wire.Forbidden)
	says(t, "a time-locked read", err, "time-locked until "+release.UTC().Format(time.RFC3339))
	noCanary(t, "a time-locked read", err)
	f.clock.Set(release.Add(-time.Second))
	_, err = g.get(carol.id, "will", nil)
	statusIs(t, "a read a second before release", err, wire.Forbidden)
	f.clock.Set(release)
	out := f.must(carol.id, groupwire.Request{Op: groupwire.OpGet, Group: "smiths", Name: "will"}).(*groupwire.Secret)
	if string(out.Value) != canary || out.Release != release.Unix() {
		t.Fatalf("at the release time: %q released %d", out.Value, out.Release)
	}
}

func TestAGroupWithAScheduleRefusesAnUnlockOutsideIt(t *testing.T) {
	f := newFixture(t)
	alice, bob := newAdmin(t, "alice"), newAdmin(t, "bob")
	// testkit.Epoch is a Sunday, 12:00 UTC
	if testkit.Epoch.Weekday() != time.Sunday {
		t.Fatal("the test assumes the epoch is a Sunday")
	}
	g := f.create("office", 2, 8*time.Hour, "mon-fri 09:00-17:00", alice, bob)
	_, err := g.approve(alice, g.approval(alice, time.Hour, nil))
	statusIs(t, "an approval on a Sunday", err, wire.Forbidden)
	says(t, "an approval on a Sunday", err, "2026-03-02T09:00:00Z")
	if r := f.last(); r.Kind != "unlock.refuse" || r.Actor != alice.id {
		t.Fatalf("the refusal's record: %s by %s", r.Kind, r.Actor)
	}
	if in := g.info(alice); in.Unlocked || len(in.Pending) != 0 || in.Schedule != "mon-fri 09:00-17:00" {
		t.Fatalf("after a refused approval: %+v", in)
	}
	// Monday 16:30: it opens, and its window ends with the schedule's slot
	f.clock.Set(time.Date(2026, 3, 2, 16, 30, 0, 0, time.UTC))
	in := g.unlock(8*time.Hour, alice, bob)
	if end := time.Date(2026, 3, 2, 17, 0, 0, 0, time.UTC); in.Until != end.Unix() {
		t.Fatalf("open until %s, want the slot's end %s", time.Unix(in.Until, 0).UTC(), end)
	}
}

func TestAnApprovalForAnotherGroupIsRefused(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, _ := smiths(f)
	h := f.create("joneses", 2, time.Hour, "", alice, bob)
	raw := h.approval(alice, time.Hour, nil) // alice's share of joneses, for joneses
	_, err := g.approve(alice, raw)
	statusIs(t, "an approval for joneses offered to smiths", err, wire.Forbidden)
	says(t, "an approval for joneses offered to smiths", err, `is for group "joneses"`, alice.id.String())
	if r := f.last(); r.Group != "smiths" || r.Kind != "unlock.refuse" {
		t.Fatalf("the refusal's record: %s in %s", r.Kind, r.Group)
	}
	// it was refused, not spent: joneses still counts it
	if in, err := h.approve(alice, raw); err != nil || len(in.Pending) != 1 {
		t.Fatalf("the approval offered to its own group: %+v %v", in, err)
	}
}
