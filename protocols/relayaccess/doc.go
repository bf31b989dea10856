// Package relayaccess is the /ocmt/relay-access/1 protocol: a peer that is
// not in the directory presents a relay-access capability, issued by the
// relay's operator (signed with the relay's own peer key), to be allowed to
// reserve a slot.
//
// # Protocol ID
//
//	/ocmt/relay-access/1
//
// # Version changelog
//
//	1  first version: present.
//
// # Message flow
//
// One request and one reply per stream (internal/wire framing, deadline
// deadline before the first read, memory charged per frame). The peer sends its token;
// the relay verifies it with the capability package: the root issuer must
// be the relay itself, the audience the authenticated remote peer, the
// resource Resource and the action use; no link may be revoked. On success
// the relay admits the peer's reservations until the token expires, and
// checks the revocation set again at every reservation.
//
// # Frames
//
// Request: {1 token: bytes (≤ capability.MaxTokenBytes)}. The reply has no
// body. Statuses: BadRequest (malformed token), Forbidden (not a valid
// access token for this peer), Revoked, Expired, RateLimited.
package relayaccess
