// Package capability implements OCMT Mesh capability tokens: the format,
// issuing and delegating, strict decoding, verification, resource
// patterns, action ceilings, use budgets and the inspect report.
//
// A token grants its audience some actions on a resource pattern in its
// root issuer's namespace, for a time window. It is signed with the
// issuer's libp2p Ed25519 peer key and is never a bearer secret: the
// verifier requires the audience to be the peer authenticated by the
// libp2p secure channel the token arrived on. Delegation embeds the parent
// token, so a chain is self-contained and verifiable offline.
//
// This comment is the format's specification; testdata/vectors.json holds
// good and bad vectors that any implementation must reproduce.
//
// # Envelope
//
// A token on the wire is one CBOR map, the envelope:
//
//	key  field      type               rule
//	1    payload    byte string        the exact signed bytes (below)
//	2    signature  byte string (64)   Ed25519 over the token message
//
// The token message is the domain label, a zero byte and the payload:
//
//	"ocmt-mesh/token/v1" || 0x00 || payload
//
// built only by keys.TokenMessage, so a signature made for a revocation,
// directory record or approval never verifies as a token. There is no
// algorithm field: version 1 means Ed25519 under the standard library's
// rule (cofactorless, S < L required), which every node shares.
//
// The token ID is SHA-256 of the exact envelope bytes (type ID, printed as
// 64 hex digits or a 12-digit short form). Revocations and use counters
// refer to tokens by ID.
//
// The text form is TextPrefix "ocmt1." followed by base64url without
// padding (RFC 4648 §5) of the envelope, and nothing else: only the
// alphabet A–Z a–z 0–9 - _, no padding, no stray bits, no white space or
// line breaks anywhere (inside, before or after). Each token has exactly
// one text, the one String prints, and a text that parses prints back as
// itself; callers reading a token from a terminal or file trim it first.
//
// # Payload
//
// The payload is a CBOR map with small integer keys:
//
//	key  field       type              rule
//	1    version     uint              1
//	2    issuer      byte string (38)  Ed25519 peer ID of the signer, key inlined
//	3    audience    byte string (38)  Ed25519 peer ID allowed to use the token
//	4    resource    text string       Pattern in the root issuer's namespace
//	5    actions     uint              bit set, non-empty, no unknown bits
//	6    not-before  int               unix seconds, ≥ 0
//	7    expiry      int               unix seconds, > not-before, ≤ year 9999
//	8    nonce       byte string (16)  random; makes every token's ID unique
//	9    max-uses    uint, optional    1 = single use; ≤ MaxMaxUses; absent = unlimited
//	10   ceiling     uint, optional    action bit set; never delete, admin or share
//	11   parent      byte string, opt  the parent's exact envelope bytes
//
// Actions are bits: read 0x01, list 0x02, write 0x04, delete 0x08,
// admin 0x10, share 0x20, use 0x40. Admin does not imply share.
//
// A peer ID is accepted only in its canonical Ed25519 form: the identity
// multihash 0x00 0x24 wrapping the protobuf PublicKey 0x08 0x01 0x12 0x20
// followed by the 32-byte key. The verifier reads the key straight from
// those bytes, once per token, without protobuf or multihash decoding.
// The key must pass keys.CheckPeerPublic, or the token is ErrMalformed:
// it must be the canonical encoding (y < 2²⁵⁵ − 19) of a point that is not
// one of the eight of small order ([8]P = O). Under a small-order key the
// standard library's cofactorless check accepts signatures anyone can
// make, so such an issuer could be forged and such an audience
// impersonated; this applies to the issuer and the audience of every link.
//
// # Encoding
//
// Both maps use RFC 8949 §4.2 core deterministic encoding (fxamacker/cbor
// CoreDetEncOptions): shortest integer and length forms, definite lengths,
// keys sorted bytewise, optional fields omitted rather than zero. Decoding
// is strict, in this order:
//
//  1. Input longer than MaxTokenBytes (text: MaxTextLen) is refused with
//     ErrTooLarge before anything is allocated for it.
//  2. Duplicate keys, indefinite lengths, tags of any kind, unknown keys,
//     invalid UTF-8, nesting or element counts over the caps, and trailing
//     bytes are ErrMalformed.
//  3. The decoded value is re-encoded; if the bytes differ (a non-minimal
//     integer, unsorted keys, an explicit zero for an optional field) the
//     token is ErrMalformed. So each token has exactly one encoding, and
//     hashing or signing it is unambiguous.
//  4. Each field is checked against the table; then the parent, if any, is
//     decoded the same way. A chain of more than MaxDepth tokens is
//     ErrTooDeep.
//
// # Resources
//
// See Pattern: '/'-separated segments of [a-z0-9._-], no dot-only
// segments, "*" matches exactly one segment, "**" (last segment only)
// matches one or more. Anything else, including non-ASCII, is refused
// rather than normalised.
//
// # Verification
//
// Verifier.Verify checks a decoded token for a Request (remote peer, owner,
// resource path, action) in this order; the first failure is returned,
// wrapping its sentinel and naming the chain link ("link 2 of 3"):
//
//  1. decoding, above (ErrTooLarge, ErrMalformed, ErrTooDeep);
//  2. every signature, root first (ErrBadSignature);
//  3. every link against its parent (root first): the link's issuer is
//     the parent's audience (ErrBrokenChain), the parent grants share
//     (ErrNoShare), actions are a subset of the parent's (ErrEscalation),
//     the resource is within the parent's (ErrWidened), not-before ≥ and
//     expiry ≤ the parent's (ErrValidityExtended);
//  4. every link's actions are within every ceiling at or above it
//     (ErrCeiling);
//  5. now is within [not-before − skew, expiry + skew) of every link, skew
//     60 s by default and at most MaxSkew (5 min), now from the injected
//     clock (ErrNotYetValid, ErrExpired);
//  6. no token of the chain is revoked (*RevokedError, matching ErrRevoked,
//     with the revoked ID); revoking a link kills every chain through it
//     and leaves sibling chains alone;
//  7. the leaf's audience is the authenticated remote peer
//     (ErrWrongAudience);
//  8. the root issuer is the verifying node (ErrWrongOwner): a grant never
//     reaches outside its issuer's namespace;
//  9. the request's action is one action the leaf grants and its path is a
//     valid ResourcePath the leaf's pattern matches (ErrNotPermitted);
//  10. one use of every token in the chain with a max-uses budget is spent,
//     atomically (ErrReplayed when any is used up, or when the store may
//     have forgotten it: see Use budgets and replay). A parent's budget
//     thus bounds all uses made through its delegations.
//
// Issue applies rules 3 and 4 before signing and fails with the same
// sentinels, so it never produces a chain verification would refuse.
//
// # Use budgets and replay
//
// Rule 10 spends through a ReplayStore (MemoryReplay, or DatastoreReplay
// on a node, which survives restarts). A use record must outlive every
// moment at which its token could still verify, and the verifier's clock
// cannot be trusted to say when that is: set forward past a token's
// expiry, it would let the store forget the token, and set back, the
// token would verify again. So:
//
//   - a record's Until is the token's expiry plus MaxSkew (5 min) plus one
//     second, whatever skew the verifier runs with; Config.Skew is capped
//     at MaxSkew, so no verifier accepts the token at or after Until;
//   - a store keeps a time mark M, the latest time it is sure has been
//     reached. A spend at clock reading now moves M to min(now, M + e), e
//     being the time elapsed on the process's monotonic clock since M last
//     moved; M never moves back; a new store's first spend sets M = now;
//   - a record is forgotten only when its Until ≤ M;
//   - a token the store has no record of whose Until ≤ M is refused
//     (ErrReplayed): a record of it may have been forgotten.
//
// DatastoreReplay writes M with every spend, in the batch that forgets the
// records M lets go (M rounded down and Until rounded up to the second),
// and after a restart moves it only by the monotonic time since opening.
// Replay safety then holds whatever the clock does; the clock affects only
// availability: a mark that lags (downtime and suspended time are not
// counted) keeps records longer, and a clock that was ahead when the mark
// was set refuses unspent tokens whose Until falls before the mark until
// real time gets there.
//
// # Ceilings
//
// A ceiling is the set of actions any token at or below it in a chain may
// carry; agents' tokens carry DefaultAgentCeiling (read, list). A ceiling
// may never contain delete, admin or share: a ceiling-bearing token cannot
// delete, administer or be delegated, whoever holds it.
//
// # Example
//
// The first vector in testdata/vectors.json, a root token granting read on
// calendar/work/* (comments added):
//
//	a2                                  envelope, 2 pairs
//	  01 58 86 <134 bytes>              payload:
//	    a8                                map, 8 pairs
//	    01 01                             version 1
//	    02 58 26 002408011220 70fa00fe…   issuer (owner)
//	    03 58 26 002408011220 7d3b2084…   audience (bob)
//	    04 6f "calendar/work/*"           resource
//	    05 01                             actions: read
//	    06 1a 69a41c30                    not-before 2026-03-01T11:00:00Z
//	    07 1a 69a43850                    expiry     2026-03-01T13:00:00Z
//	    08 50 <16 bytes>                  nonce
//	  02 58 40 <64 bytes>               signature
//
// 205 envelope bytes; its text form is 280 characters:
//
//	ocmt1.ogFYhqgBAQJYJgAkCAESIHD6AP53BdfdcSQSBlFQ6MJDSrYEaxdC4zVfnqkw-xw4
//	A1gmACQIARIgfTsghDRR5jlNYGxwe6-YYu-QeUjFd-vYhUyuY-cpAMUEb2NhbGVuZGFy…
//
// # Versions
//
// v1 (this): Ed25519, the fields above. A new version gets a new label
// ("ocmt-mesh/token/v2"), a new text prefix and a new version number; v1
// verifiers refuse it as ErrMalformed.
package capability
