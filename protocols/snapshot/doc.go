// Package snapshot is the /ocmt/snapshot/1 protocol: an owner pushes
// sealed snapshots (internal/snapshot) to a cache, and a reader fetches
// them from the cache with its capability token while the owner is away.
// The cache holds ciphertext and the owner's signed manifests; it checks
// tokens before it sends a byte, and a reader checks everything the cache
// sends.
//
// This comment is the specification of the protocol. The snapshot format
// (blocks, CIDs, root, manifest, the reader's checks) is
// internal/snapshot's doc.go; frames, canonical CBOR and statuses
// internal/wire's; the reply envelope internal/exchange's; tokens
// capability's and the token-failure table protocols/capwire's. This text
// refers to them and does not repeat them. testdata/README.md describes
// the vectors.
//
// # Protocol ID
//
//	/ocmt/snapshot/1
//
// # Version changelog
//
//	1  first version: push and fetch.
//
// # Limits
//
// Every number of the protocol, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name                         value    unit        what it bounds
//	MaxRequest                   10880    bytes       the request frame (a manifest, or a token and a resource; 6272 + 4096 + 512)
//	maxReply                     7296     bytes       a reply frame (the envelope, a manifest and a count)
//	MaxBlockFrame                1048576  bytes       a block frame (internal/snapshot MaxBlockBytes)
//	FrameTimeout                 30       seconds     the wait for any one frame, each way
//	MaxStreamTime                1800     seconds     a whole push or fetch
//	DefaultMaxStreams            64       streams     pushes and fetches a server runs at once
//	DefaultMaxStreamsPerPeer     4        streams     one peer's share of them
//	DefaultMaxManifests          16384    manifests   manifests a server keeps
//	DefaultMaxManifestsPerOwner  1024     manifests   one owner's
//	peerRate                     10       streams/s   one peer's sustained rate of new streams
//	peerBurst                    40       streams     one peer's burst
//	maxLimited                   4096     peers       peers the rate limiter remembers
//
// # Framing
//
// A push or a fetch streams up to 16 GiB, more than one reply frame of
// internal/exchange can hold, so the protocol uses exchange's pieces
// (frames and the reply envelope) in a longer sequence. One operation per
// stream:
//
//	push:   client → request frame, block frames (root, chunk 0 … chunk n−1), close-write
//	        server → reply frame
//	fetch:  client → request frame, close-write
//	        server → reply frame; if OK: block frames (root, chunk 0 … chunk n−1), close
//
// A frame is internal/wire's: a minimal uvarint length, then that many
// bytes. A request frame's body is a Request (at most MaxRequest, 10880
// bytes); a reply frame's body an exchange.Reply (at most maxReply, 7296
// bytes; field 4, the detail, is never sent); a block frame's body one
// block's bytes (at most MaxBlockFrame, 1048576). Each side waits at most
// FrameTimeout (30) seconds for any frame, and a stream lasts at most
// MaxStreamTime (1800) seconds. A server that refuses before reading the
// whole request, or a push midway, replies with the refusal and closes; a
// pusher reads the reply while it sends, and stops sending (resets the
// stream) when a refusal arrives first;
// a fetch that fails after its OK reply (a block evicted or found
// corrupt meanwhile) is reset, which the reader sees as a truncated
// snapshot.
//
// # Request
//
// A CBOR map, decoded canonically; a field an operation does not take,
// or one it needs missing, is BadRequest:
//
//	key  name      type   push       fetch
//	1    op        uint   1          2
//	2    manifest  bytes  required   absent     the signed manifest, ≤ 6272 bytes
//	3    owner     bytes  absent     required   the owner's peer ID
//	4    resource  text   absent     required   a capability resource path (no wildcards)
//	5    token     bytes  absent     required   the reader's capability envelope, ≤ 4096 bytes
//
// Any other op is BadRequest.
//
// The body of a fetch's OK reply (exchange.Reply field 3) is a CBOR map:
//
//	key  name      type   rule
//	1    manifest  bytes  the signed manifest, 1 to 6272 bytes
//	2    blocks    uint   the block frames that follow: chunks + 1, 2 to 16385
//
// A push's OK reply has no body.
//
// # Server
//
// Before it reads the request, a server (in this order):
//
//  1. rate-limits the remote peer: peerRate (10) new streams a second,
//     a burst of peerBurst (40), for up to maxLimited (4096) peers —
//     RateLimited;
//  2. takes a stream slot: at most DefaultMaxStreamsPerPeer (4) per
//     remote peer (RateLimited) and DefaultMaxStreams (64) in all
//     (Unavailable); a slot is held until the stream ends;
//  3. charges the stream's resource scope with one block and one
//     request — Unavailable if refused.
//
// Then it reads the request frame (TooLarge over MaxRequest, BadRequest
// for a malformed one) and decodes it (BadRequest).
//
// # Push
//
// The pusher is the owner. The server checks, in order, before reading a
// block:
//
//  1. the cache's Authorizer admits the remote peer (a relay: it holds a
//     reservation here) — Forbidden;
//  2. the manifest parses and its signature verifies (internal/snapshot
//     Parse) — BadRequest;
//  3. its owner is the authenticated remote peer — Forbidden;
//  4. it is within its time window at the server's clock (Skew 60 s) —
//     Expired;
//  5. its sealed size fits what the cache gives one pusher — TooLarge;
//  6. against the manifest held for (owner, resource): a lower version,
//     or the same version with another payload, is Conflict; the same
//     manifest again is taken (it fills in blocks the cache lost); a new
//     (owner, resource) must fit DefaultMaxManifestsPerOwner (1024,
//     TooLarge) and DefaultMaxManifests (16384, Unavailable).
//
// Then it reads the root (it must hash to the manifest's root CID, parse,
// and state the manifest's size — BadRequest) and each chunk in order
// (each must have its CID and size from the root — BadRequest), storing
// each in the cache as it arrives (blockcache: hash checked again, the
// pusher's and the cache's byte caps kept by evicting least recently used
// blocks, the pusher's own first). Data after the last chunk is
// BadRequest. Only when every block is in does the manifest replace the
// one held, so a fetch never finds a manifest whose blocks were not all
// pushed. The reply is OK.
//
// # Fetch
//
// The reader presents its token. Before a byte of the snapshot is sent,
// the server:
//
//  1. decodes the token (capwire's status for a failure: BadRequest);
//  2. refuses a chain with a use budget (max-uses) anywhere — Forbidden:
//     a cache cannot count uses with the owner, so a counted token is
//     served by its owner only;
//  3. verifies it with the capability verifier (signatures and chain,
//     time, the revocation set, the leaf's audience = the authenticated
//     remote peer, the root issuer = the owner asked for, read on the
//     resource), mapping a failure with protocols/capwire (Forbidden,
//     Expired, Revoked, BadRequest, Unavailable);
//  4. looks up the manifest held for (owner, resource) — NotFound;
//  5. checks it is within its window — Expired;
//  6. checks the remote peer's key ID is among its recipients —
//     Forbidden (a grantee left out of the current snapshot, for
//     instance after a revocation the cache has not heard of: nothing it
//     could open is sent);
//  7. checks it holds the root and every chunk — NotFound.
//
// It then replies OK with the manifest and the block count, and sends the
// root and the chunks in order, each read from the cache with its hash
// checked (a corrupt block is deleted and the stream reset). The reader
// checks the manifest (internal/snapshot Check, recording its version), the
// block count (chunks + 1, else snapshot.ErrMalformed), then each block
// as it arrives (internal/snapshot Read), and writes plaintext only after
// age has authenticated it.
//
// # Statuses
//
// BadRequest, Forbidden, NotFound, TooLarge, RateLimited, Revoked,
// Expired, Conflict, Unavailable as above; Internal for a server's own
// failure, with no message. Reply field 4 is never sent.
package snapshot
