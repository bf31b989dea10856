package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// TokenIssue signs a capability token with the node's peer key (through
// the Signer: the vault must be unlocked). The issue is audited before the
// token is returned.
//
// The audience is a peer ID or a handle; without a node, a handle must be
// a pinned contact (a running node also asks the directory).
func (o *Offline) TokenIssue(ctx context.Context, req localapi.TokenRequest) (string, error) {
	return o.tokenIssue(ctx, req, func(h string) (peer.ID, error) {
		if id, ok := o.state.PeerOf(ctx, h); ok {
			return id, nil
		}
		return "", fmt.Errorf("%q is not among your contacts; start your node (mesh node) so it can look %s up in the directory, or give a peer ID", h, h)
	})
}

// TokenIssue implements localapi.Backend: as Offline's, with handles
// looked up in the directory and pinned.
func (n *Node) TokenIssue(ctx context.Context, req localapi.TokenRequest) (string, error) {
	return n.tokenIssue(ctx, req, func(h string) (peer.ID, error) {
		rec, err := n.resolver.Resolve(ctx, h)
		if err != nil {
			return "", err
		}
		return rec.Peer, nil
	})
}

// tokenIssue issues req, naming its audience by peer ID or, through
// lookup, by handle.
func (o *Offline) tokenIssue(ctx context.Context, req localapi.TokenRequest, lookup func(handle string) (peer.ID, error)) (string, error) {
	o.use()
	if err := o.signer.unlocked(); err != nil {
		return "", err
	}
	aud, err := words.Audience(req.Audience, lookup)
	if err != nil {
		return "", err
	}
	res, acts, err := words.GrantParams("a token", req.Resource, req.Actions, req.ValidFor, Shareable)
	if err != nil {
		return "", err
	}
	now := o.now()
	p := capability.Params{Audience: aud, Resource: res, Actions: acts, NotBefore: now, Expiry: now.Add(req.ValidFor), MaxUses: req.MaxUses}
	if req.AgentCeiling {
		p.Ceiling = capability.DefaultAgentCeiling
	}
	verb := "issued"
	if req.Parent != "" {
		if p.Parent, err = capability.Parse(strings.TrimSpace(req.Parent)); err != nil {
			return "", words.BadToken("the parent token", req.Parent, err)
		}
		if pe := p.Parent.Expiry(); p.Expiry.After(pe) {
			p.Expiry = pe // a delegation never outlives its parent
		}
		verb = "delegated"
	}
	tok, err := o.signer.Issue(p)
	if err != nil {
		return "", err
	}
	e := vault.AuditEntry{Actor: o.actor, Op: OpTokenIssue, Target: tok.ID().Short(), Outcome: vault.OutcomeOK,
		Detail: fmt.Sprintf("%s to %s: %s on %s until %s", verb, aud, acts, res, tok.Expiry().UTC().Format(time.RFC3339))}
	if err := o.vault.Audit(ctx, e); err != nil {
		return "", errors.Join(errors.New("token not issued"), err)
	}
	return tok.String(), nil
}
