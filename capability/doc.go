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
// This comment is the format's specification. An implementation written
// from it alone must reproduce every vector in testdata/vectors.json
// (testdata/README.md describes that file); specs/tokens/verify.py, at the
// module root, is one, written from this text. Where this text and the Go
// code disagree, one of them is wrong.
//
// # Limits
//
// Every number of the format, with its value. The named constants of this
// package are the source of truth; TestDocNumbersMatchTheConstants checks
// this table, and every "Name (value)" written below, against them.
//
//	name                     value         unit      what it bounds
//	Version                  1             -         the only payload version
//	MaxTokenBytes            4096          bytes     an envelope, embedded parents included
//	MaxTextLen               5468          bytes     a text form, prefix included: 6 + 5462
//	MaxDepth                 4             tokens    a chain, root and leaf included
//	MaxResourceLen           256           bytes     a resource pattern or path
//	MaxResourceSegments      16            segments  a resource pattern or path
//	MaxSegmentLen            64            bytes     one segment of a pattern or path
//	MaxMaxUses               1048576       uses      the max-uses field (2^20)
//	NonceSize                16            bytes     the nonce, exactly
//	PeerIDLen                38            bytes     an issuer or audience, exactly
//	SignatureSize            64            bytes     a signature, exactly
//	maxUnix                  253402300799  seconds   expiry: 9999-12-31T23:59:59Z
//	DefaultSkew              60            seconds   clock tolerance of a default verifier
//	MaxSkew                  300           seconds   the most tolerance any verifier allows
//	DefaultMaxReplayEntries  100000        tokens    an in-memory use store (ErrReplayFull)
//	DefaultCacheEntries      8192          chains    a verifier's cache of verified chains
//	DefaultCacheBytes        16777216      bytes     the memory that cache keeps (16 MiB)
//	cborMaxNestedLevels      4             levels    CBOR nesting the Go decoder reads
//	cborMaxArrayElements     16            elements  a CBOR array the Go decoder reads
//	cborMaxMapPairs          16            pairs     a CBOR map the Go decoder reads
//
// The three CBOR caps never decide an outcome: any item that reaches one
// is refused by the encoding rules below too, with the same error, so an
// implementation that follows those rules need not implement them.
//
// # Text form
//
// A token's text is the bytes
//
//	text     = %s"ocmt1." 2*b64char    ; TextPrefix, then the envelope
//	b64char  = %x41-5A / %x61-7A / %x30-39 / "-" / "_"   ; A-Z a-z 0-9 - _
//
// (RFC 5234 ABNF; %s, from RFC 7405, makes the prefix case-sensitive)
// and nothing else: no white space or line break anywhere (before, inside
// or after), no padding "=", no other character. The prefix is exactly
// the six bytes "ocmt1." (lowercase). The characters after it are base64url
// (RFC 4648 §5) without padding: their number n must not be 1 more than a
// multiple of 4, and the unused low bits of the last character (4 bits
// when n mod 4 = 2, 2 bits when n mod 4 = 3) must be zero. Each envelope
// thus has exactly one text, the one Token.String prints; callers reading
// a token from a terminal or file trim it first. A text is read in this
// order:
//
//  1. a text longer than MaxTextLen (5468) bytes, counted as UTF-8 bytes
//     and prefix included, is ErrTooLarge, whatever it contains;
//  2. a text not starting with the prefix, holding a byte outside the
//     alphabet after it, with n mod 4 = 1 or with non-zero unused bits is
//     ErrMalformed;
//  3. the decoded bytes are an envelope, decoded as below. (5462
//     characters decode to at most 4096 bytes, so a text within
//     MaxTextLen never holds an envelope over MaxTokenBytes.)
//
// # Envelope
//
// A token on the wire is one CBOR map, the envelope:
//
//	key  field      type                 rule
//	1    payload    byte string          the exact signed bytes (below)
//	2    signature  byte string (64)     Ed25519 over the token message
//
// Both fields are required. The token message is the domain label, a zero
// byte and the payload:
//
//	"ocmt-mesh/token/v1" || 0x00 || payload
//
// built only by keys.TokenMessage, so a signature made for a revocation,
// directory record or approval never verifies as a token. There is no
// algorithm field: version 1 means Ed25519 as Signatures defines it.
//
// The token ID is SHA-256 of the exact envelope bytes (type ID, printed as
// 64 hex digits or a 12-digit short form). Revocations and use counters
// refer to tokens by ID; an embedded parent's ID is SHA-256 of the bytes
// of its parent field.
//
// # Payload
//
// The payload is a CBOR map with small integer keys:
//
//	key  field       type               rule
//	1    version     uint               = 1
//	2    issuer      byte string (38)   peer ID of the signer, key inlined
//	3    audience    byte string (38)   peer ID allowed to use the token
//	4    resource    text string        pattern in the root issuer's namespace
//	5    actions     uint               1 ≤ actions ≤ 0x7f: non-empty, no unknown bit
//	6    not-before  uint               unix seconds; 0 is allowed
//	7    expiry      uint               unix seconds; not-before < expiry ≤ 253402300799
//	8    nonce       byte string (16)   random; makes every token's ID unique
//	9    max-uses    uint, optional     1 ≤ max-uses ≤ 1048576; absent = unlimited
//	10   ceiling     uint, optional     1 ≤ ceiling ≤ 0x7f, no delete, admin or share bit
//	11   parent      byte string, opt.  the parent's exact envelope bytes, non-empty
//
// Keys 1 to 8 are required: a payload without one is ErrMalformed, even
// where the value would be 0 (a not-before of 0 is written 06 00). Keys
// 9, 10 and 11 are optional, and absence is the only way to say "none":
// key 9 or 10 with the integer 0 (the byte 00), or key 11 with the empty
// byte string (the byte 40), is ErrMalformed. The type column is the CBOR
// major type, and no other is accepted (see Encoding): "uint" is major
// type 0, so a negative not-before or expiry (major type 1) is
// ErrMalformed; "byte string" is major type 2 and "text string" major
// type 3; the number in parentheses is the exact length in bytes.
//
// Each rule compares the whole decoded integer: an actions or ceiling of
// 0x101 is refused, not read as 0x01. The expiry bound 253402300799 is
// maxUnix (253402300799), 9999-12-31T23:59:59Z, the last second of the
// year 9999 UTC; 253402300800 is refused. Expiry is exclusive: without
// skew the token is valid from not-before up to, not including, expiry.
//
// Actions are bits: read 0x01, list 0x02, write 0x04, delete 0x08,
// admin 0x10, share 0x20, use 0x40. Admin does not imply share. The bit
// 0x80 and every higher bit are unknown, in actions and in a ceiling
// alike: a ceiling may hold only read, list, write and use (mask 0x47),
// and at least one of them.
//
// # Peer IDs and keys
//
// An issuer or audience is accepted only in its canonical Ed25519 peer-ID
// form, exactly PeerIDLen (38) bytes: the identity multihash 0x00 0x24
// wrapping the protobuf PublicKey 0x08 0x01 0x12 0x20, then the 32-byte
// key. Any other length or prefix (another key type, a SHA-256 multihash)
// is ErrMalformed. The verifier reads the key straight from those bytes.
//
// The key must pass keys.CheckPeerPublic, or the token is ErrMalformed,
// for the issuer and the audience of every link. Let y be the key read as
// a 256-bit little-endian integer with bit 255 (the sign bit, the top bit
// of the last byte) cleared, and p = 2^255 − 19. The key is refused when
//
//   - y ≥ p (a non-canonical encoding, which a lax decoder would read as
//     y − p: a second name for another key); or
//   - y is one of the five y-coordinates of the eight points of order
//     dividing 8 ([8]P = O), whatever the sign bit: 0, 1, p − 1, and the
//     two written here as 32 little-endian bytes,
//     26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05 and
//     c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a.
//     Under such a key the cofactorless check below accepts signatures
//     anyone can make, so such an issuer could be forged and such an
//     audience impersonated. The sign bit set on y = 1 or y = p − 1 (where
//     x = 0) is refused by the same rule.
//
// Nothing else is checked here. In particular 32 bytes that are no curve
// point are accepted as a key, so a token naming one decodes: as an issuer
// every signature under it fails (ErrBadSignature), and as an audience no
// one can authenticate as that peer. A key of mixed order (a point of
// large order plus one of small order) is accepted too: signing for it
// still takes its discrete logarithm.
//
// # Encoding
//
// Both maps use RFC 8949 §4.2.1 core deterministic encoding, restricted to
// the types above. An envelope or payload is accepted only if all of this
// holds, or else it is ErrMalformed:
//
//   - it is one map (major type 5) of definite length, and no byte
//     follows it: the whole input for the outermost envelope, the payload
//     byte string's content for a payload, the parent byte string's
//     content for an embedded envelope;
//   - every key is an unsigned integer (major type 0) the table lists, and
//     the keys are strictly increasing, so none repeats;
//   - every value has the major type its table gives, with a definite
//     length; a text string is valid UTF-8; nothing else occurs: no tag
//     (major type 6), array, nested map, negative integer, float, true,
//     false, null or undefined (major type 7);
//   - every head (map size, key, integer, string length) takes its
//     shortest form: an argument below 24 in the initial byte, then one,
//     two, four or eight bytes only when the value needs them.
//
// This is exactly what decoding into the field types and re-encoding
// deterministically to the same bytes accepts, which is what the Go code
// does, so each token has exactly one encoding and hashing or signing it
// is unambiguous. The field rules of Payload and Peer IDs apply to the
// decoded values, in any order: every failure among them is ErrMalformed.
//
// # Decoding
//
// A token is decoded from its envelope bytes (from a text, or straight
// from the wire) at position 1; an embedded parent is decoded at the next
// position, so position counts tokens from the leaf. At position i:
//
//  1. at position 1 only: more than MaxTokenBytes (4096) bytes is
//     ErrTooLarge, before anything else is looked at;
//  2. the envelope, then its signature length, then the payload and its
//     fields are checked (Envelope, Payload, Peer IDs, Encoding): any
//     failure is ErrMalformed;
//  3. if the payload has a parent field: at position i = MaxDepth (4) the
//     token is ErrTooDeep, and the parent's bytes are not looked at;
//     otherwise the parent is decoded at position i + 1, and its error, if
//     any, is the token's.
//
// So a token's own fields are checked before its parent's: a chain of
// five whose fourth token from the leaf is malformed is ErrMalformed, and
// one whose fifth is malformed is ErrTooDeep.
//
// Once decoded, a chain is numbered from the other end: link 1 is the
// root (the token with no parent field), link n the leaf (the token
// presented), and a token's depth is its link number. Verification
// reports the failing link this way ("link 2 of 3") and checks root first.
//
// # Signatures
//
// Version 1 signatures are Ed25519 (RFC 8032) with cofactorless
// verification, exactly as crypto/ed25519.Verify in Go 1.26 accepts them.
// With p as above, ℓ = 2^252 + 27742317777372353535851937790883648493
// (the order of the base point B), and points encoded as in RFC 8032
// §5.1.2 (y little-endian, the sign of x in bit 255), a signature sig of
// 64 bytes on the token message M under a link's issuer key A (the 32
// key bytes of its peer ID, which passed the check above) holds if and
// only if:
//
//  1. S, sig[32:64] read as a little-endian integer, is below ℓ;
//  2. A decodes to a curve point (RFC 8032 §5.1.3; the key check has
//     already made y < p and x ≠ 0);
//  3. with k = SHA-512(sig[0:32] || A || M), a 512-bit little-endian
//     integer, reduced mod ℓ, the point [S]B − [k]A, encoded, is exactly
//     the 32 bytes sig[0:32].
//
// Every other signature fails, with ErrBadSignature. In particular:
//
//   - S ≥ ℓ fails, even when S − ℓ would verify: S is never reduced;
//   - R, the first 32 bytes, is never decoded, only compared with an
//     encoding, so an R that is no curve point, or a non-canonical
//     encoding of one (y ≥ p, or the sign bit set where x = 0), fails;
//   - an R of small order is accepted whenever step 3 holds (R = the
//     identity, 01 followed by 31 zero bytes, with S = k·a mod ℓ for the
//     signer's secret scalar a);
//   - the check is cofactorless: a signature for which only
//     [8]([S]B − [k]A) = [8]R holds fails (R of order 8 with S = k·a, or
//     R = [r]B with S = r + k·a under a mixed-order key [a]B + T when
//     [k]T ≠ O);
//   - a key that is no curve point fails every signature;
//   - small-order and non-canonical keys never get here: they are
//     ErrMalformed at decoding.
//
// # Resources
//
// A resource pattern (the resource field, Pattern) and a resource path
// (what a request names, ResourcePath) are ASCII strings of this grammar
// (RFC 5234 ABNF):
//
//	pattern  = pseg *( "/" pseg )      ; "**" only as the last pseg
//	pseg     = name / "*" / "**"
//	path     = name *( "/" name )      ; no wildcards
//	name     = 1*64nchar               ; not made only of "."
//	nchar    = %x61-7A / %x30-39 / "." / "_" / "-"   ; a-z 0-9 . _ -
//
// and besides: at most MaxResourceLen (256) bytes in all, and at most
// MaxResourceSegments (16) segments, a segment being what lies between
// slashes, wildcards included; a name is at most MaxSegmentLen (64)
// bytes. So there are no empty segments (no leading, trailing or double
// "/"), no ".", ".." or "..." segments, no uppercase, no "%" escapes, no
// "\", no spaces and no non-ASCII: anything else is refused, never
// normalised. A token whose resource is not a valid pattern is
// ErrMalformed; a request whose path is not a valid path is
// ErrNotPermitted; ParsePattern and ParsePath return ErrBadPattern.
//
// "*" stands for exactly one segment, "**" for one or more. Whether a
// pattern P matches a path r, and whether a child pattern C is within a
// parent pattern P (the delegation rule), are decided by one procedure
// on their segment lists, a path being a pattern without wildcards:
//
//	within(c, p):
//	    for i = 1 to len(p):
//	        if p[i] = "**":    return len(c) ≥ i        (one or more left, of any kind)
//	        if len(c) < i:     return false
//	        if p[i] = "*":     if c[i] = "**" return false   ("*" covers a name or "*")
//	        else:              if c[i] ≠ p[i] return false   (a name covers itself only)
//	    return len(c) = len(p)
//
// P matches r if and only if within(r, P); C is within P if and only if
// within(C, P). The procedure reads "**" as any number of segments from
// one, unbounded: the 16-segment and 256-byte caps play no part, so a
// child of 16 segments ending in "**" is not within the same 15 segments
// followed by "*", although no valid path tells the two apart.
//
// # Verification
//
// Verifier.Verify checks a decoded token for a Request (remote peer, owner,
// resource path, action) in this order; the first failure is returned,
// wrapping its sentinel and naming the chain link ("link 2 of 3"). Each
// step runs over the whole chain, root (link 1) first, before the next
// step starts:
//
//  1. decoding, above (ErrTooLarge, ErrMalformed, ErrTooDeep);
//  2. every signature, root first (ErrBadSignature);
//  3. every link but the root against its parent, root first; for one
//     link these are tried in this order: the link's issuer is the
//     parent's audience, byte for byte (ErrBrokenChain); the parent's
//     actions include share (ErrNoShare); the link's actions are a subset
//     of the parent's (ErrEscalation); the link's resource is within the
//     parent's (ErrWidened); the link's not-before ≥ the parent's and its
//     expiry ≤ the parent's (ErrValidityExtended);
//  4. every link's actions are a subset of every ceiling present at that
//     link or above it, towards the root (ErrCeiling);
//  5. for every link, root first: now + skew < not-before is
//     ErrNotYetValid, else now − skew ≥ expiry is ErrExpired; so now must
//     lie in [not-before − skew, expiry + skew). skew is DefaultSkew (60)
//     seconds unless configured; a configured skew of zero or less means
//     the default, one below 1 second is raised to 1 second and one above
//     MaxSkew (300) seconds is lowered to it. now comes from the
//     verifier's injected clock. The error is a *TimeError carrying the
//     failing link's window, now and the skew;
//  6. no token of the chain is revoked, root first (*RevokedError,
//     matching ErrRevoked, with the revoked ID); revoking a link kills
//     every chain through it and leaves sibling chains alone;
//  7. the leaf's audience is the authenticated remote peer, byte for byte
//     (ErrWrongAudience);
//  8. the root issuer is the verifying node (ErrWrongOwner): a grant never
//     reaches outside its issuer's namespace;
//  9. the request's action is exactly one known action, the leaf's
//     actions include it, and its path is a valid path the leaf's pattern
//     matches (ErrNotPermitted);
//  10. one use of every token in the chain with a max-uses budget is
//     spent, all or none: a token whose recorded uses already equal its
//     max-uses makes the request ErrReplayed, and so does a store that
//     may have forgotten it (see Use budgets and replay); a store that
//     cannot record a token it has no record of is ErrReplayFull. A
//     parent's budget thus bounds all uses made through its delegations.
//
// Issue applies rules 3 and 4 before signing and fails with the same
// sentinels, so it never produces a chain verification would refuse.
//
// Steps 2 to 4 depend on nothing but the envelope bytes. A verifier may
// therefore remember, by token ID, the chains that passed them, and skip
// decoding and those steps when the same bytes come again; it still runs
// steps 5 to 10 on every use, against its clock, the remote peer, the
// request, its revocation set and its use store, so the outcome, error
// and all, is the one a full verification gives. The Go verifier keeps
// the chains of tokens that passed every step, at most
// DefaultCacheEntries (8192) chains and DefaultCacheBytes (16777216)
// bytes of decoded tokens by default, forgetting the least recently used
// first (ChainCache; revoked tokens may be evicted early, which only
// frees room).
//
// Step 5's error says which bound was passed, by how much, and until or
// from when the skew still accepts the token, as seen on the verifier's
// clock: "link 1 of 1: expired 2026-03-01T13:00:00Z, 2m ago (accepted
// until 1m ago: the owner allows 60s of clock skew)". The holder's node
// and an inspect report judge a token's window by the same rule with
// DefaultSkew (capability.Window), so all three agree at the same clock
// reading: a token inside the skew but outside its own window is
// accepted, and said to be.
//
// # Errors
//
// Every error a verifier returns wraps one of these sentinels, and
// ErrorName names it (the vectors use the names):
//
//	ErrTooLarge          text over MaxTextLen or envelope over MaxTokenBytes
//	ErrMalformed         any text-form, encoding, field, peer-ID or key rule broken
//	ErrTooDeep           a parent field at position MaxDepth (Decoding)
//	ErrBadSignature      a signature that does not hold (Signatures)
//	ErrBrokenChain       a link's issuer is not its parent's audience
//	ErrNoShare           a link's parent does not grant share
//	ErrEscalation        a link's actions exceed its parent's
//	ErrWidened           a link's resource is not within its parent's
//	ErrValidityExtended  a link's window reaches outside its parent's
//	ErrCeiling           a link's actions exceed a ceiling at or above it
//	ErrNotYetValid       now + skew < not-before of some link
//	ErrExpired           now − skew ≥ expiry of some link
//	ErrRevoked           a link's ID is revoked (as *RevokedError)
//	ErrWrongAudience     the leaf's audience is not the remote peer
//	ErrWrongOwner        the root issuer is not the verifying node
//	ErrNotPermitted      the request's action or path is not granted
//	ErrReplayed          a budget is spent, or its record may be forgotten
//	ErrReplayFull        the use store cannot record another token
//
// ErrReplayFull depends on the verifier's store, not the token: a
// MemoryReplay holds DefaultMaxReplayEntries (100000) tokens and refuses
// new counted tokens when full rather than forget spent ones, so no
// vector pins it. ErrBadPattern is never the name of a verification
// error: ParsePattern and ParsePath return it, and the error for a token
// whose resource breaks the grammar wraps it besides ErrMalformed, which
// ErrorName reports. A use store's own failure (a cancelled context, a
// disk error) is returned as it is and wraps no sentinel.
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
//   - a record's Until is the token's expiry plus MaxSkew (300) seconds
//     plus one second, whatever skew the verifier runs with; Config.Skew
//     is capped at MaxSkew, so no verifier accepts the token at or after
//     Until;
//   - a store keeps a time mark M, the latest time it is sure has been
//     reached. A spend at clock reading now moves M to min(now, M + e), e
//     being the time elapsed on the process's monotonic clock since M last
//     moved; M never moves back; a new store's first spend sets M = now;
//   - a record is forgotten only when its Until ≤ M;
//   - a token the store has no record of whose Until ≤ M is refused
//     (ErrReplayed): a record of it may have been forgotten.
//
// A verifier that runs with a fixed clock and a fresh store, as the
// vectors do, never meets the last two rules: a token that passed rule 5
// has Until > now.
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
// carry, itself included; agents' tokens carry DefaultAgentCeiling (read,
// list). A ceiling may never contain delete, admin or share: a
// ceiling-bearing token cannot delete, administer or be delegated,
// whoever holds it (granting share would exceed its own ceiling).
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
