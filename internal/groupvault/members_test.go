package groupvault

import (
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/groupwire"
)

func (g *grp) invite(by *admin, who peer.ID, role string) []byte {
	g.f.t.Helper()
	out := g.f.must(by.id, groupwire.Request{Op: groupwire.OpInvite, Group: g.name, Member: []byte(who), Role: role, Label: "dave"})
	return out.(*groupwire.Invitation).Token
}

// memberOpsFor are the requests a member may make, with its token.
func memberOpsFor(g string, token []byte) []groupwire.Request {
	return []groupwire.Request{
		{Op: groupwire.OpInfo, Group: g, Token: token},
		{Op: groupwire.OpGet, Group: g, Name: "wifi", Token: token},
		{Op: groupwire.OpPut, Group: g, Name: "wifi", Value: []byte("x"), Token: token},
		{Op: groupwire.OpList, Group: g, Token: token},
		{Op: groupwire.OpRemove, Group: g, Name: "wifi", Token: token},
	}
}

func TestAMemberIsPendingUntilAcceptingAndReadsOnlyWhileOpen(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, _ := smiths(f)
	dave, erin := throwaway(), throwaway()
	g.unlock(time.Hour, alice, bob)
	g.put(alice, "wifi", canary, time.Time{})

	tok := g.invite(alice, dave.id, groupwire.RoleRead)
	if r := f.last(); r.Kind != "member.invite" || r.Actor != alice.id || !strings.Contains(r.Detail, dave.id.String()) {
		t.Fatalf("the invitation's record: %s %q", r.Kind, r.Detail)
	}
	ms := f.must(alice.id, groupwire.Request{Op: groupwire.OpMembers, Group: "smiths"}).(*groupwire.Members).Members
	if len(ms) != 1 || !ms[0].Pending || string(ms[0].Peer) != string(dave.id) || ms[0].Role != groupwire.RoleRead {
		t.Fatalf("members: %+v", ms)
	}
	// pending: every op answers as if there were no group
	for _, req := range append(memberOpsFor("smiths", tok), memberOpsFor("smiths", nil)...) {
		err := f.refused("a pending invitee's "+req.Op.String(), dave.id, req, wire.NotFound)
		says(t, "a pending invitee's "+req.Op.String(), err, `no group "smiths" that you belong to`)
	}
	// the token presented by another peer
	f.refused("erin accepting dave's invitation", erin.id, groupwire.Request{Op: groupwire.OpAccept, Group: "smiths", Token: tok}, wire.NotFound)

	in := f.must(dave.id, groupwire.Request{Op: groupwire.OpAccept, Group: "smiths", Token: tok}).(*groupwire.Info)
	if in.Role != groupwire.RoleRead || !in.Unlocked {
		t.Fatalf("accepted: %+v", in)
	}
	if r := f.last(); r.Kind != "member.accept" || r.Actor != dave.id {
		t.Fatalf("the acceptance's record: %s by %s", r.Kind, r.Actor)
	}
	if v, err := g.get(dave.id, "wifi", tok); err != nil || v != canary {
		t.Fatalf("a member's read while open: %q %v", v, err)
	}
	_, err := g.get(dave.id, "wifi", nil)
	statusIs(t, "a member's read without the token", err, wire.Unauthorized)
	// a reader cannot write or delete
	err = f.refused("a reader's write", dave.id, groupwire.Request{Op: groupwire.OpPut, Group: "smiths", Name: "wifi", Value: []byte("x"), Token: tok}, wire.Forbidden)
	says(t, "a reader's write", err, "does not allow this")
	f.refused("a reader's deletion", dave.id, groupwire.Request{Op: groupwire.OpRemove, Group: "smiths", Name: "wifi", Token: tok}, wire.Forbidden)
	// a member makes no admin's op
	for _, req := range []groupwire.Request{{Op: groupwire.OpShare, Group: "smiths"}, {Op: groupwire.OpRelock, Group: "smiths"},
		{Op: groupwire.OpAudit, Group: "smiths"}, {Op: groupwire.OpMembers, Group: "smiths"},
		{Op: groupwire.OpApprove, Group: "smiths", Approval: g.approval(alice, time.Hour, nil)},
		{Op: groupwire.OpInvite, Group: "smiths", Member: []byte(erin.id), Role: groupwire.RoleRead}} {
		f.refused("a member's "+req.Op.String(), dave.id, req, wire.NotFound)
	}
	// dave's token presented by erin, a member too
	erinTok := g.invite(bob, erin.id, groupwire.RoleWrite)
	f.must(erin.id, groupwire.Request{Op: groupwire.OpAccept, Group: "smiths", Token: erinTok})
	_, err = g.get(erin.id, "wifi", tok)
	statusIs(t, "erin presenting dave's token", err, wire.NotFound)
	f.must(erin.id, groupwire.Request{Op: groupwire.OpPut, Group: "smiths", Name: "erins", Value: []byte("w"), Token: erinTok})

	// locked: the member reads nothing
	f.must(alice.id, groupwire.Request{Op: groupwire.OpRelock, Group: "smiths"})
	_, err = g.get(dave.id, "wifi", tok)
	statusIs(t, "a member's read while locked", err, wire.Locked)
	noCanary(t, "a member's read while locked", err)

	// revoked out of band: refused
	f.revs.Revoke(mustToken(t, erinTok).ID())
	_, err = g.get(erin.id, "wifi", erinTok)
	statusIs(t, "a revoked token", err, wire.Revoked)
}

func mustToken(t *testing.T, raw []byte) *capability.Token {
	t.Helper()
	tok, err := capability.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestExpellingAMemberRevokesItsToken(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, _ := smiths(f)
	dave := throwaway()
	g.unlock(time.Hour, alice, bob)
	g.put(alice, "wifi", canary, time.Time{})
	tok := g.invite(alice, dave.id, groupwire.RoleWrite)
	f.must(dave.id, groupwire.Request{Op: groupwire.OpAccept, Group: "smiths", Token: tok})
	if v, err := g.get(dave.id, "wifi", tok); err != nil || v != canary {
		t.Fatalf("a member's read: %v", err)
	}
	f.must(bob.id, groupwire.Request{Op: groupwire.OpExpel, Group: "smiths", Member: []byte(dave.id)})
	if r := f.last(); r.Kind != "member.expel" || r.Actor != bob.id || !strings.Contains(r.Detail, dave.id.String()) {
		t.Fatalf("the expulsion's record: %s %q", r.Kind, r.Detail)
	}
	f.mu.Lock()
	revoked := append(f.revoked[:0:0], f.revoked...)
	f.mu.Unlock()
	if len(revoked) != 1 || revoked[0].ID() != mustToken(t, tok).ID() || revoked[0].Revoker() != f.key.ID() {
		t.Fatalf("the Revoke hook got %d revocations", len(revoked))
	}
	for _, req := range memberOpsFor("smiths", tok) {
		f.refused("an expelled member's "+req.Op.String(), dave.id, req, wire.NotFound)
	}
	f.refused("an expelled member accepting again", dave.id, groupwire.Request{Op: groupwire.OpAccept, Group: "smiths", Token: tok}, wire.NotFound)
	// re-invited: a new token; the old one is still refused
	tok2 := g.invite(alice, dave.id, groupwire.RoleRead)
	f.must(dave.id, groupwire.Request{Op: groupwire.OpAccept, Group: "smiths", Token: tok2})
	_, err := g.get(dave.id, "wifi", tok)
	statusIs(t, "the expelled token after a new invitation", err, wire.NotFound)
	if v, err := g.get(dave.id, "wifi", tok2); err != nil || v != canary {
		t.Fatalf("the new token: %v", err)
	}
}

// TestAStrangerLearnsNothingOfAGroup: every op from a peer that is
// neither admin nor member, on an existing group, answers exactly as the
// same op on a name no group has (the names swapped).
func TestAStrangerLearnsNothingOfAGroup(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, _ := smiths(f)
	g.unlock(time.Hour, alice, bob)
	g.put(alice, "wifi", canary, time.Time{})
	x := throwaway()
	// x is a member of another group here: its token is real, for that group
	other := f.create("joneses", 2, time.Hour, "", alice, bob)
	xTok := other.invite(alice, x.id, groupwire.RoleWrite)
	f.must(x.id, groupwire.Request{Op: groupwire.OpAccept, Group: "joneses", Token: xTok})
	// and an approval x signed for smiths, as if it were an admin
	sh := g.share(alice)
	xApproval := g.approvalWith(x, sh, f.clock.Now(), time.Hour, nil)
	enc, digest := g.change(2, 0, alice, x)
	xChange := g.approvalWith(x, sh, f.clock.Now(), group.MinWindow, digest[:])
	sh.Wipe()

	reqs := func(name string) []groupwire.Request {
		rs := []groupwire.Request{
			{Op: groupwire.OpShare}, {Op: groupwire.OpRelock}, {Op: groupwire.OpAudit}, {Op: groupwire.OpAudit, From: 2},
			{Op: groupwire.OpMembers}, {Op: groupwire.OpApprove, Approval: xApproval},
			{Op: groupwire.OpChange, Approval: xChange, Change: enc},
			{Op: groupwire.OpInvite, Member: []byte(x.id), Role: groupwire.RoleWrite},
			{Op: groupwire.OpExpel, Member: []byte(alice.id)},
			{Op: groupwire.OpAccept, Token: xTok}, {Op: groupwire.OpDecline, Token: xTok},
		}
		for _, tok := range [][]byte{nil, xTok} {
			rs = append(rs, memberOpsFor(name, tok)...)
		}
		for i := range rs {
			rs[i].Group = name
		}
		return rs
	}
	height := g.info(alice).Height
	for i, req := range reqs("smiths") {
		_, errHere := f.do(x.id, req)
		_, errNone := f.do(x.id, reqs("nosuch")[i])
		what := req.Op.String() + " by a stranger"
		statusIs(t, what, errHere, wire.NotFound)
		statusIs(t, what+" on no group", errNone, wire.NotFound)
		if a, b := strings.ReplaceAll(errHere.Error(), "smiths", "NAME"), strings.ReplaceAll(errNone.Error(), "nosuch", "NAME"); a != b {
			t.Errorf("%s: %q on a group, %q on none", what, a, b)
		}
		noCanary(t, what, errHere)
	}
	if in := g.info(alice); in.Height != height || !in.Unlocked {
		t.Fatalf("a stranger's requests changed the group: height %d → %d", height, in.Height)
	}
}

// TestALabelWithABidiControlKeepsTheAuditRecordReadable: the label an
// admin gives an invitee goes into the audit record's detail, which
// takes no control, separator or bidi characters; the invitation is
// served and the detail shows them as "?", never an internal error.
func TestALabelWithABidiControlKeepsTheAuditRecordReadable(t *testing.T) {
	f := newFixture(t)
	_, alice, _, _ := smiths(f)
	for _, label := range []string{"dave\u202egnp.exe", "dave\u2028", "dave\u0085", "dave\u2066"} {
		_, err := f.do(alice.id, groupwire.Request{Op: groupwire.OpInvite, Group: "smiths", Member: []byte(throwaway().id),
			Role: groupwire.RoleRead, Label: label})
		if err != nil && wire.StatusOf(err) != wire.BadRequest {
			t.Fatalf("an invitation labelled %q: %v (%s)", label, err, wire.StatusOf(err))
		}
		if err == nil {
			if r := f.last(); r.Kind != "member.invite" || !strings.HasPrefix(r.Detail, "invited dave?") {
				t.Fatalf("the invitation's record: %s %q", r.Kind, r.Detail)
			}
		}
	}
}

func TestADeclinedInvitationIsGoneAndItsTokenRevoked(t *testing.T) {
	f := newFixture(t)
	g, alice, _, _ := smiths(f)
	dave := throwaway()
	tok := g.invite(alice, dave.id, groupwire.RoleRead)
	f.refused("declining with another peer's key", throwaway().id, groupwire.Request{Op: groupwire.OpDecline, Group: "smiths", Token: tok}, wire.NotFound)
	f.must(dave.id, groupwire.Request{Op: groupwire.OpDecline, Group: "smiths", Token: tok})
	if r := f.last(); r.Kind != "member.decline" || r.Actor != dave.id {
		t.Fatalf("the decline's record: %s by %s", r.Kind, r.Actor)
	}
	f.mu.Lock()
	n := len(f.revoked)
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d revocations after a decline", n)
	}
	f.refused("accepting a declined invitation", dave.id, groupwire.Request{Op: groupwire.OpAccept, Group: "smiths", Token: tok}, wire.NotFound)
	if ms := f.must(alice.id, groupwire.Request{Op: groupwire.OpMembers, Group: "smiths"}).(*groupwire.Members); len(ms.Members) != 0 {
		t.Fatalf("members after a decline: %+v", ms.Members)
	}
}

func TestAnInvitationNotAcceptedInTimeCannotBeAccepted(t *testing.T) {
	f := newFixture(t)
	g, alice, _, _ := smiths(f)
	dave := throwaway()
	tok := g.invite(alice, dave.id, groupwire.RoleRead)
	f.clock.Advance(InviteTTL + time.Second)
	f.refused("a late acceptance", dave.id, groupwire.Request{Op: groupwire.OpAccept, Group: "smiths", Token: tok}, wire.NotFound)
}

func TestAMembershipEndsWhenItsCapabilityExpires(t *testing.T) {
	f := newFixture(t)
	g, alice, bob, _ := smiths(f)
	dave := throwaway()
	g.unlock(8*time.Hour, alice, bob)
	g.put(alice, "wifi", canary, time.Time{})
	tok := f.must(alice.id, groupwire.Request{Op: groupwire.OpInvite, Group: "smiths", Member: []byte(dave.id),
		Role: groupwire.RoleRead, For: 3600}).(*groupwire.Invitation).Token
	f.must(dave.id, groupwire.Request{Op: groupwire.OpAccept, Group: "smiths", Token: tok})
	if v, err := g.get(dave.id, "wifi", tok); err != nil || v != canary {
		t.Fatalf("a read within the membership: %v", err)
	}
	// the vault's own clock both issued and checks the token: the least
	// skew a verifier takes, one second, and no more
	f.clock.Advance(time.Hour)
	if _, err := g.get(dave.id, "wifi", tok); err != nil {
		t.Fatalf("a read at the membership's last second: %v", err)
	}
	f.clock.Advance(2 * time.Second)
	_, err := g.get(dave.id, "wifi", tok)
	statusIs(t, "a read after the membership", err, wire.Expired)
	says(t, "a read after the membership", err, "invite you again")
}
