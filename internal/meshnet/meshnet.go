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
	"github.com/ocmt/mesh/protocols/relayaccess"
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
	// OnReserve, when set, is called after each reservation is taken.
	OnReserve func(relay peer.ID)
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

	republish chan struct{} // Republish: the node's loop should publish again

	mu        sync.Mutex
	relays    []peer.AddrInfo
	reserved  map[peer.ID]reservation   // relay → our live reservation
	keeping   map[peer.ID]bool          // relays with a reservation loop
	retry     chan struct{}             // closed to end the loops' backoff now
	changed   map[peer.ID]chan struct{} // infrastructure peer → signalled when its connectedness changes
	down      map[peer.ID]error         // bootstrap peer → why the keeper's last dial failed
	records   map[string]cachedRecord
	published *directory.SignedRecord   // the last record a bootstrap took
	reg       *relayaccess.Registration // a bootstrap's voucher for it, presented to relays
	relaysUp  chan struct{}             // closed once the node has relays (LookForRelays)
	searching bool                      // LookForRelays has started its search
}

// cachedRecord is a directory answer kept for RecordTTL.
type cachedRecord struct {
	rec *directory.Record
	at  time.Time
}

// Start protects the bootstrap and relay connections, starts following
// them on the host's event bus and, with bootstrap peers, joins the DHT and
// keeps a connection to each bootstrap peer (an unreachable bootstrap is
// logged, not fatal: it is dialled again until it answers).
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
		keeping: map[peer.ID]bool{}, retry: make(chan struct{}), changed: map[peer.ID]chan struct{}{}, down: map[peer.ID]error{},
		republish: make(chan struct{}, 1), relaysUp: make(chan struct{})}
	if len(cfg.Relays) > 0 {
		close(n.relaysUp)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	sub, err := n.subscribe()
	if err != nil {
		n.cancel()
		return nil, fmt.Errorf("following the host's connections: %w", err)
	}
	n.Go(func(ctx context.Context) { n.watch(ctx, sub) })
	for _, b := range cfg.Bootstrap {
		n.h.ConnManager().Protect(b.ID, "ocmt-bootstrap")
	}
	for _, r := range cfg.Relays {
		n.h.ConnManager().Protect(r.ID, "ocmt-relay")
	}
	if len(cfg.Bootstrap) == 0 {
		return n, nil
	}
	for _, b := range cfg.Bootstrap {
		n.changes(b.ID)
	}
	store := cfg.DHTStore
	if store == nil {
		store = ds.NewMapDatastore()
	}
	d, err := dht.New(n.h, store, dht.Config{Mode: dht.ModeClient, BootstrapPeers: cfg.Bootstrap, Logger: n.log})
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("joining the DHT: %w", err)
	}
	n.dht = d
	bctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
	defer cancel()
	if err := d.Bootstrap(bctx); err != nil {
		n.log.Warn("bootstrap peers unreachable for now", "err", err)
	}
	for _, b := range cfg.Bootstrap {
		n.Go(func(ctx context.Context) { n.keepBootstrap(ctx, b) })
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

// LookForRelays looks relays up in the DHT in the background when none is
// configured or found yet, and returns a channel closed once the node has
// relays (at once when it has). It never gives up: one query at a time,
// bounded by findRelaysTimeout, paused from RetryFirst doubling to
// RetryMax, so a relay announced later is still found. Without a DHT the
// channel stays open. Calling it again starts no second search.
func (n *Net) LookForRelays() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.relays) > 0 || n.dht == nil || n.searching {
		return n.relaysUp
	}
	n.searching = true
	n.Go(n.findRelays)
	return n.relaysUp
}

func (n *Net) findRelays(ctx context.Context) {
	wait := n.t.RetryFirst
	for {
		qctx, cancel := context.WithTimeout(ctx, findRelaysTimeout)
		found, err := n.dht.FindRelays(qctx, 2)
		cancel()
		if err == nil && len(found) > 0 {
			for _, r := range found {
				n.h.ConnManager().Protect(r.ID, "ocmt-relay")
			}
			n.mu.Lock()
			n.relays = found
			close(n.relaysUp)
			n.mu.Unlock()
			n.log.Info("relays found in the DHT", "count", len(found))
			return
		}
		n.log.Debug("no relay in the DHT yet", "err", err, "next", wait)
		if !Sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, n.t.RetryMax)
	}
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
