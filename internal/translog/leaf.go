package translog

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// HandleLabel prefixes a handle inside the commitment's HMAC input.
const HandleLabel = "ocmt-mesh/translog-handle/v1"

// Errors callers branch on.
var (
	// ErrMalformed is returned for bytes that are not a well-formed leaf,
	// checkpoint, proof or fork evidence.
	ErrMalformed = errors.New("translog: malformed")
	// ErrLeafMismatch is returned when a leaf does not commit to the record
	// and handle commitment a lookup returned.
	ErrLeafMismatch = errors.New("translog: the log entry does not match the record")
)

type noCompare [0]func()

// Salt is the bootstrap's secret key for handle commitments. It never
// leaves the bootstrap; String never prints it.
type Salt struct {
	_ noCompare
	k [SaltSize]byte
}

// NewSalt draws a fresh salt from rand (crypto/rand.Reader in production).
func NewSalt(rand io.Reader) (*Salt, error) {
	s := &Salt{}
	if _, err := io.ReadFull(rand, s.k[:]); err != nil {
		return nil, fmt.Errorf("translog: drawing a salt: %w", err)
	}
	return s, nil
}

// SaltFromBytes restores a salt the bootstrap stored (see Bytes).
func SaltFromBytes(b []byte) (*Salt, error) {
	if len(b) != SaltSize {
		return nil, fmt.Errorf("translog: a salt is %d bytes, not %d", SaltSize, len(b))
	}
	s := &Salt{}
	copy(s.k[:], b)
	return s, nil
}

// Bytes returns a copy of the secret, for the bootstrap's own storage only.
// Callers wipe their copy.
func (s *Salt) Bytes() []byte { return append([]byte(nil), s.k[:]...) }

// Wipe clears the secret.
func (s *Salt) Wipe() { clear(s.k[:]) }

// String never prints the secret.
func (s *Salt) String() string { return "translog-salt:<secret>" }

// GoString never prints the secret.
func (s *Salt) GoString() string { return s.String() }

// Commit returns the handle's commitment:
// HMAC-SHA256(salt, HandleLabel || handle).
func (s *Salt) Commit(handle string) Commitment {
	m := hmac.New(sha256.New, s.k[:])
	m.Write([]byte(HandleLabel))
	m.Write([]byte(handle))
	var c Commitment
	m.Sum(c[:0])
	return c
}

// Commitment hides a handle in a leaf. Only the salt's holder can compute
// it; a lookup answer reveals it for the handle looked up.
type Commitment [HashSize]byte

// Equal compares in constant time.
func (c Commitment) Equal(o Commitment) bool { return subtle.ConstantTimeCompare(c[:], o[:]) == 1 }

// RecordHash is SHA-256 of a signed directory record's bytes.
func RecordHash(signedRecord []byte) [HashSize]byte { return sha256.Sum256(signedRecord) }

// Leaf is one log entry: a directory record, committed to without its
// handle.
type Leaf struct {
	Handle Commitment
	Peer   peer.ID
	Seq    uint64
	Record [HashSize]byte
}

// NewLeaf is the entry for a signed directory record of handle, published
// by peer with sequence number seq.
func NewLeaf(salt *Salt, handle string, p peer.ID, seq uint64, signedRecord []byte) Leaf {
	return Leaf{Handle: salt.Commit(handle), Peer: p, Seq: seq, Record: RecordHash(signedRecord)}
}

type leafWire struct {
	Version uint64 `cbor:"1,keyasint"`
	Handle  []byte `cbor:"2,keyasint"`
	Peer    []byte `cbor:"3,keyasint"`
	Seq     uint64 `cbor:"4,keyasint"`
	Record  []byte `cbor:"5,keyasint"`
}

// Encode returns the leaf's canonical CBOR, the bytes the log hashes.
func (l Leaf) Encode() ([]byte, error) {
	if err := keys.CheckPeerID(l.Peer); err != nil {
		return nil, fmt.Errorf("translog: the leaf's peer: %w", err)
	}
	return wire.Marshal(leafWire{Version: leafVersion, Handle: l.Handle[:], Peer: []byte(l.Peer), Seq: l.Seq, Record: l.Record[:]})
}

// DecodeLeaf parses a leaf; only the canonical encoding is accepted.
func DecodeLeaf(b []byte) (Leaf, error) {
	if len(b) > MaxLeafBytes {
		return Leaf{}, fmt.Errorf("%w: a leaf of %d bytes (at most %d)", ErrMalformed, len(b), MaxLeafBytes)
	}
	var w leafWire
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return Leaf{}, fmt.Errorf("%w: leaf: %v", ErrMalformed, err)
	}
	if w.Version != leafVersion {
		return Leaf{}, fmt.Errorf("%w: leaf version %d", ErrMalformed, w.Version)
	}
	if len(w.Handle) != HashSize || len(w.Record) != HashSize {
		return Leaf{}, fmt.Errorf("%w: a leaf hash is not %d bytes", ErrMalformed, HashSize)
	}
	p, err := keys.PeerIDFromBytes(w.Peer)
	if err != nil {
		return Leaf{}, fmt.Errorf("%w: the leaf's peer: %v", ErrMalformed, err)
	}
	l := Leaf{Peer: p, Seq: w.Seq}
	copy(l.Handle[:], w.Handle)
	copy(l.Record[:], w.Record)
	return l, nil
}

// Matches checks, on the client, that the leaf commits to the answer of a
// lookup: the handle commitment the answer carried and the signed record
// (whose peer and sequence number the caller has already checked).
func (l Leaf) Matches(c Commitment, p peer.ID, seq uint64, signedRecord []byte) error {
	r := RecordHash(signedRecord)
	ok := l.Handle.Equal(c) && l.Peer == p && l.Seq == seq && bytes.Equal(l.Record[:], r[:])
	if !ok {
		return ErrLeafMismatch
	}
	return nil
}
