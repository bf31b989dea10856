package directory

import (
	"context"
	"fmt"
	"math/bits"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/wire"
)

// field is a request field, numbered by its CBOR key.
type field uint8

// The request fields (doc.go, Frames).
const (
	fieldOp     field = 1
	fieldRecord field = 2
	fieldHandle field = 3
	fieldPeer   field = 4
	fieldSealed field = 5
	fieldIDs    field = 6
	fieldTokens field = 7
	maxField          = fieldTokens
)

// fieldNames are the names doc.go gives the fields.
var fieldNames = [...]string{
	fieldOp:     "op",
	fieldRecord: "record",
	fieldHandle: "handle",
	fieldPeer:   "peer",
	fieldSealed: "sealed",
	fieldIDs:    "ids",
	fieldTokens: "tokens",
}

func (f field) String() string {
	if f >= 1 && f <= maxField {
		return fmt.Sprintf("%d (%s)", uint8(f), fieldNames[f])
	}
	return fmt.Sprintf("%d", uint8(f))
}

// fieldSet is a set of fields, bit f for field f.
type fieldSet uint16

func fields(fs ...field) fieldSet {
	var s fieldSet
	for _, f := range fs {
		s |= 1 << f
	}
	return s
}

func (s fieldSet) has(f field) bool { return s&(1<<f) != 0 }

// first returns the lowest-numbered field in s (s must not be empty).
func (s fieldSet) first() field { return field(bits.TrailingZeros16(uint16(s))) }

func (s fieldSet) String() string {
	var names []string
	for f := fieldOp; f <= maxField; f++ {
		if s.has(f) {
			names = append(names, fieldNames[f])
		}
	}
	return "{" + strings.Join(names, ", ") + "}"
}

// present returns the fields the request carries. The request was decoded
// canonically, and every field but op is omitempty, so a field is on the
// wire exactly when it is non-empty here: an empty value (a zero-length
// handle, an empty ids array) does not re-encode to its own bytes and was
// refused while decoding. Op has no omitempty and is always on the wire.
func (r *request) present() fieldSet {
	s := fields(fieldOp)
	for _, p := range [...]struct {
		f  field
		on bool
	}{
		{fieldRecord, r.Record != nil},
		{fieldHandle, r.Handle != ""},
		{fieldPeer, len(r.Peer) != 0},
		{fieldSealed, len(r.Sealed) != 0},
		{fieldIDs, len(r.IDs) != 0},
		{fieldTokens, len(r.Tokens) != 0},
	} {
		if p.on {
			s |= fields(p.f)
		}
	}
	return s
}

// opSpec is one op's row of the field table: the fields it requires and
// the ones it may carry (op itself is always required), whether it needs
// the mailbox store, and the handler that serves it once its fields are
// known to be right.
type opSpec struct {
	name     string
	required fieldSet
	optional fieldSet
	mailbox  bool
	serve    func(s *Server, ctx context.Context, remote peer.ID, req *request) (any, error)
}

// opSpecs is the field table, indexed by op. It and the "Fields per op"
// block of doc.go must agree exactly; a test compares them.
var opSpecs = [...]opSpec{
	OpPublish:      {name: "publish", required: fields(fieldRecord), serve: (*Server).publish},
	OpLookup:       {name: "lookup", required: fields(fieldHandle), serve: (*Server).lookup},
	OpLookupPeer:   {name: "lookup-peer", required: fields(fieldPeer), serve: (*Server).lookupPeer},
	OpMailboxPut:   {name: "mailbox-put", required: fields(fieldPeer, fieldSealed), optional: fields(fieldTokens), mailbox: true, serve: (*Server).mailboxPut},
	OpMailboxFetch: {name: "mailbox-fetch", mailbox: true, serve: (*Server).mailboxFetch},
	OpMailboxAck:   {name: "mailbox-ack", required: fields(fieldIDs), mailbox: true, serve: (*Server).mailboxAck},
}

// specOf returns op's row, or false for an op this version does not define.
func specOf(op Op) (*opSpec, bool) {
	if int(op) >= len(opSpecs) || opSpecs[op].serve == nil {
		return nil, false
	}
	return &opSpecs[op], true
}

// allowed is every field the op may carry.
func (sp *opSpec) allowed() fieldSet { return fields(fieldOp) | sp.required | sp.optional }

// check refuses a request whose fields are not the op's: one required
// field missing, or one it may not carry. It is the only field check.
func (sp *opSpec) check(present fieldSet) error {
	if missing := (fields(fieldOp) | sp.required) &^ present; missing != 0 {
		return wire.Errorf(wire.BadRequest, "%s: field %s is required", sp.name, missing.first())
	}
	if stray := present &^ sp.allowed(); stray != 0 {
		return wire.Errorf(wire.BadRequest, "%s: field %s is not allowed", sp.name, stray.first())
	}
	return nil
}
