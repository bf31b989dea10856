package recoverywire

import (
	"time"

	"github.com/ocmt/mesh/internal/exchange"
)

// ID is the protocol ID.
const ID = "/ocmt/recovery/1"

// Caps of the protocol, each with its reason. doc.go's Limits table gives
// them with their values.
const (
	// MaxMessageBytes bounds a signed recovery message (internal/recovery's
	// own bound: the largest, a share delivery, carries commitments and a
	// sealed share).
	MaxMessageBytes = 4096
	// RequestIDLen is a request's ID: SHA-256 of the signed request.
	RequestIDLen = 32
	// MaxTextLen bounds a reply's sentence.
	MaxTextLen = 256
	// MaxRequest bounds a request frame: a message and the map around it.
	MaxRequest = MaxMessageBytes + 64
	// MaxResponse bounds a reply frame: a release, a sentence and the
	// envelope.
	MaxResponse = MaxMessageBytes + MaxTextLen + 256
	// Timeout bounds one exchange: one small round trip, a signature
	// check and a few store reads.
	Timeout = 10 * time.Second
	// peerRate and peerBurst bound how often one peer asks: a device polls
	// a friend every few seconds; an owner vetoes once.
	peerRate  = 2
	peerBurst = 10
	// maxLimited bounds the peers the rate limiter remembers.
	maxLimited = 4096
)

// Limits are the wire limits of every exchange.
func Limits() exchange.Limits {
	return exchange.Limits{MaxRequest: MaxRequest, MaxResponse: MaxResponse, Timeout: Timeout}
}
