package revsync

import (
	"bytes"
	"context"
	"errors"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/wire"
)

// ServerConfig configures a Server. The zero value works.
type ServerConfig struct {
	// Logger: default discard.
	Logger *slog.Logger
	// PerPeerRate is each remote peer's page rate. Default 50/s, burst 200
	// (a full sync of 1 M entries is about 4000 pages).
	PerPeerRate  rate.Limit
	PerPeerBurst int
	// PageSize is the records per reply. Default and maximum
	// MaxRecordsPerReply; smaller pages are for tests.
	PageSize int
}

// Server answers /ocmt/revsync/1 from a revocation Set. The set is public
// (every record is meant to be gossiped), so any peer may ask.
type Server struct {
	h   host.Host
	set *revocation.Set
	cfg ServerConfig

	limiter *peerlimit.Limiter
}

// NewServer registers the revsync handler on h.
func NewServer(h host.Host, set *revocation.Set, cfg ServerConfig) (*Server, error) {
	if h == nil || set == nil {
		return nil, errors.New("revsync: a host and a set are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PerPeerRate <= 0 {
		cfg.PerPeerRate, cfg.PerPeerBurst = 50, 200
	}
	if cfg.PageSize <= 0 || cfg.PageSize > MaxRecordsPerReply {
		cfg.PageSize = MaxRecordsPerReply
	}
	if cfg.PerPeerBurst <= 0 {
		cfg.PerPeerBurst = 1
	}
	s := &Server{h: h, set: set, cfg: cfg, limiter: peerlimit.New(cfg.PerPeerRate, cfg.PerPeerBurst, 0, nil)}
	h.SetStreamHandler(ID, s.handle)
	return s, nil
}

// Close removes the handler.
func (s *Server) Close() error {
	s.h.RemoveStreamHandler(ID)
	return nil
}

func (s *Server) handle(st network.Stream) {
	wire.Serve(st, Limits(), s.cfg.Logger, s.serve)
}

func (s *Server) serve(ctx context.Context, remote peer.ID, raw []byte) (any, error) {
	if !s.limiter.Allow(remote) {
		return nil, wire.Errorf(wire.RateLimited, "too many revsync requests")
	}
	var req Request
	if err := wire.UnmarshalCanonical(raw, &req); err != nil {
		return nil, wire.Errorf(wire.BadRequest, "malformed request")
	}
	if len(req.Epoch) != 0 && len(req.Epoch) != epochLen {
		return nil, wire.Errorf(wire.BadRequest, "epoch must be %d bytes", epochLen)
	}
	epoch := s.set.Epoch()
	since, snapshot := req.Since, false
	if !bytes.Equal(req.Epoch, epoch[:]) || since > s.set.Version() {
		since, snapshot = 0, true
	}
	page, err := s.set.Since(ctx, since, s.cfg.PageSize, pageBytes)
	if err != nil {
		return nil, err // logged by wire.Serve, sent as Internal
	}
	return Reply{Epoch: epoch[:], Records: page.Records, Next: page.Next, More: page.More, Snapshot: snapshot}, nil
}
