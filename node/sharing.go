package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/grant"
	"github.com/ocmt/mesh/protocols/share"
	"github.com/ocmt/mesh/vault"
)

// MaxShareLifetime bounds a share; sharing for longer means sharing again.
const MaxShareLifetime = 366 * 24 * time.Hour

// resolve looks a handle up in the directory and checks it against the
// pinned contact.
func (l *Local) resolve(ctx context.Context, handle string) (*directory.Record, error) {
	rec, err := l.net.lookup(ctx, handle)
	if errors.Is(err, wire.NotFound) {
		return nil, fmt.Errorf("nobody is called %q in the directory", handle)
	} else if err != nil {
		return nil, fmt.Errorf("looking up %q: %w", handle, err)
	}
	if err := l.pinContact(ctx, handle, rec.Peer); err != nil {
		return nil, err
	}
	return rec, nil
}

// Share implements localapi.Backend: resolve the handle, issue a token for
// its peer, record and audit it, and deliver it (directly, else to the
// recipient's mailbox).
func (l *Local) Share(ctx context.Context, req localapi.ShareRequest) (localapi.ShareResult, error) {
	if l.net == nil {
		return localapi.ShareResult{}, ErrNeedsNode
	}
	if l.vault.Locked() {
		return localapi.ShareResult{}, vault.ErrLocked
	}
	res, err := capability.ParsePattern(req.Path)
	if err != nil {
		return localapi.ShareResult{}, err
	}
	acts, err := capability.ParseActions(req.Can)
	if err != nil {
		return localapi.ShareResult{}, err
	}
	if req.ValidFor < time.Second || req.ValidFor > MaxShareLifetime {
		return localapi.ShareResult{}, fmt.Errorf("--for must be between 1s and %v", MaxShareLifetime)
	}
	rec, err := l.resolve(ctx, req.With)
	if err != nil {
		return localapi.ShareResult{}, err
	}
	if rec.Peer == l.peer.ID() {
		return localapi.ShareResult{}, errors.New("that handle is you")
	}
	now := time.Now()
	params := capability.Params{Audience: rec.Peer, Resource: res, Actions: acts, NotBefore: now, Expiry: now.Add(req.ValidFor)}
	if req.From != "" {
		owner, err := l.resolve(ctx, req.From)
		if err != nil {
			return localapi.ShareResult{}, err
		}
		if params.Parent, err = l.parentFor(ctx, owner.Peer, res, acts); err != nil {
			return localapi.ShareResult{}, err
		}
		if pe := params.Parent.Expiry(); params.Expiry.After(pe) {
			params.Expiry = pe // never outlive the parent
		}
		if !params.NotBefore.After(params.Parent.NotBefore()) {
			params.NotBefore = params.Parent.NotBefore()
		}
	}
	tok, err := capability.Issue(&l.peer, params)
	if err != nil {
		return localapi.ShareResult{}, err
	}
	l.setDelivering(tok.ID(), true) // before it is recorded: redeliver must not race us
	defer l.setDelivering(tok.ID(), false)
	g := grantOf(tok)
	g.AudienceHandle, g.Created = req.With, now.UTC()
	e := vault.AuditEntry{Actor: l.actor, Op: OpShareIssue, Target: string(res), Outcome: vault.OutcomeOK,
		Detail: fmt.Sprintf("%s to %s (%s): %s until %s", tok.ID().Short(), req.With, rec.Peer, acts, g.Expiry.Format(time.RFC3339))}
	if err := l.vault.Commit(ctx, e, func(b ds.Batch) error { return putJSON(ctx, b, issuedKey(tok.ID()), g) }); err != nil {
		return localapi.ShareResult{}, err
	}
	out := localapi.ShareResult{ID: tok.ID().Short(), Audience: rec.Peer.String(), Expiry: g.Expiry}
	via, err := l.deliver(ctx, tok, rec)
	if err != nil {
		// Issued and recorded: the node's mesh loop keeps trying
		// (redeliver), and mesh shares says "undelivered" until it works.
		l.log.Info("share not delivered yet; will retry", "share", tok.ID().Short(), "err", err)
		out.Pending = deliveryTrouble(err)
		return out, nil
	}
	l.markDelivered(ctx, tok.ID(), g, via)
	out.Delivered = via
	return out, nil
}

// markDelivered records how issued grant g (token id) reached its audience.
func (l *Local) markDelivered(ctx context.Context, id capability.ID, g localapi.Grant, via string) {
	g.Via, g.Status = via, "" // status is derived when read
	_ = l.vault.Commit(ctx, vault.AuditEntry{Actor: l.actor, Op: "grant.deliver", Target: id.Short(), Outcome: vault.OutcomeOK, Detail: via},
		func(b ds.Batch) error { return putJSON(ctx, b, issuedKey(id), g) })
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

func (l *Local) setDelivering(id capability.ID, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.delivering == nil {
		l.delivering = map[capability.ID]bool{}
	}
	if on {
		l.delivering[id] = true
	} else {
		delete(l.delivering, id)
	}
}

func (l *Local) isDelivering(id capability.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delivering[id]
}

// maxRedeliveries bounds one redelivery round.
const maxRedeliveries = 16

// redeliver retries issued grants that never reached their audience
// (active ones only): live first, then the mailbox, as Share does.
func (l *Local) redeliver(ctx context.Context) {
	gs, err := l.issued(ctx)
	if err != nil {
		return
	}
	n := 0
	unreachable := map[peer.ID]bool{} // this round: one failure per audience is enough
	for _, g := range gs {
		if g.Status != statusUndelivered || n == maxRedeliveries {
			continue
		}
		tok, err := capability.Parse(g.Token)
		if err != nil || unreachable[tok.Audience()] || l.isDelivering(tok.ID()) {
			continue
		}
		n++
		rec, err := l.net.lookupPeer(ctx, tok.Audience())
		if err != nil {
			unreachable[tok.Audience()] = true
			continue
		}
		// A fresh dial through the audience's relay circuits first: what we
		// learnt while it was away (dead addresses, dial backoff) is stale.
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		l.net.connect(cctx, rec.Peer, rec, true)
		cancel()
		via, err := l.deliver(ctx, tok, rec)
		if err != nil {
			unreachable[tok.Audience()] = true
			continue
		}
		l.markDelivered(ctx, tok.ID(), g, via)
		l.log.Info("share delivered on retry", "share", tok.ID().Short(), "via", via)
	}
}

// deliver sends a token to its audience, falling back to its mailbox.
func (l *Local) deliver(ctx context.Context, tok *capability.Token, rec *directory.Record) (string, error) {
	handle, _ := l.Handle(ctx)
	err := l.net.call(ctx, rec, 2, nil, 15*time.Second, func(ctx context.Context) error {
		return grant.Deliver(ctx, l.net.h, tok, handle, "")
	})
	if err == nil {
		return "live", nil
	}
	l.log.Info("direct delivery failed, using the mailbox", "to", rec.Peer, "err", err)
	sealed, serr := grant.Seal(tok, handle, "")
	if serr != nil {
		return "", serr
	}
	chain := tok.Chain()
	ids := make([]capability.ID, len(chain))
	for i, t := range chain {
		ids[i] = t.ID()
	}
	put := func(b peer.ID) error { return directory.MailboxPut(ctx, l.net.h, b, rec.Peer, sealed, ids...) }
	if merr := l.net.withBootstrap(ctx, put); merr != nil {
		return "", errors.Join(err, merr)
	}
	return "mailbox", nil
}

// receive stores a checked grant and audits it. It runs for direct
// deliveries and mailbox items alike, and works while the vault is locked.
func (l *Local) receive(ctx context.Context, r *grant.Received) error {
	if ok, err := l.store.Has(ctx, receivedKey(r.Token.ID())); err != nil || ok {
		return err
	}
	g := grantOf(r.Token)
	g.Created, g.Via = time.Now().UTC(), r.Via
	owner := r.Token.Chain()[0].Issuer()
	if l.net != nil {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if rec, err := l.net.lookupPeer(lctx, owner); err == nil && rec.Peer == owner {
			g.OwnerHandle = string(rec.Handle)
		}
		cancel()
	}
	if g.OwnerHandle == "" && r.Handle != "" {
		g.OwnerHandle = r.Handle + "?" // claimed, not confirmed by the directory
	}
	e := vault.AuditEntry{Actor: owner.String(), Op: OpGrantReceive, Target: g.Resource, Outcome: vault.OutcomeOK,
		Detail: fmt.Sprintf("%s from %s via %s: %s", r.Token.ID().Short(), g.OwnerHandle, r.Via, strings.Join(g.Actions, ","))}
	return l.vault.Commit(ctx, e, func(b ds.Batch) error { return putJSON(ctx, b, receivedKey(r.Token.ID()), g) })
}

// fetchMail collects and stores grants left in this node's mailbox.
func (l *Local) fetchMail(ctx context.Context) (int, error) {
	n := 0
	err := l.net.withBootstrap(ctx, func(b peer.ID) error {
		mail, err := directory.MailboxFetch(ctx, l.net.h, b)
		if err != nil {
			return err
		}
		for _, m := range mail {
			r, err := grant.OpenMail(&l.peer, m.Sealed, time.Now())
			if err != nil {
				l.log.Warn("dropping a mailbox item", "from", m.From, "err", err)
				continue
			}
			if err := l.receive(ctx, r); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// Shares implements localapi.Backend.
func (l *Local) Shares(ctx context.Context) ([]localapi.Grant, error) { return l.issued(ctx) }

// Shared implements localapi.Backend.
func (l *Local) Shared(ctx context.Context) ([]localapi.Grant, error) {
	if l.net != nil {
		if _, err := l.fetchMail(ctx); err != nil {
			l.log.Warn("mailbox fetch failed", "err", err)
		}
	}
	return l.received(ctx)
}

// parentFor picks an active received grant from owner that may be
// delegated for res with acts.
func (l *Local) parentFor(ctx context.Context, owner peer.ID, res capability.Pattern, acts capability.Actions) (*capability.Token, error) {
	gs, err := l.received(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(gs) - 1; i >= 0; i-- {
		g := gs[i]
		if g.Owner != owner.String() || g.Status != "active" {
			continue
		}
		tok, err := capability.Parse(g.Token)
		if err == nil && tok.Actions().Has(capability.Share|acts) && res.Within(tok.Resource()) {
			return tok, nil
		}
	}
	return nil, fmt.Errorf("%w: nothing shared with you covers %s with %s and the right to share it", vault.ErrNotFound, res, acts)
}

// grantFor picks the newest active received grant from owner that allows
// action on path.
func (l *Local) grantFor(ctx context.Context, handle string, owner peer.ID, path capability.ResourcePath, action capability.Actions) (*capability.Token, error) {
	gs, err := l.received(ctx)
	if err != nil {
		return nil, err
	}
	var best *capability.Token
	var bestStatus string
	for i := len(gs) - 1; i >= 0; i-- {
		g := gs[i]
		if g.Owner != owner.String() {
			continue
		}
		tok, err := capability.Parse(g.Token)
		if err != nil || !tok.Actions().Has(action) || (path != "" && !tok.Resource().Match(path)) {
			continue
		}
		if g.Status == "active" {
			return tok, nil
		}
		if best == nil {
			best, bestStatus = tok, g.Status
		}
	}
	if best != nil {
		if err := l.knownRevoked(handle, owner, best); err != nil {
			return nil, err // who revoked it, and when
		}
		return nil, fmt.Errorf("the share for that is %s", bestStatus)
	}
	return nil, fmt.Errorf("%w: nothing shared with you covers that", vault.ErrNotFound)
}

// splitRemote splits HANDLE/PATH.
func splitRemote(s string) (string, string, error) {
	h, p, ok := strings.Cut(s, "/")
	if !ok || h == "" {
		return "", "", fmt.Errorf("%q: want HANDLE/PATH", s)
	}
	return h, p, nil
}

// Fetch implements localapi.Backend: `mesh get HANDLE/PATH`.
func (l *Local) Fetch(ctx context.Context, remote string) ([]byte, error) {
	if l.net == nil {
		return nil, ErrNeedsNode
	}
	handle, path, err := splitRemote(remote)
	if err != nil {
		return nil, err
	}
	p, err := capability.ParsePath(path)
	if err != nil {
		return nil, err
	}
	if own, _ := l.Handle(ctx); own != "" && own == handle {
		return l.GetResource(ctx, string(p)) // our own: straight from the vault, audited
	}
	rec, err := l.resolve(ctx, handle)
	if err != nil {
		return nil, err
	}
	tok, err := l.grantFor(ctx, handle, rec.Peer, p, capability.Read)
	if err != nil {
		return nil, err
	}
	if err := l.knownRevoked(handle, rec.Peer, tok); err != nil {
		return nil, err
	}
	var data []byte
	err = l.callOwner(ctx, rec, func(ctx context.Context) error {
		data, err = share.Read(ctx, l.net.h, rec.Peer, tok, string(p))
		return err
	})
	if err != nil {
		l.net.forget(handle)
		return nil, l.explain(handle, rec.Peer, err)
	}
	return data, nil
}

// ListRemote implements localapi.Backend: `mesh ls HANDLE[/PREFIX]`.
func (l *Local) ListRemote(ctx context.Context, remote string) ([]string, error) {
	if l.net == nil {
		return nil, ErrNeedsNode
	}
	handle, prefix, _ := strings.Cut(remote, "/")
	rec, err := l.resolve(ctx, handle)
	if err != nil {
		return nil, err
	}
	toks, err := l.listGrants(ctx, rec.Peer)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		_, err := l.grantFor(ctx, handle, rec.Peer, "", capability.List) // says why: none, expired, revoked
		return nil, err
	}
	// Each share is listed under its own pattern: the answer is the union.
	seen := map[string]bool{}
	var names []string
	for _, tok := range toks {
		var got []string
		err = l.callOwner(ctx, rec, func(ctx context.Context) error {
			got, err = share.List(ctx, l.net.h, rec.Peer, tok, prefix)
			return err
		})
		if err != nil {
			return nil, l.explain(handle, rec.Peer, err)
		}
		for _, n := range got {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// listGrants returns owner's active grants to us that allow listing, one
// per resource pattern (the newest).
func (l *Local) listGrants(ctx context.Context, owner peer.ID) ([]*capability.Token, error) {
	gs, err := l.received(ctx)
	if err != nil {
		return nil, err
	}
	patterns := map[capability.Pattern]bool{}
	var out []*capability.Token
	for i := len(gs) - 1; i >= 0; i-- {
		g := gs[i]
		if g.Owner != owner.String() || g.Status != "active" {
			continue
		}
		tok, err := capability.Parse(g.Token)
		if err != nil || !tok.Actions().Has(capability.List) || patterns[tok.Resource()] {
			continue
		}
		patterns[tok.Resource()] = true
		out = append(out, tok)
	}
	return out, nil
}

// callOwner runs call against the owner, retrying with growing pauses
// while the failure is a transport one (a relay restarting, an owner
// re-reserving).
func (l *Local) callOwner(ctx context.Context, rec *directory.Record, call func(context.Context) error) error {
	return l.net.call(ctx, rec, 4, func(i int) time.Duration { return time.Duration(i) * time.Second }, 0, call)
}

// knownRevoked refuses early when our own set already holds a revocation
// for a link of tok (it arrived by gossip or revsync).
func (l *Local) knownRevoked(handle string, owner peer.ID, tok *capability.Token) error {
	if l.rev == nil {
		return nil
	}
	for _, t := range tok.Chain() {
		if r, ok := l.rev.set.RevokedBy(t.ID()); ok {
			return l.revokedError(handle, owner, r.Revoker(), r.Time())
		}
	}
	return nil
}

// ErrUnreachable means the owner's node could not be reached: nothing was
// asked, nothing refused.
var ErrUnreachable = errors.New("owner unreachable")

// explain turns an owner's refusal into words.
func (l *Local) explain(handle string, owner peer.ID, err error) error {
	var we *wire.Error
	if !errors.As(err, &we) {
		l.log.Debug("owner unreachable", "owner", owner, "err", err)
		if strings.Contains(err.Error(), "NO_RESERVATION") {
			// Its relay answered: the node holds no reservation, so it is not running.
			return fmt.Errorf("%w: %s's node is offline (its relay holds no reservation for it); try again when it is back", ErrUnreachable, handle)
		}
		return fmt.Errorf("%w: could not reach %s's node, which is offline or unreachable from here: %w", ErrUnreachable, handle, err)
	}
	switch we.Status {
	case wire.Revoked:
		by, _ := share.RevokedBy(err)
		if by == "" {
			return fmt.Errorf("%w: %s refused the share as revoked (%s)", capability.ErrRevoked, handle, we.Message)
		}
		return l.revokedError(handle, owner, by, time.Time{})
	case wire.Expired:
		return fmt.Errorf("your share from %s has expired", handle)
	case wire.Locked:
		return fmt.Errorf("%s's vault is locked right now; try again later", handle)
	case wire.NotFound:
		return fmt.Errorf("%s has no such resource", handle)
	case wire.Forbidden:
		return fmt.Errorf("%s refused: %s", handle, we.Message)
	}
	return fmt.Errorf("%s: %w", handle, err)
}
