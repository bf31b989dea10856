package node

import (
	"time"

	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/presence"
	"github.com/ocmt/mesh/protocols/revgossip"
)

// Timings are the home node's waits. The zero value of each field means
// its default, given beside it; tests shorten them instead of sleeping.
type Timings struct {
	// Mailbox is how often the mailbox is checked and undelivered shares
	// are retried (default 30 s): mail waits for offline peers, so a
	// half-minute delay costs little and keeps the bootstrap's load low.
	Mailbox time.Duration
	// Republish is how often the directory record is published again
	// (default 30 min), so relay addresses learnt since stay current. It
	// is also published again whenever a connection to the bootstrap comes
	// back, and when SelfCheck finds the bootstrap without it.
	Republish time.Duration
	// SelfCheck is how often the node looks its own handle up at the
	// bootstrap (default 5 min): a backstop for a record lost without the
	// connection dropping. One lookup; the bootstrap allows 5 a second.
	SelfCheck time.Duration
	// PublishRetryMax caps the backoff while the bootstrap has not taken
	// the record yet (default 30 s; the first retry is after 1 s).
	PublishRetryMax time.Duration
	// OwnerRetry is the first pause between attempts to reach an owner
	// whose node did not answer (default 1 s; then twice, three times
	// that): a relay restarting or an owner re-reserving takes seconds.
	OwnerRetry time.Duration
	// LockCheck is how often the idle lock looks at the idle clock
	// (default 10 s): the vault locks at most that long after LockAfter.
	LockCheck time.Duration
	// Mesh and Revocations are passed to the mesh connection and the
	// revocation service.
	Mesh        meshnet.Timings
	Revocations revgossip.Timings
}

// Default timings.
const (
	DefaultMailbox         = presence.DefaultMailbox
	DefaultRepublish       = presence.DefaultRepublish
	DefaultSelfCheck       = presence.DefaultSelfCheck
	DefaultPublishRetryMax = presence.DefaultPublishRetryMax
	DefaultOwnerRetry      = time.Second
	DefaultLockCheck       = 10 * time.Second
	// DefaultLockAfter is how long an unused vault stays unlocked
	// (Config.LockAfter): long enough for a working session's pauses,
	// short enough that a forgotten unlock does not last the day.
	DefaultLockAfter = 30 * time.Minute
)

// ownerRetry is how reading or listing an owner's resources retries
// transport failures: four attempts, pausing OwnerRetry, then twice and
// three times that.
func (t Timings) ownerRetry() meshnet.Retry {
	return meshnet.Retry{Attempts: 4, Pause: func(i int) time.Duration { return time.Duration(i) * t.OwnerRetry }}
}

func (t *Timings) fill() {
	p := presence.Timings{Mailbox: t.Mailbox, Republish: t.Republish, SelfCheck: t.SelfCheck, PublishRetryMax: t.PublishRetryMax}.Filled()
	t.Mailbox, t.Republish, t.SelfCheck, t.PublishRetryMax = p.Mailbox, p.Republish, p.SelfCheck, p.PublishRetryMax
	if t.OwnerRetry <= 0 {
		t.OwnerRetry = DefaultOwnerRetry
	}
	if t.LockCheck <= 0 {
		t.LockCheck = DefaultLockCheck
	}
}
