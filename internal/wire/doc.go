// Package wire is the encoding every OCMT Mesh format and protocol uses:
// uvarint length-prefixed frames whose size is checked against a per-
// protocol cap before anything is allocated, deterministic CBOR bodies
// decoded strictly and canonically, the one byte form of a peer ID, and
// a stable numeric Status for failures that cross the wire. It knows
// nothing of libp2p, so records and stores use it too; internal/exchange
// runs one request/reply exchange on a libp2p stream with it.
//
// This comment is the specification of those rules. Every format's
// doc.go refers to it for them (protocols/..., capability/revocation,
// internal/exchange); an implementation written from the doc.go files
// alone must reproduce every committed vector. testdata/README.md
// describes this package's vector files, and specs/wire/check.py, at the
// module root, is an independent checker written from this text.
//
// # Limits
//
// Every number of this package, with its value. The named constants are
// the source of truth; TestDocNumbersMatchTheConstants checks this table,
// and every "Name (value)" below, against them.
//
//	name              value  unit      what it bounds
//	MaxVarintLen      5      bytes     a frame's length prefix
//	MaxArrayElements  1024   elements  any CBOR array, anywhere in an input
//	MaxMapPairs       64     pairs     any CBOR map, anywhere in an input
//	MaxNestedLevels   16     levels    nesting of arrays and maps; the outermost item is level 1
//	PeerIDLen         38     bytes     a peer ID, exactly
//
// # Frames
//
// Every message travels as one frame:
//
//	frame = uvarint(n) || body        ; body is exactly n bytes
//
// uvarint is unsigned LEB128: seven bits a byte, least significant group
// first, the high bit (0x80) set on every byte but the last. A reader
// takes the prefix one byte at a time, so it never consumes a byte past
// the frame, and refuses, in this order:
//
//  1. a prefix that is not minimal: a last byte of 0x00 after at least
//     one byte with the high bit set ("81 00" for 1) — BadRequest;
//  2. a prefix of more than MaxVarintLen (5) bytes (the fifth byte has
//     the high bit set) — BadRequest. Five bytes hold lengths below 2^35;
//  3. a length n over the cap of the protocol and direction (each
//     protocol's limits, e.g. directory's MaxRequest) — TooLarge. This
//     check comes before anything is allocated for the body, and before
//     any byte of the body is read.
//
// A zero-length frame is valid (its body then fails to decode as CBOR).
// The end of the stream before the first byte of a prefix is a clean end;
// inside a prefix or a body it is a truncated frame, which gets no reply
// (internal/exchange). A sender refuses to write a frame over the cap, so
// it never sends what its peer must refuse.
//
// # CBOR
//
// Every body, record and payload is CBOR (RFC 8949) written in the core
// deterministic encoding (RFC 8949 §4.2.1) and decoded canonically:
//
//   - Only these data types occur: unsigned integers (major type 0),
//     negative integers (major type 1), byte strings (2), text strings
//     (3, valid UTF-8), arrays (4), maps (5) and the simple values false
//     (0xf4) and true (0xf5). Tags (major type 6), null (0xf6), undefined
//     (0xf7), other simple values and floats are no field's value.
//   - Integers, lengths and counts use the shortest head: values below 24
//     in the initial byte, then 1, 2, 4 or 8 bytes only when the value
//     needs them.
//   - Lengths are definite: no indefinite-length string, array or map,
//     and no break byte.
//   - Map keys are sorted by their encoded bytes, bytewise, each once.
//
// A message is a map with small unsigned-integer keys, given in each
// format's tables as "key name type". The types are the CBOR major types,
// and no other is accepted for a field:
//
//	uint    major type 0, 0 to 2^64 − 1 unless the table gives a narrower
//	        range (uint8: ≤ 255, uint16: ≤ 65535); a larger value is
//	        malformed, not clamped
//	int     major type 0 or 1, −2^63 to 2^63 − 1
//	bytes   major type 2
//	text    major type 3, valid UTF-8 (no surrogates, no overlong forms)
//	bool    0xf4 or 0xf5
//	[T]     an array (major type 4) of T
//	map     a nested message (major type 5), decoded by the same rules
//	any     one data item, kept as its exact bytes (internal/exchange)
//
// Every field is required or optional. A required field is always
// present, even when its value is 0 or empty (a required uint 0 is
// written as the byte 00 after its key, a required empty byte string as
// 40, an empty array as 80). An optional field is present only with a
// value other than its zero value: the integer 0, false, the empty text
// or byte string and the empty array are never written for an optional
// field, and absence is the only way to say "none". A decoder refuses,
// with status BadRequest (or the format's "malformed" error):
//
//  1. bytes that are not one well-formed data item, or that hold bytes
//     after it;
//  2. an indefinite length, a tag, reserved additional information (28
//     to 30) or a two-byte simple value below 32;
//  3. an array of more than MaxArrayElements (1024) elements, a map of
//     more than MaxMapPairs (64) pairs, or arrays and maps nested more
//     than MaxNestedLevels (16) levels deep, the outermost item counting
//     as level 1 (rules 1 to 3 hold for the whole input, "any" items
//     included);
//  4. a head that is not the shortest, map keys out of order or repeated,
//     text that is not valid UTF-8, and a simple value other than false
//     or true (null included) where a field's value is read;
//  5. a map key that is not an unsigned integer the message defines (an
//     unknown field), a field of another major type than its table
//     says, or an integer outside its type's range;
//  6. a missing required field, or an optional field present with its
//     zero value.
//
// So each value has exactly one byte form, and a decoder may re-encode
// what it decoded and compare (the Go decoder does: UnmarshalCanonical).
// The caps of rule 3 are about allocation; each format's own field caps
// are lower and are checked after decoding. Encoders (Marshal) write a
// nil byte string, array or map as the empty one, never as null.
// Unmarshal, the strict decoder without the canonical rules 4 and 6, is
// for the module's own stored values only, never for bytes from a peer.
//
// # Peer IDs
//
// A peer ID on the wire, in every format, is the canonical Ed25519 form
// and nothing else, exactly PeerIDLen (38) bytes:
//
//	00 24 08 01 12 20 || key        ; identity multihash of the protobuf
//	                                ; PublicKey{Type: Ed25519, Data: key}
//
// key is the 32-byte Ed25519 public key (RFC 8032 encoding), and it must
// be canonical and of large order (internal/keys.CheckPeerPublic): its y,
// the 255 low bits read little-endian, is below p = 2^255 − 19, and y (the
// sign bit, bit 255, ignored) is none of the five y coordinates of the
// eight points of small order:
//
//	0000000000000000000000000000000000000000000000000000000000000000
//	0100000000000000000000000000000000000000000000000000000000000000
//	ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f
//	26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05
//	c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a
//
// (little-endian: y = 0, 1, p − 1 and the two y of the points of order 8).
// Under such a key anyone can make signatures a cofactorless verifier
// accepts, so no format accepts one. Key bytes that are not a curve point
// at all are not refused here: no signature verifies under them and no
// one can be such a peer. RSA, secp256k1 and hashed (SHA-256 multihash)
// peer IDs are refused everywhere. The text form of a peer ID, in logs and
// vectors, is base58btc of the 38 bytes (it starts "12D3KooW").
//
// Signatures are Ed25519 (RFC 8032) as the Go standard library verifies
// them: the public key is the peer ID's key, S (the signature's last 32
// bytes, little-endian) must be below the group order ℓ, k = SHA-512(R ||
// key || message) mod ℓ, and the encoding of [S]B − [k]A must equal R,
// the signature's first 32 bytes, byte for byte. Every signed message is
// domain-separated: a label, a zero byte, the payload (internal/keys).
//
// # Statuses
//
// A failure that crosses the wire carries a Status, an unsigned integer
// (at most 65535; the reply envelope is internal/exchange.Reply). The
// numbers are fixed: never renumbered, only appended. A peer that
// receives a number it does not know treats it as Internal.
//
//	status  name          meaning
//	0       OK            success
//	1       BadRequest    malformed, non-canonical, a field missing, not allowed or over its cap, unknown op
//	2       Unauthorized  the remote peer could not be authenticated for this (defined; no protocol sends it)
//	3       Forbidden     authenticated, but not allowed
//	4       NotFound      no such thing (or not visible to you)
//	5       TooLarge      a frame or a quota exceeded its cap
//	6       RateLimited   slow down and retry later
//	7       Revoked       a capability in the chain was revoked
//	8       Expired       a capability or record is outside its time window
//	9       Locked        the serving vault is locked
//	10      Internal      the server failed; details stay in its log
//	11      Conflict      the write collides with existing state (taken, stale)
//	12      Unavailable   temporarily cannot serve (shutting down, busy, catching up)
//
// Each protocol's doc.go lists the statuses its server sends and when.
// Error.Message is for humans and nothing parses it; a refusal whose
// status a protocol defines a structured detail for carries it in the
// reply's field 4 (internal/exchange).
package wire
