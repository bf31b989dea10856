package share

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/wire"
)

// Store is the owner's resource store, called only after the token allowed
// the request. Implementations audit every call and return *wire.Error
// with Locked or NotFound where those apply.
type Store interface {
	Read(ctx context.Context, by peer.ID, tok capability.ID, path capability.ResourcePath) ([]byte, error)
	// List returns the resource paths for which keep returns true.
	List(ctx context.Context, by peer.ID, tok capability.ID, keep func(capability.ResourcePath) bool) ([]capability.ResourcePath, error)
	Write(ctx context.Context, by peer.ID, tok capability.ID, path capability.ResourcePath, data []byte) error
	// Delete removes path; a missing path is NotFound.
	Delete(ctx context.Context, by peer.ID, tok capability.ID, path capability.ResourcePath) error
}

// Refusals lets the owner record refused requests (audit). It may be nil.
type Refusals func(by peer.ID, op string, path string, err error)

// Config configures a Server. The zero value of every field but Verifier
// and Store works.
type Config struct {
	Verifier *capability.Verifier
	Store    Store
	// Logger: default discard.
	Logger *slog.Logger
	// Refused is told about every refused request. Default: none.
	Refused Refusals
	// PerPeerRate is each remote peer's request rate. Default DefaultRate
	// (50/s), burst DefaultBurst (100).
	PerPeerRate rate.Limit
	// PerPeerBurst: default 100.
	PerPeerBurst int
	// RevokedBy names who revoked a token and when. A Revoked refusal's
	// detail (RevokedDetail) always names the revoked token and its link;
	// with RevokedBy it also carries the revoker and the time. Default:
	// token and link only.
	RevokedBy func(capability.ID) (peer.ID, time.Time, bool)
	// Ready, when set, is asked before each request is verified; an error
	// refuses the request (wire.Unavailable tells the caller to retry).
	// Home nodes hold requests here until their first revocation sync, so
	// a node that was offline during a revocation never serves the revoked
	// token in between. Default: always ready.
	Ready func(context.Context) error
}

// Server answers /ocmt/share/2 on a host.
type Server struct {
	h    host.Host
	cfg  Config
	self peer.ID

	limiter *peerlimit.Limiter
}

// NewServer registers the share handler on h.
func NewServer(h host.Host, cfg Config) (*Server, error) {
	if cfg.Verifier == nil || cfg.Store == nil {
		return nil, errors.New("share: a verifier and a store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PerPeerRate == 0 {
		cfg.PerPeerRate, cfg.PerPeerBurst = DefaultRate, DefaultBurst
	}
	s := &Server{h: h, cfg: cfg, self: h.ID(), limiter: peerlimit.New(cfg.PerPeerRate, cfg.PerPeerBurst, 0, nil)}
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
		return nil, wire.Errorf(wire.RateLimited, "too many share requests")
	}
	var req Request
	if err := wire.UnmarshalCanonical(raw, &req); err != nil {
		return nil, wire.Errorf(wire.BadRequest, "malformed request")
	}
	resp, err := s.answer(ctx, remote, &req)
	if err != nil && s.cfg.Refused != nil {
		s.cfg.Refused(remote, req.Op.String(), req.Path, err)
	}
	return resp, err
}

// check refuses a request whose op or fields are out of bounds, before
// its token is looked at, and returns the op's one action.
func (req *Request) check() (capability.Actions, error) {
	action, ok := req.Op.action()
	switch {
	case !ok:
		return 0, wire.Errorf(wire.BadRequest, "unknown op %d", req.Op)
	case len(req.Path) > maxPath:
		return 0, wire.Errorf(wire.BadRequest, "path over %d bytes", maxPath)
	case len(req.Data) > MaxData:
		return 0, wire.Errorf(wire.TooLarge, "data over %d bytes", MaxData)
	case req.Op != OpWrite && len(req.Data) != 0:
		return 0, wire.Errorf(wire.BadRequest, "data only goes with write")
	}
	return action, nil
}

func (s *Server) answer(ctx context.Context, remote peer.ID, req *Request) (any, error) {
	action, err := req.check()
	if err != nil {
		return nil, err
	}
	tok, err := s.cfg.Verifier.Decode(req.Token) // through its chain cache: a repeat skips the decode too
	if err != nil {
		return nil, s.refusal(err)
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(ctx); err != nil {
			return nil, err
		}
	}
	creq := capability.Request{Remote: remote, Owner: s.self, Action: action}
	if req.Op == OpList {
		return s.list(ctx, remote, tok, creq, req.Path)
	}
	path, err := capability.ParsePath(req.Path)
	if err != nil {
		return nil, wire.Errorf(wire.BadRequest, "bad path: %v", err)
	}
	creq.Resource = path
	if _, err := s.cfg.Verifier.Verify(ctx, tok, creq); err != nil {
		return nil, s.refusal(err)
	}
	switch req.Op {
	case OpRead:
		data, err := s.cfg.Store.Read(ctx, remote, tok.ID(), path)
		if err != nil {
			return nil, err
		}
		if len(data) > MaxData {
			return nil, wire.Errorf(wire.TooLarge, "resource larger than %d bytes", MaxData)
		}
		return ReadReply{Data: data}, nil
	case OpDelete:
		return nil, s.cfg.Store.Delete(ctx, remote, tok.ID(), path)
	default:
		return nil, s.cfg.Store.Write(ctx, remote, tok.ID(), path, req.Data)
	}
}

func (s *Server) list(ctx context.Context, remote peer.ID, tok *capability.Token, creq capability.Request, prefix string) (any, error) {
	if _, err := s.cfg.Verifier.VerifyListing(ctx, tok, creq); err != nil {
		return nil, s.refusal(err)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	pat := tok.Resource()
	paths, err := s.cfg.Store.List(ctx, remote, tok.ID(), func(p capability.ResourcePath) bool {
		return pat.Match(p) && (prefix == "" || string(p) == prefix || strings.HasPrefix(string(p), prefix+"/"))
	})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = string(p)
	}
	slices.Sort(names) // before the cut, so the reply is the first names in byte order
	if len(names) > MaxListNames {
		names = names[:MaxListNames]
	}
	return ListReply{Names: names}, nil
}
