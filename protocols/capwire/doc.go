// Package capwire is where capability errors meet the wire: the one table
// from every capability sentinel (capability.Err*) to the wire.Status a
// refusal crosses with, shared by every protocol that verifies tokens
// (share, grant, relay-access), and the structured detail of a Revoked
// refusal (who revoked which token of the chain, and when).
//
// # Statuses
//
// The rule behind the table: BadRequest when the bytes are not a
// well-formed token or pattern (no retry of the same bytes can ever work), Forbidden when they are
// a well-formed token that carries no authority for this request (a
// forged or broken chain is a refusal of authority, not a syntax error),
// Expired for the time window, Revoked for a revocation, and Unavailable
// for the one failure that is the server's own and passes (its replay
// store is full). The message is "token: " and the sentinel's stable name
// (capability.ErrorName), for humans only.
//
// # Revoked detail
//
// A protocol whose spec defines it (share/2) attaches RevokedDetail to a
// Revoked refusal as the reply's detail (internal/exchange.Reply field 4), a
// CBOR map with integer keys, deterministic encoding, decoded canonically:
//
//	1 token  bytes  the revoked token's ID (32 bytes)
//	2 link   uint   its position in the chain, 1 = root (1 ≤ link ≤ of)
//	3 of     uint   the chain's length (≤ capability.MaxDepth)
//	4 by     bytes  the revoker's peer ID (≤ MaxPeerIDBytes); absent when
//	                the server does not know who revoked it
//	5 at     int    unix seconds of the revocation (> 0); absent when the
//	                server does not know when
//
// The encoded detail is at most a little over 100 bytes, far inside
// exchange.MaxDetail.
package capwire
