package node

import (
	"context"

	"github.com/ocmt/mesh/internal/grantee"
	"github.com/ocmt/mesh/node/localapi"
)

// Using a grant another node issued to this one is internal/grantee's
// job: these implement localapi.Backend with it.

// ErrUnreachable means the owner's node could not be reached: nothing was
// asked, nothing refused.
var ErrUnreachable = grantee.ErrUnreachable

// Fetch reads HANDLE/PATH and returns its bytes (Get, owner or cache).
func (n *Node) Fetch(ctx context.Context, remote string) ([]byte, error) {
	return n.grantee.Fetch(ctx, remote)
}

// Get implements localapi.Backend: `mesh get HANDLE/PATH`. One's own
// handle reads from the vault (audited).
func (n *Node) Get(ctx context.Context, req localapi.FetchRequest) (localapi.Fetched, error) {
	return n.grantee.Get(ctx, req)
}

// PutRemote implements localapi.Backend: `mesh put HANDLE/PATH` writes an
// owner's resource with a share that allows write.
func (n *Node) PutRemote(ctx context.Context, remote string, data []byte) error {
	return n.grantee.Put(ctx, remote, data)
}

// RemoveRemote implements localapi.Backend: `mesh rm HANDLE/PATH` deletes
// an owner's resource with a share that allows delete.
func (n *Node) RemoveRemote(ctx context.Context, remote string) error {
	return n.grantee.Remove(ctx, remote)
}

// ListRemote implements localapi.Backend: `mesh ls HANDLE[/PREFIX]`.
func (n *Node) ListRemote(ctx context.Context, remote string) ([]string, error) {
	return n.grantee.List(ctx, remote)
}
