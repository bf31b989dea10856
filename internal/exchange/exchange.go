package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/ocmt/mesh/internal/wire"
)

// Limits bound one request/response exchange. Every protocol declares its
// own in its limits.go.
type Limits struct {
	MaxRequest  int           // largest request frame body
	MaxResponse int           // largest response frame body
	Timeout     time.Duration // deadline for the whole exchange
}

// DefaultTimeout bounds an exchange whose Limits give no Timeout.
const DefaultTimeout = 10 * time.Second

// ReplySlack is what a server keeps free in a reply frame for the envelope
// around the body: a body over MaxResponse − ReplySlack bytes is not sent
// (the reply is Internal).
const ReplySlack = 16

func (l Limits) timeout() time.Duration {
	if l.Timeout <= 0 {
		return DefaultTimeout
	}
	return l.Timeout
}

// Reply is the envelope of every response frame (CBOR map, integer keys):
//
//	1 status   uint  a Status
//	2 message  text  safe for the remote peer, for humans: never parsed
//	3 body     any   the protocol-specific body, only when status is OK
//	4 detail   any   a structured refusal detail, only when status is not
//	                 OK and only in protocols whose spec defines one for
//	                 that status (≤ MaxDetail bytes)
//
// A server of a protocol that defines no detail never sends field 4, so
// such a protocol's replies are exactly what they were before field 4
// existed. Field 4 is new in the envelope: a protocol that starts sending
// it must bump its version, because a peer built before it decodes the
// envelope strictly and refuses the unknown field.
type Reply struct {
	Status  wire.Status     `cbor:"1,keyasint"`
	Message string          `cbor:"2,keyasint,omitempty"`
	Body    cbor.RawMessage `cbor:"3,keyasint,omitempty"`
	Detail  cbor.RawMessage `cbor:"4,keyasint,omitempty"`
}

// MaxDetail caps a reply's detail: a detail names a few IDs and numbers.
const MaxDetail = 512

// HandlerFunc answers one request from the authenticated remote peer. req is
// the raw request frame (at most Limits.MaxRequest bytes). A returned
// *wire.Error crosses the wire as is; any other error is logged and sent as a
// bare Internal.
type HandlerFunc func(ctx context.Context, remote peer.ID, req []byte) (resp any, err error)

// Serve runs one request/response exchange on an inbound stream and closes
// it. Before the first read it sets the deadline for the whole exchange; it
// charges the stream's resource-manager scope with the request's declared
// size before allocating it and the reply's size before writing it, and
// answers Unavailable when the resource manager refuses.
func Serve(s network.Stream, lim Limits, log *slog.Logger, h HandlerFunc) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	remote := s.Conn().RemotePeer()
	proto := s.Protocol()
	log = log.With("protocol", string(proto), "peer", remote.String())

	deadline := time.Now().Add(lim.timeout())
	if err := s.SetDeadline(deadline); err != nil {
		s.Reset()
		return
	}
	// Memory is charged to the stream's resource scope as it is needed: the
	// request's declared length (already checked against MaxRequest) before
	// it is allocated, the reply's size before it is written. A refused
	// reservation is answered Unavailable.
	reserved := 0
	defer func() { s.Scope().ReleaseMemory(reserved) }()
	reserve := func(n int) error {
		if err := s.Scope().ReserveMemory(n, network.ReservationPriorityAlways); err != nil {
			log.Debug("memory reservation refused", "bytes", n, "err", err)
			return &wire.Error{Status: wire.Unavailable, Message: "server busy"}
		}
		reserved += n
		return nil
	}
	req, err := wire.ReadFrameReserve(s, lim.MaxRequest, reserve)
	if err != nil {
		log.Debug("bad request frame", "err", err)
		if we := (*wire.Error)(nil); errors.As(err, &we) {
			writeReply(s, Reply{Status: we.Status, Message: we.Message}, lim.MaxResponse)
			s.Close()
			return
		}
		s.Reset()
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	resp, err := h(ctx, remote, req)
	rep := Reply{Status: wire.OK}
	if err == nil && resp != nil {
		if rep.Body, err = wire.Marshal(resp); err == nil && len(rep.Body) > lim.MaxResponse-ReplySlack {
			err = fmt.Errorf("response of %d bytes over cap %d", len(rep.Body), lim.MaxResponse)
		}
		if err == nil {
			err = reserve(len(rep.Body))
		}
	}
	if err != nil {
		rep = refusal(log, err)
	}
	if err := writeReply(s, rep, lim.MaxResponse); err != nil {
		log.Debug("writing reply", "err", err)
		s.Reset()
		return
	}
	s.Close()
}

// refusal is the reply to a handler's error: its *wire.Error crosses as is,
// detail included; anything else is logged and sent as a bare Internal.
func refusal(log *slog.Logger, err error) Reply {
	we := wire.ToWire(err)
	if we.Status == wire.Internal && we.Message == "" {
		log.Warn("handler failed", "err", err)
	} else {
		log.Debug("request refused", "status", we.Status.String(), "err", err)
	}
	rep := Reply{Status: we.Status, Message: we.Message, Detail: we.Detail}
	if len(rep.Detail) > MaxDetail || rep.Status == wire.OK {
		log.Warn("refusal detail dropped", "status", we.Status.String(), "bytes", len(rep.Detail))
		rep.Detail = nil
	}
	return rep
}

func writeReply(w io.Writer, r Reply, max int) error {
	return wire.WriteMsg(w, max, r)
}

// Call opens a stream to p on proto, sends req as one frame, and decodes the
// OK reply's body into resp (nil when the protocol's reply to req has no
// body). The envelope and the body are decoded canonically (doc.go). A
// non-OK reply is returned as a *wire.Error, with the reply's detail in
// wire.Error.Detail (a detail over MaxDetail is dropped; the refusal
// stands). An OK reply carrying a detail, an OK reply without the body
// resp needs or with one where resp is nil, and a refusal carrying a body
// are malformed (BadRequest). The stream is opened with network.WithAllowLimitedConn so calls
// work over relayed connections, and is reset if ctx ends first.
func Call(ctx context.Context, h host.Host, p peer.ID, proto protocol.ID, lim Limits, req, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, lim.timeout())
	defer cancel()
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "ocmt"), p, proto)
	if err != nil {
		return fmt.Errorf("opening %s to %s: %w", proto, p, err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	reserved := 0
	defer func() { s.Scope().ReleaseMemory(reserved) }()

	if err := wire.WriteMsg(s, lim.MaxRequest, req); err != nil {
		s.Reset()
		return fmt.Errorf("sending the %s request: %w", proto, err)
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return fmt.Errorf("closing the request stream: %w", err)
	}
	raw, err := wire.ReadFrameReserve(s, lim.MaxResponse, func(n int) error {
		if err := s.Scope().ReserveMemory(n, network.ReservationPriorityAlways); err != nil {
			return fmt.Errorf("reserving %d bytes for the reply: %w", n, err)
		}
		reserved += n
		return nil
	})
	if err != nil {
		s.Reset()
		if ctx.Err() != nil {
			return fmt.Errorf("reading the %s reply: %w", proto, ctx.Err())
		}
		return fmt.Errorf("reading the %s reply: %w", proto, err)
	}
	s.Close()
	return decodeReply(raw, resp)
}

// decodeReply decodes one reply frame's body as doc.go specifies: the
// envelope and the body canonically, a refusal as a *wire.Error, and the
// body of an OK reply into resp, which is nil when the protocol's reply
// to this request has no body.
func decodeReply(raw []byte, resp any) error {
	var rep Reply
	if err := wire.UnmarshalCanonical(raw, &rep); err != nil {
		return err
	}
	if rep.Status != wire.OK {
		if len(rep.Body) != 0 {
			return &wire.Error{Status: wire.BadRequest, Message: "body in a refusal"}
		}
		return replyError(&rep)
	}
	if len(rep.Detail) != 0 {
		return &wire.Error{Status: wire.BadRequest, Message: "detail in an OK reply"}
	}
	if resp == nil {
		if len(rep.Body) != 0 {
			return &wire.Error{Status: wire.BadRequest, Message: "body in a reply that has none"}
		}
		return nil
	}
	if len(rep.Body) == 0 {
		return &wire.Error{Status: wire.BadRequest, Message: "empty reply body"}
	}
	return wire.UnmarshalCanonical(rep.Body, resp)
}

// replyError is the *wire.Error a non-OK reply stands for. An unknown status is
// Internal, and its detail (whose type the status would name) is dropped.
func replyError(rep *Reply) *wire.Error {
	we := &wire.Error{Status: rep.Status, Message: rep.Message, Detail: rep.Detail}
	if !we.Status.Known() {
		we.Status, we.Detail = wire.Internal, nil
	}
	if len(we.Detail) > MaxDetail {
		we.Detail = nil
	}
	return we
}
