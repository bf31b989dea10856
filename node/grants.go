package node

import (
	"context"

	"github.com/ocmt/mesh/internal/sharestore"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
)

// Audit operations of the home node (internal/meshstate has those of its
// state: handle, grants received and delivered, contacts).
const (
	OpShareIssue     = "share.issue"
	OpShareServe     = sharestore.OpServe
	OpShareRefused   = sharestore.OpRefused
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
		return words.BadHandle(h, err)
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
	return words.NotFound(o.state.Accept(ctx, handle), "contact", handle, "mesh contacts")
}

func (o *Offline) issued(ctx context.Context) ([]localapi.Grant, error) {
	return o.revs.Issued(ctx, o.state)
}

func (o *Offline) received(ctx context.Context) ([]localapi.Grant, error) {
	return o.revs.Received(ctx, o.state)
}

// RevokedAmong implements localapi.Backend: those of ids that the running
// node's revocation set holds, or without a node the set as the node last
// stored it (internal/revstatus).
func (o *Offline) RevokedAmong(ctx context.Context, ids []string) ([]string, error) {
	return o.revs.Among(ctx, ids)
}
