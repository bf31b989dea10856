package translog

import "crypto/sha256"

// Every bound of the package, each with its reason. doc.go's Limits table
// gives the same numbers; TestDocNumbersMatchTheConstants keeps them equal.
const (
	// HashSize is the size of a tree hash, a handle commitment and a record
	// hash: SHA-256.
	HashSize = sha256.Size
	// SaltSize is the size of the bootstrap's handle-commitment secret: an
	// HMAC-SHA256 key as long as the hash.
	SaltSize = 32
	// MaxLeafBytes caps an encoded leaf; the largest is about 130 bytes.
	MaxLeafBytes = 256
	// MaxCheckpointBytes caps a signed checkpoint note; one with the longest
	// origin, a 20-digit size and one signature line is about 300 bytes.
	MaxCheckpointBytes = 512
	// MaxProofHashes caps the hashes of an inclusion or consistency proof: a
	// tree of 2^64 leaves needs at most 65.
	MaxProofHashes = 72
	// MaxProofBytes caps an encoded proof: MaxProofHashes hashes of 34
	// bytes (a 2-byte CBOR head each) and a 2-byte array head.
	MaxProofBytes = 2 + MaxProofHashes*(HashSize+2)
	// MaxForkBytes caps encoded fork evidence: two checkpoints, one proof
	// and the map's heads.
	MaxForkBytes = 2*MaxCheckpointBytes + MaxProofBytes + 32
	// MaxWitnessedLogs caps the logs one Witness follows: a mesh has a
	// handful of bootstrap peers, and a gossiped checkpoint of an unknown
	// log must not grow memory without bound.
	MaxWitnessedLogs = 64
	// MaxForks caps the fork evidence a Witness keeps; the first one is
	// already the alarm.
	MaxForks = 16

	leafVersion = 1
	forkVersion = 1
)
