// Package wake is the /ocmt/wake/1 protocol: wake-on-request through a
// relay. A home node that hibernates (its process exits) first tells the
// relays it held a reservation on; a grantee who asks for the asleep
// owner asks one of those relays to wake it, proving with a token that
// the owner granted it something; the relay runs the hook its operator
// configured (internal/wakehook) once per burst of such requests and
// answers them when the owner's reservation returns. A node may also
// leave a sealed half of a resume key at the relay, which only the node
// itself can take back.
//
// This comment is the specification of the protocol. The encoding rules
// (frames, canonical CBOR, peer IDs, statuses) are internal/wire's
// doc.go, the reply envelope internal/exchange's, and the token format
// capability's; this text refers to them and does not repeat them.
//
// # Protocol ID
//
//	/ocmt/wake/1
//
// # Version changelog
//
//	1  first version: hibernate, wake, resume, forget.
//
// # Limits
//
// Every number of the protocol, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name                         value    unit      what it bounds
//	MaxHalfBytes                 256      bytes     a sealed half
//	MinHandleLen                 2        bytes     a handle, at least (protocols/directory)
//	MaxHandleLen                 32       bytes     a handle, at most (protocols/directory)
//	PeerIDLen                    38       bytes     a peer ID (internal/wire "Peer IDs")
//	MaxTokenBytes                4096     bytes     a token's envelope (capability)
//	MaxRequest                   4608     bytes     a request frame's body (MaxTokenBytes + 512)
//	MaxResponse                  1024     bytes     a reply frame's body
//	Timeout                      10       seconds   a hibernate, resume or forget exchange
//	WakeSlack                    15       seconds   a wake exchange besides its wait
//	MaxTTL                       300      seconds   a server's TTL, at most
//	MaxUntil                     2592000  seconds   how far ahead of the relay's clock until may lie (30 days)
//	DefaultTTL                   60       seconds   how long a wake waits for the owner
//	DefaultHookTimeout           30       seconds   one hook call
//	DefaultAsleepFor             2592000  seconds   how long a node that does not come back is remembered asleep
//	DefaultMaxAsleep             16384    nodes     nodes a relay remembers (asleep or holding a half)
//	DefaultMaxWaiters            4096     wakes     wakes waiting at once, all owners
//	DefaultMaxWaitersPerOwner    64       wakes     wakes waiting for one owner
//	DefaultMaxWaitsPerRequester  8        wakes     wakes one requester has waiting, all owners
//	DefaultMaxHooks              64       calls     hook calls running at once
//	SweepEvery                   60       seconds   how often lapsed state is deleted
//	peerRate                     2        req/s     one peer's sustained request rate
//	peerBurst                    10       requests  one peer's burst
//	maxLimited                   4096     peers     peers the rate limiter remembers
//
// # Message flow
//
// One request and one reply per stream (internal/exchange): the client
// opens a stream (allowed over limited relay connections), writes one
// request frame of at most MaxRequest (4608) bytes, closes its write
// side, and reads one reply frame of at most MaxResponse (1024) bytes.
// Hibernate, resume and forget are one round trip, bounded by Timeout
// (10) seconds. A wake's reply may come late: the relay holds the stream
// until the owner is back, its TTL passes or its hook fails, so the
// relay bounds a wake exchange by its TTL plus WakeSlack (15) seconds,
// and a client waits MaxTTL (300) plus WakeSlack seconds, enough for any
// relay. (The server cannot know the op before it has read the request,
// so it gives every exchange that bound.) A requester that gives up early
// is still counted in the caps below until its TTL passes: the relay
// answers a stream, it does not watch it.
//
// The server acts for the authenticated remote peer, the peer ID that the
// libp2p secure channel proved: hibernate, resume and forget have no
// field that could name another node. It answers a request in this
// order, and the first refusal is the reply:
//
//  1. the remote peer's token bucket: peerRate (2) requests a second, a
//     burst of peerBurst (10), over at most maxLimited (4096) peers (when
//     full it starts over) — RateLimited;
//
//  2. the canonical decode of the request (internal/wire "CBOR") —
//     BadRequest;
//
//  3. the op, one of the four below, and the fields per op (below): a
//     required field missing or a refused field present — BadRequest;
//
//  4. each field's form, checked in the order listed (so a 257-byte half
//     without an until is TooLarge): a handle as protocols/directory's (MinHandleLen
//     (2) to MaxHandleLen (32) bytes of a-z, 0-9, '-' and '_'), an owner
//     that is a peer ID, a token of at most MaxTokenBytes (4096) bytes —
//     BadRequest; a half of more than MaxHalfBytes (256) bytes —
//     TooLarge; a half without an until or an until without a half, or
//     an until before 1970 — BadRequest;
//
//  5. the op's own checks and work, as follows.
//
//     - hibernate: the relay's operator decides who may hibernate
//     (Config.Authorizer: the peers holding a reservation here) —
//     Forbidden otherwise; when the relay checks handles
//     (Config.CheckHandle, the directory's record), a handle that is
//     not the node's — Forbidden; with a half, until must be after the
//     relay's clock and at most MaxUntil (2592000) seconds after it —
//     BadRequest; a node the relay holds nothing for, when it holds
//     DefaultMaxAsleep (16384) nodes after deleting what lapsed —
//     Unavailable. The relay then records the remote peer as asleep
//     under the handle, for DefaultAsleepFor (2592000) seconds at most,
//     with the half and its until if given, replacing what it held for
//     that peer before. Body: none.
//     - wake: the token (Tokens, below) — its status; the owner holds a
//     reservation here now and has not hibernated since it was taken (a
//     reservation still up after a hibernation is the old one, ending) —
//     OK at once; the owner is not asleep here —
//     NotFound ("not asleep at this relay"); the requester already has
//     DefaultMaxWaitsPerRequester (8) wakes waiting here, all owners —
//     RateLimited; DefaultMaxWaitersPerOwner (64) wakes already wait for
//     this owner, or DefaultMaxWaiters (4096) for all — Unavailable. The
//     request then waits. The first wake for an owner with none waiting
//     starts a burst and fires the hook, with the handle the owner
//     hibernated under and its peer ID; the wakes that come while the
//     burst lasts join it and fire nothing. If the owner's previous hook
//     call has not returned, or DefaultMaxHooks (64) calls are running,
//     the wake that would fire is refused — Unavailable. Every waiter
//     is answered OK when the owner's reservation returns (the relay
//     calls Server.Reserved); a waiter whose DefaultTTL (60, at most
//     MaxTTL) seconds pass first — Unavailable, saying so; if the hook
//     fails, or does not return within DefaultHookTimeout (30) seconds,
//     every waiter of the burst — Unavailable, saying the relay could not
//     wake the owner (the hook's own error stays in the relay's log).
//     The burst ends when none waits; the next wake starts another. A
//     slow or hung hook delays no other owner: each call runs on its own.
//     Body: none.
//     - resume: the half the remote peer left, if the relay holds one
//     whose until has not passed — NotFound otherwise. The relay deletes
//     the half as it answers: it is handed back once. Body: ResumeReply.
//     - forget: the relay deletes all it holds for the remote peer (the
//     asleep state and the half); OK also when it held nothing. Body:
//     none.
//
// Any other failure of the server is Internal, with no message. Statuses
// a wake server sends: BadRequest, Forbidden, NotFound, TooLarge, Revoked,
// Expired, RateLimited, Unavailable, Internal; every message is a
// sentence for a person and never holds a half.
//
// # Tokens
//
// A wake carries a capability token's envelope bytes (capability's
// format), presented by the requester: it need only prove that the owner
// granted the requester something, so any resource and any action will
// do. The relay checks, in this order, and refuses with the status
// protocols/capwire gives the failure and a sentence saying which:
//
//  1. it decodes (capability.Decode) — BadRequest;
//  2. its audience (the leaf's) is the remote peer — Forbidden;
//  3. its root issuer is the owner named — Forbidden;
//  4. its chain's signatures, links and ceilings hold (capability's
//     Verification steps 2 to 4) — Forbidden;
//  5. the relay's clock lies in every link's window, with the verifier's
//     skew — Expired;
//  6. no link is in the relay's revocation set — Revoked.
//
// Steps 2 and 3 come before the signatures, so a token that is not for
// this requester and owner costs no signature check and takes no place in
// the relay's chain cache. A token with a use budget is not spent: the
// budget is the owner's to count when the owner serves the request.
//
// # Frames
//
// Request (CBOR map, integer keys, ≤ MaxRequest bytes), decoded
// canonically: a field is present only with a non-empty value, and
// unknown fields, duplicate keys, indefinite lengths and tags are refused
// (BadRequest):
//
//	1 op      uint8  required; 1 hibernate, 2 wake, 3 resume, 4 forget
//	2 handle  text   the node's directory handle
//	3 half    bytes  the sealed half of a resume key, 1 to MaxHalfBytes
//	                 bytes, opaque to the relay (sealed by the node to its
//	                 own key)
//	4 until   int    unix seconds: when the relay deletes the half
//	5 owner   bytes  a peer ID: the node to wake
//	6 token   bytes  a capability token's envelope
//
// Op 0 and ops 5 to 255 are unknown (BadRequest). Fields per op (R
// required, O optional, - refused):
//
//	op            handle half until owner token
//	1 hibernate   R      O    O     -     -
//	2 wake        -      -    -     R     R
//	3 resume      -      -    -     -     -
//	4 forget      -      -    -     -     -
//
// and half and until come together or not at all (checked in step 4,
// after the half's size).
//
// ResumeReply, the body of a resume's OK reply (CBOR map, both fields
// required):
//
//	1 half   bytes  the half as it was left, 1 to MaxHalfBytes bytes
//	2 until  int    its until, unix seconds, > 0
//
// A client refuses a body that breaks these rules (BadRequest).
//
// # Server state
//
// The relay keeps, per node, in a datastore namespace of its own (one key
// per node: "/" and the peer ID's text form), a canonical CBOR map:
//
//	1 handle        text   required; the handle it hibernated under
//	2 half          bytes  optional; the sealed half
//	3 until         int    with the half only; unix seconds
//	4 asleep-until  int    optional; unix seconds; present while asleep
//
// A record that does not decode so is deleted when the relay starts (and
// counted in its log, never shown). What lapses is deleted when it is
// read and every SweepEvery (60) seconds: the half at its until, the
// asleep state at its asleep-until, and the record once it holds
// neither. When the owner's reservation returns the asleep state goes and
// the half stays, for the woken node to resume. The waiting wakes are in
// memory only: they are streams.
package wake
