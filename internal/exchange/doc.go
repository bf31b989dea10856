// Package exchange runs one request and one reply on a libp2p stream, the
// shape of every OCMT Mesh protocol: Serve on the answering side, Call on
// the asking side. Both bound the exchange in time (a deadline before the
// first read) and in memory (each frame's size is charged to the stream's
// resource scope before it is allocated), and both speak internal/wire's
// frames, CBOR and statuses. A reply is an envelope (Reply): a status, a
// message for humans, the body when OK, and an optional structured detail
// when not.
package exchange
