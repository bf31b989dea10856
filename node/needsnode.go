package node

import (
	"context"

	"github.com/ocmt/mesh/node/localapi"
)

// ErrNeedsNode means the command talks to other peers and needs a running
// node.
var ErrNeedsNode = localapi.ErrNeedsNode

// needsNode is the part of localapi.Backend that talks to other peers. An
// Offline embeds it, so each of these is refused in this one place; a Node
// replaces every one of them.
type needsNode struct{ localapi.AgentsNeedNode }

// Share implements localapi.Backend: refused without a node.
func (needsNode) Share(context.Context, localapi.ShareRequest) (localapi.ShareResult, error) {
	return localapi.ShareResult{}, ErrNeedsNode
}

// Get implements localapi.Backend: refused without a node.
func (needsNode) Get(context.Context, localapi.FetchRequest) (localapi.Fetched, error) {
	return localapi.Fetched{}, ErrNeedsNode
}

// Hibernate implements localapi.Backend: refused without a node.
func (needsNode) Hibernate(context.Context) (int, error) { return 0, ErrNeedsNode }

// SnapshotPush implements localapi.Backend: refused without a node.
func (needsNode) SnapshotPush(context.Context, string) ([]localapi.Snapshot, error) {
	return nil, ErrNeedsNode
}

// ListRemote implements localapi.Backend: refused without a node.
func (needsNode) ListRemote(context.Context, string) ([]string, error) { return nil, ErrNeedsNode }

// PutRemote implements localapi.Backend: refused without a node.
func (needsNode) PutRemote(context.Context, string, []byte) error { return ErrNeedsNode }

// RemoveRemote implements localapi.Backend: refused without a node.
func (needsNode) RemoveRemote(context.Context, string) error { return ErrNeedsNode }

// AcceptToken implements localapi.Backend: refused without a node, which
// names the token's owner from the directory.
func (needsNode) AcceptToken(context.Context, string) (localapi.Grant, error) {
	return localapi.Grant{}, ErrNeedsNode
}

// Revoke implements localapi.Backend: refused without a node, which must
// gossip the revocation at once.
func (needsNode) Revoke(context.Context, string) (string, error) { return "", ErrNeedsNode }
