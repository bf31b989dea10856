// Package revsync is the /ocmt/revsync/1 protocol: a node that joins late
// or reconnects fetches the revocation set from any peer that serves it
// (relays and bootstrap peers do), so it refuses revoked tokens it never
// heard gossiped.
//
// # Protocol ID
//
//	/ocmt/revsync/1
//
// # Version changelog
//
//	1  first version: pages of records since a version, snapshot on epoch
//	   change; push of one record (for peers outside the gossip mesh).
//	   Added later, in the same version: the batch push (request key 4,
//	   reply PushReply), which protocols/revgossip's anti-entropy sends. A
//	   server that predates it refuses key 4 as an unknown field
//	   (BadRequest), and the pusher's records wait for gossip or sync.
//
// # Message flow
//
// One request and one reply per stream (internal/exchange over internal/wire: uvarint-framed
// deterministic CBOR, read deadline before the first read, each frame's
// size charged to the stream's resource scope before it is allocated). The client asks for the
// records the server added after version N of the server's set, naming
// the server's epoch it got N from. The server answers with up to
// MaxRecordsPerReply records in version order and the cursor to ask from
// next; More says another page follows. When the epoch differs (another
// server, or the server's datastore was reset) or N is beyond the
// server's head, the server starts over from version 0 and sets Snapshot:
// the client then holds a full copy of the live set after the last page.
//
// Each record is a complete signed revocation (capability/revocation); the
// client verifies every one (signature, proof, expiry) before adding it to
// its own Set, so a server can withhold records but never forge one.
// Versions are the server's own counter: a client keeps one Cursor per
// server it syncs from. A client may keep only some of the records
// (SyncOptions.Keep: a home node keeps everything from its infrastructure
// and only records relevant to it from other servers); the cursor moves
// past the others all the same.
//
// # Frames
//
// Request (CBOR map, integer keys):
//
//	1 since  uint   the server version the client already has (0 = all)
//	2 epoch  bytes  the server epoch that version belongs to (8 bytes, or
//	                absent on a first sync)
//	3 push     bytes    instead of a page request: one revocation envelope
//	                    (≤ revocation.MaxRecordBytes; since 0, no epoch)
//	4 records  [bytes]  instead of a page request or a push: a batch push of
//	                    1 to MaxPushRecords (16) revocation envelopes (since
//	                    0, no epoch, no push; the request at most
//	                    maxRequest (71936) bytes)
//
// A push is verified in full (revocation.Parse) and handed to the server's
// Accept with the pushing peer: nodes put it in force and gossip it. The
// reply to a push has no body. This is how a peer outside the gossip mesh,
// such as a relay operator's one-shot `mesh relay revoke`, puts a
// revocation in force; a record is self-authenticating, so anyone may
// push, under the same per-peer rate limit as pages, and the server's
// Accept decides what it keeps (a home node keeps a record pushed by a
// peer that is not its infrastructure only if it is relevant to it).
//
// A batch push (key 4) is judged record by record, in order, as the
// gossip validator judges a record (protocols/revgossip), and answered
// with a PushReply: one result per record. For each record:
//
//  1. it does not decode (revocation.Decode: size, canonical CBOR, proof,
//     standing) — Invalid, and every later record is Skipped;
//  2. the server's set already holds its token — Held (no signature is
//     checked);
//  3. its token has expired by the server's clock and skew — Expired;
//  4. the pusher's request budget (PerPeerRate, a record costing one) or
//     the server's push budget (PushRate, all pushers together) is spent —
//     Skipped, and every later record is Skipped (retry later);
//  5. its signatures or proof chain do not verify — Invalid, and every
//     later record is Skipped;
//  6. Accept (the node's admission rule, then its set) takes it — Added;
//     refuses it as not kept (revocation.ErrQuota) — NotKept; as full
//     (revocation.ErrFull) — Full; expired — Expired; fails — Failed.
//
// PushReply body (inside exchange.Reply, status OK):
//
//	1 results  bytes  required; one byte per pushed record, in order:
//	                  0 Added, 1 Held, 2 Expired, 3 NotKept, 4 Full,
//	                  5 Invalid, 6 Skipped, 7 Failed
//
// A client refuses (ErrBadServer) a PushReply whose results are not one
// byte per record or hold a byte over 7. A request with key 4 and any of keys
// 1 (non-zero), 2 or 3, or with 0 or more than MaxPushRecords records, is
// refused as BadRequest.
//
// Reply body (inside exchange.Reply, status OK):
//
//	1 epoch     bytes    the server's epoch (8 bytes)
//	2 records   [bytes]  revocation envelopes, oldest first (≤ MaxRecordsPerReply,
//	                     ≤ MaxReplyBytes in total)
//	3 next      uint     the version to send as since next time
//	4 more      bool     another page follows (absent = false)
//	5 snapshot  bool     the server started over from 0 (absent = false)
//
// Statuses: BadRequest (malformed request or pushed record), Expired (pushed
// token already expired), Forbidden (pushed record not kept: revoker quota,
// not admitted, or not relevant to this node), TooLarge (pushed record not
// kept: the server's set is full; retry later), RateLimited (the peer's
// request budget, or for a single push the server's push budget, is
// spent), Internal.
//
// # Limits
//
// TestDocNumbers checks them against the constants.
//
//	name                 value    unit       what it bounds
//	MaxRecordsPerReply   256      records    one page
//	MaxReplyBytes        1048576  bytes      one page's records
//	MaxPushRecords       16       records    one batch push
//	maxRequest           71936    bytes      a request frame's body
//	MaxPages             8192     pages      one sync
//	Timeout              30       seconds    one exchange
//	DefaultPerPeerRate   50       requests/s each peer's requests, a pushed record costing one
//	DefaultPerPeerBurst  200      requests   the burst of DefaultPerPeerRate
//	DefaultPushRate      200      records/s  pushed records verified, from all peers together
//	DefaultPushBurst     2000     records    the burst of DefaultPushRate
package revsync
