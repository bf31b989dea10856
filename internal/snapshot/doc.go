// Package snapshot seals a resource for the cached tier: content of any
// size, encrypted once to the owner's current grantees, cut into blocks
// addressed by CID, and described by a manifest the owner signs. A cache
// that holds the blocks and the manifest can serve them, but cannot read
// them, roll them back or swap them: a reader checks the manifest's
// signature, time and version, and every block against its CID.
//
// This comment is the specification of the format. The encoding rules
// (canonical CBOR, peer IDs) are internal/wire's doc.go, the sealing
// internal/peerseal's, resource paths capability's; this text refers to
// them and does not repeat them. testdata/README.md describes the
// vectors.
//
// # Limits
//
// Every number of the format, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name              value        unit     what it bounds
//	FormatVersion     1            -        the manifest's and the root's format field
//	ChunkSize         1048576      bytes    sealed bytes in every chunk but the last
//	MaxChunks         16384        chunks   one root's chunk list
//	DigestSize        32           bytes    a chunk's sha2-256 digest
//	MaxRootBytes      524352       bytes    a root block (MaxChunks digests and 64 bytes)
//	MaxBlockBytes     1048576      bytes    any block: a chunk or a root
//	MaxSealedBytes    17179869184  bytes    sealed content (16 GiB: MaxChunks full chunks)
//	CIDBytes          36           bytes    every CID of the format, binary
//	KeyIDSize         16           bytes    a recipient's key ID
//	MaxRecipients     256          keys     a manifest's recipients (peerseal's cap)
//	MaxResourceBytes  256          bytes    the resource (capability.MaxResourceLen)
//	MaxPayloadBytes   6144         bytes    a manifest's signed payload
//	MaxManifestBytes  6272         bytes    a signed manifest (payload, signature, envelope)
//	MaxLifetime       31622400     seconds  created to expiry (366 days)
//	Skew              60           seconds  clock tolerance on created and expiry
//
// # Blocks and CIDs
//
// A block is a byte string. Its CID is CIDv1 with the raw codec (0x55)
// and a sha2-256 multihash (0x12, 32 bytes) of the block, so its binary
// form is always CIDBytes (36) bytes: 01 55 12 20 and the digest; the
// text form is go-cid's default (base32, "bafkrei…"). A reader and a
// cache accept no other CID (another version, codec, hash or length is
// malformed). Every block of a snapshot, the root included, is a raw
// block: the cache needs to know nothing of what it holds.
//
// # Sealing
//
// The owner seals one resource at a time. The plaintext is encrypted as
// one age v1 file (internal/peerseal "Sealed format") to the owner and
// every current, unrevoked grantee of the resource, repeats folded, at
// most MaxRecipients (256). age draws a fresh random file key for every
// file, so every snapshot, even of unchanged content, has its own key and
// shares no block with any other: a grantee revoked since the last
// snapshot is left out of the next one and cannot open it. What a grantee
// read (or could have read) of an earlier snapshot stays theirs; the
// cached tier takes nothing back.
//
// The age file's payload is age's STREAM: 64 KiB chunks sealed with
// ChaCha20-Poly1305 under a counter nonce with a last-chunk flag, so
// within a file chunks cannot be reordered, dropped or cut off at a chunk
// boundary, and a chunk of another snapshot (another file key) never
// opens. The sealed bytes (the whole age file: header and payload) are
// then cut into chunks: chunk i is bytes [i × ChunkSize, (i+1) ×
// ChunkSize) of it, the last chunk holding the 1 to ChunkSize bytes left.
// The sealed size S is at least 1 (an empty plaintext seals to a header
// and one empty age chunk) and at most MaxSealedBytes; the chunk count is
// ceil(S / ChunkSize), 1 to MaxChunks (16384). (A tree of roots would lift
// the cap; 16 GiB per resource is far above what a home node shares.)
//
// # Root block
//
// The root lists the chunks. It is a CBOR map, canonical (internal/wire):
//
//	key  name     type   rule
//	1    format   uint   FormatVersion (1)
//	2    size     uint   S, the sealed size: 1 to MaxSealedBytes
//	3    digests  bytes  the sha2-256 digest of each chunk, in order,
//	                     concatenated: exactly ceil(S / ChunkSize) × 32 bytes
//
// Chunk i's CID is the format's CID of digests[32i : 32i+32], and its
// size is ChunkSize but for the last, S − (n−1) × ChunkSize: the root
// fixes every chunk's CID and size. A root over MaxRootBytes is refused
// before it is decoded. Fewer digests than the size needs is
// ErrTruncated; more, or a length that is not a multiple of 32, is
// ErrMalformed.
//
// # Key IDs
//
// A recipient's key ID is the first KeyIDSize (16) bytes of SHA-256 of
// its X25519 recipient key (the 32-byte Montgomery u-coordinate that
// internal/peerseal derives from its Ed25519 peer ID). It names the key
// the file key was wrapped to, without the 38 bytes of a peer ID; anyone
// who knows a peer ID can compute its key ID, so the list hides nothing
// from a cache that knows its peers.
//
// # Manifest
//
// One manifest per (owner, resource) is current: the owner's signed
// statement of which snapshot to read. The envelope is a CBOR map,
// canonical: key 1 the exact payload bytes (at most MaxPayloadBytes,
// 6144), key 2 the 64-byte Ed25519 signature by the owner's peer key over
//
//	"ocmt-mesh/manifest/v1" || 0x00 || payload
//
// (internal/keys LabelManifest; the verification rule is the token
// format's: Go's crypto/ed25519, cofactorless, canonical S). The whole
// envelope is at most MaxManifestBytes (6272). The payload:
//
//	key  name        type         rule
//	1    format      uint         FormatVersion (1)
//	2    owner       bytes        the owner's peer ID (internal/wire "Peer IDs")
//	3    resource    text         a capability resource path (no wildcards), ≤ MaxResourceBytes
//	4    version     uint         ≥ 1; each snapshot of the resource has a higher one
//	5    root        bytes        the root block's CID (CIDBytes, 36)
//	6    size        uint         S, the sealed size; equal to the root's
//	7    recipients  [bytes]      1 to MaxRecipients key IDs of KeyIDSize bytes,
//	                              strictly increasing bytewise; the owner's among them
//	8    created     int          unix seconds, > 0
//	9    expiry      int          unix seconds, > created, expiry − created ≤ MaxLifetime
//
// Every field is required. Versions need no counter kept apart: the node
// uses the unix nanoseconds of sealing, or one more than the last it
// pushed, whichever is higher.
//
// # Reading
//
// A reader asks for (owner, resource) and checks the manifest it is
// given (Check) in this order; the first failure is the answer:
//
//  1. the envelope and payload decode canonically within their caps, and
//     every field keeps its rule — ErrMalformed;
//  2. the signature verifies under the owner the payload names —
//     ErrWrongSigner;
//  3. that owner is the one asked for — ErrWrongSigner;
//  4. the resource is the one asked for — ErrSwapped;
//  5. now ≤ expiry + Skew and created ≤ now + Skew — ErrExpired;
//  6. the reader's key ID is among the recipients — ErrNotRecipient;
//  7. rollback (below): a version below the highest seen, or equal to it
//     with another payload — ErrRolledBack. Only a manifest that passed
//     1 to 6 is recorded.
//
// Then (Read) it takes the root block and checks it against the root
// CID (ErrSwapped), decodes it (ErrMalformed, or ErrTruncated for a short
// list) and checks its size against the manifest's (ErrMalformed). It
// takes the chunks in order, each checked against its CID (ErrSwapped)
// and its size (ErrMalformed) before a byte of it is used; a source that
// ends early is ErrTruncated. The chunks' bytes are opened as an age file
// with the reader's peer key: no stanza opens (ErrNotRecipient), or
// anything else fails (ErrMalformed). Plaintext leaves Read only after
// age has authenticated it, 64 KiB at a time. Memory: one block and one
// age chunk, whatever the size.
//
// # Rollback
//
// A reader keeps, per (owner, resource), the highest version it has
// accepted and SHA-256 of that manifest's payload (State;
// DatastoreState keeps 40 bytes, the version as 8 bytes big-endian and
// the hash, at /OWNER/RESOURCE under the namespace it is given: the owner's
// peer ID in base58, the resource in unpadded base64url). So a cache can
// serve only the newest manifest the reader has seen or a newer one.
// It can still withhold: serve nothing, or an old version to a reader
// that never saw a newer one. The expiry bounds how stale that can be.
//
// # Errors
//
// ErrRolledBack, ErrSwapped, ErrTruncated, ErrWrongSigner, ErrExpired,
// ErrNotRecipient, ErrMalformed, and ErrTooLarge (Seal: content over
// MaxSealedBytes once sealed). Each is a sentinel for errors.Is; the
// error wraps it with what was found (versions, a chunk's index), never
// plaintext or key material.
package snapshot
