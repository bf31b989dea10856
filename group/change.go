package group

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// ChangeLabel is the domain label of a membership change's digest: the
// hashed bytes are ChangeLabel || 0x00 || the encoded change (doc.go
// "Membership changes").
const ChangeLabel = "ocmt-mesh/group-change/v1"

// Change is a proposed membership change of a group: its new admins (in
// share order), its new threshold and its new default unlock window (0
// keeps the current one). K of the current admins approve it by signing
// approvals whose Change is its Digest; the vault's node then recovers
// the key (Tally) and deals again (Deal).
type Change struct {
	Admins    []peer.ID
	Threshold int
	Window    time.Duration
}

// changeWire is the encoding a change's digest is computed over (doc.go
// "Membership changes").
type changeWire struct {
	Version   uint64   `cbor:"1,keyasint"`
	Group     string   `cbor:"2,keyasint"`
	Dealing   []byte   `cbor:"3,keyasint"`
	Threshold int64    `cbor:"4,keyasint"`
	Admins    [][]byte `cbor:"5,keyasint"`
	Window    int64    `cbor:"6,keyasint"`
}

// Check applies Split's rules to the change: MinThreshold ≤ Threshold ≤
// len(Admins) ≤ MaxAdmins, distinct peer IDs of the mesh; and a window of
// 0 or whole seconds from MinWindow to MaxWindow. A failure wraps
// ErrBadDealing.
func (c Change) Check() error {
	if err := checkShape(c.Threshold, c.Admins); err != nil {
		return err
	}
	if c.Window != 0 && (c.Window < MinWindow || c.Window > MaxWindow || c.Window%time.Second != 0) {
		return fmt.Errorf("%w: a group's unlock window is whole seconds from %s to %s", ErrBadDealing, MinWindow, MaxWindow)
	}
	return nil
}

// Digest is the change's digest for the group named group whose current
// dealing has the ID current: SHA-256 of ChangeLabel, a zero byte and
// the change's canonical encoding. Binding the dealing makes an approval
// of a change good for one membership only: once the group is dealt
// again, approvals of the same change to the old membership name another
// digest. Check the change first: the digest of a change Check refuses
// is of no use.
func (c Change) Digest(group string, current [DealingIDSize]byte) [ChangeDigestSize]byte {
	w := changeWire{Version: recordVersion, Group: group, Dealing: current[:], Threshold: int64(c.Threshold), Window: int64(c.Window / time.Second)}
	w.Admins = make([][]byte, 0, len(c.Admins))
	for _, a := range c.Admins {
		w.Admins = append(w.Admins, []byte(a))
	}
	b, err := wire.Marshal(w)
	if err != nil {
		panic(err) // fixed shapes; cannot fail
	}
	h := sha256.New()
	h.Write([]byte(ChangeLabel))
	h.Write([]byte{0})
	h.Write(b)
	var d [ChangeDigestSize]byte
	h.Sum(d[:0])
	return d
}

// admit holds the checks Lock and Tally make of an approval and the share
// the vault opened from it, at now, in the order doc.go gives: the
// approval (Verify), its purpose, the share, and last its nonce, so that
// a refused approval spends none.
func admit(c *Commitments, a *Approval, s *Share, nonces *NonceSet, now time.Time, purpose func() error) error {
	if err := Verify(c, a, now); err != nil {
		return err
	}
	if err := purpose(); err != nil {
		return err
	}
	if s == nil || s.Admin != a.Admin {
		return fmt.Errorf("%w: the share offered with the approval from %s is not theirs", ErrBadShare, a.Admin)
	}
	if err := VerifyShare(c, s); err != nil {
		return err
	}
	return nonces.Use(c.Group, a.Nonce, a.Time, now)
}

// Tally collects the current admins' approvals of one membership change
// (by its digest) on an injected clock. The approval that brings the
// Threshold-th distinct admin recovers the group key, which the vault's
// node takes with Key to re-encrypt and deal again, then ends the tally
// with Wipe. A Tally ignores LockConfig.Schedule: the schedule bounds
// unlocks, not changes of membership. It is safe for concurrent use.
type Tally struct {
	c      *Commitments
	digest [ChangeDigestSize]byte
	now    func() time.Time
	nonces *NonceSet

	mu        sync.Mutex
	pending   pendingOffers
	key       *Key
	approvers []peer.ID
	closed    bool
}

// NewTally returns a tally of the change with the given digest for the
// group of c, with cfg's clock and NonceSet (share the node's NonceSet
// between its Locks and Tallies).
func NewTally(c *Commitments, digest [ChangeDigestSize]byte, cfg LockConfig) *Tally {
	t := &Tally{c: c, digest: digest, now: cfg.Now, nonces: cfg.Nonces, pending: map[peer.ID]offer{}}
	if t.now == nil {
		t.now = time.Now
	}
	if t.nonces == nil {
		t.nonces = NewNonceSet(0)
	}
	return t
}

// OfferSealed opens the approval's sealed share with the vault's peer key
// and counts the approval. It makes the Lock's checks (doc.go "Unlock
// window"), and refuses an approval whose Change is not the tally's
// digest (ErrWrongPurpose): an unlock's, or another change's. It returns
// the admins who approved so far, in share order, and whether they are
// enough: then the key is recovered (Key). A tally that is done counts no
// more approvals and returns its approvers and true; one ended by Wipe
// refuses them (ErrLocked).
func (t *Tally) OfferSealed(a *Approval, vault *keys.PeerKey) (approvers []peer.ID, done bool, err error) {
	s, openErr := OpenShare(a.Share, vault)
	if s != nil {
		defer s.Wipe()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, false, fmt.Errorf("%w: the change to group %q was closed; its approvals are no longer counted", ErrLocked, t.c.Group)
	}
	if t.key != nil {
		return slices.Clone(t.approvers), true, nil
	}
	now := t.now()
	t.sweep(now)
	purpose := func() error {
		switch {
		case !a.IsChange():
			return fmt.Errorf("%w: this approval is for an unlock, not a membership change (from %s)", ErrWrongPurpose, a.Admin)
		case [ChangeDigestSize]byte(a.Change) != t.digest:
			return fmt.Errorf("%w: this approval is for another membership change of group %q (from %s)", ErrWrongPurpose, t.c.Group, a.Admin)
		}
		if openErr != nil {
			return fmt.Errorf("the approval from %s: %w", a.Admin, openErr)
		}
		return nil
	}
	if err := admit(t.c, a, s, t.nonces, now, purpose); err != nil {
		return t.who(), false, err
	}
	if old, ok := t.pending[a.Admin]; ok {
		old.share.Wipe()
	}
	cp := *s
	t.pending[a.Admin] = offer{at: a.Time, share: &cp}
	if len(t.pending) < t.c.Threshold {
		return t.who(), false, nil
	}
	who := t.who()
	shares := make([]*Share, 0, len(t.pending))
	for _, o := range t.pending {
		shares = append(shares, o.share)
	}
	k, err := Recover(t.c, shares)
	t.dropPending()
	if err != nil {
		// Every share was verified when offered: only a broken
		// commitment record can bring this here.
		return nil, false, err
	}
	t.key, t.approvers = k, who
	return slices.Clone(who), true, nil
}

// who lists the pending admins in share order; t.mu is held.
func (t *Tally) who() []peer.ID {
	var p []peer.ID
	for id := range t.pending {
		p = append(p, id)
	}
	slices.SortFunc(p, func(x, y peer.ID) int { return t.c.index(x) - t.c.index(y) })
	return p
}

func (t *Tally) sweep(now time.Time) { t.pending.dropStale(now) }

func (t *Tally) dropPending() { t.pending.drop() }

// Key returns a copy of the group key once the change is approved; the
// caller wipes it. Before, or after Wipe, it fails with ErrLocked.
func (t *Tally) Key() (*Key, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.key == nil {
		return nil, fmt.Errorf("%w: the change to group %q needs %d admins' approvals", ErrLocked, t.c.Group, t.c.Threshold)
	}
	k := *t.key
	return &k, nil
}

// Wipe ends the tally: it wipes the key and the pending shares; the
// tally counts no more approvals.
func (t *Tally) Wipe() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.key != nil {
		t.key.Wipe()
	}
	t.key, t.closed = nil, true
	t.dropPending()
}
