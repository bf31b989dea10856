// Package share is the /ocmt/share/2 protocol: a grantee reads, lists,
// writes or deletes an owner's resources with a capability token the owner
// issued.
//
// This comment is the specification of the protocol. The encoding rules
// (frames, canonical CBOR, peer IDs, statuses) are internal/wire's doc.go,
// the reply envelope internal/exchange's, the token and the resource path
// capability's, and the Revoked detail and the token-failure table
// protocols/capwire's; this text refers to them and does not repeat them.
// testdata/README.md describes the vectors, and specs/share/check.py, at
// the module root, is an independent checker written from these texts.
//
// # Protocol ID
//
//	/ocmt/share/2
//
// # Version changelog
//
//	1  first version: read, list, write. A Revoked refusal named the
//	   revoker, the time and the token only in its message text.
//	2  a Revoked refusal carries the revoked token, its link in the chain,
//	   and (when the owner knows) the revoker and the time as a structured
//	   detail (reply field 4, below); the message is for humans only and
//	   nothing parses it. Token failures map to statuses through one table
//	   shared with grant and relay-access (protocols/capwire): a replay
//	   store that is full is now Unavailable, not Forbidden, and a chain
//	   over MaxDepth BadRequest. Op 4, delete, removes a resource under
//	   the delete action (version 1 offered write and never delete). The
//	   other requests and OK reply bodies are unchanged.
//
// Later in version 2, without a new ID (what a client sends did not
// change): a listing holds at most MaxListNames (1024) names, the first in
// byte order (it was 2000, in the store's order, and a client could not
// decode more than 1024); an empty read reply's data is written 40 (the
// empty byte string) where owners built before wrote null (0xf6), which
// clients decoding canonically (internal/exchange) refuse; and clients
// decode replies canonically.
//
// # Interoperability
//
// Version 1 is dropped, not served beside version 2. Nothing running it
// was deployed, and a version 1 client decodes the reply envelope strictly,
// so it would refuse a version 2 Revoked reply (unknown field 4) as
// malformed. Under distinct protocol IDs the mismatch surfaces at once, in
// multistream negotiation ("protocols not supported"), instead of as a
// confusing malformed reply on the one refusal that matters. Owner and
// grantee must both run version 2.
//
// # Limits
//
// Every number of the protocol, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name           value    unit        what it bounds
//	MaxData        4194304  bytes       a resource moved in one exchange (4 MiB)
//	MaxListNames   1024     names       a listing reply
//	maxPath        1024     bytes       the path field
//	MaxTokenBytes  4096     bytes       the token field (capability.MaxTokenBytes)
//	frameSlack     4096     bytes       framing allowed around data, token and path
//	MaxRequest     4203520  bytes       a request frame's body: MaxData + MaxTokenBytes + maxPath + frameSlack
//	MaxResponse    4198400  bytes       a reply frame's body: MaxData + frameSlack
//	Timeout        60       seconds     one exchange, relayed or not
//	DefaultRate    50       requests/s  each remote peer's sustained rate (Config.PerPeerRate)
//	DefaultBurst   100      requests    each remote peer's burst
//
// # Message flow
//
// One request and one reply per stream (internal/exchange). The grantee
// opens the stream, over a relay circuit if there is no direct path (the
// relay forwards only the end-to-end Noise stream), writes one request
// frame of at most MaxRequest (4203520) bytes and reads one reply frame
// of at most MaxResponse (4198400) bytes, within Timeout (60) seconds.
//
// The owner answers in this order; the first refusal is the reply:
//
//  1. the remote peer's token bucket, DefaultRate (50) a second with a
//     burst of DefaultBurst (100) unless configured — RateLimited;
//  2. the canonical decode of the request — BadRequest;
//  3. the request's own rules: an op other than 1 to 4 — BadRequest; a
//     path over maxPath (1024) bytes — BadRequest; data over MaxData
//     (4194304) bytes — TooLarge; data with an op other than write —
//     BadRequest;
//  4. the token, decoded strictly (capability/doc.go); a failure is
//     refused with protocols/capwire's status (BadRequest for a token
//     that is not well formed or over capability.MaxTokenBytes);
//  5. readiness: an owner still catching up on revocations after it
//     started — Unavailable (retry later);
//  6. for read, write and delete, the path must be a resource path
//     (capability/doc.go, "Resources") — BadRequest;
//  7. the token is verified by the capability package against the
//     authenticated remote peer of the stream (the token is never a
//     bearer secret), this node as owner, the path (for list, the token
//     must allow list; see below) and the op's one action; a failure is
//     refused with capwire's status (Forbidden, Expired, Revoked with its
//     detail, Unavailable, BadRequest);
//  8. the owner's store: no such resource (only now, after the token
//     allowed the path) — NotFound; the owner's vault is locked —
//     Locked; a resource larger than MaxData on read — TooLarge; any
//     other failure — Internal.
//
// Every served request, and every refused one, is audited by the owner.
//
// # Frames
//
// Request (CBOR map, integer keys; at most MaxRequest bytes), decoded
// canonically (internal/wire):
//
//	key  name   type   rule
//	1    op     uint8  required; 1 read, 2 list, 3 write, 4 delete (each
//	                   needs the action of its name); 0 and 5 to 255 are
//	                   BadRequest, and a value over 255 is malformed
//	2    path   text   optional; read, write, delete: the resource path
//	                   (required in effect: an absent path is no resource
//	                   path); list: a prefix, absent for "everything the
//	                   token covers"; at most maxPath bytes
//	3    token  bytes  required; the capability envelope (capability/doc.go)
//	4    data   bytes  optional; write only: the new content, 1 to MaxData
//	                   bytes; absent writes an empty resource
//
// A path or data present and empty (02 60, 04 40) is refused as an
// explicit zero, as for every optional field.
//
// List: the prefix loses one trailing "/", if it has one; a resource path
// is listed when the token's pattern matches it and it equals the prefix
// or starts with the prefix followed by "/" (an empty prefix lists
// everything the pattern matches). The prefix itself is not otherwise
// checked. The names are sorted bytewise; when more match, the reply
// holds the first MaxListNames (1024) and nothing says it was cut.
//
// Reply: the internal/exchange envelope (at most MaxResponse bytes):
//
//	1 status   uint16  a Status
//	2 message  text    for humans only, never parsed
//	3 body     map     status OK only, by op (below)
//	4 detail   map     status Revoked: RevokedDetail; status Expired:
//	                   WindowDetail (both protocols/capwire,
//	                   ≤ exchange.MaxDetail); no other status has one
//
// Bodies, decoded canonically:
//
//	read:   {1 data: bytes, required} — the resource, 0 to MaxData bytes
//	        (an empty resource is 01 40)
//	list:   {1 names: [text], required} — 0 to MaxListNames resource
//	        paths, sorted (no listing is 01 80)
//	write, delete: no body
//
// RevokedDetail (protocols/capwire "Revoked detail"; canonical CBOR,
// integer keys):
//
//	1 token  bytes  the revoked token's ID (32 bytes)
//	2 link   uint   its position in the presented chain, 1 = root
//	                (1 ≤ link ≤ of)
//	3 of     uint   the presented chain's length (≤ capability.MaxDepth)
//	4 by     bytes  the revoker's peer ID; absent when the owner does not know it
//	5 at     int    the revocation time, unix seconds (> 0); absent when
//	                the owner does not know it
//
// An owner always attaches the detail to a Revoked refusal of a token it
// verified (Server fills by and at from Config.RevokedBy). It attaches a
// WindowDetail (protocols/capwire "Window detail": the failing link, the
// chain's length, its not-before and expiry, the owner's clock and its
// clock-skew allowance) to an Expired refusal for time: the status is
// Expired whether the token has expired or is not valid yet, and the
// detail says which. No other status carries a detail. A grantee reads
// them with Revoked(err) and capwire.Window(err); a detail that is not
// well formed (capwire) is ignored, as if absent, and the refusal stands. A client does not check the listing's count or order, or the
// read data's size, beyond what the frame cap and the decoder enforce.
//
// Statuses an owner sends: BadRequest, Forbidden, Revoked (with the
// detail), Expired, NotFound, Locked, TooLarge, RateLimited, Unavailable
// and Internal. Which token failure gets which status is
// protocols/capwire's table.
package share
