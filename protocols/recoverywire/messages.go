package recoverywire

import (
	"time"

	"github.com/ocmt/mesh/internal/wire"
)

// Op selects the request kind. Numbers are part of the wire format.
type Op uint8

// Operations.
const (
	OpDeliver Op = 1 // a signed recovery message: a request or a veto
	OpFetch   Op = 2 // a request's release, once it is ready
	OpDone    Op = 3 // the device says it recovered
)

// State says where a request stands at a friend (Status.State). Numbers
// are part of the wire format.
type State uint8

// States.
const (
	StateWaiting   State = 1 // the friend has not approved yet
	StateHelping   State = 2 // approved; the waiting period runs until Status.Until
	StateReleased  State = 3 // Status.Release holds the friend's release
	StateVetoed    State = 4 // the owner vetoed the request
	StateExpired   State = 5 // the request is too old to be answered
	StateRecovered State = 6 // the device said it recovered
	StateTaken     State = 7 // a veto or a request for the node's own vault, taken
)

func (s State) String() string {
	switch s {
	case StateWaiting:
		return "waiting for the friend to approve"
	case StateHelping:
		return "approved; the waiting period runs"
	case StateReleased:
		return "released"
	case StateVetoed:
		return "vetoed by the owner"
	case StateExpired:
		return "expired"
	case StateRecovered:
		return "recovered"
	case StateTaken:
		return "taken"
	}
	return "unknown"
}

// Request is the one request frame (doc.go "Frames").
type Request struct {
	Op      Op     `cbor:"1,keyasint"`
	Message []byte `cbor:"2,keyasint,omitempty"`
	Request []byte `cbor:"3,keyasint,omitempty"`
}

// Status is the body of every OK reply (doc.go "Frames").
type Status struct {
	State   State  `cbor:"1,keyasint"`
	Until   int64  `cbor:"2,keyasint,omitempty"`
	Release []byte `cbor:"3,keyasint,omitempty"`
	Text    string `cbor:"4,keyasint,omitempty"`
}

// Mail is what a node or a device leaves in a mailbox, sealed to the
// recipient's peer key (doc.go "Mail"): exactly one field.
type Mail struct {
	Message []byte `cbor:"1,keyasint,omitempty"`
	Done    []byte `cbor:"2,keyasint,omitempty"`
}

// UntilTime is Until as a time (zero when unset).
func (s *Status) UntilTime() time.Time {
	if s.Until == 0 {
		return time.Time{}
	}
	return time.Unix(s.Until, 0)
}

func bad(format string, args ...any) error { return wire.Errorf(wire.BadRequest, format, args...) }

// parseRequest decodes a request frame canonically and checks its fields
// against its op's row of doc.go's field table.
func parseRequest(b []byte) (*Request, error) {
	var r Request
	if err := wire.UnmarshalCanonical(b, &r); err != nil {
		return nil, err
	}
	switch r.Op {
	case OpDeliver:
		if len(r.Message) == 0 || len(r.Request) != 0 {
			return nil, bad("a deliver carries a message and nothing else")
		}
		if len(r.Message) > MaxMessageBytes {
			return nil, wire.Errorf(wire.TooLarge, "a recovery message is at most %d bytes; this one is %d", MaxMessageBytes, len(r.Message))
		}
	case OpFetch, OpDone:
		if len(r.Message) != 0 || len(r.Request) != RequestIDLen {
			return nil, bad("this op carries a request ID of %d bytes and nothing else", RequestIDLen)
		}
	default:
		return nil, bad("unknown op %d", r.Op)
	}
	return &r, nil
}

// check is a Status's rules (doc.go "Frames"); the server checks what it
// sends, the client what it reads.
func (s *Status) check() error {
	switch {
	case s.State < StateWaiting || s.State > StateTaken:
		return bad("unknown state %d", s.State)
	case (s.State == StateReleased) != (len(s.Release) > 0):
		return bad("a release comes with the released state, and only with it")
	case len(s.Release) > MaxMessageBytes:
		return bad("a release of %d bytes", len(s.Release))
	case (s.State == StateHelping) != (s.Until > 0), s.Until < 0:
		return bad("an until comes with the helping state, and only with it")
	case len(s.Text) > MaxTextLen:
		return bad("a text of %d bytes", len(s.Text))
	}
	return nil
}

// parseStatus decodes and checks an OK reply's body (the client).
func parseStatus(b []byte) (*Status, error) {
	var s Status
	if err := wire.UnmarshalCanonical(b, &s); err != nil {
		return nil, err
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

// ParseMail decodes a mailbox item's plaintext: exactly one of its fields,
// each within its bounds.
func ParseMail(b []byte) (*Mail, error) {
	var m Mail
	if len(b) > MaxRequest {
		return nil, bad("a recovery mail of %d bytes", len(b))
	}
	if err := wire.UnmarshalCanonical(b, &m); err != nil {
		return nil, err
	}
	switch {
	case (len(m.Message) > 0) == (len(m.Done) > 0):
		return nil, bad("a recovery mail holds a message or a done, one of them")
	case len(m.Message) > MaxMessageBytes:
		return nil, bad("a recovery message of %d bytes", len(m.Message))
	case len(m.Done) > 0 && len(m.Done) != RequestIDLen:
		return nil, bad("a request ID of %d bytes", len(m.Done))
	}
	return &m, nil
}

// Encode is a Mail's wire form.
func (m Mail) Encode() ([]byte, error) { return wire.Marshal(m) }
