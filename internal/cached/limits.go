package cached

import "time"

const (
	// DefaultLifetime is a manifest's lifetime: how long a cached copy
	// stays readable after the owner's last push.
	DefaultLifetime = 7 * 24 * time.Hour
	// RetryEvery is how often pending pushes are retried, and refreshes
	// looked for.
	RetryEvery = 30 * time.Second
	// PushTimeout bounds one push to one relay.
	PushTimeout = 2 * time.Minute
	// FetchTimeout bounds one fetch from one relay.
	FetchTimeout = 2 * time.Minute
	// MaxRead is the most a cached read returns in memory (mesh get).
	MaxRead = 64 << 20
	// MaxCaches is the relays one push record lists.
	MaxCaches = 16
	// MaxRecordBytes bounds an encoded push record.
	MaxRecordBytes = 4096
	// maxPending is the patterns waiting to be pushed; more collapse into
	// "everything".
	maxPending = 256
)
