package meshnet

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// The host's event bus tells when a connection to a bootstrap or relay
// peer comes or goes, whoever dialled it: the keepers below and the
// reservation keepers wait on it instead of polling, and a bootstrap that
// comes back asks the node to publish its record again (a bootstrap that
// restarted may have lost it).

// subscribe subscribes to connectedness changes; watch reads them.
func (n *Net) subscribe() (event.Subscription, error) {
	return n.h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged), eventbus.BufSize(64))
}

// watch passes each connectedness change of an infrastructure peer on to
// whatever waits for that peer, and turns a bootstrap's return into a
// request to republish.
func (n *Net) watch(ctx context.Context, sub event.Subscription) {
	defer sub.Close()
	for {
		var e any
		select {
		case <-ctx.Done():
			return
		case e = <-sub.Out():
		}
		ev, ok := e.(event.EvtPeerConnectednessChanged)
		if !ok {
			continue
		}
		n.mu.Lock()
		ch := n.changed[ev.Peer]
		n.mu.Unlock()
		if ch != nil {
			signal(ch)
		}
		if ev.Connectedness == network.Connected && n.isBootstrap(ev.Peer) {
			n.setDown(ev.Peer, nil)
			n.log.Debug("connected to a bootstrap peer; the record is published again", "bootstrap", ev.Peer)
			n.Republish()
		}
	}
}

// changes returns the channel signalled when the connectedness of id
// changes (one pending signal at most).
func (n *Net) changes(id peer.ID) chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch, ok := n.changed[id]
	if !ok {
		ch = make(chan struct{}, 1)
		n.changed[id] = ch
	}
	return ch
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

func (n *Net) isBootstrap(id peer.ID) bool {
	for _, b := range n.cfg.Bootstrap {
		if b.ID == id {
			return true
		}
	}
	return false
}

func (n *Net) connected(id peer.ID) bool {
	return n.h.Network().Connectedness(id) == network.Connected
}

// Republish asks the node's loop to publish its directory record again
// soon (RepublishWanted): the bootstrap came back, or a lookup of the
// node's own handle found nothing.
func (n *Net) Republish() { signal(n.republish) }

// RepublishWanted is signalled by Republish; the node's loop waits on it.
func (n *Net) RepublishWanted() <-chan struct{} { return n.republish }

// keepBootstrap keeps a connection to bootstrap peer b: when it drops, b
// is dialled again, paced by redial; a connection that anything else
// makes ends the pause. Its return is what watch reports (Republish).
func (n *Net) keepBootstrap(ctx context.Context, b peer.AddrInfo) {
	changed := n.changes(b.ID)
	var gone redial
	for {
		if n.connected(b.ID) {
			gone = redial{}
			n.setDown(b.ID, nil)
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-time.After(n.t.RetryMax): // in case a change went unseen
			}
			continue
		}
		n.clearDialBackoff(b.ID)
		cctx, cancel := context.WithTimeout(ctx, bootstrapTimeout)
		err := n.h.Connect(cctx, b)
		cancel()
		if ctx.Err() != nil {
			return // closing: a dial with a dead context fails at once, so continuing would spin
		}
		if err == nil {
			continue
		}
		n.clearDialBackoff(b.ID) // so that other dials may notice its return
		n.setDown(b.ID, err)
		pause, first := gone.pause(n.t, n.now())
		if first {
			n.log.Warn("bootstrap peer unreachable; dialling it again", "bootstrap", b.ID, "err", err)
		} else {
			n.log.Debug("bootstrap peer still unreachable", "bootstrap", b.ID, "next", pause, "err", err)
		}
		if !n.waitFor(ctx, b.ID, changed, nil, pause) {
			return
		}
	}
}

// setDown records why the last dial of bootstrap peer id failed (nil: it
// answers): WithBootstrap then fails at once rather than dial it again
// between the keeper's attempts.
func (n *Net) setDown(id peer.ID, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err == nil {
		delete(n.down, id)
	} else {
		n.down[id] = err
	}
}

// downErr returns why bootstrap peer id was last found unreachable, or
// nil.
func (n *Net) downErr(id peer.ID) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.down[id]
}

// waitFor waits d, or until id is connected (changed tells when to look),
// or until retry is closed; false if ctx ended. A nil channel is never
// ready.
func (n *Net) waitFor(ctx context.Context, id peer.ID, changed chan struct{}, retry <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-retry:
			return true
		case <-changed:
			if n.connected(id) {
				return true
			}
		}
	}
}

// redial paces the attempts to reach an infrastructure peer that does not
// answer a dial: every RetryFirst for the first steadyRedialFor after it
// stopped answering (a restart takes seconds, and a dial that fails costs
// the peer nothing), then doubling up to RetryMax. The zero value is a
// peer that answers.
type redial struct {
	since time.Time     // when it stopped answering
	next  time.Duration // the pause after the steady phase
}

// pause returns the pause before the next attempt, and whether this is the
// first failure since the peer last answered.
func (r *redial) pause(t Timings, now time.Time) (time.Duration, bool) {
	first := r.since.IsZero()
	if first {
		r.since = now
	}
	if now.Sub(r.since) < steadyRedialFor {
		return t.RetryFirst, first
	}
	if r.next == 0 {
		r.next = t.RetryFirst
	}
	d := r.next
	r.next = min(2*r.next, t.RetryMax)
	return d, first
}

// down reports whether the peer has not answered since it last failed to.
func (r *redial) down() bool { return !r.since.IsZero() }

// clearDialBackoff forgets the swarm's record of failed dials to id. The
// keepers pace their own attempts: the swarm's backoff (5 s after the
// first failure, growing to minutes) would silently skip them, and, left
// behind by a failed attempt, would refuse every other dial to the peer
// (a circuit through a relay, a directory request) that could notice its
// return.
func (n *Net) clearDialBackoff(id peer.ID) {
	if sw, ok := n.h.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(id)
	}
}
