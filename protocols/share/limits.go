package share

import (
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
)

// Caps of the share protocol.
const (
	// MaxData bounds one resource moved in one exchange: 4 MiB keeps the
	// request+reply reservation inside the resource manager's default
	// per-stream memory; larger content goes through snapshots.
	MaxData = 4 << 20
	// MaxListNames bounds a listing reply: the most elements a CBOR array
	// may hold (wire.MaxArrayElements), so a full listing still decodes.
	MaxListNames = 1024
	// maxPath bounds a path (the capability package's own cap is lower).
	maxPath = 1024
	// frameSlack covers the CBOR framing around data, token and path.
	frameSlack = 4 << 10
	// Timeout bounds a whole exchange, relayed or not.
	Timeout = 60 * time.Second
	// DefaultRate and DefaultBurst are each remote peer's request rate
	// and burst when Config.PerPeerRate is 0: a person browsing shared
	// files, or an agent syncing them, stays far below them.
	DefaultRate  = 50
	DefaultBurst = 100
)

// Limits are the share protocol's frame caps.
func Limits() exchange.Limits {
	return exchange.Limits{
		MaxRequest:  MaxData + capability.MaxTokenBytes + maxPath + frameSlack,
		MaxResponse: MaxData + frameSlack,
		Timeout:     Timeout,
	}
}
