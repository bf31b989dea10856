// Package grant is the /ocmt/grant/1 protocol: delivering a capability token
// to its audience, directly or, when the audience is offline, through its
// encrypted mailbox at the bootstrap peer.
//
// # Protocol ID
//
//	/ocmt/grant/1
//
// # Version changelog
//
//	1  first version: deliver.
//
// # Message flow
//
// One request and one reply per stream (internal/exchange over internal/wire framing, deadlines
// and memory reservations). The issuer (or a delegator) opens a stream to
// the token's audience and sends a Delivery; the audience checks it and
// answers OK or a status. If no stream can be opened, the sender seals the
// same Delivery with age to the audience's X25519 key derived from its peer
// ID (internal/peerseal) and leaves it in the audience's mailbox at the
// bootstrap peer; the bootstrap stores only ciphertext. The audience
// fetches its mailbox when it starts and periodically, opens each item and
// handles it exactly like a direct delivery.
//
// The receiver accepts a token only if it decodes strictly, its chain and
// signatures verify, it is within its validity window, its audience is the
// receiver, and (for direct deliveries) the sender is the leaf's issuer.
//
// # Frames
//
// Delivery (CBOR map, integer keys):
//
//	1 token   bytes  the capability envelope (≤ capability.MaxTokenBytes)
//	2 handle  text   optional: the issuer's handle, as the issuer calls itself
//	3 note    text   optional: a human note (≤ MaxNote bytes)
//
// The reply has no body. Statuses: BadRequest (malformed delivery, note
// or handle too long, or bytes that are not a token), Forbidden (a token
// that does not verify: bad signature or broken chain; not for this peer;
// or not sent by its issuer), Expired (outside its validity window),
// RateLimited (more than 5 deliveries a second, burst 20, from one sender),
// Internal. Which token failure gets which status is protocols/capwire's
// table, shared with share and relay-access; a receiver does not check
// revocations, so it never answers Revoked, and a grant reply carries no
// detail (exchange.Reply field 4 is never sent).
package grant
