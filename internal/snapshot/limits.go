package snapshot

import (
	"time"

	"github.com/ocmt/mesh/internal/peerseal"
)

// Limits of the format, each with its reason. doc.go's Limits table gives
// every one with its value; TestDocNumbersMatchTheConstants holds them
// together.
const (
	// FormatVersion is the manifest and root format this package writes,
	// and the only one it reads.
	FormatVersion = 1
	// ChunkSize is the ciphertext in every chunk block but the last: big
	// enough that a block's CID and framing are noise, small enough that
	// a reader holds one chunk.
	ChunkSize = 1 << 20
	// MaxChunks bounds the chunk list, so a root stays one block of at
	// most MaxRootBytes: 16 GiB of ciphertext per resource.
	MaxChunks = 16384
	// DigestSize is a sha2-256 digest, the only hash a chunk's CID uses.
	DigestSize = 32
	// MaxRootBytes bounds a root block: MaxChunks digests and a few
	// bytes of CBOR around them (the largest root is 524,307 bytes).
	MaxRootBytes = MaxChunks*DigestSize + 64
	// MaxBlockBytes is the largest block of a snapshot: a root or a chunk.
	MaxBlockBytes = ChunkSize
	// MaxSealedBytes is the largest sealed content: MaxChunks full chunks.
	MaxSealedBytes = MaxChunks * ChunkSize
	// CIDBytes is the binary length of every CID of the format (CIDv1,
	// raw codec, sha2-256): 0x01 0x55 0x12 0x20 and the digest.
	CIDBytes = 4 + DigestSize
	// KeyIDSize is a recipient's key ID: a prefix of a SHA-256 digest,
	// long enough that two keys never share one.
	KeyIDSize = 16
	// MaxRecipients bounds the recipient list: peerseal's cap, since the
	// file key is wrapped with it.
	MaxRecipients = peerseal.MaxRecipients
	// MaxResourceBytes bounds the resource name: a capability resource
	// path (capability.MaxResourceLen).
	MaxResourceBytes = 256
	// MaxPayloadBytes bounds a manifest's signed payload: 256 recipients'
	// key IDs (4.4 KiB) and the fixed fields.
	MaxPayloadBytes = 6144
	// MaxManifestBytes bounds a whole signed manifest: the payload, a
	// signature and the envelope.
	MaxManifestBytes = MaxPayloadBytes + 128
	// MaxLifetime bounds created-to-expiry: a snapshot is re-pushed on
	// every change and share, so a year is a generous ceiling; a
	// manifest that claims more is malformed.
	MaxLifetime = 366 * 24 * time.Hour
	// Skew is the clock tolerance on created and expiry.
	Skew = 60 * time.Second
)
