package revsync

import "fmt"

// ID is the protocol ID.
const ID = "/ocmt/revsync/1"

// Request is the request frame.
type Request struct {
	Since uint64 `cbor:"1,keyasint"`
	Epoch []byte `cbor:"2,keyasint,omitempty"`
	// Push, instead of asking for records, hands the server one record
	// to verify, keep and gossip (Since 0, no Epoch).
	Push []byte `cbor:"3,keyasint,omitempty"`
	// Records, instead of asking for records, hands the server up to
	// MaxPushRecords records at once (Since 0, no Epoch, no Push); the
	// reply is a PushReply.
	Records [][]byte `cbor:"4,keyasint,omitempty"`
}

// Reply is the body of an OK reply to a page request.
type Reply struct {
	Epoch    []byte   `cbor:"1,keyasint"`
	Records  [][]byte `cbor:"2,keyasint"`
	Next     uint64   `cbor:"3,keyasint"`
	More     bool     `cbor:"4,keyasint,omitempty"`
	Snapshot bool     `cbor:"5,keyasint,omitempty"`
}

// PushReply is the body of an OK reply to a batch push: one Result per
// pushed record, in order.
type PushReply struct {
	Results []Result `cbor:"1,keyasint"`
}

// Result is what a server did with one record of a batch push.
type Result uint8

// The results of a batch push (doc.go lists when each is given).
const (
	Added    Result = 0 // verified, kept and in force (and gossiped on)
	Held     Result = 1 // the server already holds it: nothing verified
	Expired  Result = 2 // the revoked token has expired by the server's clock
	NotKept  Result = 3 // verified, not kept: quota, not admitted, not relevant
	Full     Result = 4 // verified, not kept: the server's set is full
	Invalid  Result = 5 // does not decode or verify; ends the batch
	Skipped  Result = 6 // not looked at: over a push budget or after Invalid
	Failed   Result = 7 // the server failed to keep it (internal error)
	maxValid        = Failed
)

var resultNames = [...]string{"Added", "Held", "Expired", "NotKept", "Full", "Invalid", "Skipped", "Failed"}

// String names the result as doc.go does.
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return fmt.Sprintf("result(%d)", uint8(r))
}

// Cursor is where a client stands in one server's set. The zero value
// means "nothing yet" and gets a full snapshot.
type Cursor struct {
	Epoch   [epochLen]byte
	Version uint64
}
