package relayaccess

import (
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
)

// Limits are the frame caps: a token and its framing in, a status out.
func Limits() exchange.Limits {
	return exchange.Limits{MaxRequest: capability.MaxTokenBytes + 64, MaxResponse: 256, Timeout: 10 * time.Second}
}

// MaxGrants bounds how many admitted peers a relay remembers, so a
// stream of valid tokens cannot grow its memory without end.
const MaxGrants = 100000
