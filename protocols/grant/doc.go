// Package grant is the /ocmt/grant/1 protocol: delivering a capability token
// to its audience, directly or, when the audience is offline, through its
// encrypted mailbox at the bootstrap peer.
//
// This comment is the specification of the protocol and of the mailbox
// item. The encoding rules (frames, canonical CBOR, statuses) are
// internal/wire's doc.go, the reply envelope internal/exchange's, the
// sealing internal/peerseal's, the token capability's and the
// token-failure table protocols/capwire's; this text refers to them and
// does not repeat them. testdata/README.md describes the vectors, and
// specs/grant/check.py, at the module root, is an independent checker
// written from these texts.
//
// # Protocol ID
//
//	/ocmt/grant/1
//
// # Version changelog
//
//	1  first version: deliver. Clients now decode the reply canonically
//	   and refuse a body in it (internal/exchange); receivers never sent
//	   one.
//
// # Limits
//
// Every number of the protocol, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name               value  unit        what it bounds
//	MaxNote            256    bytes       the note field
//	maxHandle          64     bytes       the handle field
//	MaxTokenBytes      4096   bytes       the token field (capability.MaxTokenBytes)
//	maxDelivery        4480   bytes       a Delivery: a request frame's body, a mailbox item's plaintext (4096 + 256 + 64 + 64)
//	maxSealedDelivery  5504   bytes       a mailbox item before it is opened (maxDelivery + 1024)
//	maxResponse        256    bytes       a reply frame's body
//	timeout            20     seconds     one delivery
//	senderRate         5      deliveries/s one sender's sustained rate
//	senderBurst        20     deliveries  one sender's burst
//
// # Message flow
//
// One request and one reply per stream (internal/exchange). The issuer
// (or a delegator) opens a stream to the token's audience and sends a
// Delivery (a request frame of at most maxDelivery (4480) bytes); the
// audience checks it and answers OK or a status, in a reply frame of at
// most maxResponse (256) bytes, within timeout (20) seconds. The receiver
// answers in this order; the first refusal is the reply:
//
//  1. the sender's token bucket: senderRate (5) deliveries a second, a
//     burst of senderBurst (20) — RateLimited;
//  2. the canonical decode of the Delivery — BadRequest;
//  3. the Delivery's own rules: a note over MaxNote (256) bytes or a
//     handle over maxHandle (64) bytes — BadRequest;
//  4. the token, decoded strictly and checked (capability.CheckToken):
//     its chain and signatures verify, it is within its validity window
//     at the receiver's clock, and its leaf's audience is the receiver; a
//     failure is refused with protocols/capwire's status (BadRequest for
//     bytes that are not a token, Forbidden for a token that does not
//     verify or is not for this peer, Expired outside its window);
//  5. the sender: for a direct delivery the authenticated remote peer
//     must be the leaf token's issuer — Forbidden;
//  6. the receiver stores it; a failure there is Internal.
//
// A receiver does not check revocations, so it never answers Revoked,
// and it sends no body and no detail (exchange.Reply field 4 is never
// sent); a client ignores a detail in a refusal.
//
// If no stream can be opened, the sender seals the same Delivery with
// internal/peerseal to the token's audience alone and leaves it in the
// audience's mailbox at the bootstrap (protocols/directory mailbox-put,
// naming the capability IDs of the token's whole chain); the bootstrap
// stores only ciphertext. The audience fetches its mailbox when it starts
// and periodically, and opens each item (OpenMail), in this order:
//
//  1. an item over maxSealedDelivery (5504) bytes is refused unopened;
//  2. it is opened with the audience's peer key (peerseal); an item not
//     sealed to it, or that does not open, is refused;
//  3. the plaintext is decoded canonically as a Delivery — refused
//     otherwise;
//  4. steps 3 and 4 above, with the opener as receiver. Step 5 does not
//     apply: the mailbox's sender is the bootstrap's word, so only the
//     token's signatures count.
//
// A refused item is dropped (and acknowledged); it is not answered.
//
// # Frames
//
// Delivery (CBOR map, integer keys), the request frame and the mailbox
// item's plaintext:
//
//	key  name    type   rule
//	1    token   bytes  required; the capability envelope (capability/doc.go,
//	                    ≤ capability.MaxTokenBytes)
//	2    handle  text   optional; the issuer's handle as the issuer calls
//	                    itself, 1 to maxHandle bytes, any text (not checked
//	                    against the directory's handle rules: it is a hint)
//	3    note    text   optional; a human note, 1 to MaxNote bytes
//
// A handle or note present and empty (02 60, 03 60) is refused as an
// explicit zero. The reply has no body.
//
// Statuses a receiver sends: BadRequest (malformed delivery, note or
// handle too long, or bytes that are not a token), Forbidden (a token
// that does not verify: bad signature or broken chain; not for this peer;
// or not sent by its issuer), Expired (outside its validity window),
// RateLimited, Internal; and, from internal/exchange, TooLarge (a frame
// over maxDelivery) and Unavailable (its resource manager refused the
// memory). Which token failure gets which status is protocols/capwire's
// table, shared with share and relay-access.
package grant
