// Package recoverywire is the /ocmt/recovery/1 protocol: social recovery
// between a recovering device and the owner's friends. A device that lost
// its owner's password (a new home, no directory registration, no relay
// reservation) reaches each friend through the friend's relays and
// delivers a signed recovery request; later it fetches the friend's
// release, which the friend's node hands over only once its owner
// approved, the waiting period passed, and the owner did not veto. The
// owner's old node delivers its veto the same way. The device finally
// tells each friend it recovered.
//
// This comment is the specification of the protocol. The encoding rules
// (frames, canonical CBOR, peer IDs, statuses) are internal/wire's
// doc.go, the reply envelope internal/exchange's, and the signed messages
// (request, release, veto, share delivery) internal/recovery's; this text
// refers to them and does not repeat them. What a friend's node does with
// what it is given (its store, its bounds, its audit) is
// internal/socialrecovery's doc.go.
//
// # Protocol ID
//
//	/ocmt/recovery/1
//
// # Version changelog
//
//	1  first version: deliver, fetch, done; the mail format.
//
// # Limits
//
// Every number of the protocol, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name             value  unit      what it bounds
//	MaxMessageBytes  4096   bytes     a signed recovery message (internal/recovery)
//	RequestIDLen     32     bytes     a request ID (SHA-256 of the signed request), exactly
//	MaxTextLen       256    bytes     a reply's sentence
//	MaxRequest       4160   bytes     a request frame's body (MaxMessageBytes + 64)
//	MaxResponse      4608   bytes     a reply frame's body (MaxMessageBytes + MaxTextLen + 256)
//	Timeout          10     seconds   one exchange
//	peerRate         2      req/s     one peer's sustained request rate
//	peerBurst        10     requests  one peer's burst
//	maxLimited       4096   peers     peers the rate limiter remembers
//
// # Message flow
//
// One request and one reply per stream (internal/exchange): the client
// opens a stream (allowed over limited relay connections), writes one
// request frame of at most MaxRequest (4160) bytes, closes its write
// side, and reads one reply frame of at most MaxResponse (4608) bytes,
// all within Timeout (10) seconds.
//
// The server acts for the authenticated remote peer, the peer ID the
// libp2p secure channel proved. It answers a request in this order, and
// the first refusal is the reply:
//
//  1. the remote peer's token bucket: peerRate (2) requests a second, a
//     burst of peerBurst (10), over at most maxLimited (4096) peers (when
//     full it starts over) — RateLimited;
//
//  2. the canonical decode of the request — BadRequest;
//
//  3. the op and its fields (Frames): a field missing or refused, a
//     request ID of another length than RequestIDLen (32) — BadRequest;
//     a message over MaxMessageBytes (4096) — TooLarge;
//
//  4. the op's own checks and work:
//
//     - deliver: the message must open (internal/recovery Open: its
//     signature by the signer it names) and be a request or a veto —
//     BadRequest. A request must be fresh (internal/recovery
//     CheckRequest: at most MaxRequestAge old, at most MaxClockSkew
//     ahead) — Expired; for an owner whose share the node holds, or for
//     the node itself (its own vault: the old device is told) — NotFound
//     ("holds nothing for that owner") otherwise; room for it (the
//     node's bounds on requests per owner and in all) — Unavailable. A
//     request the node already holds (the same ID) is not a new one: the
//     reply is its state, and nothing changes. A veto must name a
//     request the node holds — NotFound; be signed by that request's
//     owner (internal/recovery CheckVeto) — Forbidden. Body: the
//     request's Status.
//     - fetch: the request must be one the node holds, and the remote
//     peer its device — NotFound otherwise (the same refusal, so a
//     stranger learns nothing). Body: the request's Status, with the
//     release in it once it is ready: the node's owner approved, the
//     waiting period ended (Until), and no veto came.
//     - done: as fetch; the node records that the device recovered
//     (StateRecovered) and tells its owner. Body: the new Status.
//
// Any other failure of the server is Internal, with no message. Statuses
// a recovery server sends: BadRequest, Forbidden, NotFound, TooLarge,
// Expired, RateLimited, Unavailable, Internal; every message is a sentence
// for a person and never holds a share.
//
// # Frames
//
// Request (CBOR map, integer keys, ≤ MaxRequest bytes), decoded
// canonically: a field is present only with a non-empty value, and
// unknown fields, duplicate keys, indefinite lengths and tags are refused
// (BadRequest):
//
//	1 op       uint8  required; 1 deliver, 2 fetch, 3 done
//	2 message  bytes  a signed recovery message, 1 to MaxMessageBytes bytes
//	3 request  bytes  a request ID, RequestIDLen bytes
//
// Op 0 and ops 4 to 255 are unknown (BadRequest). Fields per op (R
// required, - refused):
//
//	op          message request
//	1 deliver   R       -
//	2 fetch     -       R
//	3 done      -       R
//
// Status, the body of every OK reply (CBOR map):
//
//	1 state    uint8  required; 1 waiting (for the friend to approve),
//	                  2 helping (approved; the waiting period runs),
//	                  3 released, 4 vetoed, 5 expired, 6 recovered,
//	                  7 taken (a veto, or a request for the node's own
//	                  vault)
//	2 until    int    unix seconds: the end of the waiting period;
//	                  with state 2 and only with it
//	3 release  bytes  a signed release (internal/recovery KindRelease),
//	                  1 to MaxMessageBytes bytes; with state 3 and only
//	                  with it
//	4 text     text   at most MaxTextLen bytes: a sentence for a person
//
// A client refuses a body that breaks these rules (BadRequest). The
// release is checked by the device (internal/recovery Collector): it is
// signed by a friend the dealing names, answers this request, and holds
// a share that opens with the device's key and matches the commitments.
//
// # Mail
//
// When a peer cannot be reached live, the same messages go through the
// directory's mailbox (protocols/directory mailbox-put), sealed to the
// recipient's peer key (internal/peerseal). The plaintext is a canonical
// CBOR map of at most MaxRequest bytes with exactly one field:
//
//	1 message  bytes  a signed recovery message (a share delivery from
//	                  the owner, a request from a device, a veto from
//	                  the owner), 1 to MaxMessageBytes bytes
//	2 done     bytes  a request ID, RequestIDLen bytes: the device says
//	                  it recovered
//
// The recipient's node treats a mailed message as deliver treats it,
// without a remote peer: the signature alone says who sent it. A mailed
// done is taken for a request the node holds (its ID is known only to the
// device, the owner and the friends), and is shown as the device's claim.
// The bootstrap sees sealed bytes and their sizes only: no share, no key,
// no code.
package recoverywire
