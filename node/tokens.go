package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// TokenIssue signs a capability token with the node's peer key (through
// the Signer: the vault must be unlocked). The issue is audited before the
// token is returned.
func (o *Offline) TokenIssue(ctx context.Context, req localapi.TokenRequest) (string, error) {
	if err := o.signer.unlocked(); err != nil {
		return "", err
	}
	aud, err := peer.Decode(req.Audience)
	if err != nil {
		return "", fmt.Errorf("audience %q is not a peer ID: %w", req.Audience, err)
	}
	res, err := capability.ParsePattern(req.Resource)
	if err != nil {
		return "", err
	}
	acts, err := capability.ParseActions(req.Actions)
	if err != nil {
		return "", err
	}
	if err := capability.CheckLifetime(req.ValidFor); err != nil {
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
			return "", fmt.Errorf("parent token: %w", err)
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
