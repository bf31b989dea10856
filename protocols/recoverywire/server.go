package recoverywire

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

// Handler is what a friend's node does with each op, for the
// authenticated remote peer. It returns the Status to send, or a
// *wire.Error refusal (any other error goes out as Internal, with no
// message). internal/socialrecovery implements it.
type Handler interface {
	Deliver(ctx context.Context, remote peer.ID, message []byte) (Status, error)
	Fetch(ctx context.Context, remote peer.ID, request [RequestIDLen]byte) (Status, error)
	Done(ctx context.Context, remote peer.ID, request [RequestIDLen]byte) (Status, error)
}

// Config configures a Server. Handler is required.
type Config struct {
	Handler Handler
	// Now is the rate limiter's clock; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Server answers /ocmt/recovery/1 on a home node.
type Server struct {
	cfg Config
	log *slog.Logger
	lim *peerlimit.Limiter
	reg *exchange.Registration
}

// NewServer registers the handler on h.
func NewServer(h host.Host, cfg Config) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("recoverywire: a server needs a handler")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("protocol", ID), lim: peerlimit.New(peerRate, peerBurst, maxLimited, cfg.Now)}
	s.reg = exchange.Register(h, ID, Limits(), s.log, s.serve)
	return s, nil
}

// Close removes the handler and waits for the exchanges under way.
func (s *Server) Close() error { return s.reg.Close() }

// serve answers one request in doc.go's order.
func (s *Server) serve(ctx context.Context, remote peer.ID, raw []byte) (any, error) {
	if !s.lim.Allow(remote) {
		return nil, wire.Errorf(wire.RateLimited, "too many recovery requests; retry in a few seconds")
	}
	req, err := parseRequest(raw)
	if err != nil {
		return nil, err
	}
	var st Status
	switch req.Op {
	case OpDeliver:
		st, err = s.cfg.Handler.Deliver(ctx, remote, req.Message)
	case OpFetch:
		st, err = s.cfg.Handler.Fetch(ctx, remote, [RequestIDLen]byte(req.Request))
	default:
		st, err = s.cfg.Handler.Done(ctx, remote, [RequestIDLen]byte(req.Request))
	}
	if err != nil {
		return nil, err
	}
	if len(st.Text) > MaxTextLen {
		st.Text = st.Text[:MaxTextLen]
	}
	if err := st.check(); err != nil {
		s.log.Error("the recovery handler made a status that breaks the format", "err", err)
		return nil, err
	}
	return st, nil
}
