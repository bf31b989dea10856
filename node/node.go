package node

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/agenthost"
	"github.com/ocmt/mesh/internal/cached"
	"github.com/ocmt/mesh/internal/delivery"
	"github.com/ocmt/mesh/internal/grantee"
	"github.com/ocmt/mesh/internal/groupclient"
	"github.com/ocmt/mesh/internal/hibernate"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/homehost"
	"github.com/ocmt/mesh/internal/idlelock"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/nodemetrics"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/presence"
	"github.com/ocmt/mesh/internal/relevance"
	"github.com/ocmt/mesh/internal/resolve"
	"github.com/ocmt/mesh/internal/sharestore"
	"github.com/ocmt/mesh/internal/socialrecovery"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/grant"
	"github.com/ocmt/mesh/protocols/revgossip"
	"github.com/ocmt/mesh/protocols/share"
	"github.com/ocmt/mesh/vault"
	"github.com/ocmt/mesh/web"
)

// Config configures a running home node. The zero value of every field but
// Home works.
type Config struct {
	// Home is the node's folder. Required.
	Home Home
	// Listen are libp2p multiaddrs. Default p2phost.DefaultListen().
	Listen []string
	// Logger receives operational logs (never secrets). Default: discard.
	Logger *slog.Logger
	// KDF is used when the password changes. Default vault.DefaultKDF().
	KDF vault.KDFParams
	// VaultConfig passes backoff settings to the vault (tests).
	VaultConfig vault.Config
	// Now is the clock of the node, its vault and its mesh connection.
	// Default time.Now.
	Now func() time.Time
	// Timings: see Timings. Default: each field's default.
	Timings Timings

	// Bootstrap are bootstrap/metadata peers (multiaddrs ending in /p2p/ID).
	// Default none: the node runs alone.
	Bootstrap []string
	// Relays are circuit relays to hold reservations on (multiaddrs ending in
	// /p2p/ID). Default none: with a bootstrap, relays are found in the DHT.
	Relays []string
	// Handle, when set, becomes the node's handle (claimed at the bootstrap).
	// Default: the handle stored in the home folder, if any.
	Handle string
	// Firewall models a container behind NAT: inbound direct connections
	// are refused except from the bootstrap and relay peers, so others reach
	// the node only through a relay circuit. Default false.
	Firewall bool
	// RelayTokens are relay-access capabilities (token text) from relay
	// operators, presented before reserving: a node not in the directory
	// can still reserve with one. Default none.
	RelayTokens []string
	// ShareRate is each grantee's share request rate (per second, burst
	// twice as many). Default: the share protocol's.
	ShareRate float64
	// LockAfter locks the vault when nothing has used it for that long
	// (idle.go says what counts as a use), audited as vault.lock by
	// "auto-lock (idle)". Zero means DefaultLockAfter (30 min); negative
	// disables it.
	LockAfter time.Duration
	// HibernateAfter, when positive, hibernates the node (Hibernate) once
	// nothing used it for that long. Default 0: never.
	HibernateAfter time.Duration
	// ResumeWindow is how long a node that hibernated unlocked may come
	// back unlocked; 0 is hibernate.DefaultWindow (12 h), negative never.
	ResumeWindow time.Duration
	// MetricsAddr, when set, serves Prometheus metrics (metadata only:
	// internal/nodemetrics) at http://ADDR/metrics; Node.MetricsAddr says
	// where, for port 0. Default: off.
	MetricsAddr string
	// Agents: the agent socket and alerts (mesh node --agent-socket-*,
	// --notify). Default: a 0600 socket, no alerts.
	Agents agenthost.Options
	// UI: the web UI (mesh node --ui). Default: on loopback.
	UI web.Options
	// RecoveryMinWait: mesh node --recovery-min-wait (recoveryhost.Config.MinWait).
	RecoveryMinWait time.Duration
}

// ErrAlreadyRunning means another node holds the home folder.
var ErrAlreadyRunning = home.ErrAlreadyRunning

// Node is a running home node: an Offline plus the mesh. Its methods that
// talk to other peers replace the Offline's refusals.
type Node struct {
	*Offline
	*agenthost.Agents    // the AI agents: localapi.Agents
	*groupclient.Service // mesh group: localapi.Groups
	ui                   *web.Running

	cfg   Config
	lock  *os.File
	host  host.Host
	net   *meshnet.Net
	rev   *revgossip.Service
	share *share.Server
	grant *grant.Server
	api   *localapi.Server
	// The node's jobs (internal/...), wired in Start and startMesh.
	relevance *relevance.Filter
	resolver  *resolve.Resolver
	grantee   *grantee.Client
	post      *delivery.Service
	presence  *presence.Keeper
	metrics   *nodemetrics.Metrics
	idle      *idlelock.Lock
	shares    *sharestore.Store
	cache     *cached.Owner
	sleeper   *hibernate.Sleeper
	reserved  chan struct{} // a relay reservation was taken

	mu          sync.Mutex
	metricsSrv  *http.Server
	metricsAddr string
	// backups are the backups under way: Close and Lock stop them, and
	// Close waits for them before closing the store.
	backups     sync.WaitGroup
	stopBackups []context.CancelFunc
	closing     bool
}

var _ localapi.Backend = (*Node)(nil)

// Start takes the home folder's lock, opens the vault (locked), starts the
// libp2p host, joins the mesh and serves the local API.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = p2phost.DefaultListen()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := words.CheckListen(cfg.Listen); err != nil {
		return nil, err
	}
	cfg.Timings.fill()
	n := &Node{cfg: cfg, reserved: make(chan struct{}, 1)}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if n.lock, err = home.LockExisting(cfg.Home); err != nil {
		return nil, err
	}
	vcfg := cfg.VaultConfig
	vcfg.Now = cfg.Now
	if n.Offline, err = Open(ctx, cfg.Home, Options{Actor: "local-api", KDF: cfg.KDF, VaultConfig: vcfg, Logger: cfg.Logger, Now: cfg.Now,
		OnVaultUse: n.touch, RecoveryMinWait: cfg.RecoveryMinWait}); err != nil {
		return nil, err
	}
	n.metrics = nodemetrics.New(nodemetrics.Source{Issued: n.issued, Mesh: func() *meshnet.Net { return n.net },
		Revocations: n.revocationSet, Locked: n.vault.Locked})
	n.idle = idlelock.New(idlelock.Config{Vault: n.vault, After: cfg.lockAfter(), Check: cfg.Timings.LockCheck, Now: cfg.Now,
		Locking: n.cancelBackups, Locked: n.metrics.AutoLocked, Logger: cfg.Logger})
	mcfg, gater, err := n.meshConfig()
	if err != nil {
		return nil, err
	}
	budget := revgossip.NewBudget(revgossip.BudgetConfig{Now: cfg.Now})
	if n.host, err = homehost.New(n.signer.hostKey(), cfg.Listen, budget.Gater(gater), homehost.KnownPeers(n.state, n.signer.ID())); err != nil {
		return nil, err
	}
	mcfg.Host = n.host
	n.startSleeper(ctx, &mcfg) // a woken node unlocks before it reserves
	if err := n.startMesh(ctx, budget, mcfg); err != nil {
		return nil, err
	}
	if d := cfg.HibernateAfter; d > 0 {
		n.net.Go(func(ctx context.Context) { n.sleeper.WatchIdle(ctx, d, n.idle.LastUse) })
	}
	if cfg.MetricsAddr != "" {
		if n.metricsSrv, n.metricsAddr, err = n.metrics.Serve(cfg.MetricsAddr, cfg.Logger); err != nil {
			return nil, err
		}
	}
	n.net.Go(n.idle.Run) // the idle lock, and the end of a resumed session
	n.startGroups()
	socialrecovery.Start(n.net, n.vault, n.signer.withPeerKey, n.Handle, n.Offline.Service, n.post, n.cfg.Now, n.log)
	if err := n.startAgents(ctx); err != nil {
		return nil, err
	}
	if n.api, err = localapi.Listen(cfg.Home.SocketPath(), n, cfg.Logger); err != nil {
		return nil, err
	}
	cfg.Logger.Info("node started", "peer", n.host.ID(), "addrs", n.Addrs())
	return n, nil
}

// meshConfig parses the configured infrastructure into the mesh
// connection's Config (its Host is set once the host exists) and, with
// Config.Firewall, the gater that admits only that infrastructure directly.
func (n *Node) meshConfig() (meshnet.Config, connmgr.ConnectionGater, error) {
	cfg := n.cfg
	boots, err := words.PeerAddrs("bootstrap", cfg.Bootstrap)
	if err != nil {
		return meshnet.Config{}, nil, err
	}
	relays, err := words.PeerAddrs("relay", cfg.Relays)
	if err != nil {
		return meshnet.Config{}, nil, err
	}
	relayTokens, err := words.RelayTokens(n.cfg.RelayTokens, n.signer.ID())
	if err != nil {
		return meshnet.Config{}, nil, err
	}
	var gater connmgr.ConnectionGater
	if cfg.Firewall {
		gater = meshnet.Firewall(p2phost.IDs(boots, relays))
	}
	return meshnet.Config{Bootstrap: boots, Relays: relays, RelayTokens: relayTokens, DHTStore: namespace.Wrap(n.store, store.MeshDHT),
		Logger: cfg.Logger, Now: cfg.Now, Timings: cfg.Timings.Mesh, OnReserve: func(peer.ID) {
			select {
			case n.reserved <- struct{}{}:
			default:
			}
		}}, gater, nil
}

// Host returns the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// ID returns the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Addrs returns the full listen multiaddrs, each ending in /p2p/ID.
func (n *Node) Addrs() []string { return p2phost.Addrs(n.host) }

// IsRevoked reports whether the node's revocation set holds id.
func (n *Node) IsRevoked(id capability.ID) bool {
	s := n.revocationSet()
	return s != nil && s.IsRevoked(id)
}

// revocationSet is the revocation service's set; nil before it starts.
func (n *Node) revocationSet() *revocation.Set {
	if n.rev == nil {
		return nil
	}
	return n.rev.Set()
}

// MetricsAddr returns the address metrics are served on ("" when off).
func (n *Node) MetricsAddr() string { return n.metricsAddr }

// MetricsHandler serves the metrics (what --metrics ADDR serves at /metrics).
func (n *Node) MetricsHandler() http.Handler { return n.metrics.Handler() }

// Close stops the API, the mesh, the host and the vault, and releases the
// lock.
func (n *Node) Close() error {
	n.mu.Lock()
	n.closing = true
	n.mu.Unlock()
	n.cancelBackups()
	var errs []error
	if n.api != nil {
		errs = append(errs, n.api.Close())
	}
	if n.metricsSrv != nil {
		errs = append(errs, n.metricsSrv.Close())
	}
	n.ui.Close()
	if n.Agents != nil {
		n.Agents.Stop()
	}
	n.stopMesh()
	if n.host != nil {
		errs = append(errs, n.host.Close())
	}
	n.backups.Wait() // no snapshot of the store outlives it
	if n.Offline != nil {
		errs = append(errs, n.Offline.Close())
	}
	if n.lock != nil {
		os.Remove(n.cfg.Home.SocketPath())
		n.lock.Close()
	}
	return errors.Join(errs...)
}
