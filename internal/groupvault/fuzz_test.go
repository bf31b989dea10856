package groupvault

import (
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// FuzzHandle hands the service any request the parser takes, from an
// admin, a member and a stranger, on an open group: it never panics, and
// every refusal is a status worded for the peer, never Internal (which
// would mean a request reached a failure the service did not word).
func FuzzHandle(f *testing.F) {
	fx := newFixture(f)
	g, alice, bob, _ := smiths(fx)
	g.unlock(time.Hour, alice, bob)
	g.put(alice, "wifi", canary, time.Time{})
	dave := throwaway()
	tok := g.invite(alice, dave.id, groupwire.RoleWrite)
	fx.must(dave.id, groupwire.Request{Op: groupwire.OpAccept, Group: "smiths", Token: tok})
	enc, digest := g.change(2, 0, alice, bob)
	seeds := []groupwire.Request{
		{Op: groupwire.OpInfo}, {Op: groupwire.OpShare}, {Op: groupwire.OpRelock}, {Op: groupwire.OpAudit, From: 3},
		{Op: groupwire.OpGet, Name: "wifi", Token: tok}, {Op: groupwire.OpPut, Name: "a/b", Value: []byte("v"), Release: 1},
		{Op: groupwire.OpList, Name: "a"}, {Op: groupwire.OpRemove, Name: "nothing"},
		{Op: groupwire.OpApprove, Approval: g.approval(alice, time.Hour, nil)},
		{Op: groupwire.OpChange, Approval: g.approval(alice, time.Minute, digest[:]), Change: enc},
		{Op: groupwire.OpInvite, Member: []byte(dave.id), Role: groupwire.RoleRead, Label: "d", For: 60},
		{Op: groupwire.OpAccept, Token: tok}, {Op: groupwire.OpDecline, Token: tok}, {Op: groupwire.OpMembers},
		{Op: groupwire.OpExpel, Member: []byte(alice.id)},
		createRequest(f, "other", 2, time.Hour, "mon 09:00-10:00", alice, bob),
	}
	for _, s := range seeds {
		if s.Group == "" {
			s.Group = "smiths"
		}
		b, err := wire.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	peers := []*admin{alice, dave, throwaway()}
	f.Fuzz(func(t *testing.T, raw []byte, who uint8) {
		req, err := groupwire.ParseRequest(raw)
		if err != nil {
			return
		}
		_, err = fx.s.Handle(fx.ctx, peers[int(who)%len(peers)].id, req)
		if err != nil && wire.StatusOf(err) == wire.Internal {
			t.Fatalf("%s: an unworded failure: %v", req.Op, err)
		}
		noCanary(t, req.Op.String(), err)
	})
}
