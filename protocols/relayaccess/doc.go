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
// One request and one reply per stream (internal/exchange over internal/wire framing, read
// deadline before the first read, memory charged per frame). The peer sends its token;
// the relay verifies it with the capability package: the root issuer must
// be the relay itself, the audience the authenticated remote peer, the
// resource Resource and the action use; no link may be revoked. On success
// the relay admits the peer's reservations until the token expires, and
// checks the revocation set again at every reservation.
//
// # Frames
//
// Request: {1 token: bytes (≤ capability.MaxTokenBytes)}, decoded
// canonically. The reply has no body and never a detail (exchange.Reply field
// 4 is not sent: a relay-access/1 peer decodes the envelope without it).
// Statuses: BadRequest (malformed request, or bytes that are not a token),
// Forbidden (not a valid access token for this peer), Revoked (a token in
// the chain was revoked; the message names it, for humans), Expired
// (outside its validity window), RateLimited (the relay's access list is
// full), Unavailable (its replay store is full; retry later). Which token
// failure gets which status is protocols/capwire's table, shared with
// share and grant. The structured revocation detail share/2 sends
// (capwire.RevokedDetail) would need relay-access/2; its one caller only
// logs the refusal, so version 1 stays.
package relayaccess
