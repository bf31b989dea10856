package node

import (
	"context"

	"github.com/ocmt/mesh/internal/groupclient"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/node/localapi"
)

// Group implements localapi.Groups.
func (n *Node) Group(ctx context.Context, r localapi.GroupRequest) (localapi.GroupReply, error) {
	return n.groups.Group(ctx, r)
}

// startGroups serves mesh group: the node's owner as a group admin.
func (n *Node) startGroups() {
	n.groups = groupclient.New(groupclient.Config{Host: n.host, Net: n.net, Resolve: n.resolver.Resolve, NameOf: n.resolver.NameOf,
		Received: n.received,
		Handle:   n.Handle, WithKey: n.signer.withKey, Vault: n.vault, Store: n.store, PubSub: n.rev.PubSub(), Actor: n.actor,
		Now: n.cfg.Now, Logger: n.log})
	n.net.Go(n.groups.Run)
}

// withKey runs f with the peer key while the vault is unlocked.
func (s *Signer) withKey(f func(*keys.PeerKey) error) error {
	if err := s.unlocked(); err != nil {
		return err
	}
	return f(&s.key)
}

// withPeerKey runs f with the peer key, locked or not: only for what
// proves who asks and grants nothing (an escrow request, a recovery veto).
func (s *Signer) withPeerKey(f func(*keys.PeerKey) error) error { return f(&s.key) }
