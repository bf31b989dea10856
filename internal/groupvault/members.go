package groupvault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// memberRec is a member or a pending invitee (/g/NAME/m/PEER).
type memberRec struct {
	Role    string `cbor:"1,keyasint"`
	Pending bool   `cbor:"2,keyasint,omitempty"`
	Label   string `cbor:"3,keyasint,omitempty"`
	Token   []byte `cbor:"4,keyasint"`
	Until   int64  `cbor:"5,keyasint"`
	Inviter []byte `cbor:"6,keyasint"`
	At      int64  `cbor:"7,keyasint"`
}

func memberKey(g string, id peer.ID) ds.Key { return gkey(g, "m", id.String()) }

// resource is the capability resource of a group: a member's token
// names it, issued by the vault peer.
func resource(g string) capability.ResourcePath { return capability.ResourcePath("groups/" + g) }

// actionsOf are the actions a role's capability carries.
func actionsOf(role string) capability.Actions {
	if role == groupwire.RoleWrite {
		return capability.Read | capability.List | capability.Write | capability.Delete
	}
	return capability.Read | capability.List
}

// loadMembers reads a group's members and pending invitees.
func (s *Service) loadMembers(ctx context.Context, g *state) error {
	g.members = map[peer.ID]*memberRec{}
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: gkey(g.name, "m").String()})
	if err != nil {
		return err
	}
	entries, err := res.Rest()
	if err != nil {
		return err
	}
	for _, e := range entries {
		id, err := keys.DecodePeerID(ds.RawKey(e.Key).BaseNamespace())
		var m memberRec
		if err != nil || wire.UnmarshalCanonical(e.Value, &m) != nil {
			return fmt.Errorf("member record %s does not parse", e.Key)
		}
		g.members[id] = &m
	}
	return nil
}

// pendingExpired says an invitation was not accepted in time.
func (s *Service) pendingExpired(m *memberRec) bool {
	return m.Pending && s.cfg.Now().Sub(time.Unix(m.At, 0)) > InviteTTL
}

// invite records a pending invitation and issues the invitee its group
// capability, which the inviter's node delivers. The vault does not know,
// and does not ask, whether the invitee's peer exists: the answer and its
// work are the same either way.
func (s *Service) invite(ctx context.Context, g *state, remote peer.ID, req *groupwire.Request) (*groupwire.Invitation, error) {
	id, _, err := keys.ParsePeerID(req.Member)
	if err != nil {
		return nil, wire.Errorf(wire.BadRequest, "the member is not a peer ID")
	}
	if g.c.IsAdmin(id) {
		return nil, wire.Errorf(wire.Conflict, "%s is an admin of group %s already", label(req.Label, id), g.name)
	}
	s.dropLapsed(ctx, g)
	old := g.members[id]
	if old == nil && len(g.members) >= groupwire.MaxMembers {
		return nil, wire.Errorf(wire.TooLarge, "group %s has %d members and invitations, its most", g.name, len(g.members))
	}
	valid := time.Duration(req.For) * time.Second
	if valid <= 0 {
		valid = DefaultMembership
	}
	now := s.cfg.Now().Truncate(time.Second)
	tok, err := capability.Issue(s.cfg.Key, capability.Params{Audience: id, Resource: capability.Pattern(resource(g.name)),
		Actions: actionsOf(req.Role), NotBefore: now, Expiry: now.Add(valid)})
	if err != nil {
		return nil, err
	}
	m := &memberRec{Role: req.Role, Pending: true, Label: req.Label, Token: tok.Bytes(), Until: now.Add(valid).Unix(),
		Inviter: []byte(remote), At: now.Unix()}
	mb, err := wire.Marshal(m)
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("invited %s to %s, until %s; pending until accepted, at most %s", label(req.Label, id), req.Role,
		time.Unix(m.Until, 0).UTC().Format(time.RFC3339), duration.Format(InviteTTL))
	if err := s.commit(ctx, g, event{kind: "member.invite", actor: remote, detail: detail},
		func(b ds.Batch) error { return b.Put(ctx, memberKey(g.name, id), mb) }); err != nil {
		return nil, err
	}
	g.members[id] = m
	if old != nil {
		s.revoke(ctx, old)
	}
	return &groupwire.Invitation{Token: m.Token}, nil
}

func label(l string, id peer.ID) string {
	if l == "" {
		return id.String()
	}
	return fmt.Sprintf("%s (%s)", l, id)
}

// invited finds the invitation a token answers: issued by this vault to
// remote for this group, still the one on record, and valid.
func (s *Service) invited(ctx context.Context, g *state, remote peer.ID, raw []byte) (*memberRec, error) {
	m := g.members[remote]
	if m == nil || !bytes.Equal(m.Token, raw) || s.pendingExpired(m) {
		return nil, errNoGroup(g.name)
	}
	if err := s.check(ctx, g, remote, raw, capability.Read); err != nil {
		return nil, err
	}
	return m, nil
}

// check verifies a member's capability for one action: the vault's own
// token to remote for the group, in its window, not revoked.
func (s *Service) check(ctx context.Context, g *state, remote peer.ID, raw []byte, a capability.Actions) error {
	tok, err := s.verifier.Decode(raw)
	if err != nil {
		return wire.Errorf(wire.Unauthorized, "the group capability does not parse")
	}
	_, err = s.verifier.Verify(ctx, tok, capability.Request{Remote: remote, Owner: s.cfg.Key.ID(), Resource: resource(g.name), Action: a})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, capability.ErrRevoked):
		return wire.Errorf(wire.Revoked, "your capability for group %s was revoked", g.name)
	case errors.Is(err, capability.ErrExpired):
		return wire.Errorf(wire.Expired, "your capability for group %s has expired; ask an admin to invite you again", g.name)
	}
	return wire.Errorf(wire.Forbidden, "your capability does not allow this in group %s", g.name)
}

func (s *Service) accept(ctx context.Context, g *state, remote peer.ID, raw []byte) (*groupwire.Info, error) {
	m, err := s.invited(ctx, g, remote, raw)
	if err != nil {
		return nil, err
	}
	if !m.Pending {
		return g.info(m.Role), nil
	}
	acc := *m
	acc.Pending = false
	mb, err := wire.Marshal(&acc)
	if err != nil {
		return nil, err
	}
	if err := s.commit(ctx, g, event{kind: "member.accept", actor: remote, detail: "accepted the invitation to " + m.Role},
		func(b ds.Batch) error { return b.Put(ctx, memberKey(g.name, remote), mb) }); err != nil {
		return nil, err
	}
	*m = acc
	return g.info(m.Role), nil
}

func (s *Service) decline(ctx context.Context, g *state, remote peer.ID, raw []byte) error {
	m, err := s.invited(ctx, g, remote, raw)
	if err != nil {
		return err
	}
	return s.drop(ctx, g, remote, m, event{kind: "member.decline", actor: remote, detail: "declined the invitation"})
}

// expel ends a membership or a pending invitation, at an admin's word.
func (s *Service) expel(ctx context.Context, g *state, remote peer.ID, raw []byte) error {
	id, _, err := keys.ParsePeerID(raw)
	if err != nil {
		return wire.Errorf(wire.BadRequest, "the member is not a peer ID")
	}
	m := g.members[id]
	if m == nil {
		return wire.Errorf(wire.NotFound, "%s is not a member of group %s", id, g.name)
	}
	return s.drop(ctx, g, id, m, event{kind: "member.expel", actor: remote, detail: "removed " + label(m.Label, id)})
}

// drop deletes a member with the record that audits it, then revokes its
// capability, which the vault's revocation service gossips.
func (s *Service) drop(ctx context.Context, g *state, id peer.ID, m *memberRec, e event) error {
	if err := s.commit(ctx, g, e, func(b ds.Batch) error { return b.Delete(ctx, memberKey(g.name, id)) }); err != nil {
		return err
	}
	delete(g.members, id)
	s.revoke(ctx, m)
	return nil
}

// revoke revokes a member's capability; a failure is logged (the member
// record is gone, which refuses it here anyway).
func (s *Service) revoke(ctx context.Context, m *memberRec) {
	tok, err := capability.Decode(m.Token)
	if err == nil {
		var rev *revocation.Revocation
		if rev, err = revocation.New(s.cfg.Key, tok, s.cfg.Now()); err == nil {
			err = s.cfg.Revoke(ctx, rev)
		}
	}
	if err != nil {
		s.log.Warn("revoking a group capability failed", "err", err)
	}
}

// dropLapsed forgets the invitations nobody accepted in time (their
// capabilities are revoked: a late acceptance is refused anyway).
func (s *Service) dropLapsed(ctx context.Context, g *state) {
	for id, m := range g.members {
		if s.pendingExpired(m) {
			if err := s.drop(ctx, g, id, m, event{kind: "member.lapse", detail: "the invitation of " + label(m.Label, id) + " lapsed"}); err != nil {
				s.log.Warn("dropping a lapsed invitation failed", "group", g.name, "err", err)
				return
			}
		}
	}
}

func (s *Service) membersOf(g *state) *groupwire.Members {
	out := &groupwire.Members{Members: []groupwire.Member{}}
	for id, m := range g.members {
		if s.pendingExpired(m) {
			continue
		}
		out.Members = append(out.Members, groupwire.Member{Peer: []byte(id), Role: m.Role, Pending: m.Pending, Label: m.Label, Until: m.Until})
	}
	slices.SortFunc(out.Members, func(a, b groupwire.Member) int { return bytes.Compare(a.Peer, b.Peer) })
	return out
}
