package share

import (
	"errors"
	"fmt"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/wire"
)

// ID is the protocol ID.
const ID = "/ocmt/share/1"

// Op is a request's operation.
type Op uint8

// Operations.
const (
	OpRead  Op = 1
	OpList  Op = 2
	OpWrite Op = 3
)

func (o Op) action() (capability.Actions, bool) {
	switch o {
	case OpRead:
		return capability.Read, true
	case OpList:
		return capability.List, true
	case OpWrite:
		return capability.Write, true
	}
	return 0, false
}

func (o Op) String() string {
	switch o {
	case OpRead:
		return "read"
	case OpList:
		return "list"
	case OpWrite:
		return "write"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Request is the request frame.
type Request struct {
	Op    Op     `cbor:"1,keyasint"`
	Path  string `cbor:"2,keyasint,omitempty"`
	Token []byte `cbor:"3,keyasint"`
	Data  []byte `cbor:"4,keyasint,omitempty"`
}

// ReadReply is the body of a read reply.
type ReadReply struct {
	Data []byte `cbor:"1,keyasint"`
}

// ListReply is the body of a list reply.
type ListReply struct {
	Names []string `cbor:"1,keyasint"`
}

// statusOf maps a verification failure to its wire status and a message
// safe to send to the remote peer.
func statusOf(err error) *wire.Error {
	var rev *capability.RevokedError
	switch {
	case errors.As(err, &rev):
		return wire.Errorf(wire.Revoked, "share revoked: %v", rev)
	case errors.Is(err, capability.ErrExpired), errors.Is(err, capability.ErrNotYetValid):
		return wire.Errorf(wire.Expired, "%s", capability.ErrorName(err))
	case errors.Is(err, capability.ErrMalformed), errors.Is(err, capability.ErrTooLarge):
		return wire.Errorf(wire.BadRequest, "token: %s", capability.ErrorName(err))
	}
	return wire.Errorf(wire.Forbidden, "%s", capability.ErrorName(err))
}
