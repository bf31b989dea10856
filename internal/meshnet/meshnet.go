package meshnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/protocols/directory"
)

// Config configures a Net. Host is required; the zero value of every other
// field works.
type Config struct {
	// Host is the node's libp2p host.
	Host host.Host
	// Bootstrap are the bootstrap/metadata peers. Default none: no
	// directory, no mailbox, no DHT.
	Bootstrap []peer.AddrInfo
	// Relays are the relays to hold reservations on. Default none: with a
	// bootstrap, relays are looked up in the DHT (FindRelays).
	Relays []peer.AddrInfo
	// RelayTokens are relay-access capabilities to present to the relay
	// that issued each before reserving. Default none.
	RelayTokens []*capability.Token
	// DHTStore holds the DHT client's state. Default: in memory.
	DHTStore ds.Batching
	// Logger: default discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Timings: see Timings.
	Timings Timings
}

// Net is a running node's connection to the mesh.
type Net struct {
	h   host.Host
	cfg Config
	log *slog.Logger
	now func() time.Time
	t   Timings
	dht *dht.DHT

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	relays   []peer.AddrInfo
	reserved map[peer.ID]reservation // relay → our live reservation
	keeping  map[peer.ID]bool        // relays with a reservation loop
	retry    chan struct{}           // closed to end the loops' backoff now
	records  map[string]cachedRecord
}

// cachedRecord is a directory answer kept for RecordTTL.
type cachedRecord struct {
	rec *directory.Record
	at  time.Time
}

// Start protects the bootstrap and relay connections and, with bootstrap
// peers, joins the DHT (an unreachable bootstrap is logged, not fatal: the
// node retries as it goes).
func Start(ctx context.Context, cfg Config) (*Net, error) {
	if cfg.Host == nil {
		return nil, errors.New("meshnet: a host is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Timings.fill()
	n := &Net{h: cfg.Host, cfg: cfg, log: cfg.Logger, now: cfg.Now, t: cfg.Timings,
		relays: cfg.Relays, reserved: map[peer.ID]reservation{}, records: map[string]cachedRecord{},
		keeping: map[peer.ID]bool{}, retry: make(chan struct{})}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for _, b := range cfg.Bootstrap {
		n.h.ConnManager().Protect(b.ID, "ocmt-bootstrap")
	}
	for _, r := range cfg.Relays {
		n.h.ConnManager().Protect(r.ID, "ocmt-relay")
	}
	if len(cfg.Bootstrap) == 0 {
		return n, nil
	}
	store := cfg.DHTStore
	if store == nil {
		store = ds.NewMapDatastore()
	}
	d, err := dht.New(n.h, store, dht.Config{Mode: dht.ModeClient, BootstrapPeers: cfg.Bootstrap, Logger: n.log})
	if err != nil {
		n.cancel()
		return nil, fmt.Errorf("joining the DHT: %w", err)
	}
	n.dht = d
	bctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()
	if err := d.Bootstrap(bctx); err != nil {
		n.log.Warn("bootstrap peers unreachable for now", "err", err)
	}
	return n, nil
}

// Close stops the reservation loops and the DHT. It does not close the host.
func (n *Net) Close() {
	n.cancel()
	n.wg.Wait()
	if n.dht != nil {
		n.dht.Close()
	}
}

// Done is closed when the Net is closed: loops that run beside it stop then.
func (n *Net) Done() <-chan struct{} { return n.ctx.Done() }

// Context ends when the Net is closed.
func (n *Net) Context() context.Context { return n.ctx }

// Go runs f in the background until the Net closes (Close waits for it).
func (n *Net) Go(f func(ctx context.Context)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f(n.ctx)
	}()
}

// Host returns the node's host.
func (n *Net) Host() host.Host { return n.h }

// HasBootstrap reports whether any bootstrap peer is configured.
func (n *Net) HasBootstrap() bool { return len(n.cfg.Bootstrap) > 0 }

// Infrastructure lists the bootstrap and relay peers (revocation sync
// pulls from them).
func (n *Net) Infrastructure() []peer.ID {
	ids := make([]peer.ID, 0, len(n.cfg.Bootstrap)+2)
	for _, b := range n.cfg.Bootstrap {
		ids = append(ids, b.ID)
	}
	for _, r := range n.Relays() {
		ids = append(ids, r.ID)
	}
	return ids
}

// Relays returns the relays in use: configured, or found in the DHT.
func (n *Net) Relays() []peer.AddrInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.relays
}

// FindRelays looks relays up in the DHT when none is configured or found
// yet, retrying with backoff for findRelaysFor, and reports whether the
// node has relays. The node calls it again on each round of its loop, so a
// relay announced later is still found.
func (n *Net) FindRelays() bool {
	if len(n.Relays()) > 0 {
		return true
	}
	if n.dht == nil {
		return false
	}
	for wait := n.t.RetryFirst; wait < findRelaysFor; wait *= 2 {
		ctx, cancel := context.WithTimeout(n.ctx, findRelaysTimeout)
		found, err := n.dht.FindRelays(ctx, 2)
		cancel()
		if err == nil && len(found) > 0 {
			n.mu.Lock()
			n.relays = found
			n.mu.Unlock()
			for _, r := range found {
				n.h.ConnManager().Protect(r.ID, "ocmt-relay")
			}
			n.log.Info("relays found in the DHT", "count", len(found))
			return true
		}
		n.log.Debug("no relay in the DHT yet", "err", err)
		if !Sleep(n.ctx, wait) {
			return false
		}
	}
	return false
}

// Sleep waits d or until ctx ends, and reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
