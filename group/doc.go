// Package group is the core of a group vault (issue 15): a group's key is
// split among its admins so that any K of its N admins, and no fewer,
// can unlock it for a window, each by a signed approval that carries
// their share sealed to the vault's node. The same approvals, bound to a
// change's digest, let K admins change the group's membership. The
// vault's node keeps a signed, hash-chained audit log per group, seals
// the group's secrets under the group key, and may unlock a group only
// within its schedule.
//
// The package decides and computes; the node stores and carries. It
// holds a key only inside a Lock's open window, and wipes it at the
// window's end. It does not store commitments, shares or nonces: the
// node keeps the commitments in the group record, each admin keeps their
// sealed share, and a restarted node starts locked with an empty
// NonceSet: an approval offered before a restart can be offered again
// after it, until it is stale (MaxApprovalAge after its time).
//
// This comment is the specification of the dealing, of the encodings
// (commitments, shares, approvals, membership changes, audit records,
// sealed secrets, schedules), of the signatures and of the unlock window. Canonical CBOR is internal/wire's; peer IDs
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
//	recordVersion        1             -         the version of every encoding of the package
//	maxUnix              253402300799  seconds   any time of the package: 9999-12-31T23:59:59Z
//	ChangeDigestSize     32            bytes     a membership change's digest, in an approval
//	MaxChainMemory       4096          records   the heights whose hashes a Chain keeps
//	MaxKindLen           32            bytes     an audit record's kind
//	MaxDetailLen         512           bytes     an audit record's detail
//	maxRecordBytes       1024          bytes     an encoded audit record
//	MaxSecretBytes       65536         bytes     a secret's value (64 KiB)
//	MaxSecretNameLen     128           bytes     a secret's name
//	secretNonceSize      24            bytes     a sealed secret's nonce (XChaCha20-Poly1305)
//	maxSealedSecretBytes 65792         bytes     a sealed secret (MaxSecretBytes + 256)
//	maxScheduleLen       512           bytes     a schedule's text
//	maxScheduleRules     16            rules     a schedule's rules
//	maxUTCOffset         50400         seconds   a schedule rule's UTC offset, either way (14 hours)
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
//	9    change   byte string  always present: empty for an unlock; for a
//	                           membership change, its digest, ChangeDigestSize
//	                           (32) bytes (Membership changes)
//
// The payload is the same map without key 8, in canonical CBOR. The
// admin signs, with the Ed25519 key of their peer ID,
//
//	"ocmt-mesh/group-approval/v1" || 0x00 || payload
//
// (internal/keys' GroupApprovalMessage), and verification uses the
// standard library's rule (cofactorless, non-canonical S refused), as
// every signature of the mesh. An approval is for one purpose, fixed by
// key 9 under the signature: an unlock (a Lock) or one membership change
// (a Tally); offered for the other it is refused (ErrWrongPurpose). A
// change approval's window (key 3) follows the same rule and is not
// used. Verify, at
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
// admin and leaving the lock as it was, in this order: any approval while
// the group is unlocked (ErrOpen); one that fails Verify; one for a
// membership change (ErrWrongPurpose); any approval at a time the group's
// schedule does not allow (ErrOutsideSchedule, saying when it next
// opens); a share that is not the approval's admin's, or fails
// VerifyShare (ErrBadShare); a nonce the NonceSet already counted
// (ErrReplay) or a full NonceSet (ErrTooMany). A
// NonceSet remembers a nonce until its approval's time is MaxApprovalAge
// past, at most DefaultMaxNonces (1024) per group by default; a refused
// approval spends no nonce. An accepted approval waits (one per admin; a
// second one from the same admin replaces it) until it is stale. The
// approval that brings K distinct admins recovers the key and opens the
// group from now for the shortest window its approvers asked for, cut
// at the end of the schedule's slot containing now (Schedule.End); the
// approvers are recorded in share order. An approval counted before the
// schedule's slot ends stays pending after it (until stale), but any
// approval offered outside the schedule is refused, so the group opens
// only within it. Key returns a copy of the key only while open. On
// every call, and on Sweep, a window whose end has come wipes the key
// and locks the group; Relock does so at once.
//
// # Membership changes
//
// A change of a group's admins, threshold or default unlock window is
// approved by K of its current admins, each signing an approval whose
// key 9 is the change's digest, and carrying their share as for an
// unlock. The digest is SHA-256 of
//
//	"ocmt-mesh/group-change/v1" || 0x00 || change
//
// where change is a canonical CBOR map:
//
//	key  field      type                   rule
//	1    version    unsigned               recordVersion (1)
//	2    group      text                   the group's name
//	3    dealing    byte string            the current dealing's ID, DealingIDSize (32) bytes
//	4    threshold  unsigned               the new K, MinThreshold ≤ K ≤ N
//	5    admins     array of byte strings  the new N admins' peer IDs, distinct, in share order
//	6    window     unsigned               the new default unlock window in seconds,
//	                                       MinWindow to MaxWindow, or 0 to keep it
//
// Check applies these rules (ErrBadDealing). The dealing's ID makes an
// approval good for one membership only: after the group is dealt again
// the same change has another digest. A Tally counts the approvals of
// one digest with the Lock's checks, in the Lock's order without ErrOpen
// and the schedule (which bounds unlocks only): Verify; the change
// (ErrWrongPurpose: an unlock's approval, or another change's); the
// share; the nonce, in the NonceSet the node shares with its Locks. One
// approval waits per admin until stale. The approval that brings K
// distinct admins recovers the key; Key returns a copy, the node deals
// again (Deal: Split that also returns the new key), re-encrypts the
// group's secrets and seals the new shares to the new admins, then ends
// the tally with Wipe (later offers: ErrLocked). A tally that is done
// counts nothing more.
//
// # Audit records
//
// The vault's node keeps one log per group. Each record is a canonical
// CBOR map, at most maxRecordBytes (1024) bytes:
//
//	key  field   type         rule
//	1    version unsigned     recordVersion (1)
//	2    group   text         the group's name
//	3    height  unsigned     the record's place in the log, from 1
//	4    prev    byte string  32 bytes: the hash of the record at height − 1;
//	                          all zero at height 1, and only there
//	5    time    unsigned     Unix seconds, at most maxUnix
//	6    kind    text         1 to MaxKindLen (32) bytes of a-z and ".",
//	                          neither first nor last a dot, no two dots together
//	7    actor   byte string  the peer ID the record is about, or empty
//	8    detail  text         at most MaxDetailLen (512) bytes of UTF-8, no control
//	                          characters (Unicode category Cc), line or paragraph
//	                          separators (Zl, Zp) or bidirectional controls
//	                          (Bidi_Control)
//	9    sig     byte string  the Ed25519 signature, 64 bytes
//
// The payload is the same map without key 9. The vault's node signs,
// with its peer key,
//
//	"ocmt-mesh/group-audit/v1" || 0x00 || payload
//
// (internal/keys' GroupAuditMessage). A record's hash is SHA-256 of its
// whole encoding, signature included. Record r follows record p
// (Follows) when they name one group, r's height is p's + 1, r's prev is
// p's hash (else a *ForkError at p's height), and r's time is not before
// p's.
//
// An admin checks the log with a Chain, which takes records in order
// (Add): a record that is not the vault's (ErrBadSignature), malformed
// (ErrMalformed), of another group, or dated before the head (ErrChain)
// is an error; otherwise Add reports Appended (the next record, now the
// head), Known (the same record at a height it holds), Gap (beyond the
// head's next height: not taken; fetch the missing ones first), Fork (a
// different record at a height it holds, or a next record whose prev is
// not the head's hash: a *ForkError, ErrFork, naming the height) or Old
// (a height it no longer holds). A Chain holds the hashes of the last
// MaxChainMemory (4096) heights; after Resume from a stored head it
// holds that height only. Older heights are the caller's to compare,
// with its store.
//
// # Secrets
//
// A group's secret has a name of 1 to MaxSecretNameLen (128) bytes of
// a-z, A-Z, 0-9, ".", "_", "-" and "/", neither starting nor ending with
// "/", with no "//" and no ".." (CheckSecretName, ErrBadName), and a value
// of at most MaxSecretBytes (65536) bytes (ErrTooLarge). It is sealed
// with XChaCha20-Poly1305 under
//
//	subkey = HKDF-SHA256(ikm = the group key, no salt,
//	                     info = "ocmt-mesh/group-secret/v1", 32 bytes)
//
// with a random nonce of secretNonceSize (24) bytes and the additional
// data
//
//	"ocmt-mesh/group-secret/v1" || 0x00 || bound
//
// where bound is the canonical CBOR map {1: the group's name (text),
// 2: the secret's name (text), 3: the release time (unsigned)}. The
// release time is Unix seconds (SealSecret cuts it to the second) from 1
// to maxUnix, or 0 for none. The sealed secret is a canonical CBOR map,
// at most maxSealedSecretBytes (65792) bytes:
//
//	key  field    type         rule
//	1    version  unsigned     recordVersion (1)
//	2    release  unsigned     the release time, 0 for none, at most maxUnix
//	3    nonce    byte string  secretNonceSize (24) bytes
//	4    box      byte string  the ciphertext and its 16-byte tag, 16 to
//	                           MaxSecretBytes + 16 bytes
//
// Bytes that do not decode so are ErrMalformed. A wrong key, group or
// name, an altered release time or any altered byte fail alike
// (ErrSealed); no error holds the value.
//
// # Schedules
//
// A schedule says when a group may be unlocked. The empty text (or only
// spaces) allows any time. Otherwise it is at most maxScheduleLen (512)
// bytes: at most maxScheduleRules (16) rules separated by ";", each of
// two or three words separated by spaces:
//
//	word    rule
//	days    a day (mon tue wed thu fri sat sun, any case), a range of days
//	        ("mon-fri"; a range may wrap: "fri-mon" is Friday to Monday),
//	        or a list of these separated by "," ("sat,sun", "mon-wed,fri")
//	hours   HH:MM-HH:MM, from 00:00 to 24:00 (24:00 as an end only); an
//	        end of 00:00 is 24:00 (so 00:00-00:00 is the whole day);
//	        otherwise the two times may not be equal
//	offset  optional: "UTC" (the default, any case), or +HH:MM or -HH:MM,
//	        the rule's fixed offset from UTC, at most maxUTCOffset (50400)
//	        seconds either way; no time zone names (the binary carries no
//	        time zone database), no daylight saving time
//
// A rule allows the half-open slots [start, end) of its days, in its
// offset's local time. A slot whose end is before its start crosses
// midnight: "fri 22:00-02:00" is Friday 22:00 to Saturday 02:00, the day
// naming where the slot starts. A time is allowed when some rule allows
// it. Anything else is ErrBadSchedule. The canonical text (String)
// writes days Monday first, runs of three days or more as ranges
// ("mon-fri") and shorter ones as lists ("sat,sun"), hours as HH:MM, the
// offset only when it is not UTC, and rules joined by "; "; it parses
// back to the same schedule. End(t) is the end of the allowed time
// containing t, following slots that touch or overlap (t when t is not
// allowed; 9999-12-31T23:59:59Z for a schedule that never closes);
// Next(t) is the first allowed time from t on.
package group
