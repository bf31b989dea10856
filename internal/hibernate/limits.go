package hibernate

import "time"

const (
	// DefaultWindow is how long a hibernated node may come back unlocked.
	DefaultWindow = 12 * time.Hour
	// RelayTimeout bounds telling one relay, or asking it for the half.
	RelayTimeout = 10 * time.Second
	// IdleCheck is how often --hibernate-after looks at the idle clock.
	IdleCheck = 10 * time.Second
	// resumeTries and resumePause: how a woken node asks a relay that is
	// rate-limiting it for its half again.
	resumeTries = 4
	resumePause = time.Second
)
