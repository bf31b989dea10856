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
	// PerPeerRate is each remote peer's request rate, a pushed record in a
	// batch costing one more. Default DefaultPerPeerRate, burst
	// DefaultPerPeerBurst.
	PerPeerRate  rate.Limit
	PerPeerBurst int
	// PushRate is how many pushed records a second the server verifies,
	// from all peers together; past it (burst PushBurst) a single push is
	// refused as RateLimited and a batch's remaining records come back
	// Skipped. Default DefaultPushRate, burst DefaultPushBurst.
	PushRate  rate.Limit
	PushBurst int
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
	pushes  *rate.Limiter // pushed records verified, from all peers
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
		cfg.PerPeerRate, cfg.PerPeerBurst = DefaultPerPeerRate, DefaultPerPeerBurst
	}
	if cfg.PushRate <= 0 {
		cfg.PushRate, cfg.PushBurst = DefaultPushRate, DefaultPushBurst
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
	s := &Server{h: h, set: set, cfg: cfg, limiter: peerlimit.New(cfg.PerPeerRate, cfg.PerPeerBurst, 0, nil),
		pushes: rate.NewLimiter(cfg.PushRate, max(cfg.PushBurst, 1))}
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
	if req.Records != nil {
		return s.pushAll(ctx, remote, req)
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
	if !s.pushes.Allow() {
		return wire.Errorf(wire.RateLimited, "too many pushed revocations; retry shortly")
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

// pushAll takes a batch push: each record is judged as the gossip
// validator judges one (already held and expired ones cheaply, before any
// signature), verified, and handed to Accept, within the pusher's and the
// server's push budgets.
func (s *Server) pushAll(ctx context.Context, remote peer.ID, req Request) (PushReply, error) {
	if req.Since != 0 || req.Epoch != nil || req.Push != nil {
		return PushReply{}, wire.Errorf(wire.BadRequest, "a batch push carries no cursor and no single push")
	}
	if len(req.Records) == 0 || len(req.Records) > MaxPushRecords {
		return PushReply{}, wire.Errorf(wire.BadRequest, "a batch push holds 1 to %d records, not %d", MaxPushRecords, len(req.Records))
	}
	res := make([]Result, len(req.Records))
	done := false // an invalid record or an empty budget ends the batch
	added := 0
	for i, raw := range req.Records {
		if done {
			res[i] = Skipped
			continue
		}
		u, err := revocation.Decode(raw)
		switch {
		case err != nil:
			res[i], done = Invalid, true
			continue
		case s.set.IsRevoked(u.ID()):
			res[i] = Held
			continue
		case s.set.Expired(u.Expiry()):
			res[i] = Expired
			continue
		case !s.limiter.Allow(remote) || !s.pushes.Allow():
			res[i], done = Skipped, true
			continue
		}
		r, err := (*revocation.VerifyCache)(nil).Verify(u)
		if err != nil {
			res[i], done = Invalid, true
			continue
		}
		aerr := s.cfg.Accept(ctx, remote, r)
		if res[i] = resultOf(aerr); res[i] == Failed {
			s.cfg.Logger.Warn("revsync: keeping a pushed revocation", "from", remote, "token", r.ID().Short(), "err", aerr)
		}
		if res[i] == Added {
			added++
		}
	}
	if added > 0 {
		s.cfg.Logger.Info("revocations pushed", "from", remote, "added", added, "of", len(res))
	}
	return PushReply{Results: res}, nil
}

// resultOf maps an Accept error to a batch result.
func resultOf(err error) Result {
	switch {
	case err == nil:
		return Added
	case errors.Is(err, revocation.ErrExpired):
		return Expired
	case errors.Is(err, revocation.ErrQuota):
		return NotKept
	case errors.Is(err, revocation.ErrFull):
		return Full
	default:
		return Failed
	}
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
