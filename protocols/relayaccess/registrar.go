package relayaccess

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// limits is a per-peer bucket and the bucket all peers share.
type limits struct {
	per   *peerlimit.Limiter
	total *rate.Limiter
	now   func() time.Time
}

func newLimits(perRate float64, perBurst int, totalRate float64, totalBurst int, now func() time.Time) limits {
	return limits{per: peerlimit.New(rate.Limit(perRate), perBurst, maxTrackedPeers, now),
		total: rate.NewLimiter(rate.Limit(totalRate), totalBurst), now: now}
}

// allow spends a token of p's bucket, then one of the shared bucket (a
// peer over its own rate spends nobody else's).
func (l limits) allow(p peer.ID) bool {
	return l.per.Allow(p) && l.total.AllowN(l.now(), 1)
}

var errSlowDown = &wire.Error{Status: wire.RateLimited, Message: "slow down"}

// RegistrarConfig configures a relay's Registrar.
type RegistrarConfig struct {
	// Bootstraps are the bootstraps whose vouchers the relay takes: those
	// whose directory decides who may reserve. None: every registration
	// is refused (Forbidden).
	Bootstraps []peer.ID
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Registrar is the relay's side of /ocmt/relay-register/1: it remembers
// the peers that presented a valid registration, until their voucher
// expires. Its Registered is the relay's first answer to "is this peer in
// the directory?"; the relay asks the bootstrap only about peers it does
// not know this way.
type Registrar struct {
	h       host.Host
	trusted map[peer.ID]bool
	now     func() time.Time
	log     *slog.Logger
	lim     limits

	mu    sync.Mutex
	until map[peer.ID]time.Time
}

// NewRegistrar registers the handler on h.
func NewRegistrar(h host.Host, cfg RegistrarConfig) *Registrar {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Registrar{h: h, trusted: map[peer.ID]bool{}, now: cfg.Now, log: cfg.Logger, until: map[peer.ID]time.Time{},
		lim: newLimits(RegisterRate, RegisterBurst, RegisterTotalRate, RegisterTotalBurst, cfg.Now)}
	for _, b := range cfg.Bootstraps {
		r.trusted[b] = true
	}
	h.SetStreamHandler(RegisterID, func(st network.Stream) { exchange.Serve(st, RegisterLimits(), cfg.Logger, r.serve) })
	return r
}

// Close removes the handler.
func (r *Registrar) Close() error { r.h.RemoveStreamHandler(RegisterID); return nil }

func (r *Registrar) serve(_ context.Context, remote peer.ID, raw []byte) (any, error) {
	if !r.lim.allow(remote) {
		return nil, errSlowDown
	}
	var reg Registration
	if err := wire.UnmarshalCanonical(raw, &reg); err != nil {
		return nil, wire.Errorf(wire.BadRequest, "malformed request")
	}
	now := r.now()
	v, err := reg.Verify(remote, func(p peer.ID) bool { return r.trusted[p] }, now)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.until[remote]; !ok && len(r.until) >= MaxRegistrations {
		for p, t := range r.until {
			if !now.Before(t) {
				delete(r.until, p)
			}
		}
		if len(r.until) >= MaxRegistrations {
			return nil, wire.Errorf(wire.RateLimited, "relay registration list full")
		}
	}
	r.until[remote] = v.Expires
	r.log.Debug("relay registration", "peer", remote, "bootstrap", v.Bootstrap, "until", v.Expires)
	return nil, nil
}

// Registered reports whether p presented a registration whose voucher has
// not expired.
func (r *Registrar) Registered(p peer.ID) bool {
	r.mu.Lock()
	t, ok := r.until[p]
	r.mu.Unlock()
	return ok && r.now().Before(t)
}

// Len reports how many peers the registrar remembers.
func (r *Registrar) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.until)
}

// Register presents reg to the relay.
func Register(ctx context.Context, h host.Host, relay peer.ID, reg *Registration) error {
	return exchange.Call(ctx, h, relay, RegisterID, RegisterLimits(), reg, nil)
}

// VoucherConfig configures a bootstrap's VoucherServer.
type VoucherConfig struct {
	// Lookup returns the record the bootstrap's directory holds for a
	// peer, directory.ErrNotFound when none. Required.
	Lookup func(ctx context.Context, p peer.ID) (*directory.SignedRecord, error)
	// Sign signs a message with the bootstrap's peer key (Ed25519; the
	// host's libp2p key's Sign). Required.
	Sign func([]byte) ([]byte, error)
	// TTL is each voucher's lifetime. Default VoucherTTL.
	TTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// VoucherServer is the bootstrap's side of /ocmt/relay-voucher/1: it
// vouches for the record its directory holds for the asking peer.
type VoucherServer struct {
	h   host.Host
	cfg VoucherConfig
	lim limits
}

type voucherRequest struct{}

// NewVoucherServer registers the handler on h.
func NewVoucherServer(h host.Host, cfg VoucherConfig) (*VoucherServer, error) {
	if cfg.Lookup == nil || cfg.Sign == nil {
		return nil, errNoSigner
	}
	if cfg.TTL <= 0 {
		cfg.TTL = VoucherTTL
	}
	if cfg.TTL > MaxVoucherLifetime {
		return nil, fmt.Errorf("relayaccess: voucher TTL %v over %v", cfg.TTL, MaxVoucherLifetime)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &VoucherServer{h: h, cfg: cfg, lim: newLimits(VoucherRate, VoucherBurst, VoucherTotalRate, VoucherTotalBurst, cfg.Now)}
	h.SetStreamHandler(VoucherID, func(st network.Stream) { exchange.Serve(st, VoucherLimits(), cfg.Logger, s.serve) })
	return s, nil
}

// Close removes the handler.
func (s *VoucherServer) Close() error { s.h.RemoveStreamHandler(VoucherID); return nil }

func (s *VoucherServer) serve(ctx context.Context, remote peer.ID, raw []byte) (any, error) {
	if !s.lim.allow(remote) {
		return nil, errSlowDown
	}
	var req voucherRequest
	if err := wire.UnmarshalCanonical(raw, &req); err != nil {
		return nil, wire.Errorf(wire.BadRequest, "malformed request")
	}
	sr, err := s.cfg.Lookup(ctx, remote)
	if err != nil {
		return nil, err
	}
	return SignRegistration(s.cfg.Sign, s.h.ID(), sr, s.cfg.Now(), s.cfg.TTL)
}

// FetchVoucher asks the bootstrap for a registration and checks it as a
// relay trusting that bootstrap would (a reply that does not verify is
// BadRequest).
func FetchVoucher(ctx context.Context, h host.Host, bootstrap peer.ID) (*Registration, error) {
	return fetchVoucher(ctx, h, bootstrap, time.Now())
}

func fetchVoucher(ctx context.Context, h host.Host, bootstrap peer.ID, now time.Time) (*Registration, error) {
	var reg Registration
	if err := exchange.Call(ctx, h, bootstrap, VoucherID, VoucherLimits(), voucherRequest{}, &reg); err != nil {
		return nil, err
	}
	if _, err := reg.Verify(h.ID(), func(p peer.ID) bool { return p == bootstrap }, now); err != nil {
		return nil, fmt.Errorf("%w: the bootstrap's voucher does not verify: %v", wire.BadRequest, err)
	}
	return &reg, nil
}
