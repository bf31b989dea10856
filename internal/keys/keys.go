// Package keys holds one Go type per key role in OCMT Mesh and the only code
// that signs with the peer key.
//
// Key types wrap fixed arrays, compare in constant time, refuse to print their
// bytes, and cannot be compared with == (each embeds a non-comparable field).
// Signing takes a typed Message whose domain label is fixed by the function
// that built it, so no caller can sign arbitrary bytes and no signature made
// for one purpose verifies for another.
package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// noCompare makes a struct non-comparable, so `==` on a key does not compile.
type noCompare [0]func()

// ErrNotEd25519 is returned when a libp2p key is not an Ed25519 key.
var ErrNotEd25519 = errors.New("keys: not an Ed25519 key")

// ErrBadPeerKey is returned for 32 bytes that are not acceptable as a peer
// public key: a small-order point, or a non-canonical encoding. See
// CheckPeerPublic.
var ErrBadPeerKey = errors.New("keys: unacceptable Ed25519 peer key")

// PeerKey is a node's Ed25519 identity: its libp2p peer key and its
// capability, revocation, directory and approval signer.
type PeerKey struct {
	_    noCompare
	priv [ed25519.PrivateKeySize]byte
}

// GeneratePeerKey makes a new random peer key.
func GeneratePeerKey() PeerKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil { // crypto/rand never fails in Go 1.24+
		panic(err)
	}
	var k PeerKey
	copy(k.priv[:], priv)
	wipe(priv)
	return k
}

// PeerKeyFromSeed derives a peer key from a 32-byte seed (tests and vectors).
func PeerKeyFromSeed(seed []byte) (PeerKey, error) {
	if len(seed) != ed25519.SeedSize {
		return PeerKey{}, fmt.Errorf("keys: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	var k PeerKey
	priv := ed25519.NewKeyFromSeed(seed)
	copy(k.priv[:], priv)
	wipe(priv)
	return k, nil
}

// PeerKeyFromLibp2p converts libp2p's untyped private key. It is one of the
// two named crossings between libp2p's key world and ours.
func PeerKeyFromLibp2p(sk crypto.PrivKey) (PeerKey, error) {
	if sk == nil || sk.Type() != crypto.Ed25519 {
		return PeerKey{}, ErrNotEd25519
	}
	raw, err := sk.Raw()
	if err != nil {
		return PeerKey{}, fmt.Errorf("keys: reading libp2p key: %w", err)
	}
	defer wipe(raw)
	if len(raw) != ed25519.PrivateKeySize {
		return PeerKey{}, ErrNotEd25519
	}
	var k PeerKey
	copy(k.priv[:], raw)
	return k, nil
}

// Libp2pPrivKey converts to libp2p's untyped private key, for building the
// host. It is the other named crossing.
// The libp2p key gets its own copy of the bytes (libp2p aliases the slice
// it is given), so wiping k later does not corrupt a running host.
func (k *PeerKey) Libp2pPrivKey() crypto.PrivKey {
	sk, err := crypto.UnmarshalEd25519PrivateKey(bytes.Clone(k.priv[:]))
	if err != nil { // only on a wrong length, which the array rules out
		panic(err)
	}
	return sk
}

// Public returns the public half.
func (k *PeerKey) Public() PeerPublic {
	var p PeerPublic
	copy(p.pub[:], k.priv[32:])
	return p
}

// ID returns the libp2p peer ID of this key.
func (k *PeerKey) ID() peer.ID { return k.Public().ID() }

// IsZero reports whether the key is unset or wiped.
func (k *PeerKey) IsZero() bool {
	var z [ed25519.PrivateKeySize]byte
	return subtle.ConstantTimeCompare(k.priv[:], z[:]) == 1
}

// Equal compares two peer keys in constant time.
func (k *PeerKey) Equal(o *PeerKey) bool {
	return subtle.ConstantTimeCompare(k.priv[:], o.priv[:]) == 1
}

// Wipe zeroes the key.
func (k *PeerKey) Wipe() { clear(k.priv[:]) }

// Sign signs a domain-labelled message.
func (k *PeerKey) Sign(m Message) Signature {
	if k.IsZero() {
		panic("keys: signing with a zero peer key")
	}
	var s Signature
	copy(s[:], ed25519.Sign(ed25519.PrivateKey(k.priv[:]), m.bytes()))
	return s
}

// Seed returns a copy of the 32-byte seed. Callers that store it must wipe
// their copy; it exists for the identity file and X25519 conversion.
func (k *PeerKey) Seed() []byte {
	s := make([]byte, ed25519.SeedSize)
	copy(s, k.priv[:32])
	return s
}

// String never prints key bytes.
func (k PeerKey) String() string { return "peerkey:" + k.ID().String() + ":<private>" }

// GoString never prints key bytes.
func (k PeerKey) GoString() string { return k.String() }

// PeerPublic is an Ed25519 peer public key.
type PeerPublic struct {
	_   noCompare
	pub [ed25519.PublicKeySize]byte
}

// PeerPublicFromID extracts the public key inlined in an Ed25519 peer ID.
// The ID must be in its canonical byte form and its key must pass
// CheckPeerPublic (see ParsePeerID).
func PeerPublicFromID(id peer.ID) (PeerPublic, error) {
	_, p, err := ParsePeerID([]byte(id))
	return p, err
}

// PeerPublicFromLibp2p converts libp2p's untyped public key. The key must
// pass CheckPeerPublic.
func PeerPublicFromLibp2p(pk crypto.PubKey) (PeerPublic, error) {
	if pk == nil || pk.Type() != crypto.Ed25519 {
		return PeerPublic{}, ErrNotEd25519
	}
	raw, err := pk.Raw()
	if err != nil {
		return PeerPublic{}, ErrNotEd25519
	}
	return PeerPublicFromBytes(raw)
}

// PeerPublicFromBytes wraps 32 raw Ed25519 public key bytes. They must pass
// CheckPeerPublic.
func PeerPublicFromBytes(b []byte) (PeerPublic, error) {
	if err := CheckPeerPublic(b); err != nil {
		return PeerPublic{}, err
	}
	var p PeerPublic
	copy(p.pub[:], b)
	return p, nil
}

// ID returns the peer ID for this public key.
func (p PeerPublic) ID() peer.ID {
	pk, err := crypto.UnmarshalEd25519PublicKey(p.pub[:])
	if err != nil {
		panic(err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		panic(err)
	}
	return id
}

// Bytes returns a copy of the raw public key.
func (p PeerPublic) Bytes() []byte { return append([]byte(nil), p.pub[:]...) }

// Equal compares two public keys.
func (p PeerPublic) Equal(o PeerPublic) bool {
	return subtle.ConstantTimeCompare(p.pub[:], o.pub[:]) == 1
}

// Verify checks sig over a domain-labelled message. It uses the standard
// library's rule (cofactorless, rejects non-canonical S), the rule every
// node in the mesh must share. A key that fails CheckPeerPublic (only the
// zero value can, as the constructors refuse them) verifies nothing.
func (p PeerPublic) Verify(m Message, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize || CheckPeerPublic(p.pub[:]) != nil {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(p.pub[:]), m.bytes(), sig)
}

// String prints the peer ID with a prefix.
func (p PeerPublic) String() string { return "peerpub:" + p.ID().String() }

// Signature is an Ed25519 signature.
type Signature [ed25519.SignatureSize]byte

func wipe(b []byte) { clear(b) }
