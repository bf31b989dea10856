package revsync

import (
	"time"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/exchange"
)

// Caps of the revsync protocol.
const (
	// MaxRecordsPerReply bounds one page: 256 records of a typical 500 B
	// are 128 KiB, and the server reads them from its datastore per call.
	MaxRecordsPerReply = 256
	// MaxReplyBytes bounds a page in bytes: 256 maximal records would be
	// 1.2 MiB; a page stops early instead (at least one record always fits).
	MaxReplyBytes = 1 << 20
	// MaxPushRecords bounds one batch push: what one anti-entropy round
	// sends one peer (protocols/revgossip pushes at most this many per
	// digest it answers).
	MaxPushRecords = 16
	// maxRequest bounds a request: two small fields, one pushed record,
	// or a batch of MaxPushRecords maximal ones.
	maxRequest = MaxPushRecords*(revocation.MaxRecordBytes+8) + 128
	// frameSlack covers the CBOR framing around the records.
	frameSlack = 4 << 10
	// MaxPages bounds one Sync: 8192 full pages cover 2 M entries, far
	// beyond the set sizes we plan for, and stop a server that never
	// says "no more".
	MaxPages = 8192
	// Timeout bounds one exchange, relayed or not.
	Timeout = 30 * time.Second
	// epochLen is the length of a set epoch.
	epochLen = 8

	// DefaultPerPeerRate and DefaultPerPeerBurst are each remote peer's
	// budget of requests, a pushed record costing one more each: a full
	// sync of 1 M entries is about 4000 pages, and a home node flushing
	// its outbox pushes one request per record.
	DefaultPerPeerRate  = 50
	DefaultPerPeerBurst = 200
	// DefaultPushRate and DefaultPushBurst are the server's budget of
	// pushed records it verifies, from all peers together: each costs up
	// to five Ed25519 verifications (about 250 µs), so 200 a second is at
	// most 5% of a core, whatever number of identities push.
	DefaultPushRate  = 200
	DefaultPushBurst = 2000
)

// Limits are the revsync protocol's frame caps.
func Limits() exchange.Limits {
	return exchange.Limits{
		MaxRequest:  maxRequest,
		MaxResponse: MaxReplyBytes + MaxRecordsPerReply*16 + frameSlack,
		Timeout:     Timeout,
	}
}

// pageBytes is the record budget the server fills; the largest single
// record always fits.
const pageBytes = max(MaxReplyBytes, revocation.MaxRecordBytes)
