package relayaccess

import (
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/protocols/directory"
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

// The registration protocols (doc.go, "Registrations"): their IDs, the
// voucher's domain label and version, and their caps, each with its
// reason.
const (
	// VoucherID is the protocol a node asks its bootstrap for a voucher on.
	VoucherID = "/ocmt/relay-voucher/1"
	// RegisterID is the protocol a node presents its registration to a relay on.
	RegisterID = "/ocmt/relay-register/1"
	// VoucherLabel separates a voucher's signature from every other
	// signature a peer key makes (internal/keys "Domain labels").
	VoucherLabel = keys.LabelRelayVoucher
	// VoucherVersion is the voucher payload's version field.
	VoucherVersion = 1

	// VoucherTTL is how long a bootstrap's voucher lasts: a node asks for
	// a new one each time it publishes (every 30 minutes), so six hours
	// rides out a bootstrap that is down for a while, and registration
	// only ends when a bootstrap loses its store.
	VoucherTTL = 6 * time.Hour
	// MaxVoucherLifetime is the longest window a relay accepts.
	MaxVoucherLifetime = 24 * time.Hour
	// MaxVoucherBytes bounds a voucher payload: every field at its size
	// is about 140 bytes.
	MaxVoucherBytes = 256
	// maxRegistration bounds a registration: a record envelope, a voucher,
	// a signature and framing.
	maxRegistration = directory.MaxRecordBytes + MaxVoucherBytes + 128
	// maxVoucherRequest bounds a voucher request: it is an empty map.
	maxVoucherRequest = 16
	// maxVoucherResponse bounds a voucher reply: a registration in the envelope.
	maxVoucherResponse = maxRegistration + exchange.ReplySlack + 64

	// MaxRegistrations bounds the registered peers a relay remembers.
	MaxRegistrations = 100000
	// RegisterRate and RegisterBurst are each peer's bucket on a relay's
	// register protocol (a node presents once per reservation attempt),
	// RegisterTotalRate and RegisterTotalBurst the bucket all peers share
	// (each presentation costs the relay two signature checks).
	RegisterRate       = 1
	RegisterBurst      = 4
	RegisterTotalRate  = 2000
	RegisterTotalBurst = 2000
	// VoucherRate and VoucherBurst are each peer's bucket on a bootstrap's
	// voucher protocol (a node asks after each publish), VoucherTotalRate
	// and VoucherTotalBurst the bucket all peers share (each voucher costs
	// the bootstrap a store read and a signature).
	VoucherRate       = 1
	VoucherBurst      = 4
	VoucherTotalRate  = 1000
	VoucherTotalBurst = 2000
	// maxTrackedPeers bounds each per-peer limiter's memory.
	maxTrackedPeers = 10000
)

// RegisterLimits are the register protocol's frame caps.
func RegisterLimits() exchange.Limits {
	return exchange.Limits{MaxRequest: maxRegistration, MaxResponse: maxResponse, Timeout: timeout}
}

// VoucherLimits are the voucher protocol's frame caps.
func VoucherLimits() exchange.Limits {
	return exchange.Limits{MaxRequest: maxVoucherRequest, MaxResponse: maxVoucherResponse, Timeout: timeout}
}
