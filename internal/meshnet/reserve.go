package meshnet

import (
	"context"
	"errors"
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

func (n *Net) retrying() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.retry
}

// keepReservation holds a reservation on r. A relay that refuses is asked
// again after a backoff (RetryFirst doubling to RetryMax, ended by
// RetryReservations). A relay that does not answer a dial is dialled again
// at the redial pace, and its return ends the pause at once however it is
// noticed: a connection to it that anything makes (a circuit through it to
// a contact, the revocation sync), or our own dial succeeding, which also
// starts the refusal backoff over.
func (n *Net) keepReservation(ctx context.Context, r peer.AddrInfo) {
	changed := n.changes(r.ID)
	backoff := n.t.RetryFirst
	var gone redial
	for {
		drain(changed) // what happened before this attempt is no news after it
		res, dialed, err := n.reserve(ctx, r)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			gone, backoff = redial{}, n.t.RetryFirst
			if !n.hold(ctx, res, changed) {
				return
			}
		case !dialed:
			n.clearDialBackoff(r.ID) // so that other dials may notice its return
			pause, first := gone.pause(n.t, n.now())
			n.logFailure(first, "relay unreachable; dialling it again", r.ID, pause, err)
			if !n.waitFor(ctx, r.ID, changed, n.retrying(), pause) {
				return
			}
		default:
			first := !gone.down() && backoff == n.t.RetryFirst
			if gone.down() {
				gone, backoff = redial{}, n.t.RetryFirst // it is back: start over
			}
			n.logFailure(first, "relay reservation refused; will retry", r.ID, backoff, err)
			if !n.waitFor(ctx, r.ID, nil, n.retrying(), backoff) {
				return
			}
			backoff = min(2*backoff, n.t.RetryMax)
		}
	}
}

// logFailure logs the first failure of a run at Info, the rest at Debug.
func (n *Net) logFailure(first bool, msg string, relay peer.ID, next time.Duration, err error) {
	if first {
		n.log.Info(msg, "relay", relay, "next", next, "err", err)
	} else {
		n.log.Debug(msg, "relay", relay, "next", next, "err", err)
	}
}

// hold watches a held reservation until it is due for renewal or lost,
// checking every ReservationCheck and whenever the relay's connectedness
// changes; false if ctx ended.
func (n *Net) hold(ctx context.Context, res reservation, changed chan struct{}) bool {
	t := time.NewTicker(n.t.ReservationCheck)
	defer t.Stop()
	for res.until.Sub(n.now()) > n.t.RenewBefore && res.live(n.now()) {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		case <-changed:
		}
	}
	return true
}

// reserve connects to r and reserves a slot; dialed says whether the
// connection was made, so a refusal is told from a relay that is down.
func (n *Net) reserve(ctx context.Context, r peer.AddrInfo) (res reservation, dialed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, reserveTimeout)
	defer cancel()
	n.clearDialBackoff(r.ID) // the keeper paces its own dials
	if err := n.h.Connect(ctx, r); err != nil {
		return reservation{}, false, err
	}
	for _, tok := range n.cfg.RelayTokens {
		if tok.Chain()[0].Issuer() == r.ID {
			if err := relayaccess.Present(ctx, n.h, r.ID, tok); err != nil {
				n.log.Warn("relay refused our access token", "relay", r.ID, "err", err)
			}
		}
	}
	if reg := n.registration(ctx); reg != nil {
		// The relay checks it itself and need not ask the bootstrap about
		// us; a relay that does not speak the protocol asks as before.
		if err := relayaccess.Register(ctx, n.h, r.ID, reg); err != nil {
			n.log.Debug("relay did not take our registration", "relay", r.ID, "err", err)
		}
	}
	rsvp, err := client.Reserve(ctx, n.h, r)
	if err != nil {
		return reservation{}, true, err
	}
	res = reservation{until: rsvp.Expiration, conns: n.h.Network().ConnsToPeer(r.ID)}
	n.mu.Lock()
	n.reserved[r.ID] = res
	n.mu.Unlock()
	n.log.Info("relay reservation", "relay", r.ID, "until", rsvp.Expiration)
	if n.cfg.OnReserve != nil {
		n.cfg.OnReserve(r.ID)
	}
	return res, true, nil
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

// ReservedOn returns the relays on which we hold a live reservation, in
// no particular order.
func (n *Net) ReservedOn() []peer.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	var out []peer.ID
	for id, r := range n.reserved {
		if r.live(now) {
			out = append(out, id)
		}
	}
	return out
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

// registration returns the voucher to present to relays, asking the
// bootstrap for a new one when it has less than half its life left (or
// none yet, after a record was published); nil when the node has
// published no record in this run or no bootstrap vouches for it.
func (n *Net) registration(ctx context.Context) *relayaccess.Registration {
	n.mu.Lock()
	reg, published := n.reg, n.published != nil
	n.mu.Unlock()
	if reg != nil {
		issued, expires := reg.Window()
		if expires.Sub(n.now()) > expires.Sub(issued)/2 {
			return reg
		}
	}
	if !published {
		return nil
	}
	n.WithBootstrap(ctx, func(b peer.ID) error { // tries each bootstrap until one vouches
		if n.fetchVoucher(ctx, b) {
			return nil
		}
		return errNoVoucher
	})
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reg
}

var errNoVoucher = errors.New("no voucher")

// fetchVoucher asks bootstrap b for a voucher for our record and keeps it;
// false if b gave none (an older bootstrap does not speak the protocol,
// and the relays then ask it about us instead).
func (n *Net) fetchVoucher(ctx context.Context, b peer.ID) bool {
	reg, err := relayaccess.FetchVoucher(ctx, n.h, b)
	if err != nil {
		n.log.Debug("no relay voucher from the bootstrap", "bootstrap", b, "err", err)
		return false
	}
	n.mu.Lock()
	n.reg = reg
	n.mu.Unlock()
	return true
}
