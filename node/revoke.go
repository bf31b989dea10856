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

// Revoke implements localapi.Backend: `mesh revoke SHARE_ID` (a share this
// node issued, by its ID or a unique prefix) or `mesh revoke --token TEXT`
// (a token received by delegation, or any token whose chain this node
// issued a link of). The revocation is signed, audited, put in force here,
// gossiped and pushed to the infrastructure; everything delegated from the
// token dies with it.
func (n *Node) Revoke(ctx context.Context, shareOrToken string) (string, error) {
	n.use()
	if err := n.signer.unlocked(); err != nil {
		return "", err
	}
	tok, err := n.findToken(ctx, shareOrToken)
	if err != nil {
		return "", err
	}
	rev, err := n.signer.Revoke(tok, n.now())
	if err != nil {
		return "", err
	}
	e := vault.AuditEntry{Actor: n.actor, Op: OpTokenRevoke, Target: tok.ID().Short(), Outcome: vault.OutcomeOK,
		Detail: fmt.Sprintf("%s for %s until %s", tok.Resource(), tok.Audience(), tok.Expiry().UTC().Format(time.RFC3339))}
	if err := n.vault.Audit(ctx, e); err != nil {
		return "", errors.Join(errors.New("not revoked"), err)
	}
	if err := n.rev.Revoke(ctx, rev); err != nil {
		return "", errors.Join(errors.New("not revoked"), err)
	}
	return tok.ID().String(), nil
}

// findToken resolves a share ID (or prefix) among issued and received
// grants, or parses token text.
func (n *Node) findToken(ctx context.Context, s string) (*capability.Token, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, capability.TextPrefix) {
		tok, err := capability.Parse(s)
		if err != nil {
			return nil, words.BadToken("the token", s, err)
		}
		return tok, nil
	}
	if len(s) < 8 {
		return nil, fmt.Errorf("share ID %q is too short (give at least 8 hex digits)", s)
	}
	gs, err := n.issued(ctx)
	if err != nil {
		return nil, err
	}
	rs, err := n.received(ctx)
	if err != nil {
		return nil, err
	}
	var found []localapi.Grant
	for _, g := range append(gs, rs...) {
		if strings.HasPrefix(g.ID, s) {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return nil, words.Say(vault.ErrNotFound, "you have no share %s (see mesh shares and mesh shared)", s)
	case 1:
		return capability.Parse(found[0].Token)
	}
	return nil, fmt.Errorf("share ID %s is ambiguous; give more digits", s)
}

// revokedBy names who revoked a token and when, for refusals.
func (n *Node) revokedBy(id capability.ID) (peer.ID, time.Time, bool) {
	r, ok := n.rev.Set().RevokedBy(id)
	if !ok {
		return "", time.Time{}, false
	}
	return r.Revoker(), r.Time(), true
}
