package group

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// ApprovalLabel is the domain label of an approval's signature
// (keys.GroupApprovalMessage): the signed bytes are ApprovalLabel || 0x00
// || the payload (doc.go "Approvals").
const ApprovalLabel = keys.LabelGroupApproval

// Approval is one admin's signed consent to unlock a group for a window,
// or, when Change is set, to a membership change. Share is the admin's
// share sealed to the vault's node (SealShare); the vault opens it with
// its own peer key (OpenShare) and offers both to its Lock or Tally.
type Approval struct {
	Group  string
	Window time.Duration
	Nonce  [NonceSize]byte
	Time   time.Time
	Admin  peer.ID
	Share  []byte
	// Change is empty for an unlock; for a membership change it is the
	// change's Digest, ChangeDigestSize bytes.
	Change []byte
	Sig    keys.Signature
}

// approvalWire is the encoding of an Approval; the payload is the same map
// without key 8 (doc.go "Approvals").
type approvalWire struct {
	Version uint64 `cbor:"1,keyasint"`
	Group   string `cbor:"2,keyasint"`
	Window  int64  `cbor:"3,keyasint"`
	Nonce   []byte `cbor:"4,keyasint"`
	Time    int64  `cbor:"5,keyasint"`
	Admin   []byte `cbor:"6,keyasint"`
	Share   []byte `cbor:"7,keyasint"`
	Sig     []byte `cbor:"8,keyasint,omitempty"`
	Change  []byte `cbor:"9,keyasint"`
}

func (a *Approval) wire() approvalWire {
	return approvalWire{
		Version: recordVersion, Group: a.Group, Window: int64(a.Window / time.Second),
		Nonce: bytes.Clone(a.Nonce[:]), Time: a.Time.Unix(), Admin: []byte(a.Admin), Share: a.Share,
		Change: a.Change,
	}
}

// payload is the signed message: the encoded approval without its
// signature, under ApprovalLabel.
func (a *Approval) payload() (keys.Message, error) {
	body, err := wire.Marshal(a.wire())
	if err != nil {
		return keys.Message{}, err
	}
	return keys.GroupApprovalMessage(body), nil
}

// IsChange reports whether the approval is for a membership change
// rather than an unlock.
func (a *Approval) IsChange() bool { return len(a.Change) != 0 }

// check holds the rules of the fields, for signing and parsing alike.
func (a *Approval) check() error {
	bad := func(why string) error { return fmt.Errorf("%w: the approval %s", ErrMalformed, why) }
	if checkName(a.Group) != nil {
		return bad("names no valid group")
	}
	if a.Window < MinWindow || a.Window > MaxWindow || a.Window%time.Second != 0 {
		return bad(fmt.Sprintf("asks for a window outside %s to %s", MinWindow, MaxWindow))
	}
	if u := a.Time.Unix(); u < 0 || u > maxUnix || a.Time.Nanosecond() != 0 {
		return bad("has an impossible time")
	}
	if keys.CheckPeerID(a.Admin) != nil {
		return bad("names no admin")
	}
	if len(a.Share) == 0 || len(a.Share) > maxSealedShareBytes {
		return bad("carries no sealed share of a possible size")
	}
	if len(a.Change) != 0 && len(a.Change) != ChangeDigestSize {
		return bad("names no membership change")
	}
	return nil
}

// Sign signs an approval with the admin's peer key and returns its
// encoding. The admin is the key's peer ID and the time is cut to the
// second; a is not changed.
func Sign(k *keys.PeerKey, a Approval) ([]byte, error) {
	if k.IsZero() {
		return nil, errors.New("group: the admin's key was wiped; nothing can be signed with it")
	}
	a.Admin = k.ID()
	a.Time = time.Unix(a.Time.Unix(), 0).UTC()
	if err := a.check(); err != nil {
		return nil, err
	}
	msg, err := a.payload()
	if err != nil {
		return nil, err
	}
	sig := k.Sign(msg)
	w := a.wire()
	w.Sig = sig[:]
	return wire.Marshal(w)
}

// ParseApproval decodes an approval (doc.go "Approvals"). It checks the
// encoding and the fields' rules; Verify checks the signature and the
// group.
func ParseApproval(b []byte) (*Approval, error) {
	if len(b) > maxApprovalBytes {
		return nil, fmt.Errorf("%w: the approval is too long", ErrMalformed)
	}
	var w approvalWire
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return nil, fmt.Errorf("%w: the approval does not decode", ErrMalformed)
	}
	if w.Version != recordVersion {
		return nil, fmt.Errorf("%w: the approval has an unknown version", ErrMalformed)
	}
	if len(w.Nonce) != NonceSize || len(w.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: the approval has no nonce or no signature", ErrMalformed)
	}
	if w.Window <= 0 || w.Window > int64(MaxWindow/time.Second) || w.Time < 0 || w.Time > maxUnix {
		return nil, fmt.Errorf("%w: the approval has an impossible window or time", ErrMalformed)
	}
	id, _, err := keys.ParsePeerID(w.Admin)
	if err != nil {
		return nil, fmt.Errorf("%w: the approval names no admin", ErrMalformed)
	}
	a := &Approval{
		Group: w.Group, Window: time.Duration(w.Window) * time.Second,
		Time: time.Unix(w.Time, 0).UTC(), Admin: id, Share: w.Share,
	}
	if len(w.Change) != 0 {
		a.Change = w.Change
	}
	copy(a.Nonce[:], w.Nonce)
	copy(a.Sig[:], w.Sig)
	if err := a.check(); err != nil {
		return nil, err
	}
	return a, nil
}

// Verify checks an approval for the group of c at now: its signature by
// its admin, its group, its admin among the group's admins, and its
// time, at most MaxApprovalAge old and at most MaxClockSkew ahead. It
// does not count the nonce (NonceSet, Lock do).
func Verify(c *Commitments, a *Approval, now time.Time) error {
	if err := a.check(); err != nil {
		return err
	}
	pub, err := keys.PeerPublicFromID(a.Admin)
	if err != nil {
		return fmt.Errorf("%w: the approval names no admin", ErrMalformed)
	}
	msg, err := a.payload()
	if err != nil {
		return err
	}
	if !pub.Verify(msg, a.Sig[:]) {
		return fmt.Errorf("%w: the approval from %s was not signed by its key", ErrBadSignature, a.Admin)
	}
	if a.Group != c.Group {
		return fmt.Errorf("%w: the approval from %s is for group %q, not %q", ErrNotAdmin, a.Admin, a.Group, c.Group)
	}
	if !c.IsAdmin(a.Admin) {
		return fmt.Errorf("%w: %s is not an admin of group %q", ErrNotAdmin, a.Admin, c.Group)
	}
	if age := now.Sub(a.Time); age > MaxApprovalAge {
		return fmt.Errorf("%w: the approval from %s is %s old; approvals last %s", ErrStale, a.Admin, age.Truncate(time.Second), MaxApprovalAge)
	}
	if a.Time.Sub(now) > MaxClockSkew {
		return fmt.Errorf("%w: the approval from %s is dated %s ahead; check the admin's clock", ErrStale, a.Admin, a.Time.Sub(now).Truncate(time.Second))
	}
	return nil
}

// NonceSet counts each approval nonce once per group. A nonce is
// remembered until its approval is stale (MaxApprovalAge after its time),
// after which Verify refuses the approval anyway; at most max per group.
// It is safe for concurrent use.
type NonceSet struct {
	mu     sync.Mutex
	max    int
	groups map[string]map[[NonceSize]byte]time.Time
}

// NewNonceSet returns a set that remembers at most maxPerGroup nonces per
// group (DefaultMaxNonces when maxPerGroup ≤ 0).
func NewNonceSet(maxPerGroup int) *NonceSet {
	if maxPerGroup <= 0 {
		maxPerGroup = DefaultMaxNonces
	}
	return &NonceSet{max: maxPerGroup, groups: map[string]map[[NonceSize]byte]time.Time{}}
}

// Use records the nonce of an approval of group dated at, at now. It
// refuses a nonce already recorded (ErrReplay) and a full group
// (ErrTooMany); a refused nonce is not recorded.
func (n *NonceSet) Use(group string, nonce [NonceSize]byte, at, now time.Time) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	set := n.groups[group]
	for k, t := range set {
		if now.Sub(t) > MaxApprovalAge {
			delete(set, k)
		}
	}
	if len(set) == 0 {
		delete(n.groups, group)
		set = nil
	}
	if _, ok := set[nonce]; ok {
		return fmt.Errorf("%w: an approval for group %q was offered twice", ErrReplay, group)
	}
	if len(set) >= n.max {
		return fmt.Errorf("%w: group %q received %d approvals in %s; try again later", ErrTooMany, group, len(set), MaxApprovalAge)
	}
	if set == nil {
		set = map[[NonceSize]byte]time.Time{}
		n.groups[group] = set
	}
	set[nonce] = at
	return nil
}

// Encode returns the approval's encoding, signature included, as Sign
// wrote it (doc.go "Approvals").
func (a *Approval) Encode() ([]byte, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	w := a.wire()
	w.Sig = a.Sig[:]
	return wire.Marshal(w)
}
