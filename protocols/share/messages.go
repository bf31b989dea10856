package share

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

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
// safe to send to the remote peer. A revocation names its revoker:
// "revoked by PEERID at TIME: token ID (link N of M)".
func (s *Server) statusOf(err error) *wire.Error {
	var rev *capability.RevokedError
	switch {
	case errors.As(err, &rev):
		if s.cfg.RevokedBy != nil {
			if by, at, ok := s.cfg.RevokedBy(rev.ID); ok {
				return wire.Errorf(wire.Revoked, "revoked by %s at %s: token %s (link %d of %d)", by, at.UTC().Format(time.RFC3339), rev.ID.Short(), rev.Link, rev.Of)
			}
		}
		return wire.Errorf(wire.Revoked, "revoked: token %s (link %d of %d)", rev.ID.Short(), rev.Link, rev.Of)
	case errors.Is(err, capability.ErrExpired), errors.Is(err, capability.ErrNotYetValid):
		return wire.Errorf(wire.Expired, "%s", capability.ErrorName(err))
	case errors.Is(err, capability.ErrMalformed), errors.Is(err, capability.ErrTooLarge):
		return wire.Errorf(wire.BadRequest, "token: %s", capability.ErrorName(err))
	}
	return wire.Errorf(wire.Forbidden, "%s", capability.ErrorName(err))
}

// RevokedBy extracts the revoker named in a Revoked refusal, if any.
func RevokedBy(err error) (peer.ID, bool) {
	var we *wire.Error
	if !errors.As(err, &we) || we.Status != wire.Revoked {
		return "", false
	}
	rest, ok := strings.CutPrefix(we.Message, "revoked by ")
	if !ok {
		return "", false
	}
	id, err := peer.Decode(strings.Fields(rest)[0])
	return id, err == nil
}
