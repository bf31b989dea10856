package revgossip

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability/revocation"
)

// errNotRelevant is why a home node does not keep a record: it is not
// relevant to the node, and the peer it came from is not one of the
// node's infrastructure peers.
var errNotRelevant = errors.New("revgossip: not relevant to this node, and not from its infrastructure")

// AdmitRegistered is a Config.Admit that keeps revocations whose token's
// owner (root issuer) is a registered mesh user, so strangers cannot fill
// infrastructure sets.
func AdmitRegistered(registered func(peer.ID) bool) func(*revocation.Revocation) error {
	return func(r *revocation.Revocation) error {
		if owner := r.Token().Root().Issuer(); !registered(owner) {
			return fmt.Errorf("owner %s is not in the directory", owner)
		}
		return nil
	}
}

// RelevantTo is the Config.Relevant of a home node: a record is relevant
// when self issued or received a link of the revoked token's chain (the
// node verifies tokens it issued, and holds tokens issued to it), or when
// the chain's root issuer is one of its contacts (contact may be nil for
// none). It allocates nothing; contact must be fast and must not block.
//
// Being named as an audience proves nothing: anyone can issue a token to
// any peer ID and revoke it. Records relevant only for that reason are
// still kept from anyone, so the set's cap (Config.MaxEntries) is what
// bounds them; the node's own revocations are never refused for it.
func RelevantTo(self peer.ID, contact func(peer.ID) bool) func(*revocation.Revocation) bool {
	return func(r *revocation.Revocation) bool {
		t := r.Token()
		for ; ; t = t.Parent() {
			if t.Issuer() == self || t.Audience() == self {
				return true
			}
			if t.Parent() == nil {
				break
			}
		}
		return contact != nil && contact(t.Issuer()) // t is the root
	}
}

// policy is which records a service keeps from whom: everything when
// relevant is nil (infrastructure peers, which filter with Admit), else
// relevant records from anyone and the rest only from trusted peers.
type policy struct {
	relevant func(*revocation.Revocation) bool // Config.Relevant
	trusted  func(peer.ID) bool                // Config.Trusted
}

// keeps reports whether a record that came from peer from is kept.
func (p policy) keeps(from peer.ID, r *revocation.Revocation) bool {
	return p.relevant == nil || (p.trusted != nil && p.trusted(from)) || p.relevant(r)
}

// keepFrom is the revsync Keep for a pull from server: nil (keep every
// record) when the policy keeps everything from it, asked once per sync.
func (p policy) keepFrom(server peer.ID) func(*revocation.Revocation) bool {
	if p.relevant == nil || (p.trusted != nil && p.trusted(server)) {
		return nil
	}
	return p.relevant
}

// fullLogEvery is how often at most a service logs that its set refused
// relevant records at its cap; the refusals in between are counted into
// the next line.
const fullLogEvery = time.Minute

// alarm logs, at error level, the relevant records the set refused
// because it is full (revocation.ErrFull): each is a revocation that
// matters to this node and is not in force here. It logs the first at
// once and at most one line every fullLogEvery after that, so a peer
// pushing records at the full set cannot flood the log.
type alarm struct {
	log *slog.Logger
	now func() time.Time

	mu     sync.Mutex
	last   time.Time
	quiet  int // refusals not logged since last
	logged bool
}

// full records n refusals that came by way (gossip, pull, push) from
// peer, err being one of them.
func (a *alarm) full(n int, way string, from peer.ID, err error) {
	if a == nil || n <= 0 {
		return
	}
	a.mu.Lock()
	now := a.now()
	if a.logged && now.Sub(a.last) < fullLogEvery {
		a.quiet += n
		a.mu.Unlock()
		return
	}
	before := a.quiet
	a.logged, a.last, a.quiet = true, now, 0
	a.mu.Unlock()
	a.log.Error("revocation set full: revocations relevant to this node are NOT in force here; raise MaxEntries/MaxBytes or find who fills the set",
		"way", way, "from", from, "refused", n, "refused_before_unlogged", before, "err", err)
}
