package infra

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/internal/blockcache"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/protocols/relayaccess"
	"github.com/ocmt/mesh/protocols/revgossip"
	psnapshot "github.com/ocmt/mesh/protocols/snapshot"
	"github.com/ocmt/mesh/protocols/wake"
	"github.com/ocmt/mesh/relay"
)

// RelayConfig configures a relay peer.
type RelayConfig struct {
	Config
	// Bootstrap are the bootstrap peers whose directory decides who may
	// reserve. Required for a relay that serves home nodes.
	Bootstrap []string
	// DirectoryLookupRate bounds the questions the relay asks the
	// bootstrap's directory ("is this peer registered?"), a second, about
	// peers that presented no registration (protocols/relayaccess, "Registrations"):
	// the burst is as many, and at most maxLookupsInFlight run at once.
	// A peer asked about past it is refused for now, not remembered, so
	// that a flood of strangers cannot spend the bootstrap's answers.
	// Default DefaultDirectoryLookupRate; negative: no bound (the relay
	// asks about every peer it does not know).
	DirectoryLookupRate float64
	// Relay tunes the relay service (limits, rate limits, private
	// addresses). The service's audit always goes to the role's log
	// (Config.AuditPath); Relay.Audit, when set, gets a copy of each record
	// that log takes, as a JSON line without the chain fields (to ship it
	// elsewhere; tests read it). Its write errors are ignored.
	Relay relay.Config
	// CacheMaxBytes caps the snapshot cache (protocols/snapshot): the
	// sealed snapshots the homes holding a reservation here push, kept in
	// the relay's store for their grantees to fetch with a token while the
	// owner sleeps. 0 takes blockcache.DefaultMaxBytes (1 GiB); negative
	// keeps no cache and does not serve the protocol.
	CacheMaxBytes int64
	// CachePerOwner caps one pusher's share of the cache; 0 takes
	// blockcache.DefaultPerPusher.
	CachePerOwner int64
	// Wake says how the relay wakes the home nodes that hibernate on it.
	Wake WakeConfig
	// UIGateway, when set, is the address of the UI gateway: TLS
	// connections for HANDLE.UIDomain routed to that home's web UI
	// without decrypting them (internal/uigateway).
	UIGateway, UIDomain string
}

// relayStart is a relay being assembled: each step below adds one part
// and registers how to stop it.
type relayStart struct {
	cfg    RelayConfig
	p      *Peer
	boots  []peer.AddrInfo
	rcfg   relay.Config
	budget *revgossip.Budget
	st     *store.Store
	dir    *remoteDirectory
	reg    *relayaccess.Registrar
	audit  *relayAudit
	// access and svc are set once they exist; the revocation set, started
	// before them, reaches them through these to cut a revoked admission.
	access atomic.Pointer[relayaccess.Server]
	svc    atomic.Pointer[relay.Service]
}

// StartRelay runs a circuit relay whose reservations are limited to peers
// registered in the bootstrap's directory and to holders of this relay's
// relay-access capabilities.
func StartRelay(ctx context.Context, cfg RelayConfig) (_ *Peer, err error) {
	cfg.fill()
	r := &relayStart{cfg: cfg, rcfg: cfg.Relay}
	if r.boots, err = p2phost.ParseAddrInfos("bootstrap", cfg.Bootstrap); err != nil {
		return nil, err
	}
	p, k, err := open(cfg.Home)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	r.p = p
	var woken atomic.Pointer[wake.Server] // answers wakes once a reservation returns
	r.rcfg.OnReserve = func(id peer.ID) {
		if s := woken.Load(); s != nil {
			s.Reserved(id)
		}
	}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	for _, step := range []func(context.Context) error{
		func(context.Context) error { return r.openAudit(&k) },
		func(context.Context) error { return r.host(&k) },
		func(ctx context.Context) (err error) {
			r.st, err = openStore(ctx, p, cfg.Home, store.Relay)
			return err
		},
		r.revocations,
		r.service,
		r.snapshots,
		func(ctx context.Context) error { return r.wake(ctx, &k, &woken) },
		r.uiGateway,
		func(context.Context) error { return p.serveMetrics(cfg.MetricsAddr, r.svc.Load().MetricsHandler()) },
		r.announce,
		func(context.Context) error { return r.audit.start(p.Host.ID()) },
	} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return p, p.publishAddrs(cfg.Home)
}

// openAudit opens the role's audit log. Closed last, after the stop
// record, which is written once the relay service has closed and the
// refusals are flushed.
func (r *relayStart) openAudit(k *keys.PeerKey) error {
	l, err := r.p.openRoleLog(r.cfg.Config, k, RoleRelay)
	if err != nil {
		return err
	}
	r.audit = newRelayAudit(l, r.cfg.Config)
	r.audit.copyTo = r.cfg.Relay.Audit
	r.p.onClose(r.audit.stop)
	r.rcfg.Audit = r.audit
	return nil
}

// host builds the host with the relay's resource limits and a connection
// manager sized for its reservations (libp2p's default one trims a relay
// back to 160 connections, reservations included); the relay does not use
// relays itself.
func (r *relayStart) host(k *keys.PeerKey) error {
	r.rcfg.Logger = r.cfg.Logger
	rm, err := relay.ResourceManager(r.rcfg)
	if err != nil {
		return err
	}
	cm, err := relay.ConnManager(r.rcfg)
	if err != nil {
		rm.Close()
		return err
	}
	r.budget = revgossip.NewBudget(revgossip.BudgetConfig{Now: r.cfg.Now})
	if err := r.p.startHost(k, r.cfg.Listen, r.budget, libp2p.ResourceManager(rm), libp2p.ConnectionManager(cm), libp2p.DisableRelay()); err != nil {
		return err
	}
	for _, b := range r.boots {
		r.p.Host.ConnManager().Protect(b.ID, "ocmt-bootstrap")
	}
	r.reg = relayaccess.NewRegistrar(r.p.Host, relayaccess.RegistrarConfig{Bootstraps: p2phost.IDs(r.boots),
		Now: r.cfg.Now, Logger: r.cfg.Logger})
	r.p.onClose(r.reg.Close)
	r.dir = newRemoteDirectory(r.p.Host, r.boots, r.cfg.DirectoryLookupRate, r.cfg.Logger, r.cfg.Now)
	return nil
}

// revocations starts the revocation service: synced from the bootstraps,
// admitting records rooted at registered users or at this relay (its
// relay-access capabilities), and cutting what a revoked relay-access
// capability admitted the moment its revocation is in force.
func (r *relayStart) revocations(ctx context.Context) error {
	self := r.p.Host.ID()
	var err error
	r.p.rev, err = revgossip.Start(ctx, revgossip.Config{Host: r.p.Host, Budget: r.budget, Store: namespace.Wrap(r.st, store.Mesh),
		Logger: r.cfg.Logger, Now: r.cfg.Now, SyncFrom: func() []peer.ID { return p2phost.IDs(r.boots) }, OnAdd: r.cut,
		Admit: revgossip.AdmitRegistered(func(p peer.ID) bool { return p == self || r.registeredSure(p) }), Timings: r.cfg.Revocations})
	if err != nil {
		return err
	}
	r.p.onClose(r.p.rev.Close)
	return nil
}

// cut ends what a revoked relay-access capability admitted: the grant is
// forgotten and, unless the peer is registered in its own right, its
// connections close, which ends its reservation and its circuits (they
// would otherwise last out the reservation's hour).
func (r *relayStart) cut(rev *revocation.Revocation) {
	access := r.access.Load()
	if access == nil {
		return // no grant exists before the server does
	}
	peers := access.Cut(rev.ID())
	if len(peers) == 0 {
		return
	}
	go func() { // off the set's write path: Registered may ask the bootstrap
		for _, p := range peers {
			if r.registeredSure(p) {
				continue
			}
			r.p.Host.Network().ClosePeer(p)
			if svc := r.svc.Load(); svc != nil {
				svc.AccessRevoked(p)
			}
		}
	}()
}

// registered answers the relay's "is p in the directory?" for a
// reservation or a circuit: yes when p presented a registration vouched
// for by one of its bootstraps, else the bootstrap's directory's answer,
// within the lookup budget.
func (r *relayStart) registered(p peer.ID) bool {
	if reg := r.reg; reg != nil && reg.Registered(p) {
		return true
	}
	return r.dir.Registered(p)
}

// registeredSure is registered outside the lookup budget, for the
// relay's own decisions that a no from an exhausted budget would spoil:
// admitting a revocation (revgossip bounds what peers send), and sparing a
// registered peer when a relay-access grant it also held is revoked.
func (r *relayStart) registeredSure(p peer.ID) bool {
	if reg := r.reg; reg != nil && reg.Registered(p) {
		return true
	}
	return r.dir.Ask(p)
}

// service starts the relay-access and registration servers and the relay
// itself, whose ACL asks them and the directory.
func (r *relayStart) service(context.Context) error {
	access := relayaccess.NewServer(r.p.Host, r.p.rev.Set(), r.cfg.Logger)
	r.access.Store(access)
	r.p.onClose(access.Close)
	r.rcfg.Authorizer = relay.AuthorizerFuncs{RegisteredFunc: r.registered, AllowReserveFunc: access.Allowed}
	svc, err := relay.New(r.cfg.WrapHost(r.p.Host), r.rcfg)
	if err != nil {
		return err
	}
	r.svc.Store(svc)
	r.p.onClose(svc.Close)
	return nil
}

// announce joins the DHT and provides the relay CID, so nodes without a
// configured relay can find this one.
func (r *relayStart) announce(context.Context) error {
	d, err := dht.New(r.p.Host, namespace.Wrap(r.st, store.Kad), dht.Config{Mode: dht.ModeServer, BootstrapPeers: r.boots, Logger: r.cfg.Logger})
	if err != nil {
		return err
	}
	r.p.onClose(d.Close)
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.p.onClose(func() error { cancel(); <-done; return nil })
	go func() {
		defer close(done)
		announceRelay(actx, d, r.cfg.Logger)
	}()
	return nil
}

// snapshots opens the snapshot cache in the relay's store and serves
// /ocmt/snapshot/1 from it, unless the cache is off. A push is admitted
// from a peer that holds a reservation here (the homes the relay
// serves); a fetch needs a token the relay verifies with its revocation
// set, so a revoked token is refused as soon as the set has the record.
func (r *relayStart) snapshots(ctx context.Context) error {
	if r.cfg.CacheMaxBytes < 0 {
		return nil
	}
	svc := r.svc.Load()
	cache, err := blockcache.Open(ctx, namespace.Wrap(r.st, store.Cache), blockcache.Config{
		MaxBytes: cmp.Or(r.cfg.CacheMaxBytes, blockcache.DefaultMaxBytes), PerPusher: r.cfg.CachePerOwner,
		Authorizer: blockcache.AuthorizerFunc(func(_ context.Context, p peer.ID) error {
			if !svc.HoldsReservation(p) {
				return errNoReservationHere
			}
			return nil
		})})
	if err != nil {
		return fmt.Errorf("open the snapshot cache: %w", err)
	}
	r.p.onClose(cache.Close)
	srv, err := psnapshot.NewServer(ctx, r.p.Host, psnapshot.Config{Cache: cache,
		Manifests: namespace.Wrap(r.st, store.Snapshots), Clock: r.cfg.Now, Log: r.cfg.Logger,
		Verifier: capability.NewVerifier(capability.Config{Revocations: r.p.rev.Set(), Clock: r.cfg.Now})})
	if err != nil {
		return fmt.Errorf("serve the snapshot cache: %w", err)
	}
	r.p.onClose(func() error { srv.Close(); return nil })
	return nil
}

// errNoReservationHere refuses a push from a peer the relay does not
// serve.
var errNoReservationHere = errors.New("push snapshots to a relay you hold a reservation on; this one holds none for you")
