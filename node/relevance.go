package node

import (
	"context"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// trusted implements revgossip.Config.Trusted: the node's bootstrap and
// relays, which keep only records rooted at registered users.
func (n *Node) trusted(p peer.ID) bool { return slices.Contains(n.net.Infrastructure(), p) }

// noticeChange reloads what makes a revocation relevant
// (internal/relevance) after the node's grants or contacts changed; a
// failure leaves the last answer in force and is logged.
func (n *Node) noticeChange(ctx context.Context) {
	if err := n.relevance.Reload(ctx, n.state); err != nil {
		n.log.Warn("reloading which revocations concern this node", "err", err)
	}
}

// AcceptContact implements localapi.Backend: as Offline's, and the
// accepted key's revocations concern this node from now on.
func (n *Node) AcceptContact(ctx context.Context, handle string) error {
	if err := n.Offline.AcceptContact(ctx, handle); err != nil {
		return err
	}
	n.noticeChange(ctx)
	return nil
}
