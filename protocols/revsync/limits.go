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
	// maxRequest bounds a request: two small fields, or one pushed record.
	maxRequest = revocation.MaxRecordBytes + 128
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
