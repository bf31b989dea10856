// Package dht runs OCMT Mesh's private Kademlia DHT (protocol prefix /ocmt,
// so it never joins the public IPFS network) and the bootstrap/metadata
// peer's services: the directory store (signed handle records), the
// encrypted mailboxes, and the Bootstrap type that wires them to a host.
//
// The bootstrap never holds a secret: directory records are public metadata
// signed by their owners, and mailbox items are age ciphertexts sealed to
// their recipients (internal/peerseal) that the bootstrap cannot open.
package dht

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ipfs/go-datastore"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ProtocolPrefix makes the DHT speak /ocmt/kad/1.0.0.
const ProtocolPrefix = "/ocmt"

// Mode selects whether this node answers DHT queries.
type Mode int

const (
	// ModeServer answers queries and is added to others' routing tables:
	// bootstrap, relay and any reachable node. The zero value.
	ModeServer Mode = iota
	// ModeClient only queries: home nodes behind NAT.
	ModeClient
	// ModeAuto lets AutoNAT decide (server once publicly reachable).
	ModeAuto
)

func (m Mode) opt() (kaddht.ModeOpt, error) {
	switch m {
	case ModeServer:
		return kaddht.ModeServer, nil
	case ModeClient:
		return kaddht.ModeClient, nil
	case ModeAuto:
		return kaddht.ModeAuto, nil
	}
	return 0, fmt.Errorf("dht: unknown mode %d", m)
}

// Config configures the DHT. The zero value is a server with no bootstrap
// peers (a first bootstrap node).
type Config struct {
	// Mode defaults to ModeServer.
	Mode Mode
	// BootstrapPeers are dialled by Bootstrap and seed the routing table.
	BootstrapPeers []peer.AddrInfo
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// DHT is a running private kad-dht.
type DHT struct {
	h     host.Host
	kad   *kaddht.IpfsDHT
	cfg   Config
	log   *slog.Logger
	close sync.Once
	err   error
}

// New starts the DHT on h, keeping its records in ds (callers pass a
// namespaced view of their pebble store; Bootstrap does so under /kad).
func New(h host.Host, ds datastore.Batching, cfg Config) (*DHT, error) {
	if h == nil || ds == nil {
		return nil, errors.New("dht: host and datastore are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mode, err := cfg.Mode.opt()
	if err != nil {
		return nil, err
	}
	opts := []kaddht.Option{
		kaddht.ProtocolPrefix(ProtocolPrefix),
		kaddht.Mode(mode),
		kaddht.Datastore(ds),
	}
	if len(cfg.BootstrapPeers) > 0 {
		opts = append(opts, kaddht.BootstrapPeers(cfg.BootstrapPeers...))
	}
	kad, err := kaddht.New(h, opts...)
	if err != nil {
		return nil, fmt.Errorf("dht: starting kad-dht: %w", err)
	}
	return &DHT{h: h, kad: kad, cfg: cfg, log: cfg.Logger.With("service", "dht")}, nil
}

// Bootstrap connects to the configured bootstrap peers and refreshes the
// routing table. It succeeds if at least one peer was reached (or none was
// configured).
func (d *DHT) Bootstrap(ctx context.Context) error {
	var errs []error
	ok := 0
	for _, ai := range d.cfg.BootstrapPeers {
		if ai.ID == d.h.ID() {
			continue
		}
		if err := d.h.Connect(ctx, ai); err != nil {
			d.log.Debug("bootstrap peer unreachable", "peer", ai.ID.String(), "err", err)
			errs = append(errs, err)
			continue
		}
		ok++
	}
	if len(d.cfg.BootstrapPeers) > 0 && ok == 0 {
		return fmt.Errorf("dht: no bootstrap peer reachable: %w", errors.Join(errs...))
	}
	return d.kad.Bootstrap(ctx)
}

// FindPeer looks a peer's addresses up in the DHT.
func (d *DHT) FindPeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error) {
	return d.kad.FindPeer(ctx, id)
}

// RoutingTablePeers lists the DHT servers currently in the routing table.
func (d *DHT) RoutingTablePeers() []peer.ID { return d.kad.RoutingTable().ListPeers() }

// Kad exposes the underlying kad-dht for routing (providers, values).
func (d *DHT) Kad() *kaddht.IpfsDHT { return d.kad }

// Close stops the DHT. It does not close the host or the datastore.
func (d *DHT) Close() error {
	d.close.Do(func() { d.err = d.kad.Close() })
	return d.err
}
