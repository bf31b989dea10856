package infra

import (
	"context"
	"sync/atomic"

	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/protocols/relayaccess"
	"github.com/ocmt/mesh/protocols/revgossip"
)

// StartBootstrap runs the bootstrap/metadata peer: the DHT server, the
// directory and the mailboxes, on a pebble store in cfg.Home, and a
// revocation set that admits only records rooted at registered users. Its
// audit log (cfg.AuditPath) records start and stop, registrations and
// handle changes, refused publishes, admitted revocations and counts of
// lookups and mail, bounded by cfg.AuditWindow and AuditMaxRecords.
//
// The host runs on the default BootstrapLimits; StartBootstrapLimits sets
// them.
func StartBootstrap(ctx context.Context, cfg Config) (*Peer, error) {
	return StartBootstrapLimits(ctx, cfg, BootstrapLimits{})
}

// StartBootstrapLimits is StartBootstrap with the host sized from lim: its
// resource manager and connection manager (bootstraphost.go).
func StartBootstrapLimits(ctx context.Context, cfg Config, lim BootstrapLimits) (*Peer, error) {
	lim, err := lim.withDefaults()
	if err != nil {
		return nil, err
	}
	return startBootstrap(ctx, cfg, func() ([]libp2p.Option, func(), error) {
		return bootstrapHostOptions(lim, cfg.Infrastructure)
	})
}

// hostOptions builds a host's options and what releases them should the
// host not start.
type hostOptions func() (opts []libp2p.Option, release func(), err error)

// startBootstrap starts the bootstrap on a host built with hostOpts (nil:
// libp2p's default limits, which the benchmarks compare against).
func startBootstrap(ctx context.Context, cfg Config, hostOpts hostOptions) (_ *Peer, err error) {
	cfg.fill()
	p, k, err := open(cfg.Home)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	alog, err := p.openRoleLog(cfg, &k, RoleBootstrap)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, p, cfg.Home, store.Bootstrap)
	if err != nil {
		return nil, err
	}
	budget := revgossip.NewBudget(revgossip.BudgetConfig{Now: cfg.Now})
	var opts []libp2p.Option
	release := func() {}
	if hostOpts != nil {
		if opts, release, err = hostOpts(); err != nil {
			return nil, err
		}
	}
	if err := p.startHost(&k, cfg.Listen, budget, opts...); err != nil {
		release()
		return nil, err
	}
	for _, id := range cfg.Infrastructure {
		p.Host.ConnManager().Protect(id, protectInfrastructure)
	}
	// The revocation set admits only records whose root issuer is in the
	// directory, and the mailboxes drop mail naming a revoked token: each
	// needs the other, so the mailboxes reach the set through a pointer set
	// once it is open. Mail put in between is checked again at fetch.
	var revSet atomic.Pointer[revocation.Set]
	mail := dht.MailboxConfig{Revoked: func(id capability.ID) bool {
		s := revSet.Load()
		return s != nil && s.IsRevoked(id)
	}}
	var infraBurst int
	if cfg.InfraRate > 0 {
		infraBurst = max(1, int(5*cfg.InfraRate))
	}
	// the request services' handlers protect their peer while they run
	wrapped := cfg.WrapHost(newWorkHost(p.Host))
	boot, err := dht.NewBootstrap(ctx, wrapped, st, dht.BootstrapConfig{Logger: cfg.Logger, Now: cfg.Now, Mailbox: mail,
		Audit: alog, AuditWindow: cfg.AuditWindow, AuditMaxRecords: cfg.AuditMaxRecords,
		Infrastructure: cfg.Infrastructure, InfraRate: cfg.InfraRate, InfraBurst: infraBurst})
	if err != nil {
		return nil, err
	}
	p.onClose(boot.Close)
	// Vouchers: a registered node presents one to a relay, which then
	// need not ask this bootstrap about it (protocols/relayaccess). They
	// vouch from the real records only, never a decoy (Registration).
	vouchers, err := relayaccess.NewVoucherServer(wrapped, relayaccess.VoucherConfig{Lookup: boot.Directory().Registration,
		Sign: p.Host.Peerstore().PrivKey(p.Host.ID()).Sign, Now: cfg.Now, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	p.onClose(vouchers.Close)
	p.mail = boot.Mailbox()
	if p.rev, err = revgossip.Start(ctx, revgossip.Config{Host: p.Host, Budget: budget, Store: namespace.Wrap(st, store.Mesh),
		Logger: cfg.Logger, Now: cfg.Now, PeerExchange: true, Admit: revgossip.AdmitRegistered(boot.Directory().Owns),
		OnAdd: func(r *revocation.Revocation) { boot.AuditRevocation(r.ID(), r.Revoker()) }, Timings: cfg.Revocations}); err != nil {
		return nil, err
	}
	revSet.Store(p.rev.Set())
	p.onClose(p.rev.Close)
	set := p.rev.Set()
	boot.Registry().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "ocmt", Subsystem: "bootstrap", Name: "revocations",
		Help: "Revocations in force in the bootstrap's set."}, func() float64 { return float64(set.Len()) }))
	if err := p.serveMetrics(cfg.MetricsAddr, boot.MetricsHandler()); err != nil {
		return nil, err
	}
	return p, p.publishAddrs(cfg.Home)
}

// openStore opens the role's store, moves it to the current layout and
// closes it with the Peer.
func openStore(ctx context.Context, p *Peer, h home.Home, role store.Role) (*store.Store, error) {
	st, err := store.OpenFor(h.StorePath(), role)
	if err != nil {
		return nil, err
	}
	p.onClose(st.Close)
	if _, err := store.Migrate(ctx, st, role); err != nil {
		return nil, err
	}
	return st, nil
}
