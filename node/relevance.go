package node

import (
	"context"
	"slices"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
)

// relevance says which revocations concern this node, so it keeps those
// whoever sends them and takes others only from its infrastructure peers
// (revgossip.Config.Relevant, Trusted). Keys are free, so "concerns" must
// be something a stranger cannot fake:
//
//   - a link of the revoked chain was issued by this node (its signature
//     cannot be forged, and the record's chain is verified);
//   - the revoked token is a link of a grant this node holds (it arrived
//     signed by its issuer, and the node chose to keep it);
//   - the chain is rooted at one of this node's contacts (pinned handles).
//
// A token merely addressed to this node does not count: anyone can issue
// one and revoke it. It answers from memory (the gossip validator asks it
// for every record) and is reloaded when the node's grants or contacts
// change.
type relevance struct {
	self     peer.ID
	held     atomic.Pointer[map[capability.ID]struct{}]
	contacts atomic.Pointer[map[peer.ID]struct{}]
}

// relevant implements revgossip.Config.Relevant.
func (r *relevance) relevant(rev *revocation.Revocation) bool {
	chain := rev.Token().Chain()
	for _, t := range chain {
		if t.Issuer() == r.self {
			return true
		}
	}
	if held := r.held.Load(); held != nil {
		if _, ok := (*held)[rev.ID()]; ok {
			return true
		}
	}
	if contacts := r.contacts.Load(); contacts != nil {
		_, ok := (*contacts)[chain[0].Issuer()]
		return ok
	}
	return false
}

// isContact reports whether p is among the contacts loaded last.
func (r *relevance) isContact(p peer.ID) bool {
	contacts := r.contacts.Load()
	if contacts == nil {
		return false
	}
	_, ok := (*contacts)[p]
	return ok
}

// reload reads the held grants' links and the contacts' peers again.
func (r *relevance) reload(ctx context.Context, o *Offline) error {
	gs, err := o.state.Received(ctx, capability.NewMemoryRevocations()) // statuses do not matter here
	if err != nil {
		return err
	}
	held := map[capability.ID]struct{}{}
	for _, g := range gs {
		if tok, err := capability.Parse(g.Token); err == nil {
			for _, t := range tok.Chain() {
				held[t.ID()] = struct{}{}
			}
		}
	}
	cs, err := o.state.Contacts(ctx, o.signer.ID())
	if err != nil {
		return err
	}
	contacts := map[peer.ID]struct{}{}
	for _, c := range cs {
		if id, err := peer.Decode(c.Peer); err == nil {
			contacts[id] = struct{}{}
		}
	}
	r.held.Store(&held)
	r.contacts.Store(&contacts)
	return nil
}

// trusted implements revgossip.Config.Trusted: the node's bootstrap and
// relays, which keep only records rooted at registered users.
func (n *Node) trusted(p peer.ID) bool { return slices.Contains(n.net.Infrastructure(), p) }

// noticeChange reloads what makes a revocation relevant after the node's
// grants or contacts changed; a failure leaves the last answer in force
// and is logged.
func (n *Node) noticeChange(ctx context.Context) {
	if err := n.relevance.reload(ctx, n.Offline); err != nil {
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
