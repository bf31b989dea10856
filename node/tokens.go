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

// OpTokenIssue is the audit operation for issuing or delegating a token.
const OpTokenIssue = "token.issue"

// MaxTokenLifetime bounds what a node will sign: long-lived grants should
// be re-issued, not minted for ever.
const MaxTokenLifetime = 366 * 24 * time.Hour

// TokenIssue signs a capability token with the node's peer key. The vault
// must be unlocked: a locked node signs nothing. The issue is audited
// before the token is returned.
func (l *Local) TokenIssue(ctx context.Context, req localapi.TokenRequest) (string, error) {
	if l.vault.Locked() {
		return "", vault.ErrLocked
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
	if req.ValidFor < time.Second || req.ValidFor > MaxTokenLifetime {
		return "", fmt.Errorf("validity must be between 1s and %v", MaxTokenLifetime)
	}
	now := time.Now()
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
	tok, err := capability.Issue(&l.peer, p)
	if err != nil {
		return "", err
	}
	e := vault.AuditEntry{Actor: l.actor, Op: OpTokenIssue, Target: tok.ID().Short(), Outcome: vault.OutcomeOK,
		Detail: fmt.Sprintf("%s to %s: %s on %s until %s", verb, aud, acts, res, tok.Expiry().UTC().Format(time.RFC3339))}
	if err := l.vault.Audit(ctx, e); err != nil {
		return "", errors.Join(errors.New("token not issued"), err)
	}
	return tok.String(), nil
}
