package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/grant"
	"github.com/ocmt/mesh/protocols/share"
	"github.com/ocmt/mesh/vault"
)

// DefaultListen is where a node listens unless told otherwise: loopback
// only, TCP and QUIC, on ports the OS picks.
func DefaultListen() []string {
	return []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
}

// Config configures a running home node. The zero value of every field but
// Home works.
type Config struct {
	// Home is the node's folder. Required.
	Home Home
	// Listen are libp2p multiaddrs. Default DefaultListen().
	Listen []string
	// Logger receives operational logs (never secrets). Default: discard.
	Logger *slog.Logger
	// KDF is used when the password changes. Default vault.DefaultKDF().
	KDF vault.KDFParams
	// VaultConfig passes a clock or backoff to the vault (tests).
	VaultConfig vault.Config

	// Bootstrap are bootstrap/metadata peers (multiaddrs ending in /p2p/ID).
	// Default none: the node runs alone.
	Bootstrap []string
	// Relays are circuit relays to hold reservations on (multiaddrs ending in
	// /p2p/ID). Default none.
	Relays []string
	// Handle, when set, becomes the node's handle (claimed at the bootstrap).
	// Default: the handle stored in the home folder, if any.
	Handle string
	// Name is the display name in the directory record. Default: the handle.
	Name string
	// Firewall models a container behind NAT: inbound direct connections
	// are refused except from the bootstrap and relay peers, so others reach
	// the node only through a relay circuit. Default false.
	Firewall bool
	// RelayTokens are relay-access capabilities (token text) from relay
	// operators, presented before reserving: a node not in the directory
	// can still reserve with one. Default none.
	RelayTokens []string
	// MailboxInterval is how often the mailbox is checked. Default 30 s.
	MailboxInterval time.Duration
	// ShareRate is each grantee's share request rate (per second, burst
	// twice as many). Default 50.
	ShareRate float64
}

// Node is a running home node.
type Node struct {
	cfg   Config
	mesh  *meshNet
	share *share.Server
	grant *grant.Server
	lock  *os.File
	local *Local
	host  host.Host
	api   *localapi.Server
	// budget is the revocation flood budget, made before the host so its
	// gater can refuse peers it cut off.
	budget *revocation.Budget
}

// ErrAlreadyRunning means another node holds the home folder.
var ErrAlreadyRunning = errors.New("another mesh node is already running on this home folder")

// Start takes the home folder's lock, opens the vault (locked), starts the
// libp2p host and the local API.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = DefaultListen()
	}
	n := &Node{cfg: cfg}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if n.lock, err = lockHome(cfg.Home); err != nil {
		return nil, err
	}
	if n.local, err = OpenLocal(ctx, cfg.Home, LocalOptions{Actor: "local-api", KDF: cfg.KDF, VaultConfig: cfg.VaultConfig, Logger: cfg.Logger}); err != nil {
		return nil, err
	}
	boots, err := parseAddrInfos("bootstrap", cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	relays, err := parseAddrInfos("relay", cfg.Relays)
	if err != nil {
		return nil, err
	}
	var gater connmgr.ConnectionGater
	if cfg.Firewall {
		g := infraGater{infra: map[peer.ID]bool{}}
		for _, id := range peerIDs(boots, relays) {
			g.infra[id] = true
		}
		gater = g
	}
	n.budget = revocation.NewBudget(nil)
	if n.host, err = newHost(n.local, cfg.Listen, n.budget.Gater(gater)); err != nil {
		return nil, err
	}
	if err := n.startMesh(ctx, boots, relays); err != nil {
		return nil, err
	}
	n.local.mu.Lock()
	n.local.listen = n.Addrs
	n.local.mu.Unlock()
	if n.api, err = localapi.Listen(cfg.Home.SocketPath(), n.local, cfg.Logger); err != nil {
		return nil, err
	}
	cfg.Logger.Info("node started", "peer", n.host.ID(), "addrs", n.Addrs())
	return n, nil
}

func newHost(l *Local, listen []string, gater connmgr.ConnectionGater) (host.Host, error) {
	if err := portsFree(listen); err != nil {
		return nil, err
	}
	cm, err := libp2pconnmgr.NewConnManager(160, 192, libp2pconnmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, err
	}
	rm, err := resourceManager()
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.ResourceManager(rm),
		libp2p.Identity(l.peer.Libp2pPrivKey()),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.ConnectionManager(cm),
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(),
		libp2p.EnableAutoNATv2(),
	}
	if gater != nil {
		opts = append(opts, libp2p.ConnectionGater(gater))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting libp2p host: %w", err)
	}
	return h, nil
}

// lockHome takes an exclusive flock on DIR/node.lock and records our PID.
func lockHome(h Home) (*os.File, error) {
	if _, err := os.Stat(h.IdentityPath()); err != nil {
		return nil, fmt.Errorf("%s: %w", h, ErrNoHome)
	}
	return lockFile(h)
}

func lockFile(h Home) (*os.File, error) {
	f, err := os.OpenFile(h.LockPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		k, _ := f.ReadAt(b, 0)
		f.Close()
		pid := strings.TrimSpace(string(b[:k]))
		if _, perr := strconv.Atoi(pid); perr == nil {
			return nil, fmt.Errorf("%w (%s, pid %s)", ErrAlreadyRunning, h, pid)
		}
		return nil, fmt.Errorf("%w (%s)", ErrAlreadyRunning, h)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// Host returns the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// Local returns the node's backend.
func (n *Node) Local() *Local { return n.local }

// ID returns the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Addrs returns the full listen multiaddrs, each ending in /p2p/ID.
func (n *Node) Addrs() []string { return p2pAddrs(n.host) }

// p2pAddrs lists h's listen multiaddrs, each ending in /p2p/ID.
func p2pAddrs(h host.Host) []string {
	info := peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
	full, _ := peer.AddrInfoToP2pAddrs(&info)
	out := make([]string, len(full))
	for i, a := range full {
		out[i] = a.String()
	}
	return out
}

// peerIDs lists the IDs of address infos.
func peerIDs(lists ...[]peer.AddrInfo) []peer.ID {
	var ids []peer.ID
	for _, l := range lists {
		for _, ai := range l {
			ids = append(ids, ai.ID)
		}
	}
	return ids
}

// Close stops the API, the host and the vault, and releases the lock.
func (n *Node) Close() error {
	var errs []error
	if n.api != nil {
		errs = append(errs, n.api.Close())
	}
	n.stopMesh()
	if n.host != nil {
		errs = append(errs, n.host.Close())
	}
	if n.local != nil {
		errs = append(errs, n.local.Close())
	}
	if n.lock != nil {
		os.Remove(n.cfg.Home.SocketPath())
		n.lock.Close()
	}
	return errors.Join(errs...)
}

// portsFree refuses listen addresses whose explicit port another process
// already holds. libp2p binds with SO_REUSEPORT (for hole punching), so a
// second process would otherwise share the port and silently receive
// some of the first one's connections. A plain bind, which does not ask
// for port reuse, fails on a port in use.
func portsFree(listen []string) error {
	for _, s := range listen {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("--listen %q: %w", s, err)
		}
		network, addr, err := manet.DialArgs(m)
		if err != nil {
			continue // not IP (e.g. a circuit): nothing to bind
		}
		if _, port, _ := net.SplitHostPort(addr); port == "0" || port == "" {
			continue
		}
		switch {
		case strings.HasPrefix(network, "tcp"):
			l, err := net.Listen(network, addr)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", s, err)
			}
			l.Close()
		case strings.HasPrefix(network, "udp"):
			c, err := net.ListenPacket(network, addr)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", s, err)
			}
			c.Close()
		}
	}
	return nil
}
