package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
)

// Audit operations of the home node (internal/meshstate has those of its
// state: handle, grants received and delivered, contacts).
const (
	OpShareIssue     = "share.issue"
	OpShareServe     = "share.serve"
	OpShareRefused   = "share.refused"
	OpResourceWrite  = "resource.write"
	OpResourceRead   = "resource.read"
	OpResourceDelete = "resource.delete"
	OpTokenIssue     = "token.issue"
	OpTokenRevoke    = "token.revoke"
)

// Handle returns the handle this node claims, or "".
func (o *Offline) Handle(ctx context.Context) (string, error) { return o.state.Handle(ctx) }

// SetHandle implements localapi.Backend: it checks and stores the handle
// (a running node also claims it at the bootstrap).
func (o *Offline) SetHandle(ctx context.Context, h string) error {
	if _, err := directory.ParseHandle(h); err != nil {
		return handleError(h, err)
	}
	return o.state.SetHandle(ctx, h)
}

// Shares implements localapi.Backend: the grants this node issued.
func (o *Offline) Shares(ctx context.Context) ([]localapi.Grant, error) { return o.issued(ctx) }

// Shared implements localapi.Backend: the grants this node holds (a
// running node first collects its mailbox).
func (o *Offline) Shared(ctx context.Context) ([]localapi.Grant, error) { return o.received(ctx) }

// Contacts implements localapi.Backend.
func (o *Offline) Contacts(ctx context.Context) ([]localapi.Contact, error) {
	return o.state.Contacts(ctx, o.signer.ID())
}

// AcceptContact implements localapi.Backend: it pins the pending key.
func (o *Offline) AcceptContact(ctx context.Context, handle string) error {
	return notFound(o.state.Accept(ctx, handle), "contact", handle, "mesh contacts")
}

func (o *Offline) issued(ctx context.Context) ([]localapi.Grant, error) {
	rev, ok := o.revocations(ctx)
	gs, err := o.state.Issued(ctx, orNone(rev))
	return unknownUnless(ok, gs), err
}

func (o *Offline) received(ctx context.Context) ([]localapi.Grant, error) {
	rev, ok := o.revocations(ctx)
	gs, err := o.state.Received(ctx, orNone(rev))
	return unknownUnless(ok, gs), err
}

// orNone is rev, or a checker that knows of no revocation.
func orNone(rev capability.RevocationChecker) capability.RevocationChecker {
	if rev == nil {
		return capability.NewMemoryRevocations()
	}
	return rev
}

// unknownUnless marks every grant that could be revoked for all anyone
// can tell as localapi.StatusUnknown when the revocation state is not
// known: a revoked share is never shown active. Expired grants stay
// expired (nothing serves them, revoked or not).
func unknownUnless(known bool, gs []localapi.Grant) []localapi.Grant {
	if known {
		return gs
	}
	for i := range gs {
		if gs[i].Status != meshstate.Expired && gs[i].Status != meshstate.Revoked {
			gs[i].Status = localapi.StatusUnknown
		}
	}
	return gs
}

// RevokedAmong implements localapi.Backend: those of ids that the running
// node's revocation set holds, or without a node the set as the node last
// stored it.
func (o *Offline) RevokedAmong(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) > capability.MaxDepth {
		return nil, fmt.Errorf("at most %d token IDs (a chain)", capability.MaxDepth)
	}
	rev, ok := o.revocations(ctx)
	if !ok {
		return nil, errors.New("the stored revocation set cannot be read; start the node (mesh node) to know which tokens are revoked")
	}
	var out []string
	for _, s := range ids {
		id, err := capability.ParseID(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a token ID", s)
		}
		if rev.IsRevoked(id) {
			out = append(out, s)
		}
	}
	return out, nil
}
