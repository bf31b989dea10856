package group

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/secretsharing"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerseal"
	"github.com/ocmt/mesh/internal/wire"
)

// KeyLabel is the HKDF info that derives the group key from the master
// scalar (doc.go "Dealing").
const KeyLabel = "ocmt-mesh/group-key/v1"

var g = group.Ristretto255

// Key is a group's 32-byte key. It prints as "groupkey:<secret>"; wipe it
// when done.
type Key struct{ k [KeySize]byte }

// Bytes returns the key's bytes (not a copy).
func (k *Key) Bytes() []byte { return k.k[:] }

// IsZero reports whether the key is all zero (wiped or never set).
func (k *Key) IsZero() bool { return subtle.ConstantTimeCompare(k.k[:], make([]byte, KeySize)) == 1 }

// Equal compares two keys in constant time.
func (k *Key) Equal(o *Key) bool { return subtle.ConstantTimeCompare(k.k[:], o.k[:]) == 1 }

// Wipe zeroes the key.
func (k *Key) Wipe() { clear(k.k[:]) }

// String never prints the key.
func (k Key) String() string { return "groupkey:<secret>" }

// GoString never prints the key.
func (k Key) GoString() string { return k.String() }

// Commitments are the public part of a dealing, for the group record: the
// group's name, its threshold, its admins in share order and the Feldman
// commitments to the polynomial's coefficients. They reveal nothing of the
// key.
type Commitments struct {
	Group     string
	Threshold int
	Admins    []peer.ID
	points    []group.Element
	enc       []byte
	id        [DealingIDSize]byte
}

// ID is the dealing's ID: SHA-256 of the encoded commitments. Every share
// of the dealing carries it.
func (c *Commitments) ID() [DealingIDSize]byte { return c.id }

// Encode returns the canonical encoding (doc.go "Commitments").
func (c *Commitments) Encode() []byte { return bytes.Clone(c.enc) }

// index returns the 1-based share index of admin, or 0.
func (c *Commitments) index(admin peer.ID) int { return slices.Index(c.Admins, admin) + 1 }

// IsAdmin reports whether id is one of the group's admins.
func (c *Commitments) IsAdmin(id peer.ID) bool { return c.index(id) > 0 }

// Share is one admin's share of a dealing. Its value is secret: it prints
// without it. Wipe it when done.
type Share struct {
	Dealing [DealingIDSize]byte
	Admin   peer.ID
	Index   int
	value   [ScalarSize]byte
}

// String never prints the share's value.
func (s Share) String() string { return fmt.Sprintf("share %d of %s:<secret>", s.Index, s.Admin) }

// GoString never prints the share's value.
func (s Share) GoString() string { return s.String() }

// Wipe zeroes the share's value.
func (s *Share) Wipe() { clear(s.value[:]) }

// Dealing is the result of Split: the public commitments and one share per
// admin, in the admins' order.
type Dealing struct {
	Commitments *Commitments
	Shares      []*Share
}

// Split draws a fresh master scalar from rand, derives the group key from
// it and splits it k-of-len(admins) with Feldman verifiable secret
// sharing over Ristretto255. Admin i (from 1) gets the share at x = i. The
// key itself is not returned: a first dealer has no use for it, and anyone
// who needs it recovers it from k shares (Deal returns it).
//
// The polynomial's other coefficients are drawn by circl from
// crypto/rand, whatever rand is.
func Split(rand io.Reader, name string, k int, admins []peer.ID) (*Dealing, error) {
	d, key, err := Deal(rand, name, k, admins)
	if err != nil {
		return nil, err
	}
	key.Wipe()
	return d, nil
}

// Deal is Split that also returns the group key, for the vault's node
// when it re-splits a group after a membership change: it holds the old
// key while it re-encrypts the group's secrets under the new one. The
// caller wipes the key.
func Deal(rand io.Reader, name string, k int, admins []peer.ID) (*Dealing, *Key, error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	if err := checkShape(k, admins); err != nil {
		return nil, nil, err
	}
	secret, err := randomScalar(rand)
	if err != nil {
		return nil, nil, err
	}
	ss := secretsharing.New(rand, uint(k-1), secret)
	raw := ss.Share(uint(len(admins)))
	c, err := newCommitments(name, k, slices.Clone(admins), ss.CommitSecret())
	if err != nil {
		return nil, nil, err
	}
	d := &Dealing{Commitments: c}
	for i, s := range raw {
		sh := &Share{Dealing: c.id, Admin: admins[i], Index: i + 1}
		if err := putScalar(sh.value[:], s.Value); err != nil {
			return nil, nil, err
		}
		d.Shares = append(d.Shares, sh)
	}
	key, err := deriveKey(secret)
	if err != nil {
		return nil, nil, err
	}
	return d, key, nil
}

func randomScalar(rand io.Reader) (group.Scalar, error) {
	var b [64]byte
	defer clear(b[:])
	for {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return nil, fmt.Errorf("group: no randomness for the key: %w", err)
		}
		s := g.NewScalar().SetBigInt(new(big.Int).SetBytes(b[:]))
		if !s.IsZero() {
			return s, nil
		}
	}
}

func putScalar(dst []byte, s group.Scalar) error {
	b, err := s.MarshalBinary()
	if err != nil || len(b) != ScalarSize {
		return errors.New("group: a scalar does not encode")
	}
	copy(dst, b)
	clear(b)
	return nil
}

func checkName(name string) error {
	if len(name) == 0 || len(name) > MaxGroupNameLen {
		return fmt.Errorf("%w: a group's name is 1 to %d characters", ErrBadDealing, MaxGroupNameLen)
	}
	if name[0] < 'a' || name[0] > 'z' {
		return fmt.Errorf("%w: a group's name starts with a letter a to z", ErrBadDealing)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%w: a group's name holds only a to z, 0 to 9 and hyphens", ErrBadDealing)
		}
	}
	return nil
}

func checkShape(k int, admins []peer.ID) error {
	n := len(admins)
	if n > MaxAdmins {
		return fmt.Errorf("%w: %d admins, at most %d", ErrBadDealing, n, MaxAdmins)
	}
	if k < MinThreshold || k > n {
		return fmt.Errorf("%w: a threshold of %d needs %d to %d admins, and at least %d", ErrBadDealing, k, MinThreshold, MaxAdmins, k)
	}
	seen := make(map[peer.ID]bool, n)
	for _, a := range admins {
		if err := keys.CheckPeerID(a); err != nil {
			return fmt.Errorf("%w: %s is not a peer ID of the mesh", ErrBadDealing, a)
		}
		if seen[a] {
			return fmt.Errorf("%w: %s is listed twice", ErrBadDealing, a)
		}
		seen[a] = true
	}
	return nil
}

// commitmentsWire is the encoding of Commitments (doc.go "Commitments").
type commitmentsWire struct {
	Version   uint64   `cbor:"1,keyasint"`
	Group     string   `cbor:"2,keyasint"`
	Threshold uint64   `cbor:"3,keyasint"`
	Admins    [][]byte `cbor:"4,keyasint"`
	Points    [][]byte `cbor:"5,keyasint"`
}

func newCommitments(name string, k int, admins []peer.ID, pts []group.Element) (*Commitments, error) {
	w := commitmentsWire{Version: recordVersion, Group: name, Threshold: uint64(k)}
	for _, a := range admins {
		w.Admins = append(w.Admins, []byte(a))
	}
	for _, p := range pts {
		b, err := p.MarshalBinary()
		if err != nil {
			return nil, errors.New("group: a commitment does not encode")
		}
		w.Points = append(w.Points, b)
	}
	enc, err := wire.Marshal(w)
	if err != nil {
		return nil, err
	}
	return &Commitments{Group: name, Threshold: k, Admins: admins, points: pts, enc: enc, id: sha256.Sum256(enc)}, nil
}

// ParseCommitments decodes commitments (doc.go "Commitments"), checking
// every rule; anything else is ErrMalformed.
func ParseCommitments(b []byte) (*Commitments, error) {
	bad := func(why string) error { return fmt.Errorf("%w: group commitments %s", ErrMalformed, why) }
	if len(b) > maxCommitmentsBytes {
		return nil, bad("are too long")
	}
	var w commitmentsWire
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return nil, bad("do not decode")
	}
	if w.Version != recordVersion {
		return nil, bad("have an unknown version")
	}
	if checkName(w.Group) != nil {
		return nil, bad("name no valid group")
	}
	admins := make([]peer.ID, 0, len(w.Admins))
	for _, a := range w.Admins {
		id, _, err := keys.ParsePeerID(a)
		if err != nil {
			return nil, bad("list an admin that is not a peer ID")
		}
		admins = append(admins, id)
	}
	if w.Threshold > MaxAdmins || checkShape(int(w.Threshold), admins) != nil {
		return nil, bad("have an impossible threshold or admin list")
	}
	if len(w.Points) != int(w.Threshold) {
		return nil, bad("hold a wrong number of commitments")
	}
	pts := make([]group.Element, 0, len(w.Points))
	for _, p := range w.Points {
		e := g.NewElement()
		if len(p) != PointSize || e.UnmarshalBinary(p) != nil {
			return nil, bad("hold a commitment that is not a point")
		}
		pts = append(pts, e)
	}
	c, err := newCommitments(w.Group, int(w.Threshold), admins, pts)
	if err != nil || !bytes.Equal(c.enc, b) {
		return nil, bad("are not canonical")
	}
	return c, nil
}

// shareWire is the encoding of a Share (doc.go "Shares").
type shareWire struct {
	Version uint64 `cbor:"1,keyasint"`
	Dealing []byte `cbor:"2,keyasint"`
	Admin   []byte `cbor:"3,keyasint"`
	Index   uint64 `cbor:"4,keyasint"`
	Value   []byte `cbor:"5,keyasint"`
}

// Encode returns the share's canonical encoding (doc.go "Shares"). It
// holds the secret value: seal it (SealShare), never store or send it in
// the clear.
func (s *Share) Encode() []byte {
	b, err := wire.Marshal(shareWire{Version: recordVersion, Dealing: s.Dealing[:], Admin: []byte(s.Admin), Index: uint64(s.Index), Value: s.value[:]})
	if err != nil {
		panic(err) // fixed shapes; cannot fail
	}
	return b
}

// ParseShare decodes a share (doc.go "Shares"). It checks the encoding
// only; VerifyShare checks the share against the commitments.
func ParseShare(b []byte) (*Share, error) {
	bad := func(why string) error { return fmt.Errorf("%w: the share %s", ErrMalformed, why) }
	if len(b) > maxShareBytes {
		return nil, bad("is too long")
	}
	var w shareWire
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return nil, bad("does not decode")
	}
	defer clear(w.Value)
	if w.Version != recordVersion {
		return nil, bad("has an unknown version")
	}
	if len(w.Dealing) != DealingIDSize {
		return nil, bad("names no dealing")
	}
	id, _, err := keys.ParsePeerID(w.Admin)
	if err != nil {
		return nil, bad("names no admin")
	}
	if w.Index < 1 || w.Index > MaxAdmins {
		return nil, bad("has an impossible index")
	}
	v := g.NewScalar()
	if len(w.Value) != ScalarSize || v.UnmarshalBinary(w.Value) != nil || v.IsZero() {
		return nil, bad("holds no scalar")
	}
	s := &Share{Admin: id, Index: int(w.Index)}
	copy(s.Dealing[:], w.Dealing)
	copy(s.value[:], w.Value)
	return s, nil
}

// SealShare seals a share's encoding to a peer (peerseal): to its admin
// when dealing, to the vault's node when approving an unlock.
func SealShare(s *Share, to peer.ID) ([]byte, error) {
	b := s.Encode()
	defer clear(b)
	out, err := peerseal.Seal([]peer.ID{to}, b)
	if err != nil {
		return nil, fmt.Errorf("group: sealing the share of %s: %w", s.Admin, err)
	}
	return out, nil
}

// OpenShare opens a sealed share with the recipient's peer key and
// decodes it.
func OpenShare(sealed []byte, k *keys.PeerKey) (*Share, error) {
	if len(sealed) > maxSealedShareBytes {
		return nil, fmt.Errorf("%w: the sealed share is too long", ErrMalformed)
	}
	b, err := peerseal.Open(k, sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: the sealed share does not open with this key", ErrMalformed)
	}
	defer clear(b)
	return ParseShare(b)
}

// VerifyShare checks a share against the commitments: it is of this
// dealing, of one of its admins at that admin's index, and its value lies
// on the committed polynomial. A failure wraps ErrBadShare and names the
// admin.
func VerifyShare(c *Commitments, s *Share) error {
	if s.Dealing != c.id {
		return fmt.Errorf("%w: the share of %s is from another dealing of the key", ErrBadShare, s.Admin)
	}
	if i := c.index(s.Admin); i == 0 || i != s.Index {
		return fmt.Errorf("%w: %s holds no share of group %q at that place", ErrBadShare, s.Admin, c.Group)
	}
	cs, err := s.circl()
	if err != nil || !secretsharing.Verify(uint(c.Threshold-1), cs, c.points) {
		return fmt.Errorf("%w: the share of %s does not match the group's commitments", ErrBadShare, s.Admin)
	}
	return nil
}

func (s *Share) circl() (secretsharing.Share, error) {
	v := g.NewScalar()
	if err := v.UnmarshalBinary(s.value[:]); err != nil {
		return secretsharing.Share{}, err
	}
	return secretsharing.Share{ID: g.NewScalar().SetUint64(uint64(s.Index)), Value: v}, nil
}

// Recover verifies every share and derives the group key from the first
// Threshold distinct ones. Any share that fails VerifyShare fails the
// recovery, naming its admins; shares repeated from one admin count once.
func Recover(c *Commitments, shares []*Share) (*Key, error) {
	var bad []string
	var errs []error
	seen := map[int]bool{}
	var use []secretsharing.Share
	for _, s := range shares {
		if err := VerifyShare(c, s); err != nil {
			bad = append(bad, s.Admin.String())
			errs = append(errs, err)
			continue
		}
		if seen[s.Index] {
			continue
		}
		seen[s.Index] = true
		cs, _ := s.circl() // VerifyShare decoded it
		use = append(use, cs)
	}
	switch len(bad) {
	case 0:
	case 1:
		return nil, errs[0]
	default:
		return nil, fmt.Errorf("%w: the shares of %s do not match group %q's commitments", ErrBadShare, strings.Join(bad, ", "), c.Group)
	}
	if len(use) < c.Threshold {
		return nil, fmt.Errorf("%w: group %q needs %d admins' shares, %d given", ErrTooFewShares, c.Group, c.Threshold, len(use))
	}
	secret, err := secretsharing.Recover(uint(c.Threshold-1), use[:c.Threshold])
	if err != nil || !g.NewElement().MulGen(secret).IsEqual(c.points[0]) {
		return nil, fmt.Errorf("%w: the shares do not give group %q's key", ErrBadShare, c.Group)
	}
	return deriveKey(secret)
}

func deriveKey(secret group.Scalar) (*Key, error) {
	var ikm [ScalarSize]byte
	defer clear(ikm[:])
	if err := putScalar(ikm[:], secret); err != nil {
		return nil, err
	}
	b, err := hkdf.Key(sha256.New, ikm[:], nil, KeyLabel, KeySize)
	if err != nil {
		return nil, errors.New("group: deriving the key failed")
	}
	k := &Key{}
	copy(k.k[:], b)
	clear(b)
	return k, nil
}
