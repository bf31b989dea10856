// Package group is the core of a group vault (issue 15): a group's key is
// split among its admins so that any K of its N admins, and no fewer,
// can unlock it for a window, each by a signed approval that carries
// their share sealed to the vault's node.
//
// The package decides and computes; the node stores and carries. It
// holds a key only inside a Lock's open window, and wipes it at the
// window's end. It does not store commitments, shares or nonces: the
// node keeps the commitments in the group record, each admin keeps their
// sealed share, and a restarted node starts locked with an empty
// NonceSet: an approval offered before a restart can be offered again
// after it, until it is stale (MaxApprovalAge after its time).
//
// This comment is the specification of the dealing, of the three
// encodings (commitments, shares, approvals), of the approval's signature
// and of the unlock window. Canonical CBOR is internal/wire's; peer IDs
// are internal/wire's "Peer IDs" (checked by internal/keys); sealing is
// internal/peerseal's. This text refers to them and does not repeat them.
//
// # Limits
//
// Every number of the package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants. Durations are in seconds.
//
//	name                 value         unit      what it bounds
//	MinThreshold         2             admins    the fewest admins that unlock a group (K)
//	MaxAdmins            16            admins    a group's admins (N), K ≤ N
//	KeySize              32            bytes     the group key
//	ScalarSize           32            bytes     a Ristretto255 scalar (a share's value)
//	PointSize            32            bytes     a Ristretto255 element (a commitment)
//	DealingIDSize        32            bytes     a dealing's ID, SHA-256 of its commitments
//	MaxGroupNameLen      64            bytes     a group's name
//	NonceSize            16            bytes     an approval's nonce
//	MaxApprovalAge       900           seconds   an approval's life after its time (15 minutes)
//	MaxClockSkew         60            seconds   how far ahead an approval's time may be
//	MinWindow            60            seconds   the shortest unlock window an approval asks for
//	MaxWindow            86400         seconds   the longest (24 hours)
//	DefaultMaxNonces     1024          nonces    a NonceSet's live nonces per group
//	maxCommitmentsBytes  2048          bytes     encoded commitments
//	maxShareBytes        256           bytes     an encoded share
//	maxSealedShareBytes  1024          bytes     a sealed share
//	maxApprovalBytes     2048          bytes     an encoded approval
//	recordVersion        1             -         the version of the three encodings
//	maxUnix              253402300799  seconds   an approval's time: 9999-12-31T23:59:59Z
//
// # Names and admins
//
// A group's name is 1 to MaxGroupNameLen (64) bytes of a-z, 0-9 and "-",
// starting with a letter. Its admins are 2 to MaxAdmins (16) distinct
// peer IDs, in an order fixed at the dealing: admin i (counted from 1) is
// the i-th. The threshold K is MinThreshold (2) to N. Split refuses
// anything else (ErrBadDealing).
//
// # Dealing
//
// Split deals with Feldman verifiable secret sharing over Ristretto255
// (RFC 9496; prime order ℓ = 2^252 + 27742317777372353535851937790883648493,
// generator G), as github.com/cloudflare/circl/secretsharing computes it:
//
//	s   = (64 bytes from the dealer's randomness, big-endian) mod ℓ, drawn again if 0
//	f(x) = s + a_1·x + … + a_{K−1}·x^{K−1} mod ℓ,  a_j random scalars
//	share of admin i:  f(i)
//	commitments:       C_j = a_j·G for j = 0 … K−1, with a_0 = s
//	group key:         HKDF-SHA256(ikm = s as 32 bytes little-endian,
//	                               no salt, info = "ocmt-mesh/group-key/v1", 32 bytes)
//
// A share of admin i is valid (VerifyShare) when it names the dealing's
// ID, admin i at index i, and f(i)·G = Σ_j i^j·C_j. Recover verifies every
// share given (one failing share fails the recovery, naming its admin,
// ErrBadShare), counts one share per index, needs K of them
// (ErrTooFewShares), interpolates f(0) from the first K and checks
// f(0)·G = C_0 before deriving the key. A re-split (Split again, as when
// an admin leaves) draws a new s and a new polynomial: the old shares
// name another dealing, and lie on another polynomial, so they fail
// VerifyShare and recover nothing.
//
// # Commitments
//
// The commitments are public: they go in the group record, and hold no
// secret (C_0 = s·G, and the key is derived from s, not from C_0). They
// are a canonical CBOR map, at most maxCommitmentsBytes (2048) bytes:
//
//	key  field      type                   rule
//	1    version    unsigned               recordVersion (1)
//	2    group      text                   the group's name (Names and admins)
//	3    threshold  unsigned               K, MinThreshold ≤ K ≤ N
//	4    admins     array of byte strings  the N admins' peer IDs, distinct, in share order
//	5    points     array of byte strings  K canonical Ristretto255 encodings, C_0 first
//
// The dealing's ID is SHA-256 of these bytes.
//
// # Shares
//
// A share is a canonical CBOR map, at most maxShareBytes (256) bytes:
//
//	key  field    type         rule
//	1    version  unsigned     recordVersion (1)
//	2    dealing  byte string  the dealing's ID, DealingIDSize (32) bytes
//	3    admin    byte string  the admin's peer ID
//	4    index    unsigned     the admin's place, 1 to MaxAdmins (16)
//	5    value    byte string  f(index), a canonical scalar (32 bytes
//	                           little-endian, below ℓ), not zero
//
// A share holds a secret and never travels in the clear: it is sealed
// with peerseal to one peer (SealShare), its admin's at the dealing, the
// vault's node in an approval, at most maxSealedShareBytes (1024) bytes
// sealed. OpenShare opens and decodes it.
//
// # Approvals
//
// An approval is an admin's signed consent to unlock a group for a
// window. It is a canonical CBOR map, at most maxApprovalBytes (2048)
// bytes:
//
//	key  field    type         rule
//	1    version  unsigned     recordVersion (1)
//	2    group    text         the group's name
//	3    window   unsigned     the window asked for, in seconds, MinWindow to MaxWindow
//	4    nonce    byte string  NonceSize (16) random bytes
//	5    time     unsigned     when the admin approved, Unix seconds, at most maxUnix
//	6    admin    byte string  the admin's peer ID
//	7    share    byte string  the admin's share sealed to the vault's node
//	8    sig      byte string  the Ed25519 signature, 64 bytes
//
// The payload is the same map without key 8, in canonical CBOR. The
// admin signs, with the Ed25519 key of their peer ID,
//
//	"ocmt-mesh/group-approval/v1" || 0x00 || payload
//
// and verification uses the standard library's rule (cofactorless,
// non-canonical S refused), as every signature of the mesh. Verify, at
// the vault's time now, refuses in this order: a signature that does not
// verify (ErrBadSignature); another group's name, or an admin not among
// the group's (ErrNotAdmin); a time more than MaxApprovalAge (900) before
// now, or more than MaxClockSkew (60) after it (ErrStale).
//
// # Unlock window
//
// A Lock runs on an injected clock. Offer takes a parsed approval and the
// share the vault opened from it (OfferSealed opens it with the vault's
// peer key first, so the share is the one the admin signed), and refuses, each in words naming the
// admin and leaving the lock as it was: any approval while the group is
// unlocked (ErrOpen); one that fails Verify; a share that is not the
// approval's admin's, or fails VerifyShare (ErrBadShare); a nonce the
// NonceSet already counted (ErrReplay) or a full NonceSet (ErrTooMany). A
// NonceSet remembers a nonce until its approval's time is MaxApprovalAge
// past, at most DefaultMaxNonces (1024) per group by default; a refused
// approval spends no nonce. An accepted approval waits (one per admin; a
// second one from the same admin replaces it) until it is stale. The
// approval that brings K distinct admins recovers the key and opens the
// group from now for the shortest window its approvers asked for; the
// approvers are recorded in share order. Key returns a copy of the key
// only while open. On every call, and on Sweep, a window whose end has
// come wipes the key and locks the group; Relock does so at once.
package group
