package wake

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// Op selects the request kind. Numbers are part of the wire format.
type Op uint8

// Operations.
const (
	OpHibernate Op = 1
	OpWake      Op = 2
	OpResume    Op = 3
	OpForget    Op = 4
)

// Request is the one request frame (doc.go "Frames").
type Request struct {
	Op     Op     `cbor:"1,keyasint"`
	Handle string `cbor:"2,keyasint,omitempty"`
	Half   []byte `cbor:"3,keyasint,omitempty"`
	Until  int64  `cbor:"4,keyasint,omitempty"`
	Owner  []byte `cbor:"5,keyasint,omitempty"`
	Token  []byte `cbor:"6,keyasint,omitempty"`
}

// ResumeReply is the body of a resume's OK reply.
type ResumeReply struct {
	Half  []byte `cbor:"1,keyasint"`
	Until int64  `cbor:"2,keyasint"`
}

// request is a checked request.
type request struct {
	op     Op
	handle directory.Handle
	half   []byte
	until  time.Time
	owner  peer.ID
	token  []byte
}

func bad(format string, args ...any) error { return wire.Errorf(wire.BadRequest, format, args...) }

// parseRequest decodes a request frame canonically and checks its fields
// against its op's row of doc.go's field table, then each field's form.
// Every failure is BadRequest, but a half over MaxHalfBytes, which is
// TooLarge.
func parseRequest(b []byte) (*request, error) {
	var r Request
	if err := wire.UnmarshalCanonical(b, &r); err != nil {
		return nil, err
	}
	has := [...]bool{r.Handle != "", len(r.Half) != 0, r.Until != 0, len(r.Owner) != 0, len(r.Token) != 0}
	var want [5]byte // 'R' required, 'O' optional, 0 refused
	switch r.Op {
	case OpHibernate:
		want = [5]byte{'R', 'O', 'O', 0, 0}
	case OpWake:
		want = [5]byte{0, 0, 0, 'R', 'R'}
	case OpResume, OpForget:
	default:
		return nil, bad("unknown op %d", r.Op)
	}
	names := [...]string{"handle", "half", "until", "owner", "token"}
	for i, h := range has {
		switch {
		case want[i] == 'R' && !h:
			return nil, bad("this op needs a %s", names[i])
		case want[i] == 0 && h:
			return nil, bad("this op takes no %s", names[i])
		}
	}
	out := &request{op: r.Op, half: r.Half, token: r.Token}
	switch r.Op {
	case OpHibernate:
		h, err := directory.ParseHandle(r.Handle)
		if err != nil {
			return nil, bad("the handle must be %d to %d characters of a-z, 0-9, - and _", directory.MinHandleLen, directory.MaxHandleLen)
		}
		out.handle = h
		if len(r.Half) > MaxHalfBytes {
			return nil, wire.Errorf(wire.TooLarge, "a sealed half is at most %d bytes; this one is %d", MaxHalfBytes, len(r.Half))
		}
		if (len(r.Half) != 0) != (r.Until != 0) {
			return nil, bad("a sealed half and its until come together")
		}
		if r.Until < 0 {
			return nil, bad("until must be a time after 1970")
		}
		if r.Until != 0 {
			out.until = time.Unix(r.Until, 0).UTC()
		}
	case OpWake:
		id, _, err := keys.ParsePeerID(r.Owner)
		if err != nil {
			return nil, bad("the owner is not a peer ID")
		}
		out.owner = id
		if len(r.Token) > capability.MaxTokenBytes {
			return nil, bad("a token is at most %d bytes", capability.MaxTokenBytes)
		}
	}
	return out, nil
}

// encode is the wire form of a checked request (tests, the client).
func (r *request) encode() Request {
	out := Request{Op: r.op, Handle: string(r.handle), Half: r.half, Owner: []byte(r.owner), Token: r.token}
	if !r.until.IsZero() {
		out.Until = r.until.Unix()
	}
	return out
}

// parseResumeReply decodes and checks a resume's OK body (the client).
func parseResumeReply(b []byte) (*ResumeReply, error) {
	var r ResumeReply
	if err := wire.UnmarshalCanonical(b, &r); err != nil {
		return nil, err
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// check is a resume body's rules: a half of 1 to MaxHalfBytes and a
// positive until.
func (r *ResumeReply) check() error {
	if len(r.Half) == 0 || len(r.Half) > MaxHalfBytes {
		return bad("the relay sent a sealed half of %d bytes", len(r.Half))
	}
	if r.Until <= 0 {
		return bad("the relay sent no until")
	}
	return nil
}
