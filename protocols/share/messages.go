package share

import (
	"fmt"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/capwire"
)

// ID is the protocol ID. Version 2 added the Revoked detail; version 1 is
// not served (doc.go says why).
const ID = "/ocmt/share/2"

// Op is a request's operation.
type Op uint8

// Operations.
const (
	OpRead   Op = 1
	OpList   Op = 2
	OpWrite  Op = 3
	OpDelete Op = 4
)

func (o Op) action() (capability.Actions, bool) {
	switch o {
	case OpRead:
		return capability.Read, true
	case OpList:
		return capability.List, true
	case OpWrite:
		return capability.Write, true
	case OpDelete:
		return capability.Delete, true
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
	case OpDelete:
		return "delete"
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

// RevokedDetail is the structured detail of a Revoked refusal: the revoked
// token, its link in the chain, and (when the owner knows) the revoker and
// the time. It is protocols/capwire's, shared with every protocol that
// refuses revoked tokens.
type RevokedDetail = capwire.RevokedDetail

// Revoked returns the detail of a Revoked refusal from Read, List or
// Write and true; false when err is not a Revoked refusal or carries no
// well-formed detail. The message text is for humans and is never parsed.
func Revoked(err error) (RevokedDetail, bool) { return capwire.Revoked(err) }

// Window reads the WindowDetail of an Expired refusal for time: which end
// of the token's window failed, on the owner's clock, with its skew.
func Window(err error) (capwire.WindowDetail, bool) { return capwire.Window(err) }

// refusal maps a token's decoding or verification failure to the refusal
// sent to the remote peer, through the shared table (protocols/capwire);
// a revocation carries RevokedDetail, its revoker and time from
// Config.RevokedBy.
func (s *Server) refusal(err error) *wire.Error {
	return capwire.ToWireDetailed(err, s.cfg.RevokedBy)
}
