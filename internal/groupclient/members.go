package groupclient

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/grant"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// invite asks the vault to invite a handle and leaves the invitation in
// the invitee's mailbox. Every step is the same whether the handle is
// anyone's: the directory answers a lookup of a handle nobody holds like
// any other, the vault issues the capability to whatever peer ID it is
// given, and the bootstrap takes mail for it alike. The invitation always
// goes through the mailbox, never live, so that how fast the invitee
// answers tells nothing either.
func (s *Service) invite(ctx context.Context, m *membership, c groupwire.Client, req localapi.GroupRequest) (localapi.GroupReply, error) {
	role := req.Role
	if role == "" {
		role = groupwire.RoleRead
	}
	handle := strings.TrimPrefix(req.Name, "@")
	if _, err := directory.ParseHandle(handle); err != nil {
		return localapi.GroupReply{}, fmt.Errorf("invite a handle: %w", err)
	}
	id, _, err := s.resolve(ctx, handle)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	raw, err := c.Invite(ctx, id, role, handle, req.Window)
	if err != nil {
		return localapi.GroupReply{}, say(err)
	}
	tok, err := capability.Decode(raw)
	if err != nil || tok.Issuer() != m.vault() || tok.Audience() != id {
		return localapi.GroupReply{}, fmt.Errorf("the group vault answered with a capability that is not the invitation")
	}
	sealed, err := grant.Seal(tok, m.VaultHandle, "")
	if err != nil {
		return localapi.GroupReply{}, err
	}
	put := func(b peer.ID) error { return directory.MailboxPut(ctx, s.cfg.Host, b, id, sealed, tok.ID()) }
	if err := s.cfg.Net.WithBootstrap(ctx, put); err != nil {
		return localapi.GroupReply{}, fmt.Errorf("the invitation could not be left in %s's mailbox: %w", handle, err)
	}
	s.syncQuietly(ctx, m)
	return localapi.GroupReply{Text: fmt.Sprintf("invited %s to group %s (%s); the invitation waits in %s's mailbox and becomes "+
		"membership only when %s accepts it (mesh group accept), within 7 days", handle, m.Group, role, handle, handle)}, nil
}

// invitations lists the group invitations this node holds and has not
// acted on.
func (s *Service) invitations(ctx context.Context) ([]localapi.GroupInvitation, []localapi.Grant, error) {
	gs, err := s.cfg.Received(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []localapi.GroupInvitation
	var grants []localapi.Grant
	for _, g := range gs {
		name, ok := strings.CutPrefix(g.Resource, "groups/")
		if !ok || groupwire.CheckGroupName(name) != nil {
			continue
		}
		if m, err := s.membership(ctx, name); err == nil && m.vault().String() == g.Owner {
			continue // accepted already
		}
		role := groupwire.RoleRead
		for _, a := range g.Actions {
			if a == "write" {
				role = groupwire.RoleWrite
			}
		}
		vault := strings.TrimSuffix(g.OwnerHandle, "?")
		if vault == "" {
			vault = g.Owner
		}
		out = append(out, localapi.GroupInvitation{ID: g.ID, Group: name, Vault: vault, Role: role, Expiry: g.Expiry, Status: g.Status})
		grants = append(grants, g)
	}
	return out, grants, nil
}

// answer accepts or declines the invitation whose ID starts with id.
func (s *Service) answer(ctx context.Context, id string, accept bool) (localapi.GroupReply, error) {
	invs, grants, err := s.invitations(ctx)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	found := -1
	for i, inv := range invs {
		if id != "" && strings.HasPrefix(inv.ID, id) {
			if found >= 0 {
				return localapi.GroupReply{}, fmt.Errorf("%q names more than one invitation; give more of its ID", id)
			}
			found = i
		}
	}
	if found < 0 {
		return localapi.GroupReply{}, fmt.Errorf("no invitation %q (mesh group invites lists them)", id)
	}
	inv, g := invs[found], grants[found]
	tok, err := capability.Parse(g.Token)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	vid := tok.Issuer()
	m := &membership{Group: inv.Group, Vault: []byte(vid), Role: inv.Role, Token: tok.Bytes()}
	if h := strings.TrimSuffix(g.OwnerHandle, "?"); h != "" && h == g.OwnerHandle {
		m.VaultHandle = h // confirmed by the directory when the invitation came
	}
	c, err := s.reach(ctx, m)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	if !accept {
		if err := c.Decline(ctx, tok.Bytes()); err != nil {
			return localapi.GroupReply{}, say(err)
		}
		return localapi.GroupReply{Text: fmt.Sprintf("declined the invitation to group %s", inv.Group)}, nil
	}
	if _, err := s.membership(ctx, inv.Group); err == nil {
		return localapi.GroupReply{}, fmt.Errorf("you are already in a group named %q", inv.Group)
	}
	in, err := c.Accept(ctx, tok.Bytes())
	if err != nil {
		return localapi.GroupReply{}, say(err)
	}
	m.Commitments = in.Commitments
	if err := s.save(ctx, m); err != nil {
		return localapi.GroupReply{}, err
	}
	st, err := s.status(ctx, m, in)
	return localapi.GroupReply{Status: st}, err
}

func (s *Service) members(ctx context.Context, c groupwire.Client) (localapi.GroupReply, error) {
	ms, err := c.Members(ctx)
	if err != nil {
		return localapi.GroupReply{}, say(err)
	}
	out := localapi.GroupReply{Members: []localapi.GroupMember{}}
	for _, e := range ms.Members {
		id, _, err := keys.ParsePeerID(e.Peer)
		if err != nil {
			continue
		}
		name := e.Label
		if name == "" {
			name = s.cfg.NameOf(ctx, id)
		}
		out.Members = append(out.Members, localapi.GroupMember{Name: name, Peer: id.String(), Role: e.Role, Pending: e.Pending,
			Until: time.Unix(e.Until, 0).UTC()})
	}
	return out, nil
}

func (s *Service) expel(ctx context.Context, m *membership, c groupwire.Client, who string) (localapi.GroupReply, error) {
	ms, err := c.Members(ctx)
	if err != nil {
		return localapi.GroupReply{}, say(err)
	}
	who = strings.TrimPrefix(who, "@")
	for _, e := range ms.Members {
		id, _, err := keys.ParsePeerID(e.Peer)
		if err != nil || (e.Label != who && id.String() != who) {
			continue
		}
		if err := c.Expel(ctx, id); err != nil {
			return localapi.GroupReply{}, say(err)
		}
		s.syncQuietly(ctx, m)
		return localapi.GroupReply{Text: fmt.Sprintf("removed %s from group %s; their capability is revoked", who, m.Group)}, nil
	}
	return localapi.GroupReply{}, fmt.Errorf("%s is not a member of group %s (mesh group members %s)", who, m.Group, m.Group)
}
