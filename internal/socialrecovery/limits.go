package socialrecovery

import (
	"time"

	"github.com/ocmt/mesh/internal/recovery"
)

// Bounds of a node's social recovery, each with its reason. doc.go's
// Limits table gives them with their values.
const (
	// DefaultMaxPerOwner bounds the live requests a node keeps for one
	// owner: device keys are free, so a stranger could otherwise fill the
	// store with requests for a friend's owner. A real owner makes one or
	// two.
	DefaultMaxPerOwner = 8
	// DefaultMaxRequests bounds the requests a node keeps in all.
	DefaultMaxRequests = 256
	// DefaultMaxHeld bounds the owners whose shares a node keeps: anyone
	// may mail a share delivery naming this node.
	DefaultMaxHeld = 64
	// DefaultMaxOutbox bounds the share deliveries waiting to be mailed
	// again (one per friend of at most recovery.MaxFriends, and a few
	// dealings).
	DefaultMaxOutbox = 32
	// Keep is how long a request is kept after it arrived: answered for
	// recovery.MaxRequestAge, then fetchable after the longest waiting
	// period; after that it is deleted and a replay of it is stale.
	Keep = recovery.MaxRequestAge + recovery.MaxWait
	// DefaultRetryEvery is how often the outbox is mailed again and
	// shares taken while the vault was locked are moved into it.
	DefaultRetryEvery = 30 * time.Second
	// liveTimeout bounds reaching a peer live (a lookup, a dial through
	// its relays, one exchange) before the mailbox is used.
	liveTimeout = 20 * time.Second
	// minIDPrefix is the shortest request ID prefix help and veto take.
	minIDPrefix = 8
)
