package group

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// AuditLabel is the domain label of an audit record's signature
// (keys.GroupAuditMessage): the signed bytes are AuditLabel || 0x00 ||
// the payload (doc.go "Audit records").
const AuditLabel = keys.LabelGroupAudit

// Record is one entry of a group's audit log, which the vault's node
// keeps and signs: each record names the hash of the one before, so the
// admins, holding the chain (Chain), see a record changed, dropped or
// forked.
type Record struct {
	Group  string
	Height uint64    // from 1
	Prev   [32]byte  // Hash of the record at Height-1; zero at 1
	Time   time.Time // whole Unix seconds
	Kind   string    // 1 to MaxKindLen bytes of a-z and ".", as "unlock.open"
	Actor  peer.ID   // the peer the record is about; may be empty
	Detail string    // at most MaxDetailLen bytes of text, no control characters
	Sig    keys.Signature
}

// recordWire is the encoding of a Record; the payload is the same map
// without key 9 (doc.go "Audit records").
type recordWire struct {
	Version uint64 `cbor:"1,keyasint"`
	Group   string `cbor:"2,keyasint"`
	Height  uint64 `cbor:"3,keyasint"`
	Prev    []byte `cbor:"4,keyasint"`
	Time    int64  `cbor:"5,keyasint"`
	Kind    string `cbor:"6,keyasint"`
	Actor   []byte `cbor:"7,keyasint"`
	Detail  string `cbor:"8,keyasint"`
	Sig     []byte `cbor:"9,keyasint,omitempty"`
}

func (r *Record) wire() recordWire {
	return recordWire{
		Version: recordVersion, Group: r.Group, Height: r.Height, Prev: r.Prev[:], Time: r.Time.Unix(),
		Kind: r.Kind, Actor: []byte(r.Actor), Detail: r.Detail,
	}
}

// check holds the rules of the fields, for signing, parsing and
// verifying alike.
func (r *Record) check() error {
	bad := func(why string) error { return fmt.Errorf("%w: the audit record %s", ErrMalformed, why) }
	if checkName(r.Group) != nil {
		return bad("names no valid group")
	}
	if r.Height == 0 {
		return bad("has no height")
	}
	if (r.Height == 1) != (r.Prev == [32]byte{}) {
		return bad("has a previous record's hash where it should have none, or none where it should")
	}
	if u := r.Time.Unix(); u < 0 || u > maxUnix || r.Time.Nanosecond() != 0 {
		return bad("has an impossible time")
	}
	if !validKind(r.Kind) {
		return bad(fmt.Sprintf("has a kind that is not 1 to %d letters a to z in dotted words", MaxKindLen))
	}
	if r.Actor != "" && keys.CheckPeerID(r.Actor) != nil {
		return bad("names an actor that is not a peer ID")
	}
	if len(r.Detail) > MaxDetailLen || !utf8.ValidString(r.Detail) {
		return bad(fmt.Sprintf("has a detail that is not text of at most %d bytes", MaxDetailLen))
	}
	for _, c := range r.Detail {
		if unicode.IsControl(c) || unicode.In(c, unicode.Zl, unicode.Zp, unicode.Bidi_Control) {
			return bad("has a control character in its detail")
		}
	}
	return nil
}

// validKind: 1 to MaxKindLen bytes of a-z and ".", neither first nor
// last a dot, no two dots together.
func validKind(k string) bool {
	if len(k) == 0 || len(k) > MaxKindLen || k[0] == '.' || k[len(k)-1] == '.' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '.' && k[i-1] == '.' {
			return false
		}
		if c != '.' && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

func (r *Record) payload() (keys.Message, error) {
	body, err := wire.Marshal(r.wire())
	if err != nil {
		return keys.Message{}, err
	}
	return keys.GroupAuditMessage(body), nil
}

// SignRecord signs a record with the vault's peer key: it cuts the time
// to the second, checks the fields and fills Sig. It returns the signed
// record and its encoding; r is not changed.
func SignRecord(k *keys.PeerKey, r Record) (*Record, []byte, error) {
	if k.IsZero() {
		return nil, nil, errors.New("group: the vault's key was wiped; nothing can be signed with it")
	}
	r.Time = time.Unix(r.Time.Unix(), 0).UTC()
	if err := r.check(); err != nil {
		return nil, nil, err
	}
	msg, err := r.payload()
	if err != nil {
		return nil, nil, err
	}
	r.Sig = k.Sign(msg)
	return &r, r.Encode(), nil
}

// Encode returns the record's encoding, signature included (doc.go
// "Audit records").
func (r *Record) Encode() []byte {
	w := r.wire()
	w.Sig = r.Sig[:]
	b, err := wire.Marshal(w)
	if err != nil {
		panic(err) // fixed shapes; cannot fail
	}
	return b
}

// Hash is SHA-256 of the record's encoding, signature included: what the
// next record names as Prev.
func (r *Record) Hash() [32]byte { return sha256.Sum256(r.Encode()) }

// ParseRecord decodes an audit record (doc.go "Audit records"), checking
// the encoding and the fields' rules; Verify checks the signature.
// Anything else wraps ErrMalformed.
func ParseRecord(b []byte) (*Record, error) {
	bad := func(why string) error { return fmt.Errorf("%w: the audit record %s", ErrMalformed, why) }
	if len(b) > maxRecordBytes {
		return nil, bad("is too long")
	}
	var w recordWire
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return nil, bad("does not decode")
	}
	if w.Version != recordVersion {
		return nil, bad("has an unknown version")
	}
	if len(w.Prev) != 32 || len(w.Sig) != len(keys.Signature{}) {
		return nil, bad("has no previous hash or no signature")
	}
	if w.Time < 0 || w.Time > maxUnix {
		return nil, bad("has an impossible time")
	}
	r := &Record{Group: w.Group, Height: w.Height, Time: time.Unix(w.Time, 0).UTC(), Kind: w.Kind, Detail: w.Detail}
	if len(w.Actor) != 0 {
		id, _, err := keys.ParsePeerID(w.Actor)
		if err != nil {
			return nil, bad("names an actor that is not a peer ID")
		}
		r.Actor = id
	}
	copy(r.Prev[:], w.Prev)
	copy(r.Sig[:], w.Sig)
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// Verify checks that the record is well formed and signed by the vault's
// node, whose peer ID is vault.
func (r *Record) Verify(vault peer.ID) error {
	if err := r.check(); err != nil {
		return err
	}
	pub, err := keys.PeerPublicFromID(vault)
	if err != nil {
		return fmt.Errorf("%w: %s is not a peer ID of the mesh", ErrMalformed, vault)
	}
	msg, err := r.payload()
	if err != nil {
		return err
	}
	if !pub.Verify(msg, r.Sig[:]) {
		return fmt.Errorf("%w: audit record %d of group %q was not signed by its vault %s", ErrBadSignature, r.Height, r.Group, vault)
	}
	return nil
}

// Follows checks that r comes right after prev in one group's log: same
// group, the next height, prev's hash, and a time not before prev's. A
// nil prev means r is the first record: height 1, no previous hash. A
// failure wraps ErrChain, or is a *ForkError when r names another record
// than prev at prev's height. It checks no signature (Verify does).
func Follows(prev, r *Record) error {
	if prev == nil {
		if r.Height != 1 || r.Prev != [32]byte{} {
			return fmt.Errorf("%w: audit record %d of group %q is not the first", ErrChain, r.Height, r.Group)
		}
		return nil
	}
	if r.Group != prev.Group {
		return fmt.Errorf("%w: the audit record is of group %q, not %q", ErrChain, r.Group, prev.Group)
	}
	if r.Height != prev.Height+1 {
		return fmt.Errorf("%w: audit record %d of group %q does not come right after record %d", ErrChain, r.Height, r.Group, prev.Height)
	}
	if h := prev.Hash(); r.Prev != h {
		return &ForkError{Group: r.Group, Height: prev.Height, Have: h, Got: r.Prev}
	}
	if r.Time.Before(prev.Time) {
		return fmt.Errorf("%w: audit record %d of group %q is dated before record %d", ErrChain, r.Height, r.Group, prev.Height)
	}
	return nil
}

// ForkError reports two different records at one height of a group's
// audit log: the vault's node showed one admin a history it did not show
// another, or rewrote its own. Have is the hash of the record held at
// Height, Got the other one's (a record's hash, or the Prev of the record
// after it). Group may be empty (the message then names no group).
type ForkError struct {
	Group     string
	Height    uint64
	Have, Got [32]byte
}

func (e *ForkError) Error() string {
	log := "the audit log"
	if e.Group != "" {
		log = fmt.Sprintf("the audit log of group %q", e.Group)
	}
	return fmt.Sprintf("group: %s forked: the vault showed two different records at height %d; do not trust it until the admins compare their copies", log, e.Height)
}

// Is makes errors.Is(err, ErrFork) hold.
func (e *ForkError) Is(target error) bool { return target == ErrFork }

// Outcome is what Chain.Add did with a record.
type Outcome int

const (
	// Appended: the record is the next one; it is now the head.
	Appended Outcome = iota + 1
	// Known: the same record at a height the Chain holds.
	Known
	// Gap: the record is beyond the head's next height. It is not taken;
	// fetch the records from the head's next height up to it first.
	Gap
	// Fork: a different record at a height the Chain holds, or a next
	// record whose Prev is not the head. Add returns a *ForkError with it.
	Fork
	// Old: a height below the last MaxChainMemory the Chain holds (or
	// below the head given to Resume): the Chain cannot compare it; the
	// caller compares r.Hash() with its stored record at that height.
	Old
)

func (o Outcome) String() string {
	switch o {
	case Appended:
		return "appended"
	case Known:
		return "known"
	case Gap:
		return "gap"
	case Fork:
		return "fork"
	case Old:
		return "old"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Chain is an admin's view of one group's audit log: it takes the
// vault's signed records in order and reports forks. It keeps the hashes
// of the last MaxChainMemory heights, the head's time, and nothing else;
// the records themselves are the caller's to store. It is safe for
// concurrent use.
type Chain struct {
	vault peer.ID
	group string

	mu       sync.Mutex
	height   uint64
	head     [32]byte
	headTime time.Time
	hashes   map[uint64][32]byte
}

// NewChain returns an empty chain of the log of group kept by vault.
func NewChain(vault peer.ID, group string) *Chain {
	return &Chain{vault: vault, group: group, hashes: map[uint64][32]byte{}}
}

// Head returns the head's height and hash: 0 and zero when empty.
func (c *Chain) Head() (height uint64, hash [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.height, c.head
}

// Resume restarts the chain at last, the head the caller stored (a
// record Add took): it checks nothing. The chain then holds that height
// only: older ones are Old. A nil last empties the chain.
func (c *Chain) Resume(last *Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.hashes)
	if last == nil {
		c.height, c.head, c.headTime = 0, [32]byte{}, time.Time{}
		return
	}
	c.height, c.head, c.headTime = last.Height, last.Hash(), last.Time
	c.hashes[last.Height] = c.head
}

// Add takes the vault's next record. A record not signed by the vault,
// malformed, of another group, or dated before the head is an error (not
// a fork: nothing the vault signed disagrees). Otherwise it reports what
// the record is (Outcome); a Fork comes with a *ForkError.
func (c *Chain) Add(r *Record) (Outcome, error) {
	if err := r.Verify(c.vault); err != nil {
		return 0, err
	}
	if r.Group != c.group {
		return 0, fmt.Errorf("%w: the audit record is of group %q, not %q", ErrChain, r.Group, c.group)
	}
	h := r.Hash()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case r.Height <= c.height:
		have, ok := c.hashes[r.Height]
		if !ok {
			return Old, nil
		}
		if have != h {
			return Fork, &ForkError{Group: c.group, Height: r.Height, Have: have, Got: h}
		}
		return Known, nil
	case r.Height > c.height+1:
		return Gap, nil
	}
	if r.Prev != c.head {
		if c.height == 0 {
			// check() ties a zero Prev to height 1, so this cannot be.
			return 0, fmt.Errorf("%w: audit record %d of group %q is not the first", ErrChain, r.Height, r.Group)
		}
		return Fork, &ForkError{Group: c.group, Height: c.height, Have: c.head, Got: r.Prev}
	}
	if c.height > 0 && r.Time.Before(c.headTime) {
		return 0, fmt.Errorf("%w: audit record %d of group %q is dated before record %d", ErrChain, r.Height, r.Group, c.height)
	}
	c.height, c.head, c.headTime = r.Height, h, r.Time
	c.hashes[r.Height] = h
	if r.Height > MaxChainMemory {
		delete(c.hashes, r.Height-MaxChainMemory)
	}
	return Appended, nil
}
