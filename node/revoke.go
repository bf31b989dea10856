package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
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
	n.cache.Changed(string(tok.Resource())) // the next snapshots leave its audience out
	return tok.ID().String(), nil
}

// findToken resolves a share ID (or prefix) among issued and received
// grants, or parses token text (internal/revstatus).
func (n *Node) findToken(ctx context.Context, s string) (*capability.Token, error) {
	return n.revs.FindToken(ctx, n.state, s)
}

// revokedBy names who revoked a token and when, for refusals.
func (n *Node) revokedBy(id capability.ID) (peer.ID, time.Time, bool) {
	r, ok := n.rev.Set().RevokedBy(id)
	if !ok {
		return "", time.Time{}, false
	}
	return r.Revoker(), r.Time(), true
}
