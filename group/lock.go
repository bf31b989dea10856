package group

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
)

// Lock is a group's unlock window on an injected clock. It collects
// distinct admins' valid approvals; the Threshold-th recovers the key and
// opens the group until the shortest window the approvers asked for,
// counted from then. At the window's end (checked on every call and by
// Sweep) the key is wiped and the group locked again. It is safe for
// concurrent use.
type Lock struct {
	c        *Commitments
	now      func() time.Time
	nonces   *NonceSet
	schedule Schedule

	mu        sync.Mutex
	pending   pendingOffers
	key       *Key
	until     time.Time
	approvers []peer.ID
}

type offer struct {
	at     time.Time
	window time.Duration
	share  *Share
}

// LockConfig configures a Lock.
type LockConfig struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Nonces counts approval nonces; a fresh NonceSet when nil. Share
	// one among the Locks and Tallies of a node.
	Nonces *NonceSet
	// Schedule bounds when the group may be unlocked: an approval that
	// would be counted outside it is refused (ErrOutsideSchedule), and a
	// window ends at the latest where the schedule's slot does. The zero
	// Schedule allows any time.
	Schedule Schedule
}

// Status is a Lock's state: locked, or unlocked until a time by the
// listed admins (in share order).
type Status struct {
	Unlocked  bool
	Until     time.Time
	Approvers []peer.ID
	// Pending is the admins whose approvals wait for more, while locked.
	Pending []peer.ID
}

// NewLock returns a locked Lock for the group of c.
func NewLock(c *Commitments, cfg LockConfig) *Lock {
	l := &Lock{c: c, now: cfg.Now, nonces: cfg.Nonces, schedule: cfg.Schedule, pending: map[peer.ID]offer{}}
	if l.now == nil {
		l.now = time.Now
	}
	if l.nonces == nil {
		l.nonces = NewNonceSet(0)
	}
	return l
}

// Offer adds an approval and the admin's share, which the vault opened
// from the approval (OpenShare). It refuses, in words naming the admin:
// any approval while the group is unlocked, an approval that fails
// Verify, one for a membership change (ErrWrongPurpose), one outside the
// schedule (ErrOutsideSchedule), a share that is not the approval's
// admin's or fails VerifyShare, and a nonce already counted. A refused
// offer leaves the others as they were. A second approval from an admin replaces the first. The offer
// that brings the Threshold-th admin opens the group; Offer returns the
// status after it.
func (l *Lock) Offer(a *Approval, s *Share) (Status, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	if l.key != nil {
		return l.status(), fmt.Errorf("%w: group %q is unlocked until %s; the approval from %s is not needed", ErrOpen, l.c.Group, l.until.UTC().Format(time.RFC3339), a.Admin)
	}
	purpose := func() error {
		if a.IsChange() {
			return fmt.Errorf("%w: this approval is for a membership change, not an unlock (from %s)", ErrWrongPurpose, a.Admin)
		}
		if !l.schedule.Allows(now) {
			return fmt.Errorf("%w: group %q may be unlocked only during %q; it next opens at %s; the approval from %s is not counted",
				ErrOutsideSchedule, l.c.Group, l.schedule.String(), l.schedule.Next(now).UTC().Format(time.RFC3339), a.Admin)
		}
		return nil
	}
	if err := admit(l.c, a, s, l.nonces, now, purpose); err != nil {
		return l.status(), err
	}
	if old, ok := l.pending[a.Admin]; ok {
		old.share.Wipe()
	}
	cp := *s
	l.pending[a.Admin] = offer{at: a.Time, window: a.Window, share: &cp}
	if len(l.pending) < l.c.Threshold {
		return l.status(), nil
	}
	err := l.open(now)
	return l.status(), err
}

// OfferSealed opens the approval's sealed share with the vault's peer
// key and offers both: the share offered is then the one the admin
// signed.
func (l *Lock) OfferSealed(a *Approval, vault *keys.PeerKey) (Status, error) {
	s, err := OpenShare(a.Share, vault)
	if err != nil {
		return l.Status(), fmt.Errorf("the approval from %s: %w", a.Admin, err)
	}
	defer s.Wipe()
	return l.Offer(a, s)
}

// open recovers the key from the pending shares; l.mu is held.
func (l *Lock) open(now time.Time) error {
	shares := make([]*Share, 0, len(l.pending))
	window := MaxWindow
	var who []peer.ID
	for id, o := range l.pending {
		shares = append(shares, o.share)
		window = min(window, o.window)
		who = append(who, id)
	}
	k, err := Recover(l.c, shares)
	l.dropPending()
	if err != nil {
		// Every share was verified when offered: only a broken
		// commitment record can bring this here.
		return err
	}
	slices.SortFunc(who, func(x, y peer.ID) int { return l.c.index(x) - l.c.index(y) })
	until := now.Add(window)
	if end := l.schedule.End(now); !l.schedule.Always() && end.Before(until) {
		until = end
	}
	l.key, l.until, l.approvers = k, until, who
	return nil
}

func (l *Lock) dropPending() { l.pending.drop() }

// pendingOffers are the approvals that wait for more, one per admin (a
// Lock's or a Tally's).
type pendingOffers map[peer.ID]offer

// drop wipes and forgets every pending share.
func (p pendingOffers) drop() {
	for id, o := range p {
		o.share.Wipe()
		delete(p, id)
	}
}

// dropStale wipes and forgets the approvals that are stale at now.
func (p pendingOffers) dropStale(now time.Time) {
	for id, o := range p {
		if now.Sub(o.at) > MaxApprovalAge {
			o.share.Wipe()
			delete(p, id)
		}
	}
}

// sweep ends the window and drops stale approvals; l.mu is held.
func (l *Lock) sweep(now time.Time) {
	if l.key != nil && !now.Before(l.until) {
		l.key.Wipe()
		l.key, l.until, l.approvers = nil, time.Time{}, nil
	}
	l.pending.dropStale(now)
}

// Sweep ends the window if it is over, wiping the key, and drops stale
// pending approvals. It reports whether the group is unlocked.
func (l *Lock) Sweep() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(l.now())
	return l.key != nil
}

// Key returns a copy of the group key while the group is unlocked; the
// caller wipes it when done. Locked, it fails with ErrLocked.
func (l *Lock) Key() (*Key, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(l.now())
	if l.key == nil {
		return nil, fmt.Errorf("%w: group %q needs %d admins' approvals to unlock", ErrLocked, l.c.Group, l.c.Threshold)
	}
	k := *l.key
	return &k, nil
}

// Relock ends the window now, wiping the key, and drops pending
// approvals.
func (l *Lock) Relock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.key != nil {
		l.key.Wipe()
	}
	l.key, l.until, l.approvers = nil, time.Time{}, nil
	l.dropPending()
}

// Status returns the lock's state.
func (l *Lock) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(l.now())
	return l.status()
}

func (l *Lock) status() Status {
	if l.key != nil {
		return Status{Unlocked: true, Until: l.until, Approvers: slices.Clone(l.approvers)}
	}
	var p []peer.ID
	for id := range l.pending {
		p = append(p, id)
	}
	slices.SortFunc(p, func(x, y peer.ID) int { return l.c.index(x) - l.c.index(y) })
	return Status{Pending: p}
}
