package group

import "time"

// Every number of the package, each with its reason. doc.go's Limits table
// gives them with their values; TestDocNumbersMatchTheConstants checks it.
const (
	// MinThreshold is the fewest admins that can unlock a group: one admin
	// alone is a personal vault, not a group's.
	MinThreshold = 2
	// MaxAdmins bounds a group's admins: a board or a family, each sealed a
	// share and each share checked against MaxAdmins commitments at most.
	MaxAdmins = 16
	// KeySize is the group key: 32 bytes, a ChaCha20-Poly1305 or HKDF key.
	KeySize = 32
	// ScalarSize is a Ristretto255 scalar's canonical encoding (a share's
	// value, and the master scalar the key is derived from).
	ScalarSize = 32
	// PointSize is a Ristretto255 element's canonical encoding (a
	// commitment).
	PointSize = 32
	// DealingIDSize is a dealing's ID: SHA-256 of its commitments.
	DealingIDSize = 32
	// MaxGroupNameLen bounds a group's name: a word a person types, used
	// in every approval and audit record.
	MaxGroupNameLen = 64
	// NonceSize is an approval's nonce: 128 random bits never repeat.
	NonceSize = 16
	// MaxApprovalAge is how long an approval can be offered after it was
	// signed: an admin approves a request they just saw.
	MaxApprovalAge = 15 * time.Minute
	// MaxClockSkew is how far in the future an approval's time may be:
	// the admin's clock may run a little ahead of the vault's.
	MaxClockSkew = time.Minute
	// MinWindow and MaxWindow bound the unlock window an admin approves:
	// a minute to a working day.
	MinWindow = time.Minute
	MaxWindow = 24 * time.Hour
	// DefaultMaxNonces bounds the nonces a NonceSet remembers per group.
	// A nonce is forgotten once its approval is stale, so this is the
	// approvals one group may receive in MaxApprovalAge; beyond it new
	// approvals wait (they are refused, never let through unchecked).
	DefaultMaxNonces = 1024
	// maxCommitmentsBytes bounds encoded commitments: MaxAdmins peer IDs
	// (38 bytes) and points (32 bytes), a name and the map around them.
	maxCommitmentsBytes = 2048
	// maxShareBytes bounds an encoded share: an ID, a peer ID, an index
	// and a scalar.
	maxShareBytes = 256
	// maxSealedShareBytes bounds a sealed share inside an approval: an age
	// header with one X25519 stanza (about 200 bytes) and one chunk.
	maxSealedShareBytes = 1024
	// maxApprovalBytes bounds an encoded approval: its fields, a sealed
	// share and a signature.
	maxApprovalBytes = 2048
	// recordVersion is the version of every encoding of the package.
	recordVersion = 1
	// maxUnix bounds every time of the package (approvals, audit
	// records, release times): 9999-12-31T23:59:59Z.
	maxUnix = 253402300799

	// ChangeDigestSize is a membership change's digest (SHA-256), as an
	// approval carries it.
	ChangeDigestSize = 32

	// MaxChainMemory bounds the hashes a Chain keeps, one per height: the
	// last 4096 records of a group's audit log (about 200 KiB). An older height
	// is the caller's store's to compare (Outcome Old).
	MaxChainMemory = 4096
	// MaxKindLen bounds an audit record's kind: a dotted word such as
	// "unlock.open".
	MaxKindLen = 32
	// MaxDetailLen bounds an audit record's detail: a sentence, not a
	// document.
	MaxDetailLen = 512
	// maxRecordBytes bounds an encoded audit record: a name (64), a kind
	// (32), a detail (512), a peer ID (38), a hash (32), a signature (64)
	// and the map around them.
	maxRecordBytes = 1024

	// MaxSecretBytes bounds a secret's value: a password, a key file, a
	// recovery code list, not a document store.
	MaxSecretBytes = 64 << 10
	// MaxSecretNameLen bounds a secret's name: a path a person types.
	MaxSecretNameLen = 128
	// secretNonceSize is XChaCha20-Poly1305's nonce: 192 random bits
	// never repeat under one key.
	secretNonceSize = 24
	// maxSealedSecretBytes bounds a sealed secret: the largest value, its
	// 16-byte tag, the nonce and the map around them.
	maxSealedSecretBytes = MaxSecretBytes + 256

	// maxScheduleLen bounds a schedule's text: a few rules of 30 bytes.
	maxScheduleLen = 512
	// maxScheduleRules bounds a schedule's rules (each is checked on
	// every unlock).
	maxScheduleRules = 16
	// maxUTCOffset bounds a rule's UTC offset: UTC−14:00 to UTC+14:00,
	// the widest in use.
	maxUTCOffset = 14 * time.Hour
)
