package grant

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/peerseal"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/capwire"
)

// ID is the protocol ID.
const ID = "/ocmt/grant/1"

// Delivery is the request frame (and the mailbox plaintext).
type Delivery struct {
	Token  []byte `cbor:"1,keyasint"`
	Handle string `cbor:"2,keyasint,omitempty"`
	Note   string `cbor:"3,keyasint,omitempty"`
}

// Received is a checked delivery.
type Received struct {
	Token  *capability.Token
	Handle string
	Note   string
	Via    string // "live" or "mailbox"
}

// Check validates a delivery for self. sender is the authenticated sender
// for direct deliveries, or "" for mailbox items (the mailbox's sender
// claim is the bootstrap's word, so only signatures count there). A token
// failure is a *wire.Error with the status of the shared table
// (protocols/capwire).
func Check(d *Delivery, self, sender peer.ID, now time.Time) (*capability.Token, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	tok, err := capability.Decode(d.Token)
	if err != nil {
		return nil, capwire.ToWire(err)
	}
	if err := capability.CheckToken(tok, capability.InspectRemote(self), capability.InspectClock(func() time.Time { return now })); err != nil {
		return nil, capwire.ToWire(err)
	}
	if sender != "" && tok.Issuer() != sender {
		return nil, wire.Errorf(wire.Forbidden, "token was not issued by the sender")
	}
	return tok, nil
}

// check applies the delivery's own rules (doc.go), before its token is
// looked at.
func (d *Delivery) check() error {
	if len(d.Note) > MaxNote || len(d.Handle) > maxHandle {
		return wire.Errorf(wire.BadRequest, "note or handle too long")
	}
	return nil
}

// Server receives deliveries.
type Server struct {
	h       host.Host
	log     *slog.Logger
	accept  func(context.Context, *Received) error
	now     func() time.Time
	limiter *peerlimit.Limiter
}

// NewServer registers the grant handler; accept stores each valid delivery
// (an error from it is answered Internal and logged).
func NewServer(h host.Host, log *slog.Logger, accept func(context.Context, *Received) error) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{h: h, log: log, accept: accept, now: time.Now, limiter: peerlimit.New(senderRate, senderBurst, 0, nil)}
	h.SetStreamHandler(ID, func(st network.Stream) { exchange.Serve(st, Limits(), log, s.serve) })
	return s
}

// Close removes the handler.
func (s *Server) Close() error { s.h.RemoveStreamHandler(ID); return nil }

func (s *Server) serve(ctx context.Context, remote peer.ID, raw []byte) (any, error) {
	if !s.limiter.Allow(remote) {
		return nil, wire.Errorf(wire.RateLimited, "too many deliveries")
	}
	var d Delivery
	if err := wire.UnmarshalCanonical(raw, &d); err != nil {
		return nil, wire.Errorf(wire.BadRequest, "malformed delivery")
	}
	tok, err := Check(&d, s.h.ID(), remote, s.now())
	if err != nil {
		return nil, err
	}
	return nil, s.accept(ctx, &Received{Token: tok, Handle: d.Handle, Note: d.Note, Via: "live"})
}

// Deliver sends tok to its audience over a stream.
func Deliver(ctx context.Context, h host.Host, tok *capability.Token, handle, note string) error {
	return exchange.Call(ctx, h, tok.Audience(), ID, Limits(), Delivery{Token: tok.Bytes(), Handle: handle, Note: note}, nil)
}

// Seal encrypts a delivery for tok's audience, for its mailbox.
func Seal(tok *capability.Token, handle, note string) ([]byte, error) {
	b, err := wire.Marshal(Delivery{Token: tok.Bytes(), Handle: handle, Note: note})
	if err != nil {
		return nil, err
	}
	return peerseal.Seal([]peer.ID{tok.Audience()}, b)
}

// OpenMail decrypts and checks a mailbox item addressed to k.
func OpenMail(k *keys.PeerKey, sealed []byte, now time.Time) (*Received, error) {
	if len(sealed) > maxSealedDelivery {
		return nil, fmt.Errorf("grant: mailbox item of %d bytes is too large", len(sealed))
	}
	pt, err := peerseal.Open(k, sealed)
	if err != nil {
		return nil, fmt.Errorf("grant: opening mailbox item: %w", err)
	}
	var d Delivery
	if err := wire.UnmarshalCanonical(pt, &d); err != nil {
		return nil, fmt.Errorf("grant: malformed mailbox item: %w", err)
	}
	tok, err := Check(&d, k.ID(), "", now)
	if err != nil {
		return nil, err
	}
	return &Received{Token: tok, Handle: d.Handle, Note: d.Note, Via: "mailbox"}, nil
}
