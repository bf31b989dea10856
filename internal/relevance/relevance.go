package relevance

import (
	"context"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/meshstate"
)

// Filter says which revocations concern one node. Keys are free, so
// "concerns" must be something a stranger cannot fake:
//
//   - a link of the revoked chain was issued by this node (its signature
//     cannot be forged, and the record's chain is verified);
//   - the revoked token is a link of a grant this node holds (it arrived
//     signed by its issuer, and the node chose to keep it);
//   - the chain is rooted at one of this node's contacts (pinned handles).
//
// A token merely addressed to this node does not count: anyone can issue
// one and revoke it. Reload it when the node's grants or contacts change.
type Filter struct {
	self     peer.ID
	held     atomic.Pointer[map[capability.ID]struct{}]
	contacts atomic.Pointer[map[peer.ID]struct{}]
}

// New returns the filter of the node self, which knows of no grant or
// contact until Reload.
func New(self peer.ID) *Filter { return &Filter{self: self} }

// Relevant implements revgossip.Config.Relevant.
func (r *Filter) Relevant(rev *revocation.Revocation) bool {
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

// IsContact reports whether p is among the contacts loaded last.
func (r *Filter) IsContact(p peer.ID) bool {
	contacts := r.contacts.Load()
	if contacts == nil {
		return false
	}
	_, ok := (*contacts)[p]
	return ok
}

// Reload reads the held grants' links and the contacts' peers again from
// the node's state.
func (r *Filter) Reload(ctx context.Context, st *meshstate.State) error {
	gs, err := st.Received(ctx, capability.NewMemoryRevocations()) // statuses do not matter here
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
	cs, err := st.Contacts(ctx, r.self)
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
