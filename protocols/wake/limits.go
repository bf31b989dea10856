package wake

import (
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
)

// ID is the protocol ID.
const ID = "/ocmt/wake/1"

// Caps of the protocol, each with its reason. doc.go's Limits table gives
// them with their values.
const (
	// MaxHalfBytes bounds a sealed half: a 32-byte key half sealed with
	// age to one X25519 recipient is about 200 bytes.
	MaxHalfBytes = 256
	// MaxRequest bounds a request frame: the largest is a wake (a token
	// of at most capability.MaxTokenBytes, a peer ID and the map).
	MaxRequest = capability.MaxTokenBytes + 512
	// MaxResponse bounds a reply frame: a resume body (a half and a
	// time) or a worded refusal, with the envelope.
	MaxResponse = 1024
	// Timeout bounds a hibernate, resume or forget exchange: one small
	// round trip.
	Timeout = 10 * time.Second
	// WakeSlack is what a wake exchange may take besides the wait: the
	// request, the checks and the reply.
	WakeSlack = 15 * time.Second
	// MaxTTL bounds a server's TTL, so a client that waits MaxTTL +
	// WakeSlack hears every relay's answer.
	MaxTTL = 5 * time.Minute
	// MaxUntil bounds how far ahead a sealed half's until may lie: a
	// relay keeps a resume key for a month at most.
	MaxUntil = 30 * 24 * time.Hour
)

// Server defaults (Config fields override them).
const (
	// DefaultTTL is how long a wake waits for the owner: a container
	// starts and reserves again in seconds.
	DefaultTTL = 60 * time.Second
	// DefaultHookTimeout bounds one hook call: an exec hook returns once
	// its command started, a webhook once the orchestrator answered.
	DefaultHookTimeout = 30 * time.Second
	// DefaultAsleepFor is how long a relay remembers a node as asleep
	// when it does not come back: as long as a sealed half may be kept.
	DefaultAsleepFor = MaxUntil
	// DefaultMaxAsleep bounds the nodes a relay remembers as asleep (each
	// under 512 bytes stored), above the reservations a relay holds.
	DefaultMaxAsleep = 16384
	// DefaultMaxWaiters bounds the wakes waiting at once, all owners:
	// each holds a stream and a goroutine.
	DefaultMaxWaiters = 4096
	// DefaultMaxWaitersPerOwner bounds the wakes waiting for one owner.
	DefaultMaxWaitersPerOwner = 64
	// DefaultMaxWaitsPerRequester bounds one requester's waiting wakes,
	// all owners: a person asks a few friends at once, not hundreds.
	DefaultMaxWaitsPerRequester = 8
	// DefaultMaxHooks bounds the hook calls running at once, so hung
	// hooks cannot pile up.
	DefaultMaxHooks = 64
	// SweepEvery is how often expired halves and asleep states are
	// deleted, besides when they are read.
	SweepEvery = time.Minute
	// peerRate and peerBurst bound how often one peer asks: a node
	// hibernates, resumes and forgets a few times a day; a requester
	// retries a wake every few seconds at most.
	peerRate  = 2
	peerBurst = 10
	// maxLimited bounds the peers the rate limiter remembers.
	maxLimited = 4096
)

// Limits returns the wire limits of an exchange that is not a wake.
func Limits() exchange.Limits {
	return exchange.Limits{MaxRequest: MaxRequest, MaxResponse: MaxResponse, Timeout: Timeout}
}

// wakeLimits are the client's limits for a wake: it waits for the longest
// TTL a relay may have.
func wakeLimits() exchange.Limits {
	return exchange.Limits{MaxRequest: MaxRequest, MaxResponse: MaxResponse, Timeout: MaxTTL + WakeSlack}
}

// closeGrace is how long Close waits for the streams it serves to end on
// their own (waiting wakes answered) before it resets those still being
// read.
const closeGrace = time.Second
