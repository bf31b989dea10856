package revocation

import (
	"time"

	"github.com/ocmt/mesh/capability"
)

// Every cap the record decoder and the Set enforce, each with its reason
// (the gossip's caps are in protocols/revgossip). Changing a record cap is
// a format change: update doc.go and testdata/ with it.
const (
	// Version is the only payload version; it pins Ed25519 over
	// "ocmt-mesh/revocation/v1" || 0x00 || payload.
	Version = 1

	// MaxPayloadBytes caps the signed payload: the embedded proof token
	// (at most capability.MaxTokenBytes) plus the fixed fields (an ID, a
	// peer ID, two times and CBOR framing, under 128 bytes).
	MaxPayloadBytes = capability.MaxTokenBytes + 256

	// MaxRecordBytes caps a whole envelope (payload, 64-byte signature and
	// framing), checked before anything is decoded. It is also the largest
	// message protocols/revgossip lets through.
	MaxRecordBytes = MaxPayloadBytes + 128

	// DefaultMaxPerRevoker caps the live entries one revoker may hold in a
	// Set. Anyone can issue tokens to themselves and revoke them, so
	// without a quota one key could fill every verifier's memory; 10 000
	// covers a user revoking every share they ever made in a token lifetime.
	DefaultMaxPerRevoker = 10_000

	// DefaultMaxEntries caps a Set's live entries (Config.MaxEntries), so
	// what strangers can make a node keep is bounded whatever keys they
	// mint: at about 185 bytes of memory an entry (map slot and version
	// index; BenchmarkSetLookup1M) it is ~185 MiB. Infrastructure
	// sets hold the mesh's live revocations; this is far above what we
	// plan for, and half of what revsync's MaxPages would carry.
	DefaultMaxEntries = 1 << 20

	// DefaultMaxBytes caps the bytes of the records a Set keeps
	// (Config.MaxBytes): the disk a Set takes. A record is 400 bytes to
	// MaxRecordBytes, so 512 MiB is a million typical records, or about
	// 120 000 of the largest.
	DefaultMaxBytes = 512 << 20

	// reservedShare is the part of each cap kept for relevant records
	// (Config.Relevant): a record that is not relevant is refused once a
	// Set is past 1 - 1/reservedShare of either cap.
	reservedShare = 4

	// DefaultCollectEvery is how often a Set drops entries whose token has
	// expired. Collection is O(n).
	DefaultCollectEvery = 10 * time.Minute

	// maxUnix is 9999-12-31T23:59:59Z, the last second RFC 3339 can print.
	maxUnix = 253402300799

	// epochLen is the length of a Set's random epoch (see Set.Epoch).
	epochLen = 8
)
