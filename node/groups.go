package node

import (
	"github.com/ocmt/mesh/internal/groupclient"
	"github.com/ocmt/mesh/internal/keys"
)

// startGroups serves mesh group: the node's owner as a group admin.
func (n *Node) startGroups() {
	n.Service = groupclient.New(groupclient.Config{Host: n.host, Net: n.net, Resolve: n.resolver.Resolve, NameOf: n.resolver.NameOf,
		Received: n.received,
		Handle:   n.Handle, WithKey: n.signer.withKey, Vault: n.vault, Store: n.store, PubSub: n.rev.PubSub(), Actor: n.actor,
		Now: n.cfg.Now, Logger: n.log})
	n.net.Go(n.Service.Run)
}

// withKey runs f with the peer key while the vault is unlocked.
func (s *Signer) withKey(f func(*keys.PeerKey) error) error {
	if err := s.unlocked(); err != nil {
		return err
	}
	return f(&s.key)
}

// withPeerKey runs f with the peer key, locked or not: only to prove who
// asks (an escrow request, a veto), never to grant.
func (s *Signer) withPeerKey(f func(*keys.PeerKey) error) error { return f(&s.key) }
