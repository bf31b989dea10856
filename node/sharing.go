package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/delivery"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/vault"
)

// Share implements localapi.Backend: resolve the handle, issue a token for
// its peer, record and audit it, and deliver it (directly, else to the
// recipient's mailbox).
func (n *Node) Share(ctx context.Context, req localapi.ShareRequest) (localapi.ShareResult, error) {
	n.use()
	if err := n.signer.unlocked(); err != nil {
		return localapi.ShareResult{}, err // before asking the directory anything
	}
	rec, params, err := n.shareParams(ctx, req)
	if err != nil {
		return localapi.ShareResult{}, err
	}
	tok, err := n.signer.Issue(params)
	if err != nil {
		return localapi.ShareResult{}, err
	}
	defer n.post.Hold(tok.ID())() // before it is recorded: a redelivery round must not race us
	g := meshstate.GrantOf(tok)
	g.AudienceHandle, g.Created = req.With, n.now().UTC()
	e := vault.AuditEntry{Actor: n.actor, Op: OpShareIssue, Target: string(params.Resource), Outcome: vault.OutcomeOK,
		Detail: fmt.Sprintf("%s to %s (%s): %s until %s", tok.ID().Short(), req.With, rec.Peer, params.Actions, g.Expiry.Format(time.RFC3339))}
	if err := n.state.Issue(ctx, g, e); err != nil {
		return localapi.ShareResult{}, err
	}
	n.cache.Changed(string(params.Resource))
	out := localapi.ShareResult{ID: tok.ID().Short(), Audience: rec.Peer.String(), Expiry: g.Expiry}
	via, err := n.post.Send(ctx, g, tok, rec)
	if err != nil {
		// Issued and recorded: the node's mesh loop keeps trying
		// (Redeliver), and mesh shares says "undelivered" until it works.
		n.log.Info("share not delivered yet; will retry", "share", tok.ID().Short(), "err", err)
		out.Pending = delivery.Trouble(err)
		return out, nil
	}
	out.Delivered = via
	return out, nil
}

// Shareable are the actions a home node serves to a grantee: read, list,
// write and delete a resource (mesh get, ls --from, put, rm), and share,
// which lets the grantee pass the share on. Admin and use have no request
// that serves them yet, so a share offering them would promise nothing.
const Shareable = capability.Read | capability.List | capability.Write | capability.Delete | capability.Share

// shareParams checks a share request and resolves its recipient: what to
// sign, and for whom. A share --from another owner delegates the grant
// received from that owner, never outliving it.
func (n *Node) shareParams(ctx context.Context, req localapi.ShareRequest) (*directory.Record, capability.Params, error) {
	var p capability.Params
	res, acts, err := words.GrantParams("a share", req.Path, req.Can, req.ValidFor, Shareable)
	if err != nil {
		return nil, p, err
	}
	rec, err := n.resolver.Resolve(ctx, req.With)
	if err != nil {
		return nil, p, err
	}
	if rec.Peer == n.signer.ID() {
		return nil, p, errors.New("that handle is you")
	}
	now := n.now()
	p = capability.Params{Audience: rec.Peer, Resource: res, Actions: acts, NotBefore: now, Expiry: now.Add(req.ValidFor)}
	if req.From == "" {
		return rec, p, nil
	}
	owner, err := n.resolver.Resolve(ctx, req.From)
	if err != nil {
		return nil, p, err
	}
	return rec, p, n.grantee.Delegate(ctx, owner.Peer, &p)
}

// Shared implements localapi.Backend: the mailbox is collected first, so
// a grant left there while the node was away shows at once.
func (n *Node) Shared(ctx context.Context) ([]localapi.Grant, error) {
	if _, err := n.post.FetchMail(ctx); err != nil && !errors.Is(err, meshnet.ErrNoBootstrap) {
		n.log.Warn("mailbox fetch failed", "err", err)
	}
	return n.received(ctx)
}

// AcceptToken implements localapi.Backend: `mesh token use TOKEN` takes a
// token received out of band (delivery.Service.Accept); it is then held
// like a share received from its owner, so mesh get, ls --from, put and
// rm use it.
func (n *Node) AcceptToken(ctx context.Context, text string) (localapi.Grant, error) {
	tok, err := n.post.Accept(ctx, text)
	if err != nil {
		return localapi.Grant{}, err
	}
	gs, err := n.received(ctx)
	if err != nil {
		return localapi.Grant{}, err
	}
	for _, g := range gs {
		if g.ID == tok.ID().String() {
			return g, nil
		}
	}
	return localapi.Grant{}, errors.New("the token was accepted but is not listed; see mesh shared")
}
