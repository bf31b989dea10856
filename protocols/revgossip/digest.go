package revgossip

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/wire"
)

// DigestTopic is the anti-entropy topic: each node announces a Digest of
// what it added lately to the peers it is connected to (see doc.go).
const DigestTopic = "/ocmt/revdigest/1"

// Caps of a digest (doc.go's Digest section). Changing one is a format
// change: update doc.go and testdata/digests.json with it.
const (
	// MaxDigestIDs caps the IDs one digest's filter holds: a sender with
	// more in its window announces the newest MaxDigestIDs (and moves
	// From up to match). 4096 is a window of three periods at over 80
	// revocations a second across the mesh.
	MaxDigestIDs = 4096
	// MaxDigestFilterBytes caps the filter: MaxDigestIDs at
	// digestBitsPerID bits is 5 KiB; the rest is room for senders that
	// choose a lower false-positive rate.
	MaxDigestFilterBytes = 8192
	// MaxDigestHashes caps the filter's hash functions.
	MaxDigestHashes = 16
	// MaxDigestBytes caps a digest message's data, checked before it is
	// decoded: the filter and under 100 bytes of fields.
	MaxDigestBytes = MaxDigestFilterBytes + 256
	// digestSaltLen is the length of a digest's salt.
	digestSaltLen = 8

	// digestBitsPerID and digestHashes size the filters this node sends:
	// 10 bits an ID and 7 hashes, a false-positive rate under 1%.
	digestBitsPerID = 10
	digestHashes    = 7
)

// Digest is one anti-entropy announcement: the sender's revsync position
// (Epoch, Head), its size, and a Bloom filter of the IDs of the entries it
// added in its recent window, versions (From, Head]. See doc.go for the
// rules a receiver checks and what it does with one.
type Digest struct {
	Epoch  []byte `cbor:"1,keyasint"`           // the sender set's epoch, 8 bytes
	Head   uint64 `cbor:"2,keyasint"`           // the version of its newest entry
	Count  uint64 `cbor:"3,keyasint"`           // its live entries
	From   uint64 `cbor:"4,keyasint"`           // the window is versions (From, Head]
	IDs    uint64 `cbor:"5,keyasint"`           // IDs in the filter
	Hashes uint64 `cbor:"6,keyasint,omitempty"` // hash functions, 1..MaxDigestHashes
	Salt   []byte `cbor:"7,keyasint,omitempty"` // digestSaltLen bytes
	Filter []byte `cbor:"8,keyasint,omitempty"` // the bits, a multiple of 8 bytes
}

// ErrBadDigest is why a digest is refused: it breaks a rule of doc.go's
// Digest section.
var ErrBadDigest = errors.New("revgossip: malformed digest")

// newDigest builds the digest of a window: ids are the window's IDs,
// versions (from, head]. salt is read from rnd (nil: crypto/rand).
func newDigest(epoch [8]byte, head, count, from uint64, ids []capability.ID, rnd io.Reader) (*Digest, error) {
	if len(ids) > MaxDigestIDs {
		return nil, fmt.Errorf("revgossip: a digest of %d IDs, max %d", len(ids), MaxDigestIDs)
	}
	d := &Digest{Epoch: epoch[:], Head: head, Count: count, From: from, IDs: uint64(len(ids))}
	if len(ids) == 0 {
		return d, nil
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	d.Salt = make([]byte, digestSaltLen)
	if _, err := io.ReadFull(rnd, d.Salt); err != nil {
		return nil, fmt.Errorf("revgossip: digest salt: %w", err)
	}
	words := (len(ids)*digestBitsPerID + 63) / 64
	d.Hashes, d.Filter = digestHashes, make([]byte, 8*words)
	for _, id := range ids {
		d.add(id)
	}
	return d, nil
}

// marshal encodes d as its message data.
func (d *Digest) marshal() ([]byte, error) { return wire.Marshal(d) }

// DecodeDigest strictly decodes a digest message and checks every rule of
// doc.go's Digest section, in its order; the error wraps ErrBadDigest.
func DecodeDigest(b []byte) (*Digest, error) {
	if len(b) > MaxDigestBytes {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrBadDigest, len(b), MaxDigestBytes)
	}
	var d Digest
	if err := wire.UnmarshalCanonical(b, &d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDigest, err)
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	return &d, nil
}

func (d *Digest) check() error {
	switch {
	case len(d.Epoch) != 8:
		return fmt.Errorf("%w: epoch of %d bytes", ErrBadDigest, len(d.Epoch))
	case d.From > d.Head:
		return fmt.Errorf("%w: window starts after %d, past the head %d", ErrBadDigest, d.From, d.Head)
	case d.IDs > MaxDigestIDs:
		return fmt.Errorf("%w: %d IDs, max %d", ErrBadDigest, d.IDs, MaxDigestIDs)
	case d.IDs > d.Head-d.From:
		return fmt.Errorf("%w: %d IDs in a window of %d versions", ErrBadDigest, d.IDs, d.Head-d.From)
	case d.IDs > d.Count:
		return fmt.Errorf("%w: %d IDs of %d entries", ErrBadDigest, d.IDs, d.Count)
	case d.IDs == 0:
		if d.Hashes != 0 || d.Salt != nil || d.Filter != nil {
			return fmt.Errorf("%w: an empty window with a filter", ErrBadDigest)
		}
		return nil
	case d.Hashes < 1 || d.Hashes > MaxDigestHashes:
		return fmt.Errorf("%w: %d hash functions, want 1 to %d", ErrBadDigest, d.Hashes, MaxDigestHashes)
	case len(d.Salt) != digestSaltLen:
		return fmt.Errorf("%w: salt of %d bytes", ErrBadDigest, len(d.Salt))
	case len(d.Filter) == 0 || len(d.Filter)%8 != 0 || len(d.Filter) > MaxDigestFilterBytes:
		return fmt.Errorf("%w: filter of %d bytes, want a multiple of 8 up to %d", ErrBadDigest, len(d.Filter), MaxDigestFilterBytes)
	}
	return nil
}

// probes returns the filter's two base hashes for id: SHA-256(salt || id),
// its first 8 bytes and its next 8 with the low bit set, little-endian.
func (d *Digest) probes(id capability.ID) (h1, h2 uint64) {
	h := sha256.New()
	h.Write(d.Salt)
	h.Write(id[:])
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16]) | 1
}

// add sets id's bits: bit (h1 + i·h2 mod 2^64) mod m for i < Hashes,
// bit j being bit j%8 (least significant first) of byte j/8.
func (d *Digest) add(id capability.ID) {
	h1, h2 := d.probes(id)
	m := uint64(len(d.Filter)) * 8
	for i := range d.Hashes {
		j := (h1 + i*h2) % m
		d.Filter[j/8] |= 1 << (j % 8)
	}
}

// Has reports whether the filter may hold id: false means the sender's
// window does not hold it; true is wrong for about 1 ID in 100 (for the
// sizes this node sends). An empty window holds nothing.
func (d *Digest) Has(id capability.ID) bool {
	if d.IDs == 0 {
		return false
	}
	h1, h2 := d.probes(id)
	m := uint64(len(d.Filter)) * 8
	for i := range d.Hashes {
		j := (h1 + i*h2) % m
		if d.Filter[j/8]&(1<<(j%8)) == 0 {
			return false
		}
	}
	return true
}
