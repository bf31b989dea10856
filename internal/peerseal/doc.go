// Package peerseal encrypts to a peer: it derives an age X25519 recipient
// from an Ed25519 libp2p peer ID and the matching age identity from a
// keys.PeerKey, so anything addressed to a peer ID can be sealed without a
// key exchange and opened only by the holder of that peer key.
//
// This comment is the specification of the derivation and of the sealed
// format as the mesh uses it (mailbox items, protocols/grant and
// protocols/directory). testdata/README.md describes the vectors, and
// specs/peerseal/check.py, at the module root, is an independent checker
// written from this text: it derives recipients and identities, and opens
// every vector with the recipient's seed (X25519, HKDF-SHA256,
// HMAC-SHA256 and ChaCha20-Poly1305 in pure Python), so it checks the
// whole format, not only its framing.
//
// # Limits
//
// Every number of the format, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name                value    unit        what it bounds
//	MaxRecipients       256      recipients  one sealed message's recipients (Seal refuses more)
//	FileKeySize         16       bytes       the file key
//	ShareSize           32       bytes       an X25519 share, a wrapped file key's stanza body
//	MACSize             32       bytes       the header MAC
//	NonceSize           16       bytes       the payload nonce
//	ChunkSize           65536    bytes       plaintext in each payload chunk but the last
//	TagSize             16       bytes       a chunk's Poly1305 tag
//	ColumnsPerLine      64       characters  a stanza body line, at most
//	MaxHeaderBytes      2097152  bytes       a header, at most (age's cap, 2 MiB)
//	MaxRecipientStanzas 1024     stanzas     a header's stanzas, at most (age's cap)
//
// # Keys
//
// A recipient is a peer ID (internal/wire "Peer IDs": the canonical
// Ed25519 form, a canonical key of large order; anything else is refused,
// ErrBadRecipient). Its key must also decode to a point of edwards25519:
// y (the 255 low bits, little-endian) must have an x with −x² + y² = 1 +
// d·x²·y², d = −121665/121666 mod p; 32 bytes that are no curve point are
// refused (ErrBadRecipient). The X25519 recipient is the point's
// Montgomery u-coordinate
//
//	u = (1 + y) / (1 − y) mod p,        p = 2^255 − 19
//
// as 32 bytes little-endian (RFC 7748). Its age string is Bech32 (BIP 173)
// with the human-readable part "age" of those 32 bytes: "age1" and 58
// lower-case characters.
//
// The identity of a peer key with Ed25519 seed s is the X25519 scalar
// k = SHA-512(s)[0:32], the same 32 bytes Ed25519 clamps into its signing
// scalar, so u = X25519(k, 9) is the recipient derived from the peer ID
// above. X25519 clamps k itself (RFC 7748). Its age string is Bech32 with
// the part "AGE-SECRET-KEY-" of k, upper-cased. Low-order and identity
// points are refused because a recipient built from one would let anyone
// compute the shared secret; the small-order test of the peer ID rules
// is exactly that test.
//
// Using one Ed25519 key for signatures and for X25519 key agreement is safe
// under the analysis of Thormarker, "On using the same key pair for Ed25519
// and an X25519 based KEM" (2021); age's HKDF binds the stanza to both public
// keys, and the mesh's signatures always carry a domain label.
//
// # Sealed format
//
// A sealed message is an age v1 file (age-encryption.org/v1, C2SP age),
// which the age tool opens with the derived identity. Seal writes, for a
// list of 1 to MaxRecipients (256) peer IDs with repeats folded, in the
// order given:
//
//	"age-encryption.org/v1\n"
//	for each recipient:  "-> X25519 " base64(share) "\n" base64(body) "\n"
//	"---" " " base64(mac) "\n"
//	nonce (NonceSize bytes) || chunk_0 || ... || chunk_n
//
// base64 is the standard alphabet without padding, and canonical (unused
// bits zero). For each recipient u, with a fresh random ephemeral scalar
// e: share = X25519(e, 9); the wrapping key is HKDF-SHA256(ikm = X25519(e,
// u), salt = share || u, info = "age-encryption.org/v1/X25519", 32 bytes);
// body = ChaCha20-Poly1305(wrapping key, nonce = 12 zero bytes, file key),
// 32 bytes. The file key is FileKeySize (16) random bytes. The MAC is
// HMAC-SHA256 with the key HKDF-SHA256(ikm = file key, no salt, info =
// "header", 32) over the header from its first byte up to and including
// "---". The payload key is HKDF-SHA256(ikm = file key, salt = nonce,
// info = "payload", 32); the plaintext is cut into chunks of ChunkSize
// (65536) bytes but the last (which holds 1 to ChunkSize bytes, or 0 when
// the plaintext is empty), and chunk i is ChaCha20-Poly1305(payload key,
// nonce = i as 11 bytes big-endian || 0x01 on the last chunk, else
// 0x00, plaintext_i).
//
// Opening (Open, with the peer key whose identity is k) reads any age v1
// file, in this order, and fails on the first broken rule:
//
//  1. the header: the intro line exactly; then stanzas until a line
//     starting "---". A stanza's first line is "->", a space, and 1 or
//     more arguments separated by single spaces (the first is its type),
//     each 1 or more characters from '!' to '~'; then its body, base64 in
//     lines of exactly ColumnsPerLine (64) characters and a last line of
//     fewer (possibly empty), each line ending "\n". The closing line is
//     "---", one space and the MAC (32 bytes, 43 characters). At least one
//     stanza, at most MaxRecipientStanzas (1024), and at most
//     MaxHeaderBytes (2097152) bytes of header;
//  2. the file key: the stanzas in order. A stanza whose type is not
//     "X25519" is skipped. An X25519 stanza must have exactly one more
//     argument, the share, 32 bytes of canonical base64, and a body of
//     32 bytes, and X25519(k, share) must not be all zero — otherwise the
//     open fails. Its body is opened with the wrapping key (salt = share
//     || X25519(k, 9)); if that fails the stanza is skipped, and the first
//     one that opens gives the file key: later stanzas are not looked at.
//     No stanza opens: ErrNotRecipient;
//  3. the header MAC;
//  4. the nonce, NonceSize bytes;
//  5. the chunks: each ChunkSize + TagSize bytes, but the last, which is
//     shorter, or full and opens only as last; a chunk that opens with
//     neither flag, a message that ends without a chunk flagged last, a
//     last chunk of no plaintext after the first chunk, and bytes after
//     the last chunk fail the open. Each chunk is authenticated before
//     any of its bytes are returned.
//
// Tampering anywhere fails the whole open. A sealed message can be
// streamed (Encrypt, Decrypt): memory stays at one chunk each way. Its size
// is bounded by the format that carries it: directory's MaxSealedBytes,
// grant's mailbox cap.
package peerseal
