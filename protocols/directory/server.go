package directory

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// ServerConfig configures the bootstrap side. The zero value works once
// Records and Mailboxes are set.
type ServerConfig struct {
	Records   Records   // required
	Mailboxes Mailboxes // nil: mailbox ops answer NotFound
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now defaults to time.Now; it drives the rate limiter.
	Now func() time.Time
	// Rate is the per-peer sustained request rate; default DefaultRate.
	Rate float64
	// Burst is the per-peer bucket size; default DefaultBurst.
	Burst int
	// MaxTrackedPeers bounds the rate limiter; default DefaultMaxTrackedPeers.
	MaxTrackedPeers int
	// Infrastructure reports the peers (the relays the bootstrap
	// serves) that ask on others' behalf: they skip the per-peer bucket
	// and share one bucket of InfraRate requests a second, burst
	// InfraBurst. Default nil: no peer is.
	Infrastructure func(peer.ID) bool
	// InfraRate and InfraBurst size the infrastructure peers' shared
	// bucket; defaults DefaultInfraRate and DefaultInfraBurst.
	InfraRate  float64
	InfraBurst int
}

// Server answers /ocmt/directory/1 on a host.
type Server struct {
	h   host.Host
	cfg ServerConfig
	log *slog.Logger
	lim *peerLimiter
	// infra is the one bucket infrastructure peers share.
	infra *rate.Limiter
	wg    sync.WaitGroup
	mu    sync.Mutex
	done  bool
}

// NewServer registers the protocol handler on h.
func NewServer(h host.Host, cfg ServerConfig) (*Server, error) {
	if cfg.Records == nil {
		return nil, errors.New("directory: ServerConfig.Records is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.MaxTrackedPeers <= 0 {
		cfg.MaxTrackedPeers = DefaultMaxTrackedPeers
	}
	if cfg.InfraRate <= 0 {
		cfg.InfraRate = DefaultInfraRate
	}
	if cfg.InfraBurst <= 0 {
		cfg.InfraBurst = DefaultInfraBurst
	}
	s := &Server{h: h, cfg: cfg, log: cfg.Logger.With("service", "directory"),
		lim: newPeerLimiter(cfg.Rate, cfg.Burst, cfg.MaxTrackedPeers), infra: rate.NewLimiter(rate.Limit(cfg.InfraRate), cfg.InfraBurst)}
	h.SetStreamHandler(ID, s.handle)
	return s, nil
}

// Close removes the handler and waits for in-flight exchanges (each is
// bounded by Timeout).
func (s *Server) Close() error {
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
	s.h.RemoveStreamHandler(ID)
	s.wg.Wait()
	return nil
}

func (s *Server) handle(st network.Stream) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		st.Reset()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	exchange.Serve(st, Limits(), s.log, s.serve)
}

// serve answers one request. The request is decoded canonically (one
// byte form per request; unknown fields, duplicate keys, indefinite
// lengths and tags refused), its fields are checked against its op's row
// of the field table (fields.go), and only then does the op's handler see
// it: handlers never re-check which fields are set.
func (s *Server) serve(ctx context.Context, remote peer.ID, raw []byte) (any, error) {
	if !s.allow(remote) {
		return nil, ErrRateLimited
	}
	var req request
	if err := wire.UnmarshalCanonical(raw, &req); err != nil {
		return nil, err
	}
	sp, ok := specOf(req.Op)
	if !ok {
		return nil, errBadOp
	}
	if err := sp.check(req.present()); err != nil {
		return nil, err
	}
	if sp.mailbox && s.cfg.Mailboxes == nil {
		return nil, ErrNotFound
	}
	return sp.serve(s, ctx, remote, &req)
}

// allow is step 1 of doc.go's order: an infrastructure peer spends a
// token of the bucket all of them share, any other peer one of its own.
func (s *Server) allow(remote peer.ID) bool {
	now := s.cfg.Now()
	if s.cfg.Infrastructure != nil && s.cfg.Infrastructure(remote) {
		return s.infra.AllowN(now, 1)
	}
	return s.lim.allow(remote, now)
}

func (s *Server) publish(ctx context.Context, remote peer.ID, req *request) (any, error) {
	rec, err := req.Record.Verify()
	if err != nil {
		return nil, err
	}
	if rec.Peer != remote {
		return nil, ErrNotYours
	}
	if err := s.cfg.Records.Publish(ctx, req.Record); err != nil {
		return nil, err
	}
	s.log.Info("record published", "handle", rec.Handle.String(), "peer", remote.String(), "seq", rec.Seq)
	return nil, nil
}

func (s *Server) lookup(ctx context.Context, _ peer.ID, req *request) (any, error) {
	h, err := ParseHandle(req.Handle)
	if err != nil {
		return nil, err
	}
	return s.cfg.Records.Lookup(ctx, h)
}

func (s *Server) lookupPeer(ctx context.Context, _ peer.ID, req *request) (any, error) {
	id, err := keys.PeerIDFromBytes(req.Peer)
	if err != nil {
		return nil, errBadPeerField
	}
	return s.cfg.Records.LookupPeer(ctx, id)
}

func (s *Server) mailboxPut(ctx context.Context, remote peer.ID, req *request) (any, error) {
	to, err := keys.PeerIDFromBytes(req.Peer)
	if err != nil {
		return nil, errBadPeerField
	}
	if len(req.Sealed) > MaxSealedBytes {
		return nil, wire.Errorf(wire.TooLarge, "sealed blob must be 1–%d bytes", MaxSealedBytes)
	}
	tokens, err := tokenIDs(req.Tokens)
	if err != nil {
		return nil, err
	}
	return nil, s.cfg.Mailboxes.Put(ctx, remote, to, req.Sealed, tokens...)
}

// mailboxFetch serves the remote peer's own mailbox: the op has no field
// that could name another.
func (s *Server) mailboxFetch(ctx context.Context, remote peer.ID, _ *request) (any, error) {
	items, more, err := s.cfg.Mailboxes.Fetch(ctx, remote, MaxFetchItems)
	if err != nil {
		return nil, err
	}
	rep := fetchReply{Items: make([]mailItem, 0, len(items)), More: more}
	for _, m := range items {
		rep.Items = append(rep.Items, mailItem{ID: m.ID, From: []byte(m.From), Received: m.Received.Unix(), Sealed: m.Sealed})
	}
	return rep, nil
}

func (s *Server) mailboxAck(ctx context.Context, remote peer.ID, req *request) (any, error) {
	if len(req.IDs) > MaxFetchItems {
		return nil, wire.Errorf(wire.BadRequest, "ack 1–%d ids", MaxFetchItems)
	}
	for _, id := range req.IDs {
		if len(id) != MailIDLen {
			return nil, wire.Errorf(wire.BadRequest, "mail id must be %d bytes", MailIDLen)
		}
	}
	return nil, s.cfg.Mailboxes.Ack(ctx, remote, req.IDs)
}

// tokenIDs parses mailbox-put field 7.
func tokenIDs(raw [][]byte) ([]capability.ID, error) {
	if len(raw) > MaxMailTokens {
		return nil, wire.Errorf(wire.BadRequest, "at most %d token ids", MaxMailTokens)
	}
	out := make([]capability.ID, len(raw))
	for i, b := range raw {
		if len(b) != len(out[i]) {
			return nil, wire.Errorf(wire.BadRequest, "token id must be %d bytes", len(out[i]))
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// peerLimiter is a per-peer token bucket with bounded memory: when it tracks
// too many peers it forgets those idle longest (a forgotten peer starts with
// a full bucket again, which costs at most one burst).
type peerLimiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	max     int
	buckets map[peer.ID]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newPeerLimiter(r float64, burst, max int) *peerLimiter {
	return &peerLimiter{rate: rate.Limit(r), burst: burst, max: max, buckets: make(map[peer.ID]*bucket)}
}

func (l *peerLimiter) allow(id peer.ID, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[id]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[id] = b
	}
	b.last = now
	return b.lim.AllowN(now, 1)
}

// evict drops peers whose bucket has refilled (forgetting them changes
// nothing); if none has, it drops the idlest half.
func (l *peerLimiter) evict(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.rate) * float64(time.Second))
	for id, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, id)
		}
	}
	if len(l.buckets) < l.max {
		return
	}
	times := make([]time.Time, 0, len(l.buckets))
	for _, b := range l.buckets {
		times = append(times, b.last)
	}
	slices.SortFunc(times, time.Time.Compare)
	cutoff := times[len(times)/2]
	for id, b := range l.buckets {
		if !b.last.After(cutoff) {
			delete(l.buckets, id)
		}
	}
}
