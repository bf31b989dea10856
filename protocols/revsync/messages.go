package revsync

// ID is the protocol ID.
const ID = "/ocmt/revsync/1"

// Request is the request frame.
type Request struct {
	Since uint64 `cbor:"1,keyasint"`
	Epoch []byte `cbor:"2,keyasint,omitempty"`
	// Push, instead of asking for records, hands the server one record
	// to verify, keep and gossip (Since 0, no Epoch).
	Push []byte `cbor:"3,keyasint,omitempty"`
}

// Reply is the body of an OK reply.
type Reply struct {
	Epoch    []byte   `cbor:"1,keyasint"`
	Records  [][]byte `cbor:"2,keyasint"`
	Next     uint64   `cbor:"3,keyasint"`
	More     bool     `cbor:"4,keyasint,omitempty"`
	Snapshot bool     `cbor:"5,keyasint,omitempty"`
}

// Cursor is where a client stands in one server's set. The zero value
// means "nothing yet" and gets a full snapshot.
type Cursor struct {
	Epoch   [epochLen]byte
	Version uint64
}
