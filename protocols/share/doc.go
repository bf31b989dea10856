// Package share is the /ocmt/share/1 protocol: a grantee reads, lists or
// writes an owner's resources with a capability token the owner issued.
//
// # Protocol ID
//
//	/ocmt/share/1
//
// # Version changelog
//
//	1  first version: read, list, write.
//
// # Message flow
//
// One request and one reply per stream (internal/wire: uvarint-framed
// deterministic CBOR, read deadline before the first read, each frame's
// size charged to the stream's resource scope before it is allocated). The grantee opens the stream,
// over a relay circuit if there is no direct path; the relay forwards only
// the end-to-end Noise stream.
//
// The owner decodes the token strictly and verifies it with the capability
// package against the authenticated remote peer of the stream (the token is
// never a bearer secret), this node as owner, the requested path and the
// one action of the op. Every served request is audited by the owner.
//
// # Frames
//
// Request (CBOR map, integer keys):
//
//	1 op     uint   1 read, 2 list, 3 write
//	2 path   text   read/write: a resource path; list: a path prefix ("" = all
//	                the token covers)
//	3 token  bytes  the capability envelope (≤ capability.MaxTokenBytes)
//	4 data   bytes  write only: the new content (≤ MaxData)
//
// Reply body (inside wire.Reply, status OK):
//
//	read:  {1 data: bytes}
//	list:  {1 names: [text]} (≤ MaxListNames, sorted)
//	write: none
//
// Statuses: BadRequest (malformed request or token), Forbidden (the token
// does not allow it), Revoked (a token in the chain was revoked; the message
// names the revoked token), Expired, NotFound (no such resource, only after
// the token allowed the path), Locked (the owner's vault is locked),
// TooLarge, RateLimited, Internal.
package share
