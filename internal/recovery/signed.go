package recovery

import (
	"crypto/sha256"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// Kind says what a signed message is (doc.go "Messages").
type Kind uint8

// Kinds.
const (
	KindShare         Kind = 1 // an owner deals a friend its share
	KindRequest       Kind = 2 // a recovering device asks the friends
	KindRelease       Kind = 3 // a friend re-seals its share to the device
	KindVeto          Kind = 4 // the owner's device refuses a request
	KindEscrowRequest Kind = 5 // an owner asks the institution for a release
	KindEscrowRelease Kind = 6 // the institution's release statement
)

// signedWire is a signed message: its kind, its body (a canonical CBOR
// map of the kind's), the signer's peer ID and the signature.
type signedWire struct {
	Version uint64 `cbor:"1,keyasint"`
	Kind    uint8  `cbor:"2,keyasint"`
	Body    []byte `cbor:"3,keyasint"`
	Signer  []byte `cbor:"4,keyasint"`
	Sig     []byte `cbor:"5,keyasint,omitempty"`
}

// message is what a kind's signature covers: the message without key 5,
// labelled ocmt-mesh/escrow-release/v1 for KindEscrowRelease and
// ocmt-mesh/recovery/v1 for the others.
func (s signedWire) message() (keys.Message, error) {
	s.Sig = nil
	b, err := wire.Marshal(s)
	if err != nil {
		return keys.Message{}, err
	}
	if Kind(s.Kind) == KindEscrowRelease {
		return keys.EscrowReleaseMessage(b), nil
	}
	return keys.RecoveryMessage(b), nil
}

// sign signs a body of kind with k.
func sign(k *keys.PeerKey, kind Kind, body any) ([]byte, error) {
	b, err := wire.Marshal(body)
	if err != nil {
		return nil, err
	}
	s := signedWire{Version: version, Kind: uint8(kind), Body: b, Signer: []byte(k.ID())}
	m, err := s.message()
	if err != nil {
		return nil, err
	}
	sig := k.Sign(m)
	s.Sig = sig[:]
	return wire.Marshal(s)
}

// Opened is a verified signed message.
type Opened struct {
	Kind   Kind
	Body   []byte
	Signer peer.ID
	// ID is SHA-256 of the whole message: a request's ID, which
	// releases and vetoes name.
	ID [32]byte
}

// Open decodes a signed message and checks its signature by its signer.
func Open(b []byte) (*Opened, error) {
	if len(b) > maxMessageBytes {
		return nil, fmt.Errorf("%w: a message of %d bytes", ErrMalformed, len(b))
	}
	var s signedWire
	if err := wire.UnmarshalCanonical(b, &s); err != nil || s.Version != version || s.Kind < uint8(KindShare) || s.Kind > uint8(KindEscrowRelease) {
		return nil, fmt.Errorf("%w: not a recovery message", ErrMalformed)
	}
	signer, pub, err := keys.ParsePeerID(s.Signer)
	if err != nil {
		return nil, fmt.Errorf("%w: the signer is not a peer ID", ErrMalformed)
	}
	if len(s.Sig) != len(keys.Signature{}) {
		return nil, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	m, err := s.message()
	if err != nil {
		return nil, err
	}
	if !pub.Verify(m, s.Sig) {
		return nil, fmt.Errorf("%w: a %s message not signed by %s", ErrBadSignature, Kind(s.Kind), signer)
	}
	return &Opened{Kind: Kind(s.Kind), Body: s.Body, Signer: signer, ID: sha256.Sum256(b)}, nil
}

func (k Kind) String() string {
	switch k {
	case KindShare:
		return "share"
	case KindRequest:
		return "request"
	case KindRelease:
		return "release"
	case KindVeto:
		return "veto"
	case KindEscrowRequest:
		return "escrow request"
	case KindEscrowRelease:
		return "escrow release"
	}
	return "unknown"
}
