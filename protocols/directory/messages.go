package directory

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/wire"
)

// Op selects the request kind. Numbers are part of the wire format.
type Op uint8

// Operations.
const (
	OpPublish      Op = 1
	OpLookup       Op = 2
	OpLookupPeer   Op = 3
	OpMailboxPut   Op = 4
	OpMailboxFetch Op = 5
	OpMailboxAck   Op = 6
)

// request is the one request frame; which fields each op carries is the
// field table (fields.go), which doc.go states too.
type request struct {
	Op     Op            `cbor:"1,keyasint"`
	Record *SignedRecord `cbor:"2,keyasint,omitempty"`
	Handle string        `cbor:"3,keyasint,omitempty"`
	Peer   []byte        `cbor:"4,keyasint,omitempty"`
	Sealed []byte        `cbor:"5,keyasint,omitempty"`
	IDs    [][]byte      `cbor:"6,keyasint,omitempty"`
	Tokens [][]byte      `cbor:"7,keyasint,omitempty"`
}

type fetchReply struct {
	Items []mailItem `cbor:"1,keyasint"`
	More  bool       `cbor:"2,keyasint,omitempty"`
}

type mailItem struct {
	ID       []byte `cbor:"1,keyasint"`
	From     []byte `cbor:"2,keyasint"`
	Received int64  `cbor:"3,keyasint"`
	Sealed   []byte `cbor:"4,keyasint"`
}

// MailIDLen is the length of a mailbox item ID.
const MailIDLen = 16

// Mail is one mailbox item: an opaque sealed blob, the authenticated peer
// that left it, and when the bootstrap received it. Open Sealed with
// peerseal.Open; From is the bootstrap's word, so anything that matters must
// also be signed inside the sealed blob.
type Mail struct {
	ID       []byte
	From     peer.ID
	Received time.Time
	Sealed   []byte
	// Tokens are the capability IDs the sender said the blob carries
	// (mailbox-put field 7). Only the bootstrap's store holds them; they
	// do not cross the wire in a fetch.
	Tokens []capability.ID
}

// Errors the server returns. Stores should return these (or other
// *wire.Error values) so the reason crosses the wire.
var (
	ErrNotFound     = &wire.Error{Status: wire.NotFound, Message: "not found"}
	ErrHandleTaken  = &wire.Error{Status: wire.Conflict, Message: "handle taken by another key"}
	ErrStale        = &wire.Error{Status: wire.Conflict, Message: "sequence not newer than the stored record"}
	ErrNotYours     = &wire.Error{Status: wire.Forbidden, Message: "record is not for the authenticated peer"}
	ErrFuture       = &wire.Error{Status: wire.BadRequest, Message: "record issued in the future"}
	ErrMailboxFull  = &wire.Error{Status: wire.TooLarge, Message: "mailbox full"}
	ErrUnknownPeer  = &wire.Error{Status: wire.NotFound, Message: "recipient not registered"}
	ErrRateLimited  = &wire.Error{Status: wire.RateLimited, Message: "slow down"}
	ErrStoreFull    = &wire.Error{Status: wire.TooLarge, Message: "directory full"}
	ErrRevoked      = &wire.Error{Status: wire.Revoked, Message: "the mail carries a revoked capability"}
	errBadOp        = &wire.Error{Status: wire.BadRequest, Message: "unknown op"}
	errBadPeerField = &wire.Error{Status: wire.BadRequest, Message: "malformed peer ID"}
)

// Records is the directory store the server publishes into and resolves from.
// Publish must enforce first-claim-wins and strictly increasing sequences;
// it receives the envelope already verified by the server.
type Records interface {
	Publish(ctx context.Context, sr *SignedRecord) error
	Lookup(ctx context.Context, h Handle) (*SignedRecord, error)
	LookupPeer(ctx context.Context, id peer.ID) (*SignedRecord, error)
}

// Mailboxes is the mailbox store. Put must enforce its quotas and refuse
// mail whose tokens are revoked (ErrRevoked); Fetch returns at most max
// items, oldest first, and whether more remain, and never returns an item
// whose tokens have been revoked since.
type Mailboxes interface {
	Put(ctx context.Context, from, to peer.ID, sealed []byte, tokens ...capability.ID) error
	Fetch(ctx context.Context, to peer.ID, max int) (items []Mail, more bool, err error)
	Ack(ctx context.Context, to peer.ID, ids [][]byte) error
}

// Limits returns the wire limits of this protocol.
func Limits() exchange.Limits {
	return exchange.Limits{MaxRequest: MaxRequest, MaxResponse: MaxResponse, Timeout: Timeout}
}
