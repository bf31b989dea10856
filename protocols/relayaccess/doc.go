// Package relayaccess is the /ocmt/relay-access/1 protocol: a peer that is
// not in the directory presents a relay-access capability, issued by the
// relay's operator (signed with the relay's own peer key), to be allowed to
// reserve a slot.
//
// This comment is the specification of the protocol. The encoding rules
// (frames, canonical CBOR, statuses) are internal/wire's doc.go, the reply
// envelope internal/exchange's, the token capability's and the
// token-failure table protocols/capwire's; this text refers to them and
// does not repeat them. testdata/README.md describes the vectors, and
// specs/relayaccess/check.py, at the module root, is an independent
// checker written from these texts.
//
// # Protocol ID
//
//	/ocmt/relay-access/1
//
// # Version changelog
//
//	1  first version: present. Clients now decode the reply canonically
//	   and refuse a body in it (internal/exchange); relays never sent one.
//
// # Limits
//
// Every number of the protocol, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name           value   unit     what it bounds
//	MaxTokenBytes  4096    bytes    the token field (capability.MaxTokenBytes)
//	maxRequest     4160    bytes    a request frame's body (MaxTokenBytes + 64)
//	maxResponse    256     bytes    a reply frame's body
//	timeout        10      seconds  one exchange
//	MaxGrants      100000  peers    admitted peers a relay remembers, and its replay store's entries
//
// # Message flow
//
// One request and one reply per stream (internal/exchange): the peer
// writes a request frame of at most maxRequest (4160) bytes and reads a
// reply frame of at most maxResponse (256) bytes, within timeout (10)
// seconds. The relay answers in this order; the first refusal is the
// reply:
//
//  1. the canonical decode of the request — BadRequest;
//  2. the token, decoded strictly (capability/doc.go) — refused with
//     protocols/capwire's status (BadRequest for bytes that are not a
//     token);
//  3. the token verified by the capability package: the root issuer must
//     be the relay itself, the leaf's audience the authenticated remote
//     peer, the resource the path "relay/access" (Resource) and the action
//     use; no link may be revoked; a max-uses budget is spent in a replay
//     store of MaxGrants (100000) entries — refused with capwire's status
//     (Forbidden, Expired, Revoked, Unavailable when the replay store is
//     full, BadRequest); a failure outside capwire's table is Internal;
//  4. the access list: when it holds MaxGrants (100000) peers, those
//     whose token has expired are dropped; if it is still full —
//     RateLimited.
//
// On success the relay admits the peer's reservations until the token
// expires, and checks the revocation set again at every reservation; a
// revocation put in force later cuts what the token admitted. A peer
// presenting again replaces its earlier token. There is no per-peer rate
// limit on this protocol: RateLimited means only a full access list.
//
// # Frames
//
// Request (CBOR map, integer keys), decoded canonically:
//
//	key  name   type   rule
//	1    token  bytes  required; the capability envelope (capability/doc.go)
//
// The reply has no body and never a detail (exchange.Reply field 4 is not
// sent: a relay-access/1 peer decodes the envelope without it; a client
// ignores one in a refusal). A Revoked refusal names the revoked token in
// its message, for humans. The structured revocation detail share/2 sends
// (capwire.RevokedDetail) would need relay-access/2; its one caller only
// logs the refusal, so version 1 stays.
//
// Statuses a relay sends: BadRequest (malformed request, or bytes that are
// not a token), Forbidden (not a valid access token for this peer),
// Revoked (a token in the chain was revoked), Expired (outside its
// validity window), RateLimited (the relay's access list is full),
// Unavailable (its replay store is full, or its resource manager refused
// the memory; retry later), TooLarge (a frame over maxRequest), Internal.
// Which token failure gets which status is protocols/capwire's table,
// shared with share and grant.
package relayaccess
