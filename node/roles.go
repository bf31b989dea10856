package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/relayaccess"
	"github.com/ocmt/mesh/protocols/revsync"
	"github.com/ocmt/mesh/relay"
	"github.com/ocmt/mesh/vault"
)

// Infra is a running bootstrap or relay peer.
type Infra struct {
	Host    host.Host
	closers []func() error
	rev     *revocations
	mail    *dht.Mailbox // the bootstrap's mailboxes (nil on a relay)
}

// IsRevoked reports whether this peer's revocation set holds id.
func (in *Infra) IsRevoked(id capability.ID) bool { return in.rev != nil && in.rev.set.IsRevoked(id) }

// Addrs returns the full listen multiaddrs, each ending in /p2p/ID.
func (in *Infra) Addrs() []string { return p2pAddrs(in.Host) }

// Close stops the service, the host and the store, in that order.
func (in *Infra) Close() error {
	var errs []error
	for i := len(in.closers) - 1; i >= 0; i-- {
		errs = append(errs, in.closers[i]())
	}
	return errors.Join(errs...)
}

// LoadOrCreateIdentity returns the peer key in h, creating it (and h) on
// first use. Infrastructure peers have no vault: their key is their only
// secret, and it must stay stable so their addresses do too.
func LoadOrCreateIdentity(h Home) (keys.PeerKey, error) {
	k, err := LoadIdentity(h)
	if err == nil || !errors.Is(err, ErrNoHome) {
		return k, err
	}
	if err := os.MkdirAll(string(h), 0o700); err != nil {
		return keys.PeerKey{}, err
	}
	k = keys.GeneratePeerKey()
	seed := k.Seed()
	defer clear(seed)
	if err := writeFileAtomic(h.IdentityPath(), pemEncode(seed), 0o600); err != nil {
		return keys.PeerKey{}, err
	}
	return k, nil
}

// InfraConfig configures a bootstrap or relay peer. The zero value of
// every field but Home works.
type InfraConfig struct {
	// Home holds identity.key and store/. Required.
	Home Home
	// Listen: default DefaultListen().
	Listen []string
	// Logger: default discard.
	Logger *slog.Logger
	// WrapHost, when set, wraps the host handed to the role's services
	// (tests tap every byte a service reads and writes this way). Default
	// none.
	WrapHost func(host.Host) host.Host
}

func (c *InfraConfig) fill() {
	if c.WrapHost == nil {
		c.WrapHost = func(h host.Host) host.Host { return h }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.Listen) == 0 {
		c.Listen = DefaultListen()
	}
}

func infraHost(k *keys.PeerKey, listen []string, budget *revocation.Budget, extra ...libp2p.Option) (host.Host, error) {
	if err := portsFree(listen); err != nil {
		return nil, err
	}
	opts := append([]libp2p.Option{
		libp2p.Identity(k.Libp2pPrivKey()),
		libp2p.ConnectionGater(budget.Gater(nil)),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.EnableNATService(),
		libp2p.ForceReachabilityPublic(),
	}, extra...)
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting libp2p host: %w", err)
	}
	return h, nil
}

// infraMeshStore is the part of an infrastructure peer's store its mesh
// state (the revocation set, its outbox) lives in.
func infraMeshStore(store ds.Batching) ds.Batching {
	return namespace.Wrap(store, ds.NewKey("/mesh"))
}

// openInfra takes an infrastructure home's lock and loads (or, the first
// time, creates) its identity. The caller wipes the key and closes the
// Infra if it fails later.
func openInfra(h Home) (*Infra, keys.PeerKey, error) {
	lock, err := lockInfra(h)
	if err != nil {
		return nil, keys.PeerKey{}, err
	}
	k, err := LoadOrCreateIdentity(h)
	if err != nil {
		lock.Close()
		return nil, keys.PeerKey{}, err
	}
	return &Infra{closers: []func() error{lock.Close}}, k, nil
}

// StartBootstrap runs the bootstrap/metadata peer: the DHT server, the
// directory and the mailboxes, on a pebble store in cfg.Home.
func StartBootstrap(ctx context.Context, cfg InfraConfig) (_ *Infra, err error) {
	cfg.fill()
	in, k, err := openInfra(cfg.Home)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	defer func() {
		if err != nil {
			in.Close()
		}
	}()
	store, err := vault.OpenStore(cfg.Home.StorePath())
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, store.Close)
	budget := revocation.NewBudget(nil)
	if in.Host, err = infraHost(&k, cfg.Listen, budget); err != nil {
		return nil, err
	}
	in.closers = append(in.closers, in.Host.Close)
	// The revocation set admits only records whose root issuer is in the
	// directory, and the mailboxes drop mail naming a revoked token: each
	// needs the other, so the mailboxes reach the set through a pointer set
	// once it is open. Mail put in between is checked again at fetch.
	var revSet atomic.Pointer[revocation.Set]
	mail := dht.MailboxConfig{Revoked: func(id capability.ID) bool {
		s := revSet.Load()
		return s != nil && s.IsRevoked(id)
	}}
	boot, err := dht.NewBootstrap(ctx, cfg.WrapHost(in.Host), store, dht.BootstrapConfig{Logger: cfg.Logger, Mailbox: mail})
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, boot.Close)
	in.mail = boot.Mailbox()
	rev, err := startRevocations(ctx, revConfig{host: in.Host, budget: budget, store: infraMeshStore(store),
		log: cfg.Logger, bootstrap: true, admit: admitRegistered(boot.Directory().Registered)})
	if err != nil {
		return nil, err
	}
	revSet.Store(rev.set)
	in.closers = append(in.closers, func() error { rev.close(); return nil })
	in.rev = rev
	unpublish, err := publishAddrs(cfg.Home, in.Host)
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, unpublish)
	return in, nil
}

// RelayConfig configures a relay peer.
type RelayConfig struct {
	InfraConfig
	// Bootstrap are the bootstrap peers whose directory decides who may
	// reserve. Required for a relay that serves home nodes.
	Bootstrap []string
	// Relay tunes the relay service (limits, rate limits, private addresses).
	Relay relay.Config
	// AuditPath, when set, receives the metadata-only audit log (JSON lines).
	AuditPath string
	// MetricsAddr, when set, serves Prometheus metrics at http://ADDR/metrics.
	MetricsAddr string
}

// StartRelay runs a circuit relay whose reservations are limited to peers
// registered in the bootstrap's directory.
func StartRelay(ctx context.Context, cfg RelayConfig) (_ *Infra, err error) {
	cfg.fill()
	boots, err := parseAddrInfos("bootstrap", cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	in, k, err := openInfra(cfg.Home)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	defer func() {
		if err != nil {
			in.Close()
		}
	}()
	rcfg := cfg.Relay
	rcfg.Logger = cfg.Logger
	if cfg.AuditPath != "" {
		f, err := relay.OpenAuditFile(cfg.AuditPath)
		if err != nil {
			return nil, err
		}
		in.closers = append(in.closers, f.Close)
		rcfg.Audit = f
	}
	rm, err := relay.ResourceManager(rcfg)
	if err != nil {
		return nil, err
	}
	budget := revocation.NewBudget(nil)
	if in.Host, err = infraHost(&k, cfg.Listen, budget, libp2p.ResourceManager(rm), libp2p.DisableRelay()); err != nil {
		return nil, err
	}
	in.closers = append(in.closers, in.Host.Close)
	for _, b := range boots {
		in.Host.ConnManager().Protect(b.ID, "ocmt-bootstrap")
	}
	store, err := vault.OpenStore(cfg.Home.StorePath())
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, store.Close)

	// Who may reserve: peers in the directory, and peers that presented a
	// relay-access capability from this relay's operator. Revocations are
	// checked on every presentation and every reservation.
	dir := &remoteDirectory{h: in.Host, boots: boots, log: cfg.Logger, cache: map[peer.ID]time.Time{}}
	bootIDs := func() []peer.ID { return peerIDs(boots) }
	self := in.Host.ID()
	// A revoked relay-access capability cuts what it admitted at once: the
	// grant is forgotten and, unless the peer is registered in its own
	// right, its connections close, which ends its reservation and its
	// circuits (they would otherwise last out the reservation's hour).
	var accessPtr atomic.Pointer[relayaccess.Server]
	var svcPtr atomic.Pointer[relay.Service]
	cut := func(r *revocation.Revocation) {
		access := accessPtr.Load()
		if access == nil {
			return // no grant exists before the server does
		}
		if peers := access.Cut(r.ID()); len(peers) > 0 {
			go func() { // off the set's write path: Registered may ask the bootstrap
				for _, p := range peers {
					if !dir.Registered(p) {
						in.Host.Network().ClosePeer(p)
						if svc := svcPtr.Load(); svc != nil {
							svc.AccessRevoked(p)
						}
					}
				}
			}()
		}
	}
	rev, err := startRevocations(ctx, revConfig{host: in.Host, budget: budget, store: infraMeshStore(store),
		log: cfg.Logger, syncFrom: bootIDs, onAdd: cut,
		admit: admitRegistered(func(p peer.ID) bool { return p == self || dir.Registered(p) })})
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, func() error { rev.close(); return nil })
	in.rev = rev
	access := relayaccess.NewServer(in.Host, rev.set, cfg.Logger)
	accessPtr.Store(access)
	in.closers = append(in.closers, access.Close)
	rcfg.Authorizer = relay.AuthorizerFuncs{RegisteredFunc: dir.Registered, AllowReserveFunc: access.Allowed}
	svc, err := relay.New(cfg.WrapHost(in.Host), rcfg)
	if err != nil {
		return nil, err
	}
	svcPtr.Store(svc)
	in.closers = append(in.closers, svc.Close)
	if cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", svc.MetricsHandler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		in.closers = append(in.closers, srv.Close)
	}
	// Join the DHT and announce this relay, so nodes without a configured
	// relay can find it.
	d, err := dht.New(in.Host, store, dht.Config{Mode: dht.ModeServer, BootstrapPeers: boots, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, d.Close)
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	in.closers = append(in.closers, func() error { cancel(); <-done; return nil })
	go func() {
		defer close(done)
		announceRelay(actx, d, cfg.Logger)
	}()
	unpublish, err := publishAddrs(cfg.Home, in.Host)
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, unpublish)
	return in, nil
}

// announceRelay provides the relay CID at start (retrying until it works)
// and every 12 hours after, inside the DHT's 48-hour provider validity.
func announceRelay(ctx context.Context, d *dht.DHT, log *slog.Logger) {
	wait := time.Second
	for {
		bctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := d.Bootstrap(bctx)
		if err == nil {
			err = d.AnnounceRelay(bctx)
		}
		cancel()
		if err == nil {
			log.Info("relay announced in the DHT")
			wait = 12 * time.Hour
		} else {
			log.Debug("announcing the relay failed; retrying", "err", err)
			wait = min(2*wait, time.Minute)
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// remoteDirectory answers the relay's "is this peer registered?" by asking
// the bootstrap's directory, caching answers: a yes for ten minutes, a no
// for ten seconds (a node publishes its record just before it reserves).
type remoteDirectory struct {
	h     host.Host
	boots []peer.AddrInfo
	log   *slog.Logger

	mu    sync.Mutex
	cache map[peer.ID]time.Time // peer → until when the answer holds (zero time: no)
	no    map[peer.ID]time.Time
}

const maxDirCache = 100000

func (d *remoteDirectory) Registered(p peer.ID) bool {
	now := time.Now()
	d.mu.Lock()
	if until, ok := d.cache[p]; ok && now.Before(until) {
		d.mu.Unlock()
		return true
	}
	if until, ok := d.no[p]; ok && now.Before(until) {
		d.mu.Unlock()
		return false
	}
	d.mu.Unlock()
	ok := d.lookup(p)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.cache) > maxDirCache {
		clear(d.cache)
	}
	if d.no == nil || len(d.no) > maxDirCache {
		d.no = map[peer.ID]time.Time{}
	}
	if ok {
		d.cache[p] = now.Add(10 * time.Minute)
	} else {
		d.no[p] = now.Add(10 * time.Second)
	}
	return ok
}

func (d *remoteDirectory) lookup(p peer.ID) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, b := range d.boots {
		rec, err := directory.LookupPeer(ctx, d.h, b.ID, p)
		if err == nil && rec.Peer == p {
			return true
		}
		if err != nil {
			d.log.Debug("directory lookup", "peer", p, "err", err)
		}
	}
	return false
}

// lockInfra takes the home folder's lock for an infrastructure role.
func lockInfra(h Home) (io.Closer, error) {
	if err := os.MkdirAll(string(h), 0o700); err != nil {
		return nil, err
	}
	return lockFile(h)
}

// GrantRelayAccess issues, with the relay's own key in h, a relay-access
// capability for peer `to`: it may then reserve a slot without being in the
// directory, until the token expires or is revoked.
func GrantRelayAccess(h Home, to peer.ID, validFor time.Duration) (*capability.Token, error) {
	k, err := LoadIdentity(h)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	if validFor < time.Second || validFor > MaxTokenLifetime {
		return nil, fmt.Errorf("--for must be between 1s and %v", MaxTokenLifetime)
	}
	now := time.Now()
	return capability.Issue(&k, capability.Params{Audience: to, Resource: capability.Pattern(relayaccess.Resource),
		Actions: capability.Use, NotBefore: now, Expiry: now.Add(validFor)})
}

// publishAddrs writes the host's /p2p addresses to h's addrs file, for the
// operator's commands (mesh relay revoke) to reach the running service.
func publishAddrs(h Home, hst host.Host) (func() error, error) {
	data := strings.Join(p2pAddrs(hst), "\n") + "\n"
	if err := os.WriteFile(h.AddrsPath(), []byte(data), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", h.AddrsPath(), err)
	}
	return func() error { return os.Remove(h.AddrsPath()) }, nil
}

// RevokeRelayAccess revokes, with the relay's own key in h, a relay-access
// capability it granted (the token's text, as mesh relay grant printed
// it). When the relay is running, the signed revocation is pushed to it
// (revsync push), which puts it in force, cuts the peer's reservation and
// circuits and gossips it; otherwise it is written to the relay's store
// and in force from its next start. how says which happened.
func RevokeRelayAccess(ctx context.Context, h Home, tokenText string) (id capability.ID, how string, err error) {
	tok, err := capability.Parse(strings.TrimSpace(tokenText))
	if err != nil {
		return id, "", fmt.Errorf("relay token: %w", err)
	}
	if tok.Resource() != capability.Pattern(relayaccess.Resource) {
		return id, "", fmt.Errorf("token %s is not a relay-access capability", tok.ID().Short())
	}
	k, err := LoadIdentity(h)
	if err != nil {
		return id, "", err
	}
	defer k.Wipe()
	rev, err := revocation.New(&k, tok, time.Now())
	if err != nil {
		return id, "", fmt.Errorf("revoking %s with this relay's key: %w", tok.ID().Short(), err)
	}
	lock, err := lockInfra(h)
	if errors.Is(err, ErrAlreadyRunning) {
		return rev.ID(), "pushed to the running relay", pushToRunning(ctx, h, rev)
	}
	if err != nil {
		return id, "", err
	}
	defer lock.Close()
	store, err := vault.OpenStore(h.StorePath())
	if err != nil {
		return id, "", err
	}
	defer store.Close()
	set, err := revocation.Open(ctx, revocation.Config{
		Datastore: revocationStore(infraMeshStore(store)), CollectEvery: -1})
	if err != nil {
		return id, "", err
	}
	defer set.Close()
	if _, err := set.Add(ctx, rev); err != nil {
		return id, "", err
	}
	return rev.ID(), "stored; in force when the relay starts", nil
}

// pushToRunning pushes rev to the service running on h, from a throwaway
// host, at the addresses the service wrote at start.
func pushToRunning(ctx context.Context, h Home, rev *revocation.Revocation) error {
	data, err := os.ReadFile(h.AddrsPath())
	if err != nil {
		return fmt.Errorf("the relay is running but its addresses are unknown: %w", err)
	}
	infos, err := parseAddrInfos("relay address", strings.Fields(string(data)))
	if err != nil || len(infos) == 0 {
		return fmt.Errorf("%s holds no usable address: %v", h.AddrsPath(), err)
	}
	c, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay())
	if err != nil {
		return err
	}
	defer c.Close()
	target := infos[0]
	for _, ai := range infos[1:] {
		target.Addrs = append(target.Addrs, ai.Addrs...)
	}
	if err := c.Connect(ctx, target); err != nil {
		return fmt.Errorf("reaching the running relay: %w", err)
	}
	return revsync.Push(ctx, c, target.ID, rev)
}
