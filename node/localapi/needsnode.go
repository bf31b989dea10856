package localapi

import "context"

// NeedsNode is the part of Backend that talks to other peers. A node's
// Offline (its vault without the mesh) embeds it, so each of these is
// refused in this one place; a running node replaces every one of them.
type NeedsNode struct {
	AgentsNeedNode
	GroupsNeedNode
}

// Share implements Backend: refused without a node.
func (NeedsNode) Share(context.Context, ShareRequest) (ShareResult, error) {
	return ShareResult{}, ErrNeedsNode
}

// Get implements Backend: refused without a node.
func (NeedsNode) Get(context.Context, FetchRequest) (Fetched, error) {
	return Fetched{}, ErrNeedsNode
}

// Hibernate implements Backend: refused without a node.
func (NeedsNode) Hibernate(context.Context) (int, error) { return 0, ErrNeedsNode }

// SnapshotPush implements Backend: refused without a node.
func (NeedsNode) SnapshotPush(context.Context, string) ([]Snapshot, error) {
	return nil, ErrNeedsNode
}

// ListRemote implements Backend: refused without a node.
func (NeedsNode) ListRemote(context.Context, string) ([]string, error) { return nil, ErrNeedsNode }

// PutRemote implements Backend: refused without a node.
func (NeedsNode) PutRemote(context.Context, string, []byte) error { return ErrNeedsNode }

// RemoveRemote implements Backend: refused without a node.
func (NeedsNode) RemoveRemote(context.Context, string) error { return ErrNeedsNode }

// AcceptToken implements Backend: refused without a node, which
// names the token's owner from the directory.
func (NeedsNode) AcceptToken(context.Context, string) (Grant, error) {
	return Grant{}, ErrNeedsNode
}

// Revoke implements Backend: refused without a node, which must
// gossip the revocation at once.
func (NeedsNode) Revoke(context.Context, string) (string, error) { return "", ErrNeedsNode }
