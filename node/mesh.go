package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/relayaccess"
)

// ErrNeedsNode means the command talks to other peers and needs a running
// node.
var ErrNeedsNode = errors.New("this needs a running node: start it with `mesh node`")

// meshNet is a running node's connection to the mesh: its bootstrap peers,
// its relay reservations and the DHT.
type meshNet struct {
	h         host.Host
	log       *slog.Logger
	bootstrap []peer.AddrInfo
	relays    []peer.AddrInfo
	dht       *dht.DHT

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	relayTokens []*capability.Token // relay-access capabilities to present

	mu       sync.Mutex
	reserved map[peer.ID]reservation // relay → our live reservation
	records  map[string]cachedRecord
}

// cachedRecord is a directory answer kept for recordTTL, so repeated gets
// don't ask the bootstrap each time (it rate-limits, and it need not learn
// how often we read).
type cachedRecord struct {
	rec *directory.Record
	at  time.Time
}

const (
	recordTTL      = time.Minute
	maxCachedNames = 1024
)

// parseAddrInfos parses multiaddrs that end in /p2p/ID.
func parseAddrInfos(what string, addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, s, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil {
			return nil, fmt.Errorf("%s %q must end in /p2p/PEERID: %w", what, s, err)
		}
		out = append(out, *ai)
	}
	return out, nil
}

// infraGater models a container behind NAT (Config.Firewall): inbound
// direct connections are refused unless they come from the node's own
// bootstrap or relay peers; connections through a relay circuit and
// outbound dials are untouched.
type infraGater struct {
	infra map[peer.ID]bool
}

func (g infraGater) InterceptPeerDial(peer.ID) bool                                  { return true }
func (g infraGater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool                    { return true }
func (g infraGater) InterceptAccept(network.ConnMultiaddrs) bool                     { return true }
func (g infraGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
func (g infraGater) InterceptSecured(dir network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	if dir != network.DirInbound || g.infra[p] {
		return true
	}
	_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

func (m *meshNet) start(ctx context.Context, store ds.Batching) error {
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.reserved = map[peer.ID]reservation{}
	for _, b := range m.bootstrap {
		m.h.ConnManager().Protect(b.ID, "ocmt-bootstrap")
	}
	if len(m.bootstrap) > 0 {
		d, err := dht.New(m.h, namespace.Wrap(store, ds.NewKey("/mesh/dht")), dht.Config{Mode: dht.ModeClient, BootstrapPeers: m.bootstrap, Logger: m.log})
		if err != nil {
			return fmt.Errorf("joining the DHT: %w", err)
		}
		m.dht = d
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = d.Bootstrap(cctx)
		cancel()
		if err != nil {
			m.log.Warn("bootstrap peers unreachable for now", "err", err)
		}
	}
	for _, r := range m.relays {
		m.h.ConnManager().Protect(r.ID, "ocmt-relay")
	}
	return nil
}

func (m *meshNet) relayList() []peer.AddrInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.relays
}

// findRelays looks relays up in the DHT when none is configured, retrying
// for up to a minute.
func (m *meshNet) findRelays() {
	for wait := time.Second; wait < time.Minute; wait *= 2 {
		ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
		found, err := m.dht.FindRelays(ctx, 2)
		cancel()
		if err == nil {
			m.mu.Lock()
			m.relays = found
			m.mu.Unlock()
			for _, r := range found {
				m.h.ConnManager().Protect(r.ID, "ocmt-relay")
			}
			m.log.Info("relays found in the DHT", "count", len(found))
			return
		}
		m.log.Debug("no relay in the DHT yet", "err", err)
		if !sleepCtx(m.ctx, wait) {
			return
		}
	}
}

// keepReservations holds a reservation on every relay: it reserves at
// start, renews a minute before expiry, and re-reserves as soon as the
// connection to a relay drops (a relay restart).
func (m *meshNet) keepReservations(onChange func()) {
	for _, r := range m.relayList() {
		m.wg.Add(1)
		go func(r peer.AddrInfo) {
			defer m.wg.Done()
			backoff := time.Second
			for {
				exp, err := m.reserve(r)
				if err != nil {
					m.log.Warn("relay reservation failed", "relay", r.ID, "err", err)
					if !sleepCtx(m.ctx, backoff) {
						return
					}
					backoff = min(2*backoff, 30*time.Second)
					continue
				}
				backoff = time.Second
				onChange()
				for time.Until(exp.until) > time.Minute && exp.live() {
					if !sleepCtx(m.ctx, time.Second) {
						return
					}
				}
			}
		}(r)
	}
}

// reservation is a relay slot we hold. The relay keeps it only while we
// stay connected, so it lives on the connections it was made over: if they
// all close, the slot is gone even when a new connection to the same relay
// (a relay restarted, then dialled back by the DHT or gossip) came up
// before we looked.
type reservation struct {
	until time.Time
	conns []network.Conn
}

func (r reservation) live() bool {
	if !time.Now().Before(r.until) {
		return false
	}
	for _, c := range r.conns {
		if !c.IsClosed() {
			return true
		}
	}
	return false
}

func (m *meshNet) reserve(r peer.AddrInfo) (reservation, error) {
	ctx, cancel := context.WithTimeout(m.ctx, 15*time.Second)
	defer cancel()
	if err := m.h.Connect(ctx, r); err != nil {
		return reservation{}, err
	}
	for _, tok := range m.relayTokens {
		if tok.Chain()[0].Issuer() == r.ID {
			if err := relayaccess.Present(ctx, m.h, r.ID, tok); err != nil {
				m.log.Warn("relay refused our access token", "relay", r.ID, "err", err)
			}
		}
	}
	rsvp, err := client.Reserve(ctx, m.h, r)
	if err != nil {
		return reservation{}, err
	}
	res := reservation{until: rsvp.Expiration, conns: m.h.Network().ConnsToPeer(r.ID)}
	m.mu.Lock()
	m.reserved[r.ID] = res
	m.mu.Unlock()
	m.log.Info("relay reservation", "relay", r.ID, "until", rsvp.Expiration)
	return res, nil
}

// hasReservation reports whether some relay holds a live reservation.
func (m *meshNet) hasReservation() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.reserved {
		if r.live() {
			return true
		}
	}
	return false
}

// relayAddrs are the addresses others dial us at: each relay's address
// followed by /p2p-circuit.
func (m *meshNet) relayAddrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, r := range m.relayList() {
		for _, a := range r.Addrs {
			out = append(out, a.Encapsulate(ma.StringCast("/p2p/"+r.ID.String()+"/p2p-circuit")))
		}
	}
	return out
}

// withBootstrap runs f against each bootstrap peer until one answers.
func (m *meshNet) withBootstrap(ctx context.Context, f func(peer.ID) error) error {
	if len(m.bootstrap) == 0 {
		return errors.New("no bootstrap peer configured (mesh node --bootstrap MULTIADDR)")
	}
	var errs []error
	for _, b := range m.bootstrap {
		if m.h.Network().Connectedness(b.ID) != network.Connected {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := m.h.Connect(cctx, b)
			cancel()
			if err != nil {
				errs = append(errs, err)
				continue
			}
		}
		err := f(b.ID)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// publish signs and publishes this node's directory record.
func (m *meshNet) publish(ctx context.Context, sr *directory.SignedRecord) error {
	return m.withBootstrap(ctx, func(b peer.ID) error { return directory.Publish(ctx, m.h, b, sr) })
}

// lookup resolves a handle at the bootstrap; the record's signature is
// checked by the directory client.
func (m *meshNet) lookup(ctx context.Context, handle string) (*directory.Record, error) {
	hd, err := directory.ParseHandle(handle)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	c, ok := m.records[handle]
	m.mu.Unlock()
	if ok && time.Since(c.at) < recordTTL {
		return c.rec, nil
	}
	rec, err := m.lookupFresh(ctx, hd)
	if err == nil {
		m.mu.Lock()
		if m.records == nil || len(m.records) >= maxCachedNames {
			m.records = map[string]cachedRecord{}
		}
		m.records[handle] = cachedRecord{rec, time.Now()}
		m.mu.Unlock()
	}
	return rec, err
}

// forget drops a cached directory answer (after the peer could not be
// reached at its addresses).
func (m *meshNet) forget(handle string) {
	m.mu.Lock()
	delete(m.records, handle)
	m.mu.Unlock()
}

func (m *meshNet) lookupFresh(ctx context.Context, hd directory.Handle) (*directory.Record, error) {
	var rec *directory.Record
	err := m.withBootstrap(ctx, func(b peer.ID) error {
		r, err := directory.Lookup(ctx, m.h, b, hd)
		rec = r
		return err
	})
	return rec, err
}

func (m *meshNet) lookupPeer(ctx context.Context, id peer.ID) (*directory.Record, error) {
	var rec *directory.Record
	err := m.withBootstrap(ctx, func(b peer.ID) error {
		r, err := directory.LookupPeer(ctx, m.h, b, id)
		rec = r
		return err
	})
	return rec, err
}

// connect reaches a peer: already connected, else through the relay
// circuits of its directory record and any addresses the DHT knows. With
// relayOnly it drops what it knew and dials the relay circuits alone: a
// peer behind NAT may complete a direct handshake and then drop it, which
// looks like success until the first stream.
func (m *meshNet) connect(ctx context.Context, id peer.ID, rec *directory.Record, relayOnly bool) error {
	if relayOnly {
		m.h.Network().ClosePeer(id)
		m.h.Peerstore().ClearAddrs(id)
		if sw, ok := m.h.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(id) // a deliberate retry: the peer may be back since
		}
	} else if c := m.h.Network().Connectedness(id); c == network.Connected || c == network.Limited {
		return nil
	}
	var addrs []ma.Multiaddr
	if rec != nil {
		for _, r := range rec.Relays {
			addrs = append(addrs, r.Encapsulate(ma.StringCast("/p2p/"+id.String())))
		}
	}
	if m.dht != nil && !relayOnly {
		fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if ai, err := m.dht.FindPeer(fctx, id); err == nil {
			addrs = append(addrs, ai.Addrs...)
		}
		cancel()
	}
	if len(addrs) == 0 {
		return fmt.Errorf("no address known for %s", id)
	}
	cctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "ocmt"), 20*time.Second)
	defer cancel()
	if err := m.h.Connect(cctx, peer.AddrInfo{ID: id, Addrs: addrs}); err != nil {
		return fmt.Errorf("cannot reach %s: %w", id, err)
	}
	return nil
}

// call runs f against rec's peer, connecting first, up to attempts times.
// The first attempt uses every address known; later ones dial relay circuits
// only (see connect). pause(i), when set, is waited before attempt i > 0;
// perTry, when set, bounds each attempt. A *wire.Error means the peer
// answered, so it is returned at once, except Unavailable ("not yet", e.g.
// an owner catching up on revocations after a restart), which is asked
// again after at least a second.
func (m *meshNet) call(ctx context.Context, rec *directory.Record, attempts int, pause func(int) time.Duration, perTry time.Duration, f func(context.Context) error) error {
	var err error
	for i := 0; i < attempts; i++ {
		var we *wire.Error
		wait := time.Duration(0)
		if i > 0 && pause != nil {
			wait = pause(i)
		}
		if errors.As(err, &we) && we.Status == wire.Unavailable {
			wait = max(wait, time.Second) // the owner is catching up; give it a moment
		}
		if wait > 0 && !sleepCtx(ctx, wait) {
			break
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if perTry > 0 {
			actx, cancel = context.WithTimeout(ctx, perTry)
		}
		if err = m.connect(actx, rec.Peer, rec, i > 0); err == nil {
			err = f(actx)
		}
		cancel()
		if err == nil || (errors.As(err, &we) && we.Status != wire.Unavailable) {
			return err // an answer: only "not yet" is worth asking again
		}
	}
	return err
}

func (m *meshNet) close() {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	if m.dht != nil {
		m.dht.Close()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
