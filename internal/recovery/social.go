package recovery

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// dealingName is the name social recovery's dealings carry (package
// group's rules).
const dealingName = "recovery"

// SocialMeta is the social method's meta: the dealing's commitments
// (which name the friends, in share order, and the threshold), their
// handles, the waiting period, and the owner.
type SocialMeta struct {
	Version     uint64   `cbor:"1,keyasint"`
	Commitments []byte   `cbor:"2,keyasint"`
	Handles     []string `cbor:"3,keyasint"`
	Wait        int64    `cbor:"4,keyasint"`
	Owner       []byte   `cbor:"5,keyasint"`
	OwnerHandle string   `cbor:"6,keyasint"`
}

// ParseSocialMeta decodes and checks the social method's meta.
func ParseSocialMeta(b []byte) (*SocialMeta, *group.Commitments, error) {
	var m SocialMeta
	if len(b) > maxMetaBytes || wire.UnmarshalCanonical(b, &m) != nil || m.Version != version {
		return nil, nil, fmt.Errorf("%w: social meta", ErrMalformed)
	}
	c, err := group.ParseCommitments(m.Commitments)
	if err != nil || c.Group != dealingName || len(m.Handles) != len(c.Admins) || m.Wait <= 0 || m.Wait > int64(MaxWait/time.Second) ||
		len(m.OwnerHandle) > maxHandleLen || slices.ContainsFunc(m.Handles, func(h string) bool { return len(h) > maxHandleLen }) {
		return nil, nil, fmt.Errorf("%w: social meta", ErrMalformed)
	}
	if _, _, err := keys.ParsePeerID(m.Owner); err != nil {
		return nil, nil, fmt.Errorf("%w: social meta's owner", ErrMalformed)
	}
	return &m, c, nil
}

// ShareBody is a share delivery (KindShare), signed by the owner and
// sealed to the friend for its mailbox.
type ShareBody struct {
	Owner       []byte `cbor:"1,keyasint"`
	OwnerHandle string `cbor:"2,keyasint"`
	Commitments []byte `cbor:"3,keyasint"`
	Share       []byte `cbor:"4,keyasint"` // the friend's share, sealed to the friend
	Wait        int64  `cbor:"5,keyasint"`
	Time        int64  `cbor:"6,keyasint"`
}

// Dealt is what EnableSocial makes: the recovery key for the vault, the
// method's meta, and one signed share delivery per friend (in the
// friends' order), each to be sealed to its friend (peerseal) and left in
// the friend's mailbox.
type Dealt struct {
	Key    *[32]byte
	Meta   []byte
	Shares [][]byte
}

// EnableSocial deals a fresh recovery key k-of-len(friends) among the
// friends (Feldman VSS, package group) and signs each friend's share
// delivery with the owner's key. wait is the waiting period friends keep
// between a request and their release (at least minWait).
func EnableSocial(owner *keys.PeerKey, ownerHandle string, friends []peer.ID, handles []string, k int, wait, minWait time.Duration, now time.Time) (*Dealt, error) {
	if len(friends) < MinFriends || len(friends) > MaxFriends || len(handles) != len(friends) {
		return nil, fmt.Errorf("recovery: social recovery takes %d to %d friends", MinFriends, MaxFriends)
	}
	if len(ownerHandle) > maxHandleLen || slices.ContainsFunc(handles, func(h string) bool { return len(h) > maxHandleLen }) {
		return nil, fmt.Errorf("recovery: a handle is at most %d characters", maxHandleLen)
	}
	if slices.Contains(friends, owner.ID()) {
		return nil, fmt.Errorf("recovery: you cannot be one of your own recovery friends")
	}
	if err := checkWait(wait, minWait); err != nil {
		return nil, err
	}
	d, key, err := group.Deal(rand.Reader, dealingName, k, friends)
	if err != nil {
		return nil, fmt.Errorf("recovery: %w", err)
	}
	var rk [32]byte
	copy(rk[:], key.Bytes())
	key.Wipe()
	com := d.Commitments.Encode()
	meta, err := wire.Marshal(SocialMeta{Version: version, Commitments: com, Handles: handles, Wait: int64(wait / time.Second),
		Owner: []byte(owner.ID()), OwnerHandle: ownerHandle})
	if err != nil {
		return nil, err
	}
	if len(meta) > maxMetaBytes {
		return nil, fmt.Errorf("recovery: %d friends with these handles make a recovery record too large; take fewer or shorter handles", len(friends))
	}
	out := &Dealt{Key: &rk, Meta: meta}
	for i, sh := range d.Shares {
		sealed, err := group.SealShare(sh, friends[i])
		sh.Wipe()
		if err != nil {
			return nil, err
		}
		m, err := sign(owner, KindShare, ShareBody{Owner: []byte(owner.ID()), OwnerHandle: ownerHandle, Commitments: com,
			Share: sealed, Wait: int64(wait / time.Second), Time: now.Unix()})
		if err != nil {
			return nil, err
		}
		out.Shares = append(out.Shares, m)
	}
	return out, nil
}

func checkWait(wait, minWait time.Duration) error {
	if minWait <= 0 {
		minWait = MinWait
	}
	if wait < minWait || wait > MaxWait {
		return fmt.Errorf("recovery: a waiting period is %s to %s", minWait, MaxWait)
	}
	return nil
}

// HeldShare is a share delivery a friend's node checked: who dealt it,
// for which dealing, and the share sealed to the friend.
type HeldShare struct {
	Body        ShareBody
	Owner       peer.ID
	Commitments *group.Commitments
}

// CheckShare checks a share delivery for friend (self): signed by the
// owner it names, a dealing that names self, a share that opens with
// self's key and matches the commitments.
func CheckShare(o *Opened, self *keys.PeerKey) (*HeldShare, error) {
	if o.Kind != KindShare {
		return nil, fmt.Errorf("%w: a %s, not a share", ErrMalformed, o.Kind)
	}
	var b ShareBody
	if err := wire.UnmarshalCanonical(o.Body, &b); err != nil || len(b.OwnerHandle) > maxHandleLen || b.Wait <= 0 {
		return nil, fmt.Errorf("%w: share body", ErrMalformed)
	}
	owner, _, err := keys.ParsePeerID(b.Owner)
	if err != nil || owner != o.Signer {
		return nil, fmt.Errorf("%w: a share delivered by another peer than its owner", ErrBadSignature)
	}
	c, err := group.ParseCommitments(b.Commitments)
	if err != nil || c.Group != dealingName || !c.IsAdmin(self.ID()) {
		return nil, fmt.Errorf("%w: the dealing does not name you", ErrMalformed)
	}
	sh, err := group.OpenShare(b.Share, self)
	if err != nil {
		return nil, fmt.Errorf("recovery: the share does not open with your key: %w", err)
	}
	defer sh.Wipe()
	if err := group.VerifyShare(c, sh); err != nil {
		return nil, fmt.Errorf("recovery: the share %s dealt you does not match the dealing: %w", owner, err)
	}
	return &HeldShare{Body: b, Owner: owner, Commitments: c}, nil
}

// RequestBody is a recovery request (KindRequest), signed by the
// recovering device's new key.
type RequestBody struct {
	Owner       []byte `cbor:"1,keyasint"`
	OwnerHandle string `cbor:"2,keyasint"`
	Device      []byte `cbor:"3,keyasint"`
	Time        int64  `cbor:"4,keyasint"`
	Nonce       []byte `cbor:"5,keyasint"`
}

// NewRequest signs a recovery request from device for owner's vault.
func NewRequest(device *keys.PeerKey, owner peer.ID, ownerHandle string, now time.Time) ([]byte, error) {
	nonce := make([]byte, NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return sign(device, KindRequest, RequestBody{Owner: []byte(owner), OwnerHandle: ownerHandle, Device: []byte(device.ID()),
		Time: now.Unix(), Nonce: nonce})
}

// Request is a checked recovery request.
type Request struct {
	ID     [32]byte
	Owner  peer.ID
	Handle string
	Device peer.ID
	Time   time.Time
	Nonce  []byte
}

// CheckRequest checks a request at now: signed by the device it names,
// for an owner, fresh.
func CheckRequest(o *Opened, now time.Time) (*Request, error) {
	if o.Kind != KindRequest {
		return nil, fmt.Errorf("%w: a %s, not a request", ErrMalformed, o.Kind)
	}
	var b RequestBody
	if err := wire.UnmarshalCanonical(o.Body, &b); err != nil || len(b.Nonce) != NonceSize || len(b.OwnerHandle) > maxHandleLen ||
		b.Time <= 0 || b.Time > maxUnix {
		return nil, fmt.Errorf("%w: request body", ErrMalformed)
	}
	owner, _, err1 := keys.ParsePeerID(b.Owner)
	device, _, err2 := keys.ParsePeerID(b.Device)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: request peers", ErrMalformed)
	}
	if device != o.Signer {
		return nil, fmt.Errorf("%w: a request signed by another key than the device it names", ErrBadSignature)
	}
	at := time.Unix(b.Time, 0)
	if err := fresh(at, now); err != nil {
		return nil, err
	}
	return &Request{ID: o.ID, Owner: owner, Handle: b.OwnerHandle, Device: device, Time: at, Nonce: b.Nonce}, nil
}

func fresh(at, now time.Time) error {
	switch {
	case now.Sub(at) > MaxRequestAge:
		return fmt.Errorf("%w: dated %s, more than %s ago", ErrStale, at.UTC().Format(time.RFC3339), MaxRequestAge)
	case at.Sub(now) > MaxClockSkew:
		return fmt.Errorf("%w: dated %s, ahead of this clock", ErrStale, at.UTC().Format(time.RFC3339))
	}
	return nil
}

// Code is the verification code of a request, which a friend reads to
// the owner (out of band) before helping: 20 digits in four groups of
// five, from SHA-256 of the owner, the device and the nonce.
func (r *Request) Code() string {
	h := sha256.New()
	h.Write([]byte("ocmt-mesh/recovery-code/v1\x00"))
	h.Write([]byte(r.Owner))
	h.Write([]byte(r.Device))
	h.Write(r.Nonce)
	sum := h.Sum(nil)
	g := make([]string, 4)
	for i := range g {
		g[i] = fmt.Sprintf("%05d", binary.BigEndian.Uint32(sum[4*i:])%100000)
	}
	return strings.Join(g, " ")
}

// ReleaseBody is a friend's release (KindRelease): its share re-sealed to
// the requesting device, naming the request.
type ReleaseBody struct {
	Request []byte `cbor:"1,keyasint"`
	Owner   []byte `cbor:"2,keyasint"`
	Share   []byte `cbor:"3,keyasint"`
	Time    int64  `cbor:"4,keyasint"`
}

// Release opens the friend's held share with its key, re-seals it to the
// request's device, and signs the release.
func Release(friend *keys.PeerKey, held *HeldShare, req *Request, now time.Time) ([]byte, error) {
	if req.Owner != held.Owner {
		return nil, fmt.Errorf("recovery: the request is for %s, the share of %s", req.Owner, held.Owner)
	}
	sh, err := group.OpenShare(held.Body.Share, friend)
	if err != nil {
		return nil, err
	}
	defer sh.Wipe()
	sealed, err := group.SealShare(sh, req.Device)
	if err != nil {
		return nil, err
	}
	return sign(friend, KindRelease, ReleaseBody{Request: req.ID[:], Owner: []byte(held.Owner), Share: sealed, Time: now.Unix()})
}

// Collector gathers friends' releases on the recovering device and
// recovers the key once the threshold is met.
type Collector struct {
	meta   *SocialMeta
	c      *group.Commitments
	device *keys.PeerKey
	req    [32]byte
	shares map[peer.ID]*group.Share
}

// NewCollector collects the releases answering request reqID, for the
// vault whose social meta is meta, on device.
func NewCollector(meta []byte, device *keys.PeerKey, reqID [32]byte) (*Collector, error) {
	m, c, err := ParseSocialMeta(meta)
	if err != nil {
		return nil, err
	}
	return &Collector{meta: m, c: c, device: device, req: reqID, shares: map[peer.ID]*group.Share{}}, nil
}

// Threshold is how many friends must release.
func (col *Collector) Threshold() int { return col.c.Threshold }

// Friends are the friends' peer IDs in share order, and their handles.
func (col *Collector) Friends() ([]peer.ID, []string) { return col.c.Admins, col.meta.Handles }

// Have is how many distinct friends' shares are held.
func (col *Collector) Have() int { return len(col.shares) }

// Add checks a release: from one of the friends, for this request, with a
// share that opens with the device's key and matches the commitments (a
// bad one names the friend).
func (col *Collector) Add(o *Opened) error {
	if o.Kind != KindRelease {
		return fmt.Errorf("%w: a %s, not a release", ErrMalformed, o.Kind)
	}
	if !col.c.IsAdmin(o.Signer) {
		return fmt.Errorf("%w: %s", ErrNotFriend, o.Signer)
	}
	var b ReleaseBody
	if err := wire.UnmarshalCanonical(o.Body, &b); err != nil || len(b.Request) != 32 {
		return fmt.Errorf("%w: release body", ErrMalformed)
	}
	if [32]byte(b.Request) != col.req {
		return fmt.Errorf("recovery: the release from %s answers another request", o.Signer)
	}
	sh, err := group.OpenShare(b.Share, col.device)
	if err != nil {
		return fmt.Errorf("recovery: the share %s released does not open with this device's key: %w", o.Signer, err)
	}
	if sh.Admin != o.Signer {
		sh.Wipe()
		return fmt.Errorf("recovery: %s released another friend's share", o.Signer)
	}
	if err := group.VerifyShare(col.c, sh); err != nil {
		sh.Wipe()
		return fmt.Errorf("recovery: the share %s released does not match the dealing: %w", o.Signer, err)
	}
	if old := col.shares[o.Signer]; old != nil {
		old.Wipe()
	}
	col.shares[o.Signer] = sh
	return nil
}

// Key recovers the recovery key once Threshold friends released.
func (col *Collector) Key() (*[32]byte, error) {
	if len(col.shares) < col.c.Threshold {
		return nil, fmt.Errorf("recovery: %d of the %d friends needed have released their share", len(col.shares), col.c.Threshold)
	}
	shares := make([]*group.Share, 0, len(col.shares))
	for _, s := range col.shares {
		shares = append(shares, s)
	}
	k, err := group.Recover(col.c, shares)
	if err != nil {
		return nil, err
	}
	var rk [32]byte
	copy(rk[:], k.Bytes())
	k.Wipe()
	return &rk, nil
}

// Wipe forgets the shares.
func (col *Collector) Wipe() {
	for _, s := range col.shares {
		s.Wipe()
	}
	col.shares = map[peer.ID]*group.Share{}
}

// VetoBody is the owner's veto of a request (KindVeto).
type VetoBody struct {
	Request []byte `cbor:"1,keyasint"`
	Time    int64  `cbor:"2,keyasint"`
}

// NewVeto signs the owner's veto of request reqID.
func NewVeto(owner *keys.PeerKey, reqID [32]byte, now time.Time) ([]byte, error) {
	return sign(owner, KindVeto, VetoBody{Request: reqID[:], Time: now.Unix()})
}

// CheckVeto checks a veto: signed by the owner of the request it names.
func CheckVeto(o *Opened, req *Request) error {
	if o.Kind != KindVeto {
		return fmt.Errorf("%w: a %s, not a veto", ErrMalformed, o.Kind)
	}
	var b VetoBody
	if err := wire.UnmarshalCanonical(o.Body, &b); err != nil || len(b.Request) != 32 {
		return fmt.Errorf("%w: veto body", ErrMalformed)
	}
	if [32]byte(b.Request) != req.ID {
		return fmt.Errorf("recovery: the veto names another request")
	}
	if o.Signer != req.Owner {
		return fmt.Errorf("%w: a veto not signed by the vault's owner", ErrBadSignature)
	}
	return nil
}

// Format prints a Dealt without its key or shares, whatever the verb.
func (d Dealt) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "recovery.Dealt{key:<secret>, %d shares}", len(d.Shares))
}

// Format prints a Collector without its shares or the device's key,
// whatever the verb.
func (col Collector) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "recovery.Collector{%d shares:<secret>}", len(col.shares))
}
