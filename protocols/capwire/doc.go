// Package capwire is where capability errors meet the wire: the one table
// from every capability sentinel (capability.Err*) to the wire.Status a
// refusal crosses with, shared by every protocol that verifies tokens
// (share, grant, relay-access), and the structured details of a Revoked
// refusal (who revoked which token of the chain, and when) and of an
// Expired one (which side of which window, on what clock).
//
// This comment is the specification of all three. testdata/README.md
// describes the vectors, and specs/capwire/check.py, at the module root, is an
// independent checker written from this text.
//
// # Limits
//
// Every number of this package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name            value         unit     what it bounds
//	TokenIDLen      32            bytes    a token ID in a detail, exactly (SHA-256)
//	MaxDepth        4             tokens   a chain (capability.MaxDepth): of, and so link
//	MaxPeerIDBytes  64            bytes    the by field, checked before it is parsed as a peer ID
//	PeerIDLen       38            bytes    a peer ID (internal/wire "Peer IDs"), exactly
//	MaxDetail       512           bytes    any reply detail (internal/exchange)
//	MaxSkew         300           seconds  the skew of a window detail (capability.MaxSkew)
//	maxUnix         253402300799  seconds  a time in a window detail: 9999-12-31T23:59:59Z
//
// # Statuses
//
// The rule behind the table: BadRequest when the bytes are not a
// well-formed token or pattern (no retry of the same bytes can ever work),
// Forbidden when they are a well-formed token that carries no authority
// for this request (a forged or broken chain is a refusal of authority,
// not a syntax error), Expired for the time window on either side (not
// valid yet, or expired: the window detail below tells which), Revoked for a
// revocation, and Unavailable for the one failure that is the server's
// own and passes (its replay store is full). The sentinels are
// capability/doc.go's; a failure that wraps several is named by the first
// of them in this table's order (capability.ErrorName), and one that
// wraps none (a cancelled context, a store failure) is Internal, with no
// message.
//
//	sentinel             status
//	ErrTooLarge          BadRequest
//	ErrTooDeep           BadRequest
//	ErrMalformed         BadRequest
//	ErrBadPattern        BadRequest
//	ErrBadSignature      Forbidden
//	ErrBrokenChain       Forbidden
//	ErrNoShare           Forbidden
//	ErrEscalation        Forbidden
//	ErrWidened           Forbidden
//	ErrValidityExtended  Forbidden
//	ErrCeiling           Forbidden
//	ErrExpired           Expired
//	ErrNotYetValid       Expired
//	ErrRevoked           Revoked
//	ErrWrongAudience     Forbidden
//	ErrWrongOwner        Forbidden
//	ErrNotPermitted      Forbidden
//	ErrReplayed          Forbidden
//	ErrReplayFull        Unavailable
//
// The refusal's message is "token: " and the sentinel's name, and for a
// revocation the revoked token and its link, for a time failure with the
// window detail how far outside the window and what skew the server
// allows, for humans only: nothing parses it.
//
// ErrNotYetValid shares Expired with ErrExpired rather than having a
// status of its own: statuses from 13 up are read as Internal by every
// peer of this version (internal/exchange), which would tell an older
// grantee that the owner failed, where Expired tells it the truth in
// part. The side travels in the window detail.
//
// # Revoked detail
//
// A protocol whose spec defines it (share/2) attaches RevokedDetail to a
// Revoked refusal as the reply's detail (internal/exchange.Reply field 4):
// a CBOR map, internal/wire's canonical encoding, decoded canonically:
//
//	key  name   type   rule
//	1    token  bytes  required; the revoked token's ID, exactly TokenIDLen (32) bytes
//	2    link   uint   required; its position in the presented chain, 1 = root,
//	                   1 ≤ link ≤ of
//	3    of     uint   required; the presented chain's length, 1 ≤ of ≤ MaxDepth (4)
//	4    by     bytes  optional; the revoker: a peer ID (internal/wire "Peer IDs",
//	                   PeerIDLen (38) bytes, canonical Ed25519, not small
//	                   order); absent when the server does not know it
//	5    at     int    optional; the revocation time, unix seconds, > 0; absent
//	                   when the server does not know it
//
// As for every optional field, by present and empty (04 40) or at present
// and 0 (05 00) is refused: absence is the only way to say "unknown". A
// negative at (major type 1) is refused; so is an at of 2^63 or more. The
// encoded detail is at most about 110 bytes, far inside MaxDetail (512).
//
// A detail is well formed when it decodes canonically and every rule of
// the table holds; nothing else is checked (the token ID is not looked
// up, the revoker need not be the chain's issuer). A client that reads a
// Revoked refusal's detail and finds it not well formed ignores it, as if
// absent: the refusal stands, and the message is still only for humans.
// A server never sends a detail it could not read back: Marshal refuses
// what ParseRevokedDetail would refuse.
//
// # Window detail
//
// A protocol whose spec defines it (share/2) attaches WindowDetail to an
// Expired refusal of a token it decoded and verified as the reply's
// detail: a CBOR map, internal/wire's canonical encoding, decoded
// canonically, every field required:
//
//	key  name        type  rule
//	1    link        uint  the link whose window failed, 1 = root, 1 ≤ link ≤ of
//	2    of          uint  the presented chain's length, 1 ≤ of ≤ MaxDepth (4)
//	3    not-before  uint  the link's not-before, unix seconds
//	4    expiry      uint  the link's expiry, unix seconds; not-before < expiry ≤ maxUnix (253402300799)
//	5    now         uint  the server's clock when it checked, unix seconds
//	                       rounded down; now ≤ maxUnix (253402300799)
//	6    skew        uint  the tolerance the server allows, seconds rounded
//	                       down, 1 ≤ skew ≤ MaxSkew (300)
//
// and, besides, now + skew < not-before (the token is not valid yet) or
// now − skew ≥ expiry (it has expired); a detail for which neither holds
// says nothing true and is not well formed. At most one can hold, so the
// side is read off the numbers: there is no field for it. Rounding now
// and skew down keeps the side the server found (capability/doc.go,
// Verification step 5: now + skew < not-before, else now − skew ≥
// expiry, with the unrounded values). A reader shows the window and the
// times relative to the server's now: the difference between that and
// its own clock is the clock skew between the two nodes.
//
// As for the Revoked detail, a client that finds a detail not well formed
// ignores it, as if absent, and the refusal stands; a server never sends
// one it could not read back (Marshal refuses what ParseWindowDetail
// would), and leaves it out when its clock is before 1970 or after
// maxUnix (253402300799). The encoded detail is at most 39 bytes.
package capwire
