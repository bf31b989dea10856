package relayaccess

import (
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
)

// Caps of the relay-access protocol, each with its reason.
const (
	// maxRequest bounds the request frame: a token and its framing.
	maxRequest = capability.MaxTokenBytes + 64
	// maxResponse bounds the reply frame: a status and a short message.
	maxResponse = 256
	// timeout bounds one exchange.
	timeout = 10 * time.Second
)

// Limits are the frame caps: a token and its framing in, a status out.
func Limits() exchange.Limits {
	return exchange.Limits{MaxRequest: maxRequest, MaxResponse: maxResponse, Timeout: timeout}
}

// MaxGrants bounds how many admitted peers a relay remembers, so a
// stream of valid tokens cannot grow its memory without end.
const MaxGrants = 100000
