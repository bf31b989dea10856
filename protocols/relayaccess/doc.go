// Package relayaccess holds the protocols by which a peer shows a relay
// that it may reserve a slot: /ocmt/relay-access/1, by which a peer that
// is not in the directory presents a relay-access capability, issued by
// the relay's operator (signed with the relay's own peer key); and the
// registration protocols (section "Registrations"), by which a peer that
// is in the directory gets a voucher from its bootstrap
// (/ocmt/relay-voucher/1) and presents it with its record to the relay
// (/ocmt/relay-register/1), which checks it without asking the bootstrap.
//
// This comment is the specification of the protocols. The encoding rules
// (frames, canonical CBOR, statuses) are internal/wire's doc.go, the reply
// envelope internal/exchange's, the token capability's and the
// token-failure table protocols/capwire's; this text refers to them and
// does not repeat them. testdata/README.md describes the vectors, and
// specs/relayaccess/check.py, at the module root, is an independent
// checker written from these texts.
//
// # Protocol IDs
//
//	/ocmt/relay-access/1     peer → relay      a relay-access capability
//	/ocmt/relay-voucher/1    node → bootstrap  a voucher for the node's record
//	/ocmt/relay-register/1   node → relay      the record and its voucher
//
// # Version changelog
//
//	relay-access/1    first version: present. Clients now decode the
//	                  reply canonically and refuse a body in it
//	                  (internal/exchange); relays never sent one.
//	relay-voucher/1   first version.
//	relay-register/1  first version. A node whose bootstrap or relay does
//	                  not speak these (multistream refuses the ID) reserves
//	                  as before: the relay then asks the bootstrap.
//
// # Limits
//
// Every number of the protocol, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name           value   unit     what it bounds
//	MaxTokenBytes  4096    bytes    the token field (capability.MaxTokenBytes)
//	maxRequest     4160    bytes    a request frame's body (MaxTokenBytes + 64)
//	maxResponse    256     bytes    a reply frame's body
//	timeout        10      seconds  one exchange
//	MaxGrants      100000  peers    admitted peers a relay remembers, and its replay store's entries
//
// and of the registration protocols:
//
//	name                value   unit       what it bounds
//	VoucherVersion      1       -          the voucher payload's version field
//	MaxVoucherBytes     256     bytes      a voucher payload
//	VoucherTTL          21600   seconds    a voucher's lifetime as a bootstrap issues it (6 h)
//	MaxVoucherLifetime  86400   seconds    the longest voucher window a relay accepts (24 h)
//	MaxClockSkew        300     seconds    how far before its issued time a voucher is taken (directory.MaxClockSkew)
//	MaxRecordBytes      2688    bytes      the record envelope (directory.MaxRecordBytes)
//	maxRegistration     3072    bytes      a register request's body (MaxRecordBytes + MaxVoucherBytes + 128)
//	maxVoucherRequest   16      bytes      a voucher request's body
//	maxVoucherResponse  3152    bytes      a voucher reply's body (maxRegistration + 16 + 64)
//	MaxRegistrations    100000  peers      registered peers a relay remembers
//	RegisterRate        1       requests/s each peer's sustained rate on relay-register
//	RegisterBurst       4       requests   each peer's burst on relay-register
//	RegisterTotalRate   2000    requests/s all peers' rate on relay-register
//	RegisterTotalBurst  2000    requests   all peers' burst on relay-register
//	VoucherRate         1       requests/s each peer's sustained rate on relay-voucher
//	VoucherBurst        4       requests   each peer's burst on relay-voucher
//	VoucherTotalRate    1000    requests/s all peers' rate on relay-voucher
//	VoucherTotalBurst   2000    requests   all peers' burst on relay-voucher
//	maxTrackedPeers     10000   peers      peers each per-peer bucket set remembers
//
// # relay-access/1
//
// One request and one reply per stream (internal/exchange): the peer
// writes a request frame of at most maxRequest (4160) bytes and reads a
// reply frame of at most maxResponse (256) bytes, within timeout (10)
// seconds. The relay answers in this order; the first refusal is the
// reply:
//
//  1. the canonical decode of the request — BadRequest;
//  2. the token, decoded strictly (capability/doc.go) — refused with
//     protocols/capwire's status (BadRequest for bytes that are not a
//     token);
//  3. the token verified by the capability package: the root issuer must
//     be the relay itself, the leaf's audience the authenticated remote
//     peer, the resource the path "relay/access" (Resource) and the action
//     use; no link may be revoked; a max-uses budget is spent in a replay
//     store of MaxGrants (100000) entries — refused with capwire's status
//     (Forbidden, Expired, Revoked, Unavailable when the replay store is
//     full, BadRequest); a failure outside capwire's table is Internal;
//  4. the access list: when it holds MaxGrants (100000) peers, those
//     whose token has expired are dropped; if it is still full —
//     RateLimited.
//
// On success the relay admits the peer's reservations until the token
// expires, and checks the revocation set again at every reservation; a
// revocation put in force later cuts what the token admitted. A peer
// presenting again replaces its earlier token. There is no per-peer rate
// limit on this protocol: RateLimited means only a full access list.
//
// # relay-access/1 frames
//
// Request (CBOR map, integer keys), decoded canonically:
//
//	key  name   type   rule
//	1    token  bytes  required; the capability envelope (capability/doc.go)
//
// The reply has no body and never a detail (exchange.Reply field 4 is not
// sent: a relay-access/1 peer decodes the envelope without it; a client
// ignores one in a refusal). A Revoked refusal names the revoked token in
// its message, for humans. The structured revocation detail share/2 sends
// (capwire.RevokedDetail) would need relay-access/2; its one caller only
// logs the refusal, so version 1 stays.
//
// Statuses a relay sends: BadRequest (malformed request, or bytes that are
// not a token), Forbidden (not a valid access token for this peer),
// Revoked (a token in the chain was revoked), Expired (outside its
// validity window), RateLimited (the relay's access list is full),
// Unavailable (its replay store is full, or its resource manager refused
// the memory; retry later), TooLarge (a frame over maxRequest), Internal.
// Which token failure gets which status is protocols/capwire's table,
// shared with share and grant.
//
// # Registrations
//
// A relay lets a peer reserve if the peer is registered in the directory
// of one of the relay's bootstraps (protocols/directory). Asking the
// bootstrap about every reserving peer makes the bootstrap the relay's
// bottleneck, and lets a flood of unregistered identities spend its
// answers. So a registered node carries the proof: its own signed record
// (which any key can make) and a bootstrap's voucher that the directory
// holds that very record (which only the bootstrap can make). The relay
// checks both itself. Registration ends only when a bootstrap loses its
// store, so a voucher of hours is safe; it binds a record, not a handle,
// since any record of a registered peer proves the same thing.
//
// Registration (CBOR map, integer keys; the voucher reply's body and the
// register request), decoded canonically (internal/wire "CBOR"; every
// field of it and of the voucher is required, so a missing one, an
// unknown field, duplicate keys, indefinite lengths and tags are
// refused):
//
//	key  name     type   rule
//	1    record   map    required; the peer's SignedRecord (protocols/directory "Records")
//	2    voucher  bytes  required; the voucher payload, the exact signed bytes,
//	                     1 to MaxVoucherBytes (256)
//	3    sig      bytes  required; exactly 64 bytes
//
// The voucher payload (CBOR map, decoded canonically):
//
//	key  name       type   rule
//	1    v          uint   required; VoucherVersion (1)
//	2    peer       bytes  required; the registered peer's ID (internal/wire "Peer IDs")
//	3    bootstrap  bytes  required; the vouching bootstrap's peer ID, likewise
//	4    record     bytes  required; exactly 32 bytes: SHA-256 of field 1's payload
//	                       (the record payload's exact bytes, not its envelope)
//	5    issued     int    required; unix seconds when signed, > 0
//	6    expires    int    required; unix seconds, > issued and at most
//	                       MaxVoucherLifetime (86400) after it
//
// sig is Ed25519 (internal/wire "Ed25519") by the bootstrap's peer key,
// the key inlined in field 3, over
//
//	"ocmt-mesh/relay-voucher/v1" || 0x00 || voucher
//
// A registration is valid for a relay and the authenticated remote peer
// when, in this order (the first failure is the refusal):
//
//  1. the record verifies (protocols/directory "Records": the owner's
//     signature, every field) — BadRequest; its peer is the remote peer —
//     Forbidden;
//  2. voucher is 1 to MaxVoucherBytes (256) bytes and sig 64 bytes —
//     BadRequest; the voucher decodes canonically, v is 1, peer and
//     bootstrap are peer IDs, record is 32 bytes, 0 < issued < expires ≤
//     issued + MaxVoucherLifetime (86400) — BadRequest;
//  3. the voucher's peer is the remote peer — Forbidden; its record is
//     SHA-256 of the record's payload — Forbidden; its bootstrap is one
//     of the relay's bootstraps (those whose directory decides who may
//     reserve) — Forbidden;
//  4. the relay's clock is at or after issued − MaxClockSkew (300) and
//     before expires — Expired;
//  5. sig verifies under the bootstrap's key — Forbidden.
//
// The record says nothing of freshness; the voucher's window is the
// registration's. A node checks a voucher reply the same way, with its
// own ID as the remote peer and the bootstrap it asked as the relay's
// only bootstrap; a reply that fails is BadRequest.
//
// # relay-voucher/1
//
// One request and one reply per stream (internal/exchange), within
// timeout (10) seconds. The node writes a request frame of at most
// maxVoucherRequest (16) bytes whose body is the empty map (a0; no field
// is defined, so any field is unknown) and reads a reply frame of at most
// maxVoucherResponse (3152) bytes. The bootstrap answers in this order:
//
//  1. the remote peer's token bucket, VoucherRate (1) a second with a
//     burst of VoucherBurst (4), over at most maxTrackedPeers (10000)
//     peers (when it tracks more it starts over: a forgotten peer gets a
//     full bucket), then the bucket all peers share, VoucherTotalRate
//     (1000) a second with a burst of VoucherTotalBurst (2000) —
//     RateLimited;
//  2. the canonical decode of the request — BadRequest;
//  3. the record its directory holds for the remote peer: none —
//     NotFound;
//  4. the reply body: a Registration of that record, exactly as
//     published, and a voucher with peer the remote peer, bootstrap
//     itself, issued its clock and expires issued + VoucherTTL (21600).
//
// Statuses a bootstrap sends: RateLimited, BadRequest, NotFound,
// TooLarge (a frame over maxVoucherRequest), Unavailable (its resource
// manager refused the memory), Internal. A node asks after each publish
// the bootstrap took, and again when its voucher has less than half its
// life left.
//
// # relay-register/1
//
// One request and one reply per stream, within timeout (10) seconds: the
// node writes a request frame of at most maxRegistration (3072) bytes
// whose body is a Registration, and reads a reply frame of at most
// maxResponse (256) bytes with no body. The relay answers in this order:
//
//  1. the remote peer's token bucket, RegisterRate (1) a second with a
//     burst of RegisterBurst (4), over at most maxTrackedPeers (10000)
//     peers, then the bucket all peers share, RegisterTotalRate (2000) a
//     second with a burst of RegisterTotalBurst (2000) — RateLimited;
//  2. the canonical decode of the request — BadRequest;
//  3. the registration's checks 1 to 5 above, each with its status;
//  4. the registered list: when it holds MaxRegistrations (100000) peers
//     and not the remote peer, those whose voucher has expired are
//     dropped; if it is still full — RateLimited.
//
// On success the relay counts the peer as registered until the voucher
// expires; presenting again replaces the earlier voucher. The relay asks
// its bootstrap only about peers it does not know this way. Statuses a
// relay sends: RateLimited, BadRequest, Forbidden, Expired, TooLarge (a
// frame over maxRegistration), Unavailable, Internal. A node presents its
// registration before each reservation; a refusal is logged and the node
// reserves anyway (the relay may still find it in the directory).
package relayaccess
