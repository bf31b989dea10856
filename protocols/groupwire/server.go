package groupwire

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/wire"
)

// Handler answers checked requests for the peer the secure channel
// authenticated. Its refusals should be *wire.Error values worded for
// that peer; any other error crosses as a bare Internal. The reply body
// is the op's (doc.go "Replies"): *Info, *ShareReply, *Secret, *List,
// *AuditPage, *Invitation, *Members or nil.
type Handler interface {
	Handle(ctx context.Context, remote peer.ID, req *Request) (any, error)
}

// Config configures a Server.
type Config struct {
	// Handler is required.
	Handler Handler
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now is the rate limiter's clock; default time.Now.
	Now func() time.Time
}

// Server answers /ocmt/group/1 on a group vault peer: it bounds each
// peer's rate and the requests in flight, parses each request by doc.go's
// rules and hands it to the Handler.
type Server struct {
	cfg Config
	log *slog.Logger
	lim *peerlimit.Limiter
	sem chan struct{}
	reg *exchange.Registration
}

// NewServer registers the protocol on h.
func NewServer(h host.Host, cfg Config) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("groupwire: a server needs a handler")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("protocol", ID),
		lim: peerlimit.New(peerRate, peerBurst, maxLimited, cfg.Now), sem: make(chan struct{}, maxInFlight)}
	s.reg = exchange.Register(h, ID, Limits(), s.log, s.serve)
	return s, nil
}

// Close stops taking requests and waits for those being served.
func (s *Server) Close() error { return s.reg.Close() }

// serve answers one request in doc.go's order: the peer's rate, the
// requests in flight, the request's form, then the handler.
func (s *Server) serve(ctx context.Context, remote peer.ID, raw []byte) (any, error) {
	if !s.lim.Allow(remote) {
		return nil, wire.Errorf(wire.RateLimited, "too many group requests; retry in a few seconds")
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		return nil, wire.Errorf(wire.Unavailable, "the group vault is busy; retry in a few seconds")
	}
	req, err := ParseRequest(raw)
	if err != nil {
		return nil, err
	}
	return s.cfg.Handler.Handle(ctx, remote, req)
}
