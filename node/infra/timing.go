package infra

import "time"

// The infrastructure roles' waits and timeouts, each with its reason.
const (
	// registeredFor is how long the relay trusts a "yes, registered" from
	// the directory: records change rarely, and a lookup per reservation
	// would make the bootstrap the relay's bottleneck.
	registeredFor = 10 * time.Minute
	// unregisteredFor is how long a "no" is trusted: short, because a node
	// publishes its record just before it reserves.
	unregisteredFor = 10 * time.Second
	// directoryLookup bounds one "is this peer registered?" question.
	directoryLookup = 3 * time.Second
	// maxDirectoryCache bounds the answers kept (both kinds).
	maxDirectoryCache = 100_000
	// maxLookupsInFlight bounds the directory questions a relay has open
	// at once: each holds a relay stream handler for up to directoryLookup.
	maxLookupsInFlight = 16

	// announceTimeout bounds joining the DHT and providing the relay CID.
	announceTimeout = 15 * time.Second
	// announceEvery re-provides the relay CID well inside the DHT's
	// 48-hour provider validity.
	announceEvery = 12 * time.Hour
	// announceRetryFirst and announceRetryMax bound the backoff while the
	// first announcement fails (no DHT peer yet).
	announceRetryFirst = time.Second
	announceRetryMax   = time.Minute

	// metricsHeaderTimeout bounds reading a metrics request's headers.
	metricsHeaderTimeout = 5 * time.Second
)
