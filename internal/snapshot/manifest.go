package snapshot

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"filippo.io/edwards25519"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerseal"
	"github.com/ocmt/mesh/internal/wire"
)

// KeyID names a recipient's key in a manifest (doc.go "Key IDs").
type KeyID [KeyIDSize]byte

// KeyIDOf is the key ID of a peer: the first KeyIDSize bytes of SHA-256 of
// its X25519 recipient key, the key the file key is wrapped to.
func KeyIDOf(id peer.ID) (KeyID, error) {
	if _, err := peerseal.Recipient(id); err != nil { // the checks peerseal makes
		return KeyID{}, err
	}
	pub, err := keys.PeerPublicFromID(id)
	if err != nil {
		return KeyID{}, err
	}
	p, err := new(edwards25519.Point).SetBytes(pub.Bytes())
	if err != nil {
		return KeyID{}, fmt.Errorf("%w: not a curve point", peerseal.ErrBadRecipient)
	}
	sum := sha256.Sum256(p.BytesMontgomery())
	var k KeyID
	copy(k[:], sum[:KeyIDSize])
	return k, nil
}

// Manifest is a verified (or about-to-be-signed) manifest: the owner's
// statement of which snapshot of one resource is current.
type Manifest struct {
	Owner      peer.ID
	Resource   string  // a capability resource path in the owner's namespace
	Version    uint64  // ≥ 1, grows with every snapshot of the resource
	Root       cid.Cid // the root block
	Size       uint64  // sealed bytes: the chunks' total
	Recipients []KeyID // sorted, unique; the owner's among them
	Created    time.Time
	Expiry     time.Time
}

// payload is the signed wire form of a Manifest (doc.go "Manifest").
type payload struct {
	Format     uint64   `cbor:"1,keyasint"`
	Owner      []byte   `cbor:"2,keyasint"`
	Resource   string   `cbor:"3,keyasint"`
	Version    uint64   `cbor:"4,keyasint"`
	Root       []byte   `cbor:"5,keyasint"`
	Size       uint64   `cbor:"6,keyasint"`
	Recipients [][]byte `cbor:"7,keyasint"`
	Created    int64    `cbor:"8,keyasint"`
	Expiry     int64    `cbor:"9,keyasint"`
}

// Signed is the envelope that travels and is stored: the exact payload
// bytes that were signed and the signature over them.
type Signed struct {
	Payload []byte `cbor:"1,keyasint"`
	Sig     []byte `cbor:"2,keyasint"`
}

// Marshal encodes the envelope.
func (s *Signed) Marshal() ([]byte, error) { return wire.Marshal(s) }

// Sign checks m and signs it with the owner's key. m.Owner is filled from
// k when empty; a manifest for another owner cannot be signed.
func Sign(k *keys.PeerKey, m Manifest) (*Signed, error) {
	if m.Owner == "" {
		m.Owner = k.ID()
	}
	if m.Owner != k.ID() {
		return nil, fmt.Errorf("%w: manifest names %s, key is %s", ErrWrongSigner, m.Owner, k.ID())
	}
	p := payload{
		Format: FormatVersion, Owner: []byte(m.Owner), Resource: m.Resource, Version: m.Version,
		Root: m.Root.Bytes(), Size: m.Size, Created: m.Created.Unix(), Expiry: m.Expiry.Unix(),
	}
	for _, r := range m.Recipients {
		p.Recipients = append(p.Recipients, r[:])
	}
	if _, err := p.manifest(); err != nil {
		return nil, err
	}
	b, err := wire.Marshal(p)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: payload of %d bytes, cap %d", ErrMalformed, len(b), MaxPayloadBytes)
	}
	sig := k.Sign(keys.ManifestMessage(b))
	return &Signed{Payload: b, Sig: sig[:]}, nil
}

// Parse decodes an envelope strictly (size cap, canonical CBOR, every
// field) and verifies its signature under the owner it names. It judges
// neither time nor rollback: Check does.
func Parse(b []byte) (*Signed, *Manifest, error) {
	if len(b) > MaxManifestBytes {
		return nil, nil, fmt.Errorf("%w: manifest of %d bytes, cap %d", ErrMalformed, len(b), MaxManifestBytes)
	}
	var s Signed
	if err := wire.UnmarshalCanonical(b, &s); err != nil {
		return nil, nil, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	m, err := s.Verify()
	if err != nil {
		return nil, nil, err
	}
	return &s, m, nil
}

// Verify checks the payload and the signature under the owner it names.
func (s *Signed) Verify() (*Manifest, error) {
	if s == nil || len(s.Payload) == 0 || len(s.Payload) > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: payload size", ErrMalformed)
	}
	if len(s.Sig) != len(keys.Signature{}) {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(s.Sig))
	}
	var p payload
	if err := wire.UnmarshalCanonical(s.Payload, &p); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	m, err := p.manifest()
	if err != nil {
		return nil, err
	}
	pub, err := keys.PeerPublicFromID(m.Owner)
	if err != nil {
		return nil, fmt.Errorf("%w: owner: %v", ErrMalformed, err)
	}
	if !pub.Verify(keys.ManifestMessage(s.Payload), s.Sig) {
		return nil, fmt.Errorf("%w: the signature does not verify under %s", ErrWrongSigner, m.Owner)
	}
	return m, nil
}

// manifest checks every field's rule (doc.go "Manifest") and converts.
func (p *payload) manifest() (*Manifest, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: manifest %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if p.Format != FormatVersion {
		return nil, bad("format %d, want %d", p.Format, FormatVersion)
	}
	owner, _, err := keys.ParsePeerID(p.Owner)
	if err != nil {
		return nil, bad("owner: %v", err)
	}
	if len(p.Resource) > MaxResourceBytes {
		return nil, bad("resource of %d bytes, cap %d", len(p.Resource), MaxResourceBytes)
	}
	if _, err := capability.ParsePath(p.Resource); err != nil {
		return nil, bad("resource: %v", err)
	}
	if p.Version == 0 {
		return nil, bad("version 0 (versions start at 1)")
	}
	root, err := ParseCID(p.Root)
	if err != nil {
		return nil, bad("root: %v", err)
	}
	if p.Size == 0 || p.Size > MaxSealedBytes {
		return nil, bad("size %d outside 1..%d", p.Size, uint64(MaxSealedBytes))
	}
	if len(p.Recipients) == 0 || len(p.Recipients) > MaxRecipients {
		return nil, bad("%d recipients, want 1..%d", len(p.Recipients), MaxRecipients)
	}
	m := &Manifest{Owner: owner, Resource: p.Resource, Version: p.Version, Root: root, Size: p.Size,
		Recipients: make([]KeyID, len(p.Recipients))}
	for i, r := range p.Recipients {
		if len(r) != KeyIDSize {
			return nil, bad("recipient %d: %d bytes, want %d", i, len(r), KeyIDSize)
		}
		if i > 0 && bytes.Compare(p.Recipients[i-1], r) >= 0 {
			return nil, bad("recipients not in strictly increasing order at %d", i)
		}
		copy(m.Recipients[i][:], r)
	}
	ownerKey, err := KeyIDOf(owner)
	if err != nil {
		return nil, bad("owner key: %v", err)
	}
	if !slices.Contains(m.Recipients, ownerKey) {
		return nil, bad("the owner is not among the recipients")
	}
	if p.Created <= 0 || p.Expiry <= p.Created {
		return nil, bad("created %d, expiry %d: want 0 < created < expiry", p.Created, p.Expiry)
	}
	if p.Expiry-p.Created > int64(MaxLifetime/time.Second) {
		return nil, bad("lifetime of %d s over %d s", p.Expiry-p.Created, int64(MaxLifetime/time.Second))
	}
	m.Created, m.Expiry = time.Unix(p.Created, 0).UTC(), time.Unix(p.Expiry, 0).UTC()
	return m, nil
}

// HasRecipient reports whether the key ID is among the recipients.
func (m *Manifest) HasRecipient(k KeyID) bool {
	_, ok := slices.BinarySearchFunc(m.Recipients, k, func(a, b KeyID) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

// CheckTime refuses a manifest outside its window at now, with Skew.
func (m *Manifest) CheckTime(now time.Time) error {
	if now.After(m.Expiry.Add(Skew)) {
		return fmt.Errorf("%w: version %d of %s expired at %s", ErrExpired, m.Version, m.Resource, m.Expiry.Format(time.RFC3339))
	}
	if m.Created.After(now.Add(Skew)) {
		return fmt.Errorf("%w: version %d of %s claims creation at %s, in the future", ErrExpired, m.Version, m.Resource, m.Created.Format(time.RFC3339))
	}
	return nil
}

// Hash is SHA-256 of the signed payload: two manifests of one version
// with other contents are told apart by it.
func (s *Signed) Hash() [32]byte { return sha256.Sum256(s.Payload) }
