package agenthost

import "time"

// Every number of the package, each with its reason. doc.go's Limits table
// gives them with their values; TestDocNumbersMatchTheConstants checks it.
const (
	// DefaultValidity is how long an agent's tokens last when mesh agent
	// add gives no --for: long enough that an agent keeps working, short
	// enough that a forgotten agent stops by itself.
	DefaultValidity = 90 * 24 * time.Hour
	// RenewWithin: an agent's tokens are renewed once the first has less
	// than 1/RenewWithin of its life left (the last quarter: 22 days of
	// 90), while the vault is unlocked.
	RenewWithin = 4
	// SweepEvery is the service's tick: pending approvals expire, the
	// hour's call counts are written to the audit log, a dirty memory
	// index is sealed.
	SweepEvery = 5 * time.Second
	// SaveEvery is how often the call counters are written to the store
	// (a lock is written at once; a crash loses at most this much
	// counting).
	SaveEvery = 5 * time.Minute
	// maxAgentRecord bounds a stored agent: a policy and up to 16 tokens
	// of a few hundred bytes each.
	maxAgentRecord = 16 << 10
	// maxConfigRecord bounds a secret's allowlist or the memory
	// configuration as sealed in the vault.
	maxConfigRecord = 16 << 10
	// eventBuffer is one event-stream subscriber's backlog before its
	// events are dropped: the owner's terminal or web page, never a
	// stranger.
	eventBuffer = 64
	// MaxEventSubscribers bounds the event streams open at once.
	MaxEventSubscribers = 16
	// MaxMemoryHits bounds the notes memory_search reads back per query.
	MaxMemoryHits = 100
	// embedBatch is how many notes one embeddings call carries when the
	// index catches up with notes it lacks (broker.MaxBatch at most).
	embedBatch = 64
	// MaxCatchUp bounds the notes embedded when an index is loaded and
	// finds notes it lacks (a crash between a note and its index save):
	// the rest are embedded on later loads.
	MaxCatchUp = 1024
	// recordVersion is the version of a stored agent.
	recordVersion = 1
	// maxUnix bounds a stored time: 9999-12-31T23:59:59Z.
	maxUnix = 253402300799
)
