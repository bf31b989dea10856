package revocation

import (
	"time"

	"github.com/ocmt/mesh/capability"
)

// Every cap the record decoder, the Set and the gossip validator enforce,
// each with its reason. Changing a record cap is a format change: update
// doc.go and testdata/ with it.
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
	// gossip message the validator lets through.
	MaxRecordBytes = MaxPayloadBytes + 128

	// RPCBudgetRate and RPCBudgetBurst are a suspect neighbour's budget of
	// published messages before its RPCs are dropped unread (see Budget).
	RPCBudgetRate  = 4
	RPCBudgetBurst = 8
	// SuspectFor is how long a neighbour that forwarded an invalid
	// revocation stays budgeted.
	SuspectFor = 10 * time.Minute
	// CutOffFor is how long after cutting a suspect off everything it sent
	// is dropped unread (its connections are closing, but frames it wrote
	// before are still in flight and in buffers) and Budget.Gater refuses
	// its new connections.
	CutOffFor = 10 * time.Second
	// maxVerifiedCache bounds the hashes of records verified as they
	// arrived, so the validator skips checking them again.
	maxVerifiedCache = 4096

	// MaxRPCBytes caps one gossipsub RPC frame on every mesh node: room for
	// a few records and the control messages of one small topic. A peer
	// that batches more is cut off at the read, before any of the batch is
	// verified, so a flood arrives in small RPCs, each checked against the
	// sender's score, and graylisting takes hold after a few of them.
	MaxRPCBytes = 4*MaxRecordBytes + 4<<10

	// DefaultMaxPerRevoker caps the live entries one revoker may hold in a
	// Set. Anyone can issue tokens to themselves and revoke them, so
	// without a quota one key could fill every verifier's memory; 10 000
	// covers a user revoking every share they ever made in a token lifetime.
	DefaultMaxPerRevoker = 10_000

	// DefaultExpectedEntries sizes the Bloom filter; the filter is rebuilt
	// twice as large when the set outgrows it, so this is only a start.
	DefaultExpectedEntries = 1 << 16

	// DefaultFalsePositiveRate is the Bloom filter's target rate. A false
	// positive costs one exact-set lookup (never a rejection); at 1/1000
	// the filter costs about 14.4 bits an entry.
	DefaultFalsePositiveRate = 0.001

	// DefaultCollectEvery is how often a Set drops entries whose token has
	// expired. Collection is O(n) and rebuilds the Bloom filter.
	DefaultCollectEvery = 10 * time.Minute

	// DefaultPeerRate and DefaultPeerBurst bound how many revocations one
	// gossip neighbour may make us verify: each costs up to five Ed25519
	// verifications (about 250 µs). Past the bucket messages are ignored,
	// not rejected, so an honest relay forwarding a burst is not penalised.
	DefaultPeerRate  = 50
	DefaultPeerBurst = 500

	// maxLimiters bounds the per-peer limiter map; when full it starts over,
	// which at worst gives a flood of new peers a fresh burst.
	maxLimiters = 4096

	// maxUnix is 9999-12-31T23:59:59Z, the last second RFC 3339 can print.
	maxUnix = 253402300799

	// epochLen is the length of a Set's random epoch (see Set.Epoch).
	epochLen = 8
)
