package meshnet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// ErrNoBootstrap means the node was started without a bootstrap peer.
var ErrNoBootstrap = errors.New("no bootstrap peer configured (mesh node --bootstrap MULTIADDR)")

// WithBootstrap runs f against each bootstrap peer until one answers. A
// bootstrap that is not connected is dialled, unless its keeper's last
// dial failed: then it is skipped at once (the keeper dials it again at
// its own pace), so a bootstrap that is down costs callers nothing.
func (n *Net) WithBootstrap(ctx context.Context, f func(peer.ID) error) error {
	if len(n.cfg.Bootstrap) == 0 {
		return ErrNoBootstrap
	}
	var errs []error
	for _, b := range n.cfg.Bootstrap {
		if n.h.Network().Connectedness(b.ID) != network.Connected {
			if err := n.downErr(b.ID); err != nil {
				errs = append(errs, fmt.Errorf("bootstrap %s is unreachable: %w", b.ID, err))
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
			err := n.h.Connect(cctx, b)
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

// Publish publishes a signed directory record at the bootstrap, then asks
// that bootstrap for a voucher for it, which the reservation keeper
// presents to relays (RelayRegistration).
func (n *Net) Publish(ctx context.Context, sr *directory.SignedRecord) error {
	return n.WithBootstrap(ctx, func(b peer.ID) error {
		if err := directory.Publish(ctx, n.h, b, sr); err != nil {
			return err
		}
		n.mu.Lock()
		n.published, n.reg = sr, nil
		n.mu.Unlock()
		n.fetchVoucher(ctx, b)
		return nil
	})
}

// Lookup resolves a handle at the bootstrap (the directory client checks
// the record's signature), reusing an answer for RecordTTL.
func (n *Net) Lookup(ctx context.Context, handle string) (*directory.Record, error) {
	if _, err := directory.ParseHandle(handle); err != nil {
		return nil, err
	}
	n.mu.Lock()
	c, ok := n.records[handle]
	n.mu.Unlock()
	if ok && n.now().Sub(c.at) < n.t.RecordTTL {
		return c.rec, nil
	}
	return n.LookupNow(ctx, handle)
}

// LookupNow resolves a handle at the bootstrap whatever the cache holds,
// and caches the answer: the node checks its own record this way.
func (n *Net) LookupNow(ctx context.Context, handle string) (*directory.Record, error) {
	hd, err := directory.ParseHandle(handle)
	if err != nil {
		return nil, err
	}
	var rec *directory.Record
	err = n.WithBootstrap(ctx, func(b peer.ID) error {
		r, err := directory.Lookup(ctx, n.h, b, hd)
		rec = r
		return err
	})
	if err == nil {
		n.mu.Lock()
		if len(n.records) >= maxCachedNames {
			clear(n.records)
		}
		n.records[handle] = cachedRecord{rec, n.now()}
		n.mu.Unlock()
	}
	return rec, err
}

// Forget drops a cached directory answer (after the peer could not be
// reached at its addresses).
func (n *Net) Forget(handle string) {
	n.mu.Lock()
	delete(n.records, handle)
	n.mu.Unlock()
}

// LookupPeer asks the bootstrap for the record a peer ID holds.
func (n *Net) LookupPeer(ctx context.Context, id peer.ID) (*directory.Record, error) {
	var rec *directory.Record
	err := n.WithBootstrap(ctx, func(b peer.ID) error {
		r, err := directory.LookupPeer(ctx, n.h, b, id)
		rec = r
		return err
	})
	return rec, err
}

// Connect reaches a peer: already connected, else through the relay
// circuits of its directory record and any addresses the DHT knows. With
// relayOnly it drops what it knew and dials the relay circuits alone: a
// peer behind NAT may complete a direct handshake and then drop it, which
// looks like success until the first stream.
func (n *Net) Connect(ctx context.Context, id peer.ID, rec *directory.Record, relayOnly bool) error {
	if relayOnly {
		n.h.Network().ClosePeer(id)
		n.h.Peerstore().ClearAddrs(id)
		n.clearBackoff(id, rec)
	} else if c := n.h.Network().Connectedness(id); c == network.Connected || c == network.Limited {
		return nil
	}
	var addrs []ma.Multiaddr
	if rec != nil {
		for _, r := range rec.Relays {
			addrs = append(addrs, r.Encapsulate(ma.StringCast("/p2p/"+id.String())))
		}
	}
	if n.dht != nil && !relayOnly {
		fctx, cancel := context.WithTimeout(ctx, findPeerTimeout)
		if ai, err := n.dht.FindPeer(fctx, id); err == nil {
			addrs = append(addrs, ai.Addrs...)
		}
		cancel()
	}
	if len(addrs) == 0 {
		return fmt.Errorf("no address known for %s", id)
	}
	// The addresses go in with a TTL of our own, not the TempAddrTTL that
	// Connect would give them: identify expires every TempAddrTTL address
	// of a peer when its last connection closes, and after ClosePeer above
	// that notification can land between Connect adding the addresses and
	// dialling them ("no addresses").
	n.h.Peerstore().AddAddrs(id, addrs, dialAddrTTL)
	cctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "ocmt"), dialTimeout)
	defer cancel()
	if err := n.h.Connect(cctx, peer.AddrInfo{ID: id}); err != nil {
		return fmt.Errorf("cannot reach %s: %w", id, err)
	}
	return nil
}

// clearBackoff forgets failed dials to id and to the relays of its record:
// this is a deliberate retry, and the peer or its relay (restarted a moment
// ago) may be back since. Without it, the swarm refuses to dial a relay
// for seconds after one failed dial.
func (n *Net) clearBackoff(id peer.ID, rec *directory.Record) {
	sw, ok := n.h.Network().(*swarm.Swarm)
	if !ok {
		return
	}
	sw.Backoff().Clear(id)
	for _, r := range relayIDs(rec) {
		sw.Backoff().Clear(r)
	}
}

// relayIDs lists the relays of a directory record, whose addresses are
// RELAYADDR/p2p/RELAY/p2p-circuit.
func relayIDs(rec *directory.Record) []peer.ID {
	if rec == nil {
		return nil
	}
	var ids []peer.ID
	for _, a := range rec.Relays {
		if ai, err := peer.AddrInfoFromP2pAddr(a.Decapsulate(circuit)); err == nil {
			ids = append(ids, ai.ID)
		}
	}
	return ids
}

var circuit = ma.StringCast("/p2p-circuit")

// Retry says how Call retries.
type Retry struct {
	// Attempts is how many times f runs at most (at least 1).
	Attempts int
	// Pause, when set, is waited before attempt i > 0.
	Pause func(i int) time.Duration
	// PerTry, when set, bounds each attempt.
	PerTry time.Duration
	// Fresh makes the first attempt like the later ones: relay circuits
	// only, failed dials forgotten. For a peer known to be just back at
	// its relay (woken), whose earlier failed dials would otherwise hold
	// the first attempt in the swarm's backoff.
	Fresh bool
}

// Call runs f against rec's peer, connecting first, up to r.Attempts
// times. The first attempt uses every address known; later ones dial
// relay circuits only (see Connect). A *wire.Error means the peer
// answered, so it is returned at once, except Unavailable ("not yet", e.g.
// an owner catching up on revocations after a restart), which is asked
// again after at least Timings.Unavailable.
func (n *Net) Call(ctx context.Context, rec *directory.Record, r Retry, f func(context.Context) error) error {
	var err error
	for i := 0; i < max(r.Attempts, 1); i++ {
		var we *wire.Error
		wait := time.Duration(0)
		if i > 0 && r.Pause != nil {
			wait = r.Pause(i)
		}
		if errors.As(err, &we) && we.Status == wire.Unavailable {
			wait = max(wait, n.t.Unavailable)
		}
		if wait > 0 && !Sleep(ctx, wait) {
			break
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if r.PerTry > 0 {
			actx, cancel = context.WithTimeout(ctx, r.PerTry)
		}
		if err = n.Connect(actx, rec.Peer, rec, i > 0 || r.Fresh); err == nil {
			err = f(actx)
		}
		cancel()
		if err == nil || (errors.As(err, &we) && we.Status != wire.Unavailable) {
			return err // an answer: only "not yet" is worth asking again
		}
	}
	return err
}
