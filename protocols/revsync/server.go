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
	"github.com/ocmt/mesh/internal/exchange"
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
	// Accept takes a pushed record, verified, and the peer that pushed it
	// (authenticated by the stream's connection): a node passes its
	// Service's, which keeps the record only if it is relevant here or
	// from an infrastructure peer (protocols/revgossip), puts it in force
	// and gossips it. Its error goes back to the pusher as a status:
	// revocation.ErrExpired as Expired, ErrQuota as Forbidden (not kept
	// here), ErrFull as TooLarge (this set is full; retry later), anything
	// else as Internal. Default: add it to the set.
	Accept func(ctx context.Context, from peer.ID, r *revocation.Revocation) error
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
	if cfg.Accept == nil {
		cfg.Accept = func(ctx context.Context, _ peer.ID, r *revocation.Revocation) error {
			_, err := set.Add(ctx, r)
			return err
		}
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
	exchange.Serve(st, Limits(), s.cfg.Logger, s.serve)
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
	if req.Push != nil {
		return nil, s.push(ctx, remote, req)
	}
	epoch := s.set.Epoch()
	since, snapshot := req.Since, false
	if !bytes.Equal(req.Epoch, epoch[:]) || since > s.set.Version() {
		since, snapshot = 0, true
	}
	page, err := s.set.Since(ctx, since, s.cfg.PageSize, pageBytes)
	if err != nil {
		return nil, err // logged by exchange.Serve, sent as Internal
	}
	return Reply{Epoch: epoch[:], Records: page.Records, Next: page.Next, More: page.More, Snapshot: snapshot}, nil
}

// push verifies a pushed record and hands it to Accept.
func (s *Server) push(ctx context.Context, remote peer.ID, req Request) error {
	if req.Since != 0 || req.Epoch != nil {
		return wire.Errorf(wire.BadRequest, "a push carries no cursor")
	}
	rev, err := revocation.Parse(req.Push)
	if err != nil {
		return wire.Errorf(wire.BadRequest, "pushed record: %s", errorName(err))
	}
	err = s.cfg.Accept(ctx, remote, rev)
	switch {
	case errors.Is(err, revocation.ErrExpired):
		return wire.Errorf(wire.Expired, "the revoked token has expired")
	case errors.Is(err, revocation.ErrQuota):
		return wire.Errorf(wire.Forbidden, "not kept here: %s", errorName(err))
	case errors.Is(err, revocation.ErrFull):
		return wire.Errorf(wire.TooLarge, "not kept here: %s", errorName(err))
	case err != nil:
		return err // logged by exchange.Serve, sent as Internal
	}
	s.cfg.Logger.Info("revocation pushed", "from", remote, "token", rev.ID().Short())
	return nil
}

// errorName names a revocation sentinel for a reply, without the detail
// (which may quote the record).
func errorName(err error) string {
	for _, e := range []error{revocation.ErrTooLarge, revocation.ErrMalformed, revocation.ErrBadSignature,
		revocation.ErrNotIssuer, revocation.ErrBadProof, revocation.ErrExpired, revocation.ErrQuota, revocation.ErrFull} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "invalid"
}
