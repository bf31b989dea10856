package grant

import (
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
)

// Caps of the grant protocol, each with its reason.
const (
	// MaxNote bounds the human note.
	MaxNote = 256
	// maxHandle bounds the handle field (handles are ≤ 32 bytes).
	maxHandle = 64
	// maxDelivery bounds a Delivery frame: token + note + framing.
	maxDelivery = capability.MaxTokenBytes + MaxNote + maxHandle + 64
	// maxSealedDelivery bounds a mailbox item before it is opened: a
	// sealed Delivery is the Delivery and age's overhead (about 200 bytes
	// for one recipient; 1024 leaves room for a few).
	maxSealedDelivery = maxDelivery + 1024
	// maxResponse bounds the reply frame: a status and a short message.
	maxResponse = 256
	// timeout bounds one delivery, relayed or not.
	timeout = 20 * time.Second
)

// Limits are the frame caps of one exchange.
func Limits() exchange.Limits {
	return exchange.Limits{MaxRequest: maxDelivery, MaxResponse: maxResponse, Timeout: timeout}
}

// Per-sender delivery rate: sharing is a human-paced act, so 5 a second
// with a burst of 20 is generous and stops a stranger filling our store.
const (
	senderRate  = 5
	senderBurst = 20
)
