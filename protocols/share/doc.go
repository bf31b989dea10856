// Package share is the /ocmt/share/2 protocol: a grantee reads, lists,
// writes or deletes an owner's resources with a capability token the owner
// issued.
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
// # Message flow
//
// One request and one reply per stream (internal/exchange over internal/wire: uvarint-framed
// deterministic CBOR, read deadline before the first read, each frame's
// size charged to the stream's resource scope before it is allocated).
// The grantee opens the stream, over a relay circuit if there is no direct
// path; the relay forwards only the end-to-end Noise stream.
//
// The owner decodes the request canonically (internal/wire: the bytes must
// be the deterministic encoding of what they decode to; unknown fields,
// duplicate keys, indefinite lengths and tags are refused), decodes the
// token strictly and verifies it with the capability package against the
// authenticated remote peer of the stream (the token is never a bearer
// secret), this node as owner, the requested path and the one action of
// the op. Every served request is audited by the owner.
//
// # Frames
//
// Request (CBOR map, integer keys; at most Limits().MaxRequest bytes):
//
//	1 op     uint   1 read, 2 list, 3 write, 4 delete (each needs the
//	                action of its name); any other value is BadRequest
//	2 path   text   read/write/delete: a resource path; list: a path prefix ("" =
//	                all the token covers; absent when empty) (≤ 1024 bytes;
//	                a resource path is also held to capability's own caps)
//	3 token  bytes  the capability envelope (≤ capability.MaxTokenBytes)
//	4 data   bytes  write only: the new content (≤ MaxData); absent for
//	                read, list and delete
//
// Reply: the internal/exchange envelope (at most Limits().MaxResponse bytes):
//
//	1 status   uint  wire.Status
//	2 message  text  for humans only, never parsed (any length within the
//	                 frame; servers keep it short)
//	3 body     map   status OK only, by op:
//	                   read:  {1 data: bytes (≤ MaxData)}
//	                   list:  {1 names: [text]} (≤ MaxListNames names,
//	                          sorted, each a resource path)
//	                   write, delete: absent
//	4 detail   map   status Revoked only: RevokedDetail (≤ exchange.MaxDetail)
//
// RevokedDetail (protocols/capwire; canonical CBOR, integer keys):
//
//	1 token  bytes  the revoked token's ID (32 bytes)
//	2 link   uint   its position in the presented chain, 1 = root
//	                (1 ≤ link ≤ of)
//	3 of     uint   the presented chain's length (≤ capability.MaxDepth)
//	4 by     bytes  the revoker's peer ID (≤ capwire.MaxPeerIDBytes);
//	                absent when the owner does not know it
//	5 at     int    the revocation time, unix seconds (> 0); absent when
//	                the owner does not know it
//
// An owner always attaches the detail to a Revoked refusal of a token it
// verified (Server fills by and at from Config.RevokedBy). A grantee reads
// it with Revoked(err); a detail that does not decode canonically or
// breaks a cap is ignored, as if absent.
//
// Statuses: BadRequest (malformed request, path or token), Forbidden (a
// token that does not verify or does not allow it), Revoked (a token in
// the chain was revoked; see the detail), Expired (outside a token's
// validity window), NotFound (no such resource, only after the token
// allowed the path), Locked (the owner's vault is locked), TooLarge,
// RateLimited, Unavailable (the owner is catching up on revocations, or
// its replay store is full: retry later), Internal. Which token failure
// gets which status is protocols/capwire's table.
package share
