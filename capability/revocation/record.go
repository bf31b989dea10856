package revocation

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// envelope is the outer CBOR map: the exact signed payload bytes and the
// signature over keys.RevocationMessage(payload).
type envelope struct {
	Payload   []byte `cbor:"1,keyasint"`
	Signature []byte `cbor:"2,keyasint"`
}

// payload is the signed CBOR map. See doc.go for the field table.
type payload struct {
	Version uint64 `cbor:"1,keyasint"`
	Token   []byte `cbor:"2,keyasint"` // revoked token ID, 32 bytes
	Revoker []byte `cbor:"3,keyasint"` // Ed25519 peer ID bytes
	Time    int64  `cbor:"4,keyasint"` // unix seconds
	Expiry  int64  `cbor:"5,keyasint"` // the revoked token's expiry, unix seconds
	Proof   []byte `cbor:"6,keyasint"` // the revoked token's envelope
}

// Revocation is a decoded revocation record whose signature and proof have
// been checked: Parse, New and VerifyCache.Verify are its only
// constructors, so holding a non-zero *Revocation means it verified. It is
// immutable.
type Revocation struct {
	id      capability.ID
	revoker peer.ID
	at      time.Time
	expiry  time.Time
	token   *capability.Token
	raw     []byte // exact envelope bytes
	payload []byte // exact signed payload bytes
	sig     []byte
}

// ID is the revoked token's ID.
func (r *Revocation) ID() capability.ID { return r.id }

// Revoker is the peer that signed the revocation: an issuer of the revoked
// token or of one of its ancestors.
func (r *Revocation) Revoker() peer.ID { return r.revoker }

// Time is when the revoker says it revoked the token (second precision,
// informational: nothing is decided on it).
func (r *Revocation) Time() time.Time { return r.at }

// Expiry is the revoked token's expiry; the entry can be dropped once it
// has passed (plus the verifiers' skew).
func (r *Revocation) Expiry() time.Time { return r.expiry }

// Token is the revoked token (the proof), with its chain.
func (r *Revocation) Token() *capability.Token { return r.token }

// Link is the revoked token's position in its chain, 1 = root: revoking
// link k kills every token delegated from it.
func (r *Revocation) Link() int {
	if r.token == nil {
		return 0
	}
	return r.token.Depth()
}

// Bytes returns a copy of the exact envelope bytes, as gossiped and stored.
func (r *Revocation) Bytes() []byte { return bytes.Clone(r.raw) }

// Size is the envelope length in bytes.
func (r *Revocation) Size() int { return len(r.raw) }

// String describes the record for logs.
func (r *Revocation) String() string {
	if r == nil || r.raw == nil {
		return "revocation(<nil>)"
	}
	return fmt.Sprintf("revocation of %s (link %d) by %s", r.id.Short(), r.Link(), r.revoker)
}

// New signs a revocation of tok (which may be any link of a chain: take it
// from Token.Chain()). The signer must be the issuer of tok or of one of its
// ancestors (ErrNotIssuer otherwise), and tok's chain must verify
// (ErrBadProof). at is truncated to the second.
func New(signer *keys.PeerKey, tok *capability.Token, at time.Time) (*Revocation, error) {
	if signer == nil || signer.IsZero() {
		return nil, errors.New("revocation: no signing key")
	}
	if tok == nil {
		return nil, fmt.Errorf("%w: no token", ErrMalformed)
	}
	if !issuedBy(tok, signer.ID()) {
		return nil, fmt.Errorf("%w: %s in the chain of %s", ErrNotIssuer, signer.ID(), tok.ID().Short())
	}
	id := tok.ID()
	p := payload{
		Version: Version,
		Token:   id[:],
		Revoker: []byte(signer.ID()),
		Time:    at.Unix(),
		Expiry:  tok.Expiry().Unix(),
		Proof:   tok.Bytes(),
	}
	pb, err := wire.Marshal(&p)
	if err != nil {
		return nil, err
	}
	sig := signer.Sign(keys.RevocationMessage(pb))
	raw, err := wire.Marshal(envelope{Payload: pb, Signature: sig[:]})
	if err != nil {
		return nil, err
	}
	return Parse(raw)
}

// Parse strictly decodes and fully verifies a revocation record:
//
//  1. size: at most MaxRecordBytes before anything is decoded (ErrTooLarge);
//  2. canonical CBOR, every field well formed (ErrMalformed);
//  3. the proof decodes, hashes to the revoked ID and carries its expiry
//     (ErrBadProof, ErrMalformed);
//  4. the revoker is the issuer of the proof or of an ancestor (ErrNotIssuer);
//  5. the revoker's signature over the payload (ErrBadSignature);
//  6. the proof's chain: signatures and delegation rules (ErrBadProof).
//
// It does not look at the clock: Set.Add refuses expired tokens.
func Parse(b []byte) (*Revocation, error) {
	r, err := decode(b)
	if err != nil {
		return nil, err
	}
	if err := r.verify(); err != nil {
		return nil, err
	}
	return r, nil
}

// Unverified is a record that passed the checks of Parse that need no
// signature (1–4: size, canonical form, proof identity, standing) and
// whose signatures have not been checked yet. Its ID and Expiry let a
// caller drop it cheaply (already revoked, already expired) before it pays
// for the signatures; VerifyCache.Verify turns it into a *Revocation.
type Unverified struct{ r *Revocation }

// Decode runs checks 1–4 of Parse and leaves the signatures (5 and 6) to
// VerifyCache.Verify. Use Parse unless something cheap may decide first.
func Decode(b []byte) (*Unverified, error) {
	r, err := decode(b)
	if err != nil {
		return nil, err
	}
	return &Unverified{r: r}, nil
}

// ID is the revoked token's ID, as the record claims it.
func (u *Unverified) ID() capability.ID { return u.r.id }

// Expiry is the revoked token's expiry, as the record claims it (it
// equals the embedded proof's).
func (u *Unverified) Expiry() time.Time { return u.r.expiry }

// VerifyCache remembers which record bytes verified, so a record checked
// twice on its way in (protocols/revgossip checks each one as its RPC
// arrives and again in the topic validator) pays for its signatures once.
// It keeps only hashes, at most its size of them, and starts over when
// full. Safe for concurrent use. A nil *VerifyCache remembers nothing.
type VerifyCache struct {
	size int
	mu   sync.Mutex
	ok   map[[32]byte]struct{}
}

// NewVerifyCache returns a cache of at most size hashes (32 bytes each).
func NewVerifyCache(size int) *VerifyCache {
	return &VerifyCache{size: max(size, 1), ok: map[[32]byte]struct{}{}}
}

// Verify runs the signature checks Decode left out, unless the same bytes
// verified through c before, and returns the verified record.
func (c *VerifyCache) Verify(u *Unverified) (*Revocation, error) {
	if c == nil {
		if err := u.r.verify(); err != nil {
			return nil, err
		}
		return u.r, nil
	}
	h := sha256.Sum256(u.r.raw)
	c.mu.Lock()
	_, seen := c.ok[h]
	c.mu.Unlock()
	if seen {
		return u.r, nil
	}
	if err := u.r.verify(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.ok) >= c.size {
		clear(c.ok)
	}
	c.ok[h] = struct{}{}
	c.mu.Unlock()
	return u.r, nil
}

// decode runs checks 1–4 of Parse: everything but the signatures. The Set
// uses it alone to reload its own datastore, where records were verified
// before they were written.
func decode(b []byte) (*Revocation, error) {
	if len(b) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, len(b), MaxRecordBytes)
	}
	var env envelope
	if err := wire.UnmarshalCanonical(b, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if len(env.Signature) != len(keys.Signature{}) {
		return nil, fmt.Errorf("%w: signature is %d bytes", ErrMalformed, len(env.Signature))
	}
	if len(env.Payload) > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: payload %d bytes, max %d", ErrTooLarge, len(env.Payload), MaxPayloadBytes)
	}
	var p payload
	if err := wire.UnmarshalCanonical(env.Payload, &p); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	r := &Revocation{raw: bytes.Clone(b), payload: env.Payload, sig: env.Signature}
	if err := r.fill(&p); err != nil {
		return nil, err
	}
	return r, nil
}

// fill checks one payload's fields and the proof's identity and standing.
func (r *Revocation) fill(p *payload) error {
	if p.Version != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrMalformed, p.Version, Version)
	}
	if len(p.Token) != len(r.id) {
		return fmt.Errorf("%w: token ID is %d bytes", ErrMalformed, len(p.Token))
	}
	copy(r.id[:], p.Token)
	rev, err := canonicalPeer(p.Revoker)
	if err != nil {
		return err
	}
	r.revoker = rev
	if p.Time <= 0 || p.Time > maxUnix || p.Expiry <= 0 || p.Expiry > maxUnix {
		return fmt.Errorf("%w: time %d or expiry %d out of range", ErrMalformed, p.Time, p.Expiry)
	}
	r.at, r.expiry = time.Unix(p.Time, 0).UTC(), time.Unix(p.Expiry, 0).UTC()
	if len(p.Proof) > capability.MaxTokenBytes {
		return fmt.Errorf("%w: proof %d bytes, max %d", ErrTooLarge, len(p.Proof), capability.MaxTokenBytes)
	}
	if sha256.Sum256(p.Proof) != r.id {
		return fmt.Errorf("%w: proof is not token %s", ErrBadProof, r.id.Short())
	}
	if r.token, err = capability.Decode(p.Proof); err != nil {
		return fmt.Errorf("%w: %w", ErrBadProof, err)
	}
	if r.token.Expiry().Unix() != p.Expiry {
		return fmt.Errorf("%w: expiry %d, token's %d", ErrMalformed, p.Expiry, r.token.Expiry().Unix())
	}
	if !issuedBy(r.token, r.revoker) {
		return fmt.Errorf("%w: %s in the chain of %s", ErrNotIssuer, r.revoker, r.id.Short())
	}
	return nil
}

// verify runs the signature checks: the revoker's, then the proof chain's.
func (r *Revocation) verify() error {
	pub, err := keys.PeerPublicFromID(r.revoker)
	if err != nil {
		return fmt.Errorf("%w: revoker: %v", ErrMalformed, err)
	}
	if !pub.Verify(keys.RevocationMessage(r.payload), r.sig) {
		return fmt.Errorf("%w: by %s", ErrBadSignature, r.revoker)
	}
	// Check the chain at the proof's own not-before: time is not the
	// question here (the Set compares the expiry with its clock), and a
	// token that is not valid yet may be revoked in advance.
	nbf := r.token.NotBefore()
	if err := capability.CheckToken(r.token, capability.InspectClock(func() time.Time { return nbf })); err != nil {
		return fmt.Errorf("%w: %w", ErrBadProof, err)
	}
	return nil
}

// issuedBy reports whether who issued tok or one of its ancestors. Only
// ancestors count: a descendant's issuer (someone tok was delegated to)
// has no standing over tok, and anyone could wrap a token they hold, or
// merely saw, in a child of their own.
func issuedBy(tok *capability.Token, who peer.ID) bool {
	for t := tok; t != nil; t = t.Parent() {
		if t.Issuer() == who {
			return true
		}
	}
	return false
}

// canonicalPeer accepts only an Ed25519 peer ID with the key inlined, in
// its one canonical byte form, with a key keys.CheckPeerPublic accepts (no
// small-order point anyone could sign a revocation for).
func canonicalPeer(b []byte) (peer.ID, error) {
	id, _, err := keys.ParsePeerID(b)
	if err != nil {
		return "", fmt.Errorf("%w: revoker: %v", ErrMalformed, err)
	}
	return id, nil
}
