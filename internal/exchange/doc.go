// Package exchange runs one request and one reply on a libp2p stream, the
// shape of every OCMT Mesh protocol: Serve on the answering side, Call on
// the asking side. Both bound the exchange in time (a deadline before the
// first read) and in memory (each frame's size is charged to the stream's
// resource scope before it is allocated), and both speak internal/wire's
// frames, CBOR and statuses. A reply is an envelope (Reply): a status, a
// message for humans, the body when OK, and an optional structured detail
// when not.
//
// This comment is the specification of the exchange and of the reply
// envelope, which every protocol's doc.go refers to. testdata/README.md
// describes the vectors, and specs/exchange/check.py, at the module
// root, is an independent checker written from this text.
//
// # Limits
//
// Every number of this package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants. Each protocol gives its own frame
// caps and timeout (its Limits function).
//
//	name            value  unit     what it bounds
//	MaxDetail       512    bytes    a reply's detail (field 4), its encoded item
//	ReplySlack      16     bytes    room a server keeps for the envelope around a body
//	DefaultTimeout  10     seconds  an exchange whose protocol gives no timeout
//
// # Message flow
//
// The asking peer (the client) opens a stream to the answering peer (the
// server) with the protocol's ID, allowing limited (relayed) connections,
// writes one request frame (internal/wire "Frames": uvarint length, then
// the body; at most the protocol's MaxRequest bytes of body), closes its
// write side and reads one reply frame (at most MaxResponse bytes of
// body). The server, before its first read, sets a deadline of the
// protocol's Timeout for the whole exchange, then reads exactly one
// frame; anything after it is never read. Then:
//
//   - a request prefix that is malformed is answered BadRequest, a
//     declared length over MaxRequest TooLarge (before the body is read or
//     allocated), and a request whose memory the stream's resource scope
//     refuses Unavailable; in each case the reply carries only a status
//     and a message, and the stream is closed;
//   - a stream that ends inside the frame, or fails, gets no reply: it is
//     reset;
//   - otherwise the protocol's handler answers the request body for the
//     peer the secure channel authenticated (never for a peer the request
//     names), and the server writes one reply frame and closes the stream.
//
// A handler's refusal crosses as its status, message and (only where the
// protocol's spec defines one) detail; any other failure is logged and
// crosses as a bare Internal, with no message, so no local detail leaves
// the process. A reply body over MaxResponse − ReplySlack bytes is not
// sent: the reply is Internal. A detail over MaxDetail (512) bytes, or on
// an OK reply, is dropped by the server. The client's deadline is the
// same Timeout, and it resets the stream when its context ends.
//
// # Reply
//
// The reply frame's body is the envelope, a CBOR map decoded canonically
// by the internal/wire rules:
//
//	key  name     type    rule
//	1    status   uint16  required; a Status (0 OK; internal/wire "Statuses")
//	2    message  text    optional; for humans only, never parsed; any length
//	                      within the frame
//	3    body     any     optional; present exactly when status is OK and the
//	                      protocol's reply to this request has a body
//	4    detail   any     optional; only when status is not OK, and only in
//	                      protocols whose spec defines a detail for that
//	                      status; at most MaxDetail (512) bytes
//
// Status OK is written, like any required field, as the byte 00 after its
// key: an OK reply without body is a1 01 00. The body and the detail are
// each one CBOR data item kept as its exact bytes ("any"): while the
// envelope is decoded only the rules that hold for a whole input apply to
// them (internal/wire "CBOR", rules 1 to 3: well formed, definite
// lengths, no tags, no reserved additional information or two-byte simple
// value below 32, and arrays, maps and nesting within the caps, the
// envelope itself being level 1). Their own canonical form is checked
// when they are decoded: the body as the protocol's reply type, the
// detail by the protocol that defines it.
//
// A client decodes a reply in this order, and the first failure decides:
//
//  1. the frame: a malformed prefix, a length over MaxResponse, or an end
//     inside the frame is an error (the frame's status; no reply);
//  2. the envelope, canonically: any failure is BadRequest;
//  3. a status other than OK: a body present is BadRequest; otherwise the
//     reply is a refusal with that status and message. A status this
//     version does not know (13 to 65535) is read as Internal and its
//     detail dropped; a detail over MaxDetail is dropped; the refusal
//     stands either way. A protocol that defines no detail ignores one;
//  4. status OK with a detail: BadRequest;
//  5. status OK where the protocol's reply has no body: a body present is
//     BadRequest;
//  6. status OK where it has one: a body absent is BadRequest, and the
//     body is decoded canonically as the protocol's reply type (any
//     failure BadRequest) and checked as the protocol's doc.go says.
//
// # Versions
//
// Field 4 is new in the envelope. A peer built before it decodes the
// envelope strictly and refuses the unknown field, so a protocol that
// starts sending a detail must bump its version (share/2 did). Clients
// built before the canonical rules of this document decoded replies
// strictly but not canonically and ignored a body they did not expect;
// servers always wrote the canonical form, except that a nil byte string
// or array in a required field of a body was written as null (0xf6),
// which no decoder of this document accepts (internal/wire: encoders now
// write it empty; the changelogs of protocols/revsync and protocols/share
// name the replies that did this).
package exchange
