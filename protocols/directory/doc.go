// Package directory is the /ocmt/directory/1 protocol between a node and the
// bootstrap/metadata peer: publishing and resolving signed directory records
// (handle → peer ID, relay addresses) and the encrypted mailboxes that carry
// invites and grant envelopes to peers that are offline or not yet connected.
//
// # Protocol ID
//
//	/ocmt/directory/1
//
// # Version changelog
//
//	1  first version: publish, lookup, lookup-peer, mailbox put/fetch/ack.
//	   The server enforces the canonical encoding and the fields per op
//	   below. Servers built before that accepted non-canonical requests
//	   and field 7 on publish and lookup, contrary to this document; the
//	   client always sent what it specifies, so the ID did not change.
//
// # Message flow
//
// One request and one reply per stream. The client opens a stream (allowed
// over limited relay connections), writes one Request frame, closes its write
// side, and reads one Reply frame (internal/exchange.Reply: status, message,
// body). The server sets a read deadline before the first read, charges the
// stream's resource scope with each frame's size before allocating it, charges the remote peer's
// token bucket, answers, and closes the stream. Frames are uvarint length
// prefixed deterministic CBOR (internal/wire), capped in limits.go.
//
// The server always acts for the authenticated remote peer, the peer ID that
// the libp2p secure channel proved:
//
//   - publish: the record's peer ID must equal the remote peer and the
//     signature must verify under that ID's key. The first valid claim of a
//     handle wins; a later record for a handle (or from its owner under a new
//     handle) must come from the same key with a higher sequence number.
//   - lookup / lookup-peer: anyone may resolve; the reply carries the signed
//     envelope, and the client verifies it itself (the bootstrap can withhold
//     or serve an older record, never forge one).
//   - mailbox put: anyone may leave an opaque sealed blob (age-encrypted with
//     internal/peerseal to the recipient) for a registered recipient; the
//     server records the authenticated sender and enforces per-recipient,
//     per-sender and global quotas and a TTL (see dht.MailboxConfig). The
//     sender may name the capability IDs the blob carries (a grant names
//     its whole chain): mail naming a revoked one is refused with status
//     Revoked, and mail whose token is revoked while it waits is deleted,
//     never served.
//   - mailbox fetch / ack: only for the remote peer's own mailbox. Fetch
//     returns up to MaxFetchItems items without removing them; ack removes
//     the listed IDs. A lost reply therefore means redelivery, not loss.
//
// # Frames
//
// Request (CBOR map, integer keys, ≤ MaxRequest bytes). The server decodes
// it canonically: the bytes must be exactly the deterministic encoding of
// what they decode to, so a field is present only with a non-empty value,
// and unknown fields, duplicate keys, indefinite lengths and tags are
// refused (BadRequest):
//
//	1 op      uint    1 publish, 2 lookup, 3 lookup-peer, 4 mailbox-put,
//	                  5 mailbox-fetch, 6 mailbox-ack
//	2 record  map     SignedRecord (≤ MaxRecordBytes)
//	3 handle  text    a handle ([a-z0-9_-]{2,32})
//	4 peer    bytes   a peer ID (lookup-peer: whose record; mailbox-put:
//	                  the recipient)
//	5 sealed  bytes   the sealed blob (1–MaxSealedBytes)
//	6 ids     [bytes] item IDs, MailIDLen bytes each (1–MaxFetchItems)
//	7 tokens  [bytes] capability IDs, 32 bytes each (≤ MaxMailTokens)
//
// Fields per op (R required, O optional, - refused; op itself is always
// required). The server checks a request against its op's row, in one
// place, before the op sees it; a missing or refused field is BadRequest,
// and so is an op not listed here:
//
//	op               record handle peer sealed ids tokens
//	1 publish        R      -      -    -      -   -
//	2 lookup         -      R      -    -      -   -
//	3 lookup-peer    -      -      R    -      -   -
//	4 mailbox-put    -      -      R    R      -   O
//	5 mailbox-fetch  -      -      -    -      -   -
//	6 mailbox-ack    -      -      -    -      R   -
//
// Reply bodies (inside exchange.Reply field 3, status OK):
//
//	publish, mailbox-put, mailbox-ack: no body
//	lookup, lookup-peer: SignedRecord
//	mailbox-fetch: {1 items: [MailItem], 2 more: bool}
//	MailItem: {1 id: bytes(16), 2 from: bytes (peer ID), 3 received: int
//	          (unix seconds), 4 sealed: bytes}
//
// SignedRecord: {1 payload: bytes, 2 sig: bytes(64)}. The signature is
// Ed25519 by the record's peer key over keys.DirectoryMessage(payload), that
// is "ocmt-mesh/directory/v1" || 0x00 || payload. The payload is the
// canonical CBOR of:
//
//	1 v       uint   format version, 1
//	2 handle  text   [a-z0-9_-]{2,32}
//	3 peer    bytes  the owner's peer ID (Ed25519, identity multihash)
//	4 relays  [bytes] binary multiaddrs of the owner's relays (≤ MaxRelays)
//	5 name    text   display name (≤ MaxNameBytes, printable)
//	6 seq     uint   ≥ 1, strictly increasing per owner
//	7 issued  int    unix seconds when signed
//
// Statuses used: BadRequest (malformed or non-canonical, unknown op, a
// field missing or not allowed for the op, bad signature), Forbidden
// (record for another peer), NotFound, Conflict (handle taken, stale
// sequence), TooLarge (frame or mailbox quota), Revoked (mail naming a
// revoked capability; no detail: exchange.Reply field 4 is never sent),
// RateLimited, Internal.
package directory
