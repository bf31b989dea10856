package revgossip

import (
	"time"

	"github.com/ocmt/mesh/capability/revocation"
)

// Caps of the gossip, each with its reason.
const (
	// MaxRPCBytes caps one gossipsub RPC frame on every mesh node: room for
	// a few records and the control messages of one small topic. A peer
	// that batches more is cut off at the read, before any of the batch is
	// verified, so a flood arrives in small RPCs, each checked against the
	// sender's score, and graylisting takes hold after a few of them.
	MaxRPCBytes = 4*revocation.MaxRecordBytes + 4<<10

	// DefaultPeerRate and DefaultPeerBurst bound how many revocations one
	// gossip neighbour may make us verify: each costs up to five Ed25519
	// verifications (about 250 µs). Past the bucket messages are ignored,
	// not rejected, so an honest relay forwarding a burst is not penalised.
	DefaultPeerRate  = 50
	DefaultPeerBurst = 500

	// RPCBudgetRate and RPCBudgetBurst are a suspect neighbour's budget of
	// published messages a second before its RPCs are dropped unread (see
	// Budget): enough for an honest peer wrongly suspected to keep relaying
	// real revocations, which are rare.
	RPCBudgetRate  = 4
	RPCBudgetBurst = 8

	// SuspectFor is how long a neighbour that forwarded an invalid
	// revocation stays budgeted: honest peers validate before forwarding,
	// so one forgery is evidence enough for a while.
	SuspectFor = 10 * time.Minute

	// CutOffFor is how long after cutting a suspect off everything it sent
	// is dropped unread (its connections are closing, but frames it wrote
	// before are still in flight and in buffers) and Budget.Gater refuses
	// its new connections.
	CutOffFor = 10 * time.Second

	// maxVerifiedCache bounds the hashes of records verified as they
	// arrived, so the validator skips checking them again (32 bytes each).
	maxVerifiedCache = 4096

	// maxLimiters bounds the per-peer limiter and suspect maps; when full
	// they start over, which at worst gives a flood of new peers a fresh
	// burst.
	maxLimiters = 4096

	// validateQueue is gossipsub's validation queue: the default 32
	// overflows under a burst, and an overflow drops honest messages with
	// the flood.
	validateQueue = 1024
	// outboundQueue is gossipsub's queue of RPCs to one peer: the default
	// 32 overflows when a burst of revocations meets a peer whose writer
	// lags (a loaded machine), and an overflow drops the records for that
	// peer until anti-entropy's next round. 256 small RPCs a peer.
	outboundQueue = 256
)

// Score thresholds. An invalid message costs its forwarder
// InvalidPenalty × (count)² (gossipsub's P4, squared), so two forged
// revocations push a peer under the gossip threshold, three under publish
// and four under graylist, where pubsub drops its RPCs before validation.
const (
	InvalidPenalty    = -100.0
	GossipThreshold   = -100.0
	PublishThreshold  = -500.0
	GraylistThreshold = -1000.0
	// SuspectPenalty is a suspect's application score (see Budget), for as
	// long as it is one (SuspectFor). A neighbour cut off at its first
	// forgery is dropped by the RPC inspector before validation, so P4
	// never counts it, and time in our mesh alone gives it a positive
	// score, which pubsub forgets when the peer disconnects (it retains
	// only non-positive scores). Twice topicScoreCap makes a suspect's
	// score negative whatever its topic score, so it is pruned from our
	// mesh and its score is retained across reconnections; it stays above
	// GossipThreshold, so a suspect is budgeted, not silenced, by it alone.
	SuspectPenalty = -2 * topicScoreCap
	// topicScoreCap caps the positive topic score (time in mesh, first
	// deliveries).
	topicScoreCap = 20.0
	// acceptPXThreshold: peer exchange only from peers that earned it
	// (delivered first messages), so a flooder cannot steer our dials.
	acceptPXThreshold = 10.0
	// opportunisticGraft: a mesh whose median score falls under this
	// grafts better peers.
	opportunisticGraft = 3.0
)

// Timings of the Service, each the default of the Timings field of the
// same name where there is one.
const (
	// SyncEvery is how often each infrastructure peer is synced from once
	// caught up: gossip carries revocations within a second, so this only
	// repairs what a lost message or a partition missed.
	SyncEvery = 2 * time.Minute

	// RetryEvery is how often a sync is retried until the first one
	// succeeds: requests wait for it (see MaxSyncWait).
	RetryEvery = time.Second

	// PollEvery is how often the sync loop looks at its infrastructure
	// peers' connections, to sync at once when one comes back.
	PollEvery = 500 * time.Millisecond

	// SyncTimeout bounds one sync from one peer (and the outbox flush after
	// it); revsync bounds each exchange itself (revsync.Timeout).
	SyncTimeout = 30 * time.Second

	// FlushTimeout bounds pushing the outbox to one infrastructure peer
	// after a revocation.
	FlushTimeout = 15 * time.Second

	// MaxSyncWait is how long Ready waits for the first sync before it
	// refuses with Unavailable: a caller's retry is better than a request
	// hanging on a slow infrastructure peer.
	MaxSyncWait = 5 * time.Second

	// FirstSyncDeadline is when a node whose infrastructure peers do not
	// answer serves anyway, with the set it persisted: an unreachable
	// bootstrap must not take every node down with it.
	FirstSyncDeadline = 20 * time.Second
)

// Anti-entropy (doc.go's Digest section): the period, the window, and what
// digests from strangers can make a node do, per peer and in total.
const (
	// DigestEvery is the default anti-entropy period: a node that missed
	// a gossiped record gets it within one period from a neighbour's
	// digest, well before the next SyncEvery.
	DigestEvery = 30 * time.Second

	// digestWindow is how many rounds' heads a node keeps: its window is
	// the entries added over the last digestWindow-1 periods (and the
	// current one), so a record announced late is still in it.
	digestWindow = 4

	// digestsPerPeriod is how many digests a node acts on from one
	// neighbour per period (one is the neighbour's own, the spare is for
	// clocks and restarts); the rest are ignored unread.
	digestsPerPeriod = 2

	// DigestRate and DigestBurst bound the digests a node acts on a
	// second from all neighbours together, whatever number of identities
	// send them; digestQueue bounds those waiting for the digestWorkers
	// workers. Past either, digests are ignored.
	DigestRate    = 20
	DigestBurst   = 64
	digestQueue   = 64
	digestWorkers = 4

	// DigestPushRate and DigestPushBurst bound the records a node pushes
	// a second in answer to digests, to all neighbours together; each
	// answer pushes at most revsync.MaxPushRecords, in one request.
	DigestPushRate  = 64
	DigestPushBurst = 256

	// DigestPullRate and DigestPullBurst bound the pulls digests from
	// neighbours that are not infrastructure peers make a node do, in
	// all; each reads at most digestPullPages page (256 records, each
	// verified unless held). Pulls from infrastructure peers are the sync
	// loop's, one at a time per peer.
	DigestPullRate  = 1
	DigestPullBurst = 4
	digestPullPages = 1

	// digestActTimeout bounds the push and the pull (from a peer that is
	// not infrastructure) that answer one digest: a neighbour that does
	// not answer holds a worker no longer. A pull from an infrastructure
	// peer is the sync loop's, bounded by SyncTimeout.
	digestActTimeout = 10 * time.Second

	// maxDigestPeers bounds the cursors kept for neighbours that are not
	// infrastructure peers, and maxPushedMemory the (peer, record) pairs
	// remembered as pushed; both start over when full.
	maxDigestPeers  = 4096
	maxPushedMemory = 1 << 16
)
