package agent

import "time"

// Every number of the package, each with its reason. doc.go's Limits table
// gives them with their values; TestDocNumbersMatchTheConstants checks it.
const (
	// MaxNameLen bounds an agent's name: a word a person types ("helper",
	// "mail-bot"), used as a datastore key and in every audit record.
	MaxNameLen = 32
	// MaxPolicyPaths bounds the path patterns of one policy: a few trees
	// ("calendar/**,notes/**"), each checked on every call.
	MaxPolicyPaths = 16

	// DefaultFactor is how many times its usual hourly rate an agent may
	// reach before it is locked: a hundredfold jump is no growth.
	DefaultFactor = 100
	// DefaultMinPerHour is the fewest calls in the last hour that can lock
	// an established agent, whatever its baseline: an agent that usually
	// makes two calls an hour may make a few hundred when its user asks.
	DefaultMinPerHour = 500
	// DefaultNewAgentCap is the most calls in the last hour an agent with
	// less than NewAgentAge of history may make: with no baseline yet, the
	// cap is absolute and below DefaultMinPerHour.
	DefaultNewAgentCap = 200
	// NewAgentAge is the history an agent needs before its baseline is
	// trusted: three samples of every hour of the day.
	NewAgentAge = 72 * time.Hour
	// tokenMinHistory is the history a token needs before its own spikes
	// are judged; until then the agent's counters judge its calls.
	tokenMinHistory = 24 * time.Hour
	// AlphaPercent is the EWMA smoothing constant, in percent: each
	// completed hour moves its hour-of-day baseline 20% of the way to the
	// hour's count. Growth that doubles in a week stays within 1.6× the
	// baseline (doc.go "Baseline").
	AlphaPercent = 20
	// maxIdleFeedHours bounds the empty hours one step of the clock
	// teaches the baseline: one day of zeros at most, so a step is O(1).
	maxIdleFeedHours = 24

	// minuteBuckets, hourBuckets and dayBuckets are the fixed rings of a
	// series: seconds of the last minute, minutes of the last hour, hours
	// of the last day.
	minuteBuckets = 60
	hourBuckets   = 60
	dayBuckets    = 24
	// baselineScale is the fixed point of a stored baseline: thousandths
	// of a call per hour.
	baselineScale = 1000
	// maxBaselineMilli bounds a stored baseline: no hour holds more than
	// 2^32 − 1 calls (its bucket is a uint32).
	maxBaselineMilli = 4294967295000

	// DefaultMaxAgents bounds the agents a Counters tracks: an owner adds
	// agents by hand; each costs about 1 KiB.
	DefaultMaxAgents = 1024
	// DefaultMaxTokens bounds the tokens a Counters tracks; beyond it the
	// least recently used token's series is forgotten (its agent's is not).
	DefaultMaxTokens = 4096
	// maxSeriesRecord bounds a stored series: 168 integers of at most 9
	// bytes, a reason and the map around them.
	maxSeriesRecord = 2048
	// MaxReasonLen bounds a lock's reason.
	MaxReasonLen = 256

	// DefaultApprovalTTL is how long an approval waits for the user before
	// it expires, which counts as denied.
	DefaultApprovalTTL = 15 * time.Minute
	// MinValidity and MaxValidity bound the validity an agent may ask for
	// a share: a minute to a year.
	MinValidity = time.Minute
	MaxValidity = 365 * 24 * time.Hour
	// MaxPendingPerAgent bounds one agent's pending approvals: a flood of
	// requests is refused, not queued for the user.
	MaxPendingPerAgent = 16
	// DefaultMaxApprovals bounds the approvals stored, decided ones
	// included; the oldest decided ones go first when it is reached.
	DefaultMaxApprovals = 1024
	// KeepDecided is how long a decided approval stays listed.
	KeepDecided = 24 * time.Hour
	// IDBytes is the random bytes of an approval ID, printed as 16 hex
	// digits.
	IDBytes = 8
	// MaxTargetLen bounds the host a secret-use approval names (a DNS
	// name's length).
	MaxTargetLen = 253
	// maxApprovalRecord bounds a stored approval.
	maxApprovalRecord = 1024
	// DefaultSubscriberBuffer is the events a subscriber may fall behind
	// by before events to it are dropped (and counted).
	DefaultSubscriberBuffer = 64
	// MaxSubscribers bounds the event subscribers at once.
	MaxSubscribers = 64
)
