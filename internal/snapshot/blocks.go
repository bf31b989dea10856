package snapshot

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/ocmt/mesh/internal/wire"
)

// CIDOf is the CID of a block: CIDv1, raw codec, sha2-256 of its bytes.
func CIDOf(block []byte) cid.Cid { return cidOfDigest(sha256.Sum256(block)) }

func cidOfDigest(d [DigestSize]byte) cid.Cid {
	h, err := mh.Encode(d[:], mh.SHA2_256)
	if err != nil {
		panic(err) // a 32-byte sha2-256 digest always encodes
	}
	return cid.NewCidV1(cid.Raw, h)
}

// ParseCID accepts exactly the CIDs of the format: CIDBytes bytes, CIDv1,
// raw codec, sha2-256 with a 32-byte digest. Anything else (another
// version, codec or hash, trailing bytes) is refused, so a CID has one
// byte form.
func ParseCID(b []byte) (cid.Cid, error) {
	if len(b) != CIDBytes {
		return cid.Undef, fmt.Errorf("CID of %d bytes, want %d", len(b), CIDBytes)
	}
	if b[0] != 0x01 || b[1] != 0x55 || b[2] != 0x12 || b[3] != DigestSize {
		return cid.Undef, fmt.Errorf("CID prefix %x, want 01551220 (CIDv1, raw, sha2-256)", b[:4])
	}
	c, err := cid.Cast(b)
	if err != nil || !bytes.Equal(c.Bytes(), b) {
		return cid.Undef, fmt.Errorf("not a CID")
	}
	return c, nil
}

// CheckBlock reports whether block hashes to c. c must be a CID of the
// format (ParseCID); any other is never matched.
func CheckBlock(c cid.Cid, block []byte) bool {
	want := c.Bytes()
	if len(want) != CIDBytes || want[1] != 0x55 || want[2] != 0x12 {
		return false
	}
	d := sha256.Sum256(block)
	return bytes.Equal(d[:], want[4:])
}

// Root is a decoded root block: the sealed size and each chunk's digest
// (doc.go "Root block"). Chunk i is bytes [i·ChunkSize, min((i+1)·ChunkSize,
// Size)) of the sealed stream.
type Root struct {
	Size   uint64
	Chunks [][DigestSize]byte
}

type rootWire struct {
	Format  uint64 `cbor:"1,keyasint"`
	Size    uint64 `cbor:"2,keyasint"`
	Digests []byte `cbor:"3,keyasint"`
}

// ChunkCount is how many chunks a sealed size takes.
func ChunkCount(size uint64) uint64 { return (size + ChunkSize - 1) / ChunkSize }

// ChunkLen is the length of chunk i of a sealed size.
func ChunkLen(size uint64, i int) int {
	rest := size - uint64(i)*ChunkSize
	return int(min(rest, ChunkSize))
}

// CID is chunk i's CID.
func (r *Root) CID(i int) cid.Cid { return cidOfDigest(r.Chunks[i]) }

// Marshal encodes the root block.
func (r *Root) Marshal() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	d := make([]byte, 0, len(r.Chunks)*DigestSize)
	for _, c := range r.Chunks {
		d = append(d, c[:]...)
	}
	return wire.Marshal(rootWire{Format: FormatVersion, Size: r.Size, Digests: d})
}

func (r *Root) check() error {
	if r.Size == 0 || r.Size > MaxSealedBytes {
		return fmt.Errorf("%w: root size %d outside 1..%d", ErrMalformed, r.Size, uint64(MaxSealedBytes))
	}
	if want := ChunkCount(r.Size); uint64(len(r.Chunks)) < want {
		return fmt.Errorf("%w: the root lists %d chunks, size %d needs %d", ErrTruncated, len(r.Chunks), r.Size, want)
	} else if uint64(len(r.Chunks)) > want {
		return fmt.Errorf("%w: the root lists %d chunks, size %d needs %d", ErrMalformed, len(r.Chunks), r.Size, want)
	}
	return nil
}

// ParseRoot decodes a root block strictly: its size cap, canonical CBOR,
// the format, and exactly the chunk count the size needs (fewer is
// ErrTruncated).
func ParseRoot(b []byte) (*Root, error) {
	if len(b) > MaxRootBytes {
		return nil, fmt.Errorf("%w: root of %d bytes, cap %d", ErrMalformed, len(b), MaxRootBytes)
	}
	var w rootWire
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return nil, fmt.Errorf("%w: root: %v", ErrMalformed, err)
	}
	if w.Format != FormatVersion {
		return nil, fmt.Errorf("%w: root format %d, want %d", ErrMalformed, w.Format, FormatVersion)
	}
	if len(w.Digests)%DigestSize != 0 {
		return nil, fmt.Errorf("%w: root digests of %d bytes, not a multiple of %d", ErrMalformed, len(w.Digests), DigestSize)
	}
	r := &Root{Size: w.Size, Chunks: make([][DigestSize]byte, len(w.Digests)/DigestSize)}
	for i := range r.Chunks {
		copy(r.Chunks[i][:], w.Digests[i*DigestSize:])
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}
