package infra

import (
	"errors"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/internal/groupvault"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/protocols/revgossip"
)

// Config configures a bootstrap or relay peer. The zero value of every
// field but Home works.
type Config struct {
	// Home holds identity.key and store/. Required.
	Home home.Home
	// Listen: default p2phost.DefaultListen().
	Listen []string
	// Logger: default discard.
	Logger *slog.Logger
	// Now is the role's clock. Default time.Now.
	Now func() time.Time
	// WrapHost, when set, wraps the host handed to the role's services
	// (tests tap every byte a service reads and writes this way). Default
	// none.
	WrapHost func(host.Host) host.Host
	// Revocations tunes the revocation service's timings (tests).
	Revocations revgossip.Timings

	// AuditPath is the role's audit log: metadata only, hash-chained and
	// keyed (see auditlog.go), its head in AuditPath.head. Default
	// DefaultAuditFile(Home), DIR/audit.log. There is no way to turn it
	// off: an infrastructure role always keeps one.
	AuditPath string
	// AuditWindow and AuditMaxRecords bound what peers can make the role
	// write: per window, at most AuditMaxRecords records of each kind
	// strangers can cause (the relay's refusals; the bootstrap's refused
	// publishes and its directory changes), the first half as they come,
	// the rest summarised per peer (internal/auditlimit). Defaults 1 min
	// and 64.
	AuditWindow     time.Duration
	AuditMaxRecords int
	// Infrastructure (bootstrap only) are the relays this bootstrap
	// serves, by peer ID: they ask the directory on behalf of every peer
	// that reserves without a registration, so they skip the per-peer
	// request bucket and share one (directory.DefaultInfraRate a second,
	// InfraRate when set). Default none.
	Infrastructure []peer.ID
	// InfraRate (bootstrap only) is that shared bucket's rate, requests a
	// second (burst five seconds' worth). Default
	// directory.DefaultInfraRate.
	InfraRate float64
	// MetricsAddr, when set, serves Prometheus metrics at
	// http://ADDR/metrics (Peer.MetricsAddr says where, for port 0).
	// Default off.
	MetricsAddr string
}

func (c *Config) fill() {
	if c.WrapHost == nil {
		c.WrapHost = func(h host.Host) host.Host { return h }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.Listen) == 0 {
		c.Listen = p2phost.DefaultListen()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AuditPath == "" {
		c.AuditPath = DefaultAuditFile(c.Home)
	}
}

// Peer is a running bootstrap or relay.
type Peer struct {
	// Host is the role's libp2p host (unwrapped).
	Host    host.Host
	closers []func() error
	rev     *revgossip.Service
	mail    *dht.Mailbox
	metrics string // the metrics listener's address
	// uiGateway is a relay's UI gateway address ("" when off).
	uiGateway string
	// groups is a group vault's service (nil on other roles).
	groups *groupvault.Service
}

// Groups returns a group vault's service (nil on other roles).
func (p *Peer) Groups() *groupvault.Service { return p.groups }

// UIGatewayAddr returns a relay's UI gateway address ("" when off).
func (p *Peer) UIGatewayAddr() string { return p.uiGateway }

// MetricsAddr returns the address metrics are served on ("" when off).
func (p *Peer) MetricsAddr() string { return p.metrics }

// Mailbox returns a bootstrap's mailboxes (nil on a relay).
func (p *Peer) Mailbox() *dht.Mailbox { return p.mail }

// IsRevoked reports whether this peer's revocation set holds id.
func (p *Peer) IsRevoked(id capability.ID) bool { return p.rev != nil && p.rev.Set().IsRevoked(id) }

// Addrs returns the full listen multiaddrs, each ending in /p2p/ID.
func (p *Peer) Addrs() []string { return p2phost.Addrs(p.Host) }

// Close stops the services, the host and the store, in the reverse order
// of their start.
func (p *Peer) Close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i]())
	}
	p.closers = nil
	return errors.Join(errs...)
}

func (p *Peer) onClose(f func() error) { p.closers = append(p.closers, f) }

// open takes the role's home lock and loads (or, the first time, creates)
// its identity. The caller wipes the key, and closes the Peer if it fails
// later.
func open(h home.Home) (*Peer, keys.PeerKey, error) {
	lock, err := home.Lock(h)
	if err != nil {
		return nil, keys.PeerKey{}, err
	}
	k, err := home.LoadOrCreateIdentity(h)
	if err != nil {
		lock.Close()
		return nil, keys.PeerKey{}, err
	}
	return &Peer{closers: []func() error{lock.Close}}, k, nil
}

// startHost builds the role's host: the flood budget's gater (a peer cut
// off for forging revocations is refused), the NAT service for home nodes
// behind NAT, and public reachability (infrastructure is reachable by
// definition).
func (p *Peer) startHost(k *keys.PeerKey, listen []string, budget *revgossip.Budget, extra ...libp2p.Option) error {
	opts := append([]libp2p.Option{
		libp2p.ConnectionGater(budget.Gater(nil)),
		libp2p.EnableNATService(),
		libp2p.ForceReachabilityPublic(),
	}, extra...)
	h, err := p2phost.New(k.Libp2pPrivKey(), listen, opts...)
	if err != nil {
		return err
	}
	p.Host = h
	p.onClose(h.Close)
	return nil
}

// publishAddrs writes the role's addresses for the operator's commands.
func (p *Peer) publishAddrs(h home.Home) error {
	remove, err := home.WriteAddrs(h, p.Addrs())
	if err != nil {
		return err
	}
	p.onClose(remove)
	return nil
}
