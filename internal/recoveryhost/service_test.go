package recoveryhost

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

func TestAPhraseSetsANewPasswordOnALockedVault(t *testing.T) {
	h := newHome(t)
	phrase, err := recovery.NewPhrase()
	if err != nil {
		t.Fatal(err)
	}
	out := h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Phrase, Phrase: phrase})
	if !strings.Contains(out.Text, "recovery method phrase enabled") {
		t.Fatalf("enable says %q", out.Text)
	}
	h.lock()
	h.reopen() // the owner lost the password: a node starting again, locked
	out = h.must(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Phrase,
		Phrase: "  " + strings.ToUpper(phrase) + "\n", NewPassword: []byte("a new password")})
	if h.v.Locked() || !strings.Contains(out.Text, "new password is set") {
		t.Fatalf("after the recovery: locked %v, %q", h.v.Locked(), out.Text)
	}
	h.lock()
	if h.unlocksWith(oldPassword) {
		t.Fatal("the old password still unlocks")
	}
	if !h.unlocksWith("a new password") {
		t.Fatal("the new password does not unlock")
	}
	if recs := h.audited(vault.OpRecover); len(recs) != 1 || recs[0].Target != recovery.Phrase || recs[0].Outcome != vault.OutcomeOK {
		t.Fatalf("the recovery's audit records: %+v", recs)
	}
}

func TestAWrongPhraseIsRefusedCountedAuditedAndBackedOff(t *testing.T) {
	h := newHome(t)
	phrase, _ := recovery.NewPhrase()
	other, _ := recovery.NewPhrase()
	h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Phrase, Phrase: phrase})
	h.lock()
	recover := func(p string) error {
		_, err := h.do(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Phrase, Phrase: p,
			NewPassword: []byte("mine now")})
		return err
	}
	err := recover(other)
	testkit.Sentence(t, "another phrase", err, "does not open this vault", vault.ErrRecoveryKey)
	if h.failures() != 1 {
		t.Fatalf("%d failures counted", h.failures())
	}
	recs := h.audited(vault.OpRecover)
	if len(recs) != 1 || recs[0].Target != recovery.Phrase || recs[0].Outcome != vault.OutcomeFailed {
		t.Fatalf("the refused attempt's audit records: %+v", recs)
	}
	// At once: not even tried, whatever the phrase, and so after a restart.
	var be *vault.BackoffError
	if err := recover(phrase); !errors.As(err, &be) || be.Failures != 1 {
		t.Fatalf("the right phrase at once after a wrong one: %v", err)
	}
	h.reopen()
	if err := recover(phrase); !errors.As(err, &be) {
		t.Fatalf("after a restart: %v", err)
	}
	// A phrase that is not one (a bad checksum) is refused before the
	// vault is asked: it is not counted.
	w := strings.Fields(other)
	w[0], w[1] = w[1], w[0]
	if err := recover(strings.Join(w, " ")); err != nil && !errors.Is(err, recovery.ErrBadPhrase) {
		var be *vault.BackoffError
		if !errors.As(err, &be) {
			t.Fatalf("a swapped phrase: %v", err)
		}
	}
	h.clk.Advance(be.Wait)
	if err := recover(phrase); err != nil || h.v.Locked() {
		t.Fatalf("the right phrase after the backoff: %v", err)
	}
	if h.failures() != 0 {
		t.Fatalf("a recovery left %d failures counted", h.failures())
	}
	if h.unlocksWith(oldPassword) || !h.unlocksWith("mine now") {
		t.Fatal("the passwords after the recovery")
	}
}

func TestAHardwareKeyIsEnabledTestedAndRecoversALockedVault(t *testing.T) {
	h := newHome(t)
	identity, recipient, err := recovery.NewHardwareIdentity()
	if err != nil {
		t.Fatal(err)
	}
	out := h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Hardware, Recipient: recipient})
	if !strings.Contains(out.Text, recipient) {
		t.Fatalf("enable says %q", out.Text)
	}
	h.clk.Advance(time.Hour)
	tested := h.clk.Now()
	out = h.must(localapi.RecoveryRequest{Op: localapi.RecoveryTest, Method: recovery.Hardware, Identity: identity})
	if !strings.Contains(out.Text, "nothing was changed") {
		t.Fatalf("test says %q", out.Text)
	}
	r, err := h.v.Recovery(h.ctx, recovery.Hardware)
	if err != nil || !r.Tested.Equal(tested) {
		t.Fatalf("the tested time: %v %v", r.Tested, err)
	}
	otherID, _, _ := recovery.NewHardwareIdentity()
	_, err = h.do(localapi.RecoveryRequest{Op: localapi.RecoveryTest, Method: recovery.Hardware, Identity: otherID})
	if !errors.Is(err, recovery.ErrWrongKey) {
		t.Fatalf("another key file: %v", err)
	}
	h.lock()
	h.reopen()
	h.must(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Hardware,
		Identity: "# the USB stick\n" + identity + "\n", NewPassword: []byte("hardware new")})
	if h.v.Locked() {
		t.Fatal("the vault is locked after the recovery")
	}
	h.lock()
	if h.unlocksWith(oldPassword) || !h.unlocksWith("hardware new") {
		t.Fatal("the passwords after the recovery")
	}
	// the test that opened and the one with another key file, refused
	if recs := h.audited(vault.OpRecoveryTest); len(recs) != 2 || recs[0].Outcome != vault.OutcomeOK || recs[1].Outcome != vault.OutcomeFailed {
		t.Fatalf("the test's audit records: %+v", recs)
	}
}

func TestAnEscrowReleaseRecoversOnlyAfterItsWaitingPeriod(t *testing.T) {
	h := newHome(t)
	inst := newInstitution(t)
	out := h.enableEscrow(inst, 0)
	if !strings.Contains(out.Text, inst.key.ID().String()) {
		t.Fatalf("enable says %q", out.Text)
	}
	h.lock()
	h.reopen()
	out = h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEscrowRequest})
	o, err := recovery.Open(out.EscrowRequest)
	if err != nil || o.Kind != recovery.KindEscrowRequest || o.Signer != h.owner.ID() {
		t.Fatalf("the escrow request: %+v %v", o, err)
	}
	if recs := h.audited("recovery.escrow.request"); len(recs) != 1 {
		t.Fatalf("the escrow request's audit records: %+v", recs)
	}
	h.clk.Advance(3 * time.Hour) // the institution checks who asks
	rel := inst.release(t, out.EscrowRequest, h.clk.Now())
	h.clk.Advance(time.Hour)
	arrived := h.clk.Now()
	end := arrived.Add(recovery.DefaultWait)
	recover := func() error {
		_, err := h.do(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Escrow, Release: rel,
			NewPassword: []byte("escrow new")})
		return err
	}
	err = recover()
	testkit.Sentence(t, "the first presentation", err, "waiting period runs until "+end.Local().Format(time.DateTime))
	if !strings.Contains(err.Error(), "2d from now") {
		t.Errorf("the first refusal does not say how long: %v", err)
	}
	recs := h.audited("recovery.escrow.release")
	if len(recs) != 1 || recs[0].Outcome != vault.OutcomeOK || !strings.Contains(recs[0].Detail, end.UTC().Format(time.RFC3339)) {
		t.Fatalf("the release's arrival in the audit log: %+v", recs)
	}
	h.clk.Advance(recovery.DefaultWait - time.Second)
	h.reopen() // the waiting period survives a restart
	err = recover()
	testkit.Sentence(t, "a second try a second early", err, "waiting period runs until "+end.Local().Format(time.DateTime))
	if !h.v.Locked() || h.failures() != 0 {
		t.Fatalf("a refused escrow recovery: locked %v, %d failures", h.v.Locked(), h.failures())
	}
	if len(h.audited("recovery.escrow.release")) != 1 {
		t.Fatal("a second presentation started the waiting period again")
	}
	h.clk.Set(end)
	if err := recover(); err != nil || h.v.Locked() {
		t.Fatalf("at the end of the waiting period: %v", err)
	}
	h.lock()
	if h.unlocksWith(oldPassword) || !h.unlocksWith("escrow new") {
		t.Fatal("the passwords after the recovery")
	}
}

func TestAnEscrowWaitLongerThanAReleasesLifeStillRecovers(t *testing.T) {
	h := newHome(t)
	inst := newInstitution(t)
	wait := 8 * 24 * time.Hour
	h.enableEscrow(inst, wait)
	h.lock()
	out := h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEscrowRequest})
	rel := inst.release(t, out.EscrowRequest, h.clk.Now())
	req := localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Escrow, Release: rel, NewPassword: []byte("late")}
	if _, err := h.do(req); err == nil || !strings.Contains(err.Error(), "waiting period") {
		t.Fatalf("the first presentation: %v", err)
	}
	h.clk.Advance(wait)
	if _, err := h.do(req); err != nil {
		t.Fatalf("at the end of a waiting period of %s: %v", wait, err)
	}
}

func TestAnEscrowReleaseThatIsNotForThisVaultChangesNothingAndIsAudited(t *testing.T) {
	h := newHome(t)
	inst := newInstitution(t)
	h.enableEscrow(inst, 0)
	h.lock()
	h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEscrowRequest})

	// Someone else who escrowed with the same institution.
	x := testkit.Key(t, "someone-else")
	_, xmeta, err := recovery.EnableEscrow(x.ID(), inst.id.Recipient().String(), inst.key.ID(), recovery.DefaultWait, 0)
	if err != nil {
		t.Fatal(err)
	}
	xreq, _, err := recovery.NewEscrowRequest(x, h.v.ID(), xmeta, h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	theirs := inst.release(t, xreq, h.clk.Now())

	for _, c := range []struct {
		name    string
		release []byte
		is      error
	}{
		{"no release statement", nil, recovery.ErrMalformed},
		{"a release for another user", theirs, recovery.ErrNotReleased},
		{"the request instead of a release", xreq, recovery.ErrMalformed},
	} {
		before := len(h.audited("recovery.escrow.release"))
		_, err := h.do(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Escrow, Release: c.release,
			NewPassword: []byte("mine now")})
		if !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %v", c.name, err, c.is)
		}
		recs := h.audited("recovery.escrow.release")
		if len(recs) != before+1 || recs[len(recs)-1].Outcome != vault.OutcomeFailed {
			t.Errorf("%s: not audited as failed: %+v", c.name, recs)
		}
	}
	if keys := h.clearKeys("/recovery/escrow/wait"); len(keys) != 0 {
		t.Fatalf("a refused release started a waiting period: %v", keys)
	}
	if h.failures() != 0 || !h.v.Locked() {
		t.Fatalf("a refused release counted %d failures, locked %v", h.failures(), h.v.Locked())
	}
	if h.unlocksWith("mine now") || !h.unlocksWith(oldPassword) {
		t.Fatal("a refused release changed the password")
	}
}

func TestStatusListsEachMethodWithWhatItNeedsAndWhenItWasTested(t *testing.T) {
	h := newHome(t)
	out := h.must(localapi.RecoveryRequest{Op: localapi.RecoveryStatus})
	if out.Methods == nil || len(out.Methods) != 0 {
		t.Fatalf("no method: %+v", out.Methods)
	}
	phrase, _ := recovery.NewPhrase()
	h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Phrase, Phrase: phrase})
	identity, recipient, _ := recovery.NewHardwareIdentity()
	h.clk.Advance(time.Minute)
	h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Hardware, Recipient: recipient})
	inst := newInstitution(t)
	h.enableEscrow(inst, 72*time.Hour)
	h.clk.Advance(time.Hour)
	h.must(localapi.RecoveryRequest{Op: localapi.RecoveryTest, Method: recovery.Hardware, Identity: identity})
	h.lock()
	out = h.must(localapi.RecoveryRequest{Op: localapi.RecoveryStatus}) // locked: status still works
	got := map[string]localapi.RecoveryMethod{}
	for _, m := range out.Methods {
		got[m.Method] = m
	}
	if len(got) != 3 {
		t.Fatalf("status: %+v", out.Methods)
	}
	for method, want := range map[string]struct {
		detail string
		added  time.Time
		tested time.Time
	}{
		recovery.Phrase:   {"the 24-word phrase", testkit.Epoch, time.Time{}},
		recovery.Hardware: {"the key file of " + recipient, testkit.Epoch.Add(time.Minute), testkit.Epoch.Add(time.Hour + time.Minute)},
		recovery.Escrow:   {"a release signed by " + inst.key.ID().String() + ", then a wait of 3d", testkit.Epoch.Add(time.Minute), time.Time{}},
	} {
		m := got[method]
		if !strings.Contains(m.Detail, want.detail) || !m.Added.Equal(want.added) || !m.Tested.Equal(want.tested) {
			t.Errorf("%s: %+v, want %q added %s tested %s", method, m, want.detail, want.added, want.tested)
		}
	}
}

func TestADisabledMethodIsGoneAndDisablingNeedsTheVaultOpen(t *testing.T) {
	h := newHome(t)
	_, recipient, _ := recovery.NewHardwareIdentity()
	h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Hardware, Recipient: recipient})
	h.lock()
	_, err := h.do(localapi.RecoveryRequest{Op: localapi.RecoveryDisable, Method: recovery.Hardware})
	testkit.Sentence(t, "disable while locked", err, "unlock the vault first")
	if err := h.v.Unlock(h.ctx, []byte(oldPassword), "test"); err != nil {
		t.Fatal(err)
	}
	out := h.must(localapi.RecoveryRequest{Op: localapi.RecoveryDisable, Method: recovery.Hardware})
	if !strings.Contains(out.Text, "disabled") {
		t.Fatalf("disable says %q", out.Text)
	}
	if st := h.must(localapi.RecoveryRequest{Op: localapi.RecoveryStatus}); len(st.Methods) != 0 {
		t.Fatalf("after disabling: %+v", st.Methods)
	}
	_, err = h.do(localapi.RecoveryRequest{Op: localapi.RecoveryDisable, Method: recovery.Hardware})
	testkit.Sentence(t, "disable twice", err, "not enabled")
	if recs := h.audited(vault.OpRecoveryDisable); len(recs) != 1 || recs[0].Target != recovery.Hardware {
		t.Fatalf("the disabling's audit records: %+v", recs)
	}
	for _, op := range []string{localapi.RecoveryTest, localapi.RecoveryRecover} {
		_, err := h.do(localapi.RecoveryRequest{Op: op, Method: recovery.Hardware, Identity: "x", NewPassword: []byte("p")})
		testkit.Sentence(t, op+" of a disabled method", err, "not enabled")
	}
	_, err = h.do(localapi.RecoveryRequest{Op: localapi.RecoveryEscrowRequest})
	testkit.Sentence(t, "an escrow request without escrow", err, "not enabled")
}

func TestEnablingNeedsTheVaultOpenAndAKnownMethod(t *testing.T) {
	h := newHome(t)
	phrase, _ := recovery.NewPhrase()
	for name, c := range map[string]struct {
		req  localapi.RecoveryRequest
		want string
	}{
		"an unknown method":        {localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: "carrier-pigeon"}, "unknown recovery method"},
		"an unknown command":       {localapi.RecoveryRequest{Op: "forget", Method: recovery.Phrase}, "unknown recovery command"},
		"a phrase of 12 words":     {localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Phrase, Phrase: strings.Join(strings.Fields(phrase)[:12], " ")}, "24-word"},
		"a bad recipient":          {localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Hardware, Recipient: "age1nope"}, "not an age X25519 recipient"},
		"an institution of junk":   {localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Escrow, Recipient: newInstitution(t).id.Recipient().String(), Institution: "junk"}, "is not a peer ID"},
		"a wait below the minimum": {localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Escrow, Recipient: newInstitution(t).id.Recipient().String(), Institution: testkit.Key(t, "i").ID().String(), Wait: time.Hour}, "waiting period"},
	} {
		_, err := h.do(c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	h.lock()
	_, err := h.do(localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Phrase, Phrase: phrase})
	testkit.Sentence(t, "enable while locked", err, "unlock the vault first")
	if rs, _ := h.v.Recoveries(h.ctx); len(rs) != 0 {
		t.Fatalf("refused enablings left %d methods", len(rs))
	}
}

func TestEnablingOrDisablingWhileLockedIsErrLockedForTheLocalAPI(t *testing.T) {
	h := newHome(t)
	h.lock()
	phrase, _ := recovery.NewPhrase()
	for _, req := range []localapi.RecoveryRequest{
		{Op: localapi.RecoveryEnable, Method: recovery.Phrase, Phrase: phrase},
		{Op: localapi.RecoveryDisable, Method: recovery.Phrase},
	} {
		_, err := h.do(req)
		testkit.Sentence(t, req.Op+" while locked", err, "unlock the vault first", vault.ErrLocked)
		if req.Op == localapi.RecoveryDisable && strings.Contains(err.Error(), "enabling") {
			t.Errorf("disable while locked says %q", err)
		}
	}
}

func TestAnOperatorsLowerMinimumWaitIsHonoured(t *testing.T) {
	h := newHome(t)
	cfg := h.config()
	cfg.MinWait = time.Hour
	h.svc = New(cfg)
	if h.svc.MinWait() != time.Hour || New(h.config()).MinWait() != recovery.MinWait {
		t.Fatal("MinWait")
	}
	out := h.enableEscrow(newInstitution(t), time.Hour)
	if !strings.Contains(out.Text, "1h after") {
		t.Fatalf("enable says %q", out.Text)
	}
}

// fakeSocial records the requests a node's social recovery gets.
type fakeSocial struct{ got []localapi.RecoveryRequest }

func (f *fakeSocial) Recovery(_ context.Context, req localapi.RecoveryRequest) (localapi.RecoveryReply, error) {
	f.got = append(f.got, req)
	return localapi.RecoveryReply{Text: "social " + req.Op}, nil
}

func TestSocialOpsNeedARunningNode(t *testing.T) {
	h := newHome(t)
	social := []localapi.RecoveryRequest{
		{Op: localapi.RecoveryRequests}, {Op: localapi.RecoveryHelp, ID: "abc"}, {Op: localapi.RecoveryVeto, ID: "abc"},
		{Op: localapi.RecoveryHeld}, {Op: localapi.RecoveryEnable, Method: recovery.Social, Friends: []string{"a", "b"}, Threshold: 2},
		{Op: localapi.RecoveryTest, Method: recovery.Social}, {Op: localapi.RecoveryRecover, Method: recovery.Social},
	}
	for _, req := range social {
		if _, err := h.do(req); !errors.Is(err, localapi.ErrNeedsNode) {
			t.Errorf("%s %s without a node: %v", req.Op, req.Method, err)
		}
	}
	f := &fakeSocial{}
	h.svc.SetSocial(f)
	for _, req := range social {
		out, err := h.do(req)
		if err != nil || out.Text != "social "+req.Op {
			t.Errorf("%s %s with a node: %q %v", req.Op, req.Method, out.Text, err)
		}
	}
	if len(f.got) != len(social) {
		t.Fatalf("the node's social recovery got %d of %d", len(f.got), len(social))
	}
	// Status and the other methods stay this package's.
	h.must(localapi.RecoveryRequest{Op: localapi.RecoveryStatus})
	if len(f.got) != len(social) {
		t.Fatal("status went to the social side")
	}
}

// TestNoErrorOrReplyShowsAPhraseAnIdentityOrAPassword runs the methods
// with their failures and checks every error and reply text.
func TestNoErrorOrReplyShowsAPhraseAnIdentityOrAPassword(t *testing.T) {
	h := newHome(t)
	phrase, _ := recovery.NewPhrase()
	identity, recipient, _ := recovery.NewHardwareIdentity()
	inst := newInstitution(t)
	var texts []string
	run := func(req localapi.RecoveryRequest) {
		out, err := h.do(req)
		texts = append(texts, out.Text, fmt.Sprintf("%+v", out))
		if err != nil {
			texts = append(texts, err.Error())
		}
	}
	run(localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Phrase, Phrase: phrase})
	run(localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Hardware, Recipient: recipient})
	h.enableEscrow(inst, 0)
	h.lock()
	w := strings.Fields(phrase)
	w[3] = "notaword"
	run(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Phrase, Phrase: strings.Join(w, " "), NewPassword: []byte("canary-password")})
	other, _ := recovery.NewPhrase()
	run(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Phrase, Phrase: other, NewPassword: []byte("canary-password")})
	run(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Phrase, Phrase: phrase, NewPassword: []byte("canary-password")})
	h.clk.Advance(time.Minute)
	run(localapi.RecoveryRequest{Op: localapi.RecoveryTest, Method: recovery.Hardware, Identity: identity[:len(identity)-3] + "qqq"})
	otherID, _, _ := recovery.NewHardwareIdentity()
	run(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Hardware, Identity: otherID, NewPassword: []byte("canary-password")})
	req := h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEscrowRequest})
	escrowID, _ := h.clear.Get(h.ctx, escrowIdentityKey)
	rel := inst.release(t, req.EscrowRequest, h.clk.Now())
	run(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Escrow, Release: rel, NewPassword: []byte("canary-password")})
	run(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Escrow, Release: rel[:len(rel)-1], NewPassword: []byte("canary-password")})
	recs, _ := vault.ReadAudit(h.ctx, h.store)
	for _, r := range recs {
		texts = append(texts, fmt.Sprintf("%+v", r))
	}
	secrets := map[string]string{"the phrase's first words": strings.Join(strings.Fields(phrase)[:3], " "),
		"the other phrase's first words": strings.Join(strings.Fields(other)[:3], " "),
		"the hardware identity":          identity[16:], "another identity": otherID[16:], "the new password": "canary-password",
		"the institution's identity": inst.id.String()[16:], "the escrow's one-time identity": string(escrowID)[16:]}
	for _, text := range texts {
		for name, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%q shows %s", text, name)
			}
		}
	}
	for _, err := range h.errs {
		for name, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%q shows %s", err, name)
			}
		}
	}
}

func TestTheEscrowsOneTimeIdentityGivenByHandOpensTheRelease(t *testing.T) {
	h := newHome(t)
	inst := newInstitution(t)
	h.enableEscrow(inst, recovery.MinWait)
	h.lock()
	out := h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEscrowRequest})
	identity, err := h.clear.Get(h.ctx, escrowIdentityKey)
	if err != nil {
		t.Fatal(err)
	}
	rel := inst.release(t, out.EscrowRequest, h.clk.Now())
	req := localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Escrow, Release: rel, NewPassword: []byte("by hand")}
	if _, err := h.do(req); err == nil {
		t.Fatal("no waiting period")
	}
	h.clk.Advance(recovery.MinWait)
	if err := h.clear.Delete(h.ctx, escrowIdentityKey); err != nil {
		t.Fatal(err)
	}
	_, err = h.do(req)
	testkit.Sentence(t, "no identity kept", err, "no escrow request was made from this home")
	other, _, _ := recovery.NewHardwareIdentity()
	req.Identity = other
	if _, err := h.do(req); !errors.Is(err, recovery.ErrWrongKey) || !h.v.Locked() {
		t.Fatalf("another identity: %v", err)
	}
	req.Identity = string(identity)
	if _, err := h.do(req); err != nil || h.v.Locked() {
		t.Fatalf("the identity given by hand: %v", err)
	}
}

func TestARefusedHardwareKeyIsAudited(t *testing.T) {
	h := newHome(t)
	_, recipient, _ := recovery.NewHardwareIdentity()
	h.must(localapi.RecoveryRequest{Op: localapi.RecoveryEnable, Method: recovery.Hardware, Recipient: recipient})
	h.lock()
	other, _, _ := recovery.NewHardwareIdentity()
	if _, err := h.do(localapi.RecoveryRequest{Op: localapi.RecoveryRecover, Method: recovery.Hardware, Identity: other,
		NewPassword: []byte("p")}); !errors.Is(err, recovery.ErrWrongKey) {
		t.Fatalf("another key file: %v", err)
	}
	if recs := h.audited(vault.OpRecover); len(recs) != 1 || recs[0].Outcome != vault.OutcomeFailed {
		t.Fatalf("the refused attempt's audit records: %+v", recs)
	}
}
