package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/grant"
	"github.com/ocmt/mesh/vault"
)

// resolve looks a handle up in the directory and checks it against the
// pinned contact, keeping the record's relay addresses with it. When the
// directory cannot answer (the bootstrap is down), a pinned contact is
// resolved from what was kept: its key and last-known relays.
func (n *Node) resolve(ctx context.Context, handle string) (*directory.Record, error) {
	if _, err := directory.ParseHandle(handle); err != nil {
		return nil, handleError(handle, err)
	}
	rec, err := n.net.Lookup(ctx, handle)
	if errors.Is(err, wire.NotFound) {
		if mine, _ := n.Handle(ctx); mine == handle {
			n.net.Republish() // the bootstrap lost our record
		}
		return nil, say(err, "nobody is called %q in the directory", handle)
	} else if err != nil {
		if rec, ok := n.remembered(ctx, handle, err); ok {
			return rec, nil
		}
		n.log.Info("directory lookup failed", "handle", handle, "err", err)
		return nil, say(err, "could not look %q up in the directory: %s", handle, reachProblem(err))
	}
	if err := n.state.Pin(ctx, handle, rec.Peer); err != nil {
		return nil, err
	}
	if err := n.state.Remember(ctx, handle, rec.Peer, rec.Relays); err != nil {
		n.log.Debug("keeping a contact's relays failed", "handle", handle, "err", err)
	}
	if !n.relevance.isContact(rec.Peer) {
		n.noticeChange(ctx) // a new contact: its revocations concern us
	}
	return rec, nil
}

// remembered resolves a pinned contact without the directory, after the
// lookup failed with err: only when the directory did not answer (a
// refusal or "no such handle" is an answer) and no key change waits for
// acceptance.
func (n *Node) remembered(ctx context.Context, handle string, err error) (*directory.Record, bool) {
	var we *wire.Error
	if ctx.Err() != nil || (errors.As(err, &we) && we.Status != wire.Unavailable && we.Status != wire.RateLimited) {
		return nil, false
	}
	c, ok := n.state.Pinned(ctx, handle)
	if !ok || c.Pending != "" {
		return nil, false
	}
	n.log.Info("directory unavailable; using the pinned contact and its last-known relays", "handle", handle,
		"relays", len(c.Relays), "err", err)
	return &directory.Record{Handle: directory.Handle(handle), Peer: c.Peer, Relays: c.Relays}, true
}

// audienceRecord finds how to reach a grant's audience: its directory
// record (whose relays are kept with the contact), else the pinned
// contact's last-known relays (the bootstrap is down, or lost the record).
func (n *Node) audienceRecord(ctx context.Context, id peer.ID) (*directory.Record, error) {
	rec, err := n.net.LookupPeer(ctx, id)
	if err == nil {
		if err := n.state.Remember(ctx, string(rec.Handle), rec.Peer, rec.Relays); err != nil {
			n.log.Debug("keeping a contact's relays failed", "peer", id, "err", err)
		}
		return rec, nil
	}
	c, ok := n.state.PinnedPeer(ctx, id)
	if !ok || len(c.Relays) == 0 {
		return nil, err
	}
	return &directory.Record{Handle: directory.Handle(c.Handle), Peer: id, Relays: c.Relays}, nil
}

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
	n.setDelivering(tok.ID(), true) // before it is recorded: redeliver must not race us
	defer n.setDelivering(tok.ID(), false)
	g := meshstate.GrantOf(tok)
	g.AudienceHandle, g.Created = req.With, n.now().UTC()
	e := vault.AuditEntry{Actor: n.actor, Op: OpShareIssue, Target: string(params.Resource), Outcome: vault.OutcomeOK,
		Detail: fmt.Sprintf("%s to %s (%s): %s until %s", tok.ID().Short(), req.With, rec.Peer, params.Actions, g.Expiry.Format(time.RFC3339))}
	if err := n.state.Issue(ctx, g, e); err != nil {
		return localapi.ShareResult{}, err
	}
	out := localapi.ShareResult{ID: tok.ID().Short(), Audience: rec.Peer.String(), Expiry: g.Expiry}
	via, err := n.deliver(ctx, tok, rec)
	if err != nil {
		// Issued and recorded: the node's mesh loop keeps trying
		// (redeliver), and mesh shares says "undelivered" until it works.
		n.log.Info("share not delivered yet; will retry", "share", tok.ID().Short(), "err", err)
		out.Pending = deliveryTrouble(err)
		return out, nil
	}
	n.state.MarkDelivered(ctx, g, via)
	n.metrics.deliveredOne(via)
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
	res, err := capability.ParsePattern(req.Path)
	if err != nil {
		return nil, p, pathError(req.Path, err, true)
	}
	acts, err := capability.ParseActions(req.Can)
	if err != nil {
		return nil, p, actionsError(req.Can, err, Shareable)
	}
	if extra := acts &^ Shareable; extra != 0 {
		return nil, p, fmt.Errorf("a share can allow %s; %s is not something home nodes serve", actionList(Shareable), actionList(extra))
	}
	if err := capability.CheckLifetime(req.ValidFor); err != nil {
		return nil, p, lifetimeError(req.ValidFor, err)
	}
	rec, err := n.resolve(ctx, req.With)
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
	owner, err := n.resolve(ctx, req.From)
	if err != nil {
		return nil, p, err
	}
	if p.Parent, err = n.parentFor(ctx, owner.Peer, res, acts); err != nil {
		return nil, p, err
	}
	p.Expiry = minTime(p.Expiry, p.Parent.Expiry())
	if !p.NotBefore.After(p.Parent.NotBefore()) {
		p.NotBefore = p.Parent.NotBefore()
	}
	return rec, p, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// deliveryTrouble says in a few words why neither the recipient nor its
// mailbox took a grant.
func deliveryTrouble(err error) string {
	switch {
	case errors.Is(err, directory.ErrMailboxFull):
		return "the recipient is offline and its mailbox is full"
	case errors.Is(err, wire.RateLimited):
		return "the recipient is offline and the bootstrap asked us to slow down"
	default:
		return "the recipient and its mailbox are unreachable right now"
	}
}

func (n *Node) setDelivering(id capability.ID, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if on {
		n.delivering[id] = true
	} else {
		delete(n.delivering, id)
	}
}

func (n *Node) isDelivering(id capability.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.delivering[id]
}

// maxRedeliveries bounds one redelivery round.
const maxRedeliveries = 16

// redeliver retries issued grants that never reached their audience
// (active ones only): live first, then the mailbox, as Share does. While
// the bootstrap is down, the audience is dialled at the relays kept with
// its contact, and the mailbox waits for the bootstrap's return.
func (n *Node) redeliver(ctx context.Context) {
	gs, err := n.issued(ctx)
	if err != nil {
		return
	}
	tried := 0
	unreachable := map[peer.ID]bool{} // this round: one failure per audience is enough
	for _, g := range gs {
		if g.Status != meshstate.Undelivered || tried == maxRedeliveries {
			continue
		}
		tok, err := capability.Parse(g.Token)
		if err != nil || unreachable[tok.Audience()] || n.isDelivering(tok.ID()) {
			continue
		}
		tried++
		rec, err := n.audienceRecord(ctx, tok.Audience())
		if err != nil {
			unreachable[tok.Audience()] = true
			continue
		}
		// A fresh dial through the audience's relay circuits first: what we
		// learnt while it was away (dead addresses, dial backoff) is stale.
		cctx, cancel := context.WithTimeout(ctx, redeliverDial)
		n.net.Connect(cctx, rec.Peer, rec, true)
		cancel()
		via, err := n.deliver(ctx, tok, rec)
		if err != nil {
			unreachable[tok.Audience()] = true
			continue
		}
		n.state.MarkDelivered(ctx, g, via)
		n.metrics.deliveredOne(via)
		n.log.Info("share delivered on retry", "share", tok.ID().Short(), "via", via)
	}
}

// deliver sends a token to its audience, falling back to its mailbox.
func (n *Node) deliver(ctx context.Context, tok *capability.Token, rec *directory.Record) (string, error) {
	handle, _ := n.Handle(ctx)
	err := n.net.Call(ctx, rec, deliverRetry, func(ctx context.Context) error {
		return grant.Deliver(ctx, n.host, tok, handle, "")
	})
	if err == nil {
		return meshstate.ViaLive, nil
	}
	n.log.Info("direct delivery failed, using the mailbox", "to", rec.Peer, "err", err)
	sealed, serr := grant.Seal(tok, handle, "")
	if serr != nil {
		return "", serr
	}
	chain := tok.Chain()
	ids := make([]capability.ID, len(chain))
	for i, t := range chain {
		ids[i] = t.ID()
	}
	put := func(b peer.ID) error { return directory.MailboxPut(ctx, n.host, b, rec.Peer, sealed, ids...) }
	if merr := n.net.WithBootstrap(ctx, put); merr != nil {
		return "", errors.Join(err, merr)
	}
	return meshstate.ViaMailbox, nil
}

// receive stores a checked grant and audits it. It runs for direct
// deliveries and mailbox items alike, and works while the vault is locked.
func (n *Node) receive(ctx context.Context, r *grant.Received) error {
	if ok, err := n.state.HasReceived(ctx, r.Token.ID()); err != nil || ok {
		return err
	}
	g := meshstate.GrantOf(r.Token)
	g.Created, g.Via = n.now().UTC(), r.Via
	owner := r.Token.Chain()[0].Issuer()
	lctx, cancel := context.WithTimeout(ctx, ownerLookup)
	if rec, err := n.net.LookupPeer(lctx, owner); err == nil && rec.Peer == owner {
		g.OwnerHandle = string(rec.Handle)
	}
	cancel()
	if g.OwnerHandle == "" && r.Handle != "" {
		g.OwnerHandle = r.Handle + "?" // claimed, not confirmed by the directory
	}
	if err := n.state.Receive(ctx, r.Token, g); err != nil {
		return err
	}
	n.noticeChange(ctx) // a grant we hold: its revocations concern us
	return nil
}

// fetchMail collects and stores grants left in this node's mailbox.
func (n *Node) fetchMail(ctx context.Context) (int, error) {
	count := 0
	err := n.net.WithBootstrap(ctx, func(b peer.ID) error {
		mail, err := directory.MailboxFetch(ctx, n.host, b)
		if err != nil {
			return err
		}
		for _, m := range mail {
			r, err := n.signer.OpenMailWhileLocked(m.Sealed, n.now())
			if err != nil {
				n.log.Warn("dropping a mailbox item", "from", m.From, "err", err)
				continue
			}
			if err := n.receive(ctx, r); err != nil {
				return err
			}
			count++
		}
		return nil
	})
	return count, err
}

// Shared implements localapi.Backend: the mailbox is collected first, so
// a grant left there while the node was away shows at once.
func (n *Node) Shared(ctx context.Context) ([]localapi.Grant, error) {
	if _, err := n.fetchMail(ctx); err != nil && !errors.Is(err, meshnet.ErrNoBootstrap) {
		n.log.Warn("mailbox fetch failed", "err", err)
	}
	return n.received(ctx)
}

// parentFor picks an active received grant from owner that may be
// delegated for res with acts.
func (n *Node) parentFor(ctx context.Context, owner peer.ID, res capability.Pattern, acts capability.Actions) (*capability.Token, error) {
	gs, err := n.received(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(gs) - 1; i >= 0; i-- {
		g := gs[i]
		if g.Owner != owner.String() || g.Status != meshstate.Active {
			continue
		}
		tok, err := capability.Parse(g.Token)
		if err == nil && tok.Actions().Has(capability.Share|acts) && res.Within(tok.Resource()) {
			return tok, nil
		}
	}
	return nil, say(vault.ErrNotFound, "nothing shared with you covers %s with %s and the right to pass it on", res, actionList(acts))
}

// AcceptToken implements localapi.Backend: `mesh token use TOKEN` takes a
// token received out of band (in a chat, on paper). It must be addressed
// to this node, verify (signatures, chain, time) and not be revoked; it is
// then held like a share received from its owner, so mesh get, ls --from,
// put and rm use it.
func (n *Node) AcceptToken(ctx context.Context, text string) (localapi.Grant, error) {
	tok, err := capability.Parse(strings.TrimSpace(text))
	if err != nil {
		return localapi.Grant{}, tokenError("the token", text, err)
	}
	if tok.Audience() != n.signer.ID() {
		return localapi.Grant{}, fmt.Errorf("this token is for %s, not for this node (%s): only its audience can use it", tok.Audience(), n.signer.ID())
	}
	if err := capability.CheckToken(tok, capability.InspectRemote(n.signer.ID()), capability.InspectClock(n.now)); err != nil {
		return localapi.Grant{}, tokenError("the token", text, err)
	}
	for _, t := range tok.Chain() {
		if n.rev.Set().IsRevoked(t.ID()) {
			return localapi.Grant{}, say(capability.ErrRevoked, "the token was revoked (%s)", t.ID().Short())
		}
	}
	if err := n.receive(ctx, &grant.Received{Token: tok, Via: meshstate.ViaHand}); err != nil {
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
