package meshnet

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/protocols/relayaccess"
)

// reservation is a relay slot we hold. The relay keeps it only while we
// stay connected, so it lives on the connections it was made over: if they
// all close, the slot is gone even when a new connection to the same relay
// (a relay restarted, then dialled back by the DHT or gossip) came up
// before we looked.
type reservation struct {
	until time.Time
	conns []network.Conn
}

func (r reservation) live(now time.Time) bool {
	if !now.Before(r.until) {
		return false
	}
	for _, c := range r.conns {
		if !c.IsClosed() {
			return true
		}
	}
	return false
}

// KeepReservations holds a reservation on every relay in the background:
// it reserves at once, renews RenewBefore expiry, and re-reserves as soon
// as the connections it was made over drop (a relay restart). Called again
// (relays found later), it starts loops only for relays it does not keep.
func (n *Net) KeepReservations() {
	for _, r := range n.Relays() {
		n.mu.Lock()
		started := n.keeping[r.ID]
		n.keeping[r.ID] = true
		n.mu.Unlock()
		if !started {
			n.Go(func(ctx context.Context) { n.keepReservation(ctx, r) })
		}
	}
}

// RetryReservations ends the backoff of reservations that failed, so they
// are tried again now: the node calls it when what a relay checks has just
// changed (its directory record was published).
func (n *Net) RetryReservations() {
	n.mu.Lock()
	close(n.retry)
	n.retry = make(chan struct{})
	n.mu.Unlock()
}

// backoff waits d, or until RetryReservations or ctx ends; false if ctx ended.
func (n *Net) backoff(ctx context.Context, d time.Duration) bool {
	n.mu.Lock()
	retry := n.retry
	n.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-retry:
	case <-ctx.Done():
		return false
	}
	return true
}

func (n *Net) keepReservation(ctx context.Context, r peer.AddrInfo) {
	backoff := n.t.RetryFirst
	for {
		res, err := n.reserve(ctx, r)
		if err != nil {
			n.log.Info("relay reservation failed; will retry", "relay", r.ID, "err", err)
			if !n.backoff(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, n.t.RetryMax)
			continue
		}
		backoff = n.t.RetryFirst
		for res.until.Sub(n.now()) > n.t.RenewBefore && res.live(n.now()) {
			if !Sleep(ctx, n.t.ReservationCheck) {
				return
			}
		}
	}
}

func (n *Net) reserve(ctx context.Context, r peer.AddrInfo) (reservation, error) {
	ctx, cancel := context.WithTimeout(ctx, reserveTimeout)
	defer cancel()
	if err := n.h.Connect(ctx, r); err != nil {
		return reservation{}, err
	}
	for _, tok := range n.cfg.RelayTokens {
		if tok.Chain()[0].Issuer() == r.ID {
			if err := relayaccess.Present(ctx, n.h, r.ID, tok); err != nil {
				n.log.Warn("relay refused our access token", "relay", r.ID, "err", err)
			}
		}
	}
	rsvp, err := client.Reserve(ctx, n.h, r)
	if err != nil {
		return reservation{}, err
	}
	res := reservation{until: rsvp.Expiration, conns: n.h.Network().ConnsToPeer(r.ID)}
	n.mu.Lock()
	n.reserved[r.ID] = res
	n.mu.Unlock()
	n.log.Info("relay reservation", "relay", r.ID, "until", rsvp.Expiration)
	return res, nil
}

// HasReservation reports whether some relay holds a live reservation.
func (n *Net) HasReservation() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	for _, r := range n.reserved {
		if r.live(now) {
			return true
		}
	}
	return false
}

// RelayAddrs are the addresses others dial us at: each relay's address
// followed by /p2p-circuit.
func (n *Net) RelayAddrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, r := range n.Relays() {
		for _, a := range r.Addrs {
			out = append(out, a.Encapsulate(ma.StringCast("/p2p/"+r.ID.String()+"/p2p-circuit")))
		}
	}
	return out
}
