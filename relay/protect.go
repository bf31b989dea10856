package relay

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Connection-manager protection of the peers the relay serves.
//
// The relay library only tags them (a reservation weighs 10, a circuit 2),
// and a tag does not keep a connection: once the host holds more
// connections than the connection manager's high watermark, it trims back
// to the low one by weight, and with thousands of reservations all weighing
// 10 it cuts homes at random (with libp2p's default manager, 230 homes fell
// to 161 at once). So the Service protects every peer that holds a
// reservation or is an end of a live circuit, and lifts the protection when
// the reservation ends (expiry without refresh, or the peer's last
// connection closing, as the library decides) or the peer's last circuit
// closes. Reservations are seen in the relay's answer on the hop stream
// (tap.go): an OK to a RESERVE.

// Protection tags.
const (
	protectReservation = "ocmt-relay-reservation"
	protectCircuit     = "ocmt-relay-circuit"
)

// protector tracks the peers it protects on the host's connection manager.
type protector struct {
	svc *Service

	mu       sync.Mutex
	closed   bool
	rsvp     map[peer.ID]*rsvpEntry
	circuits map[peer.ID]int // live circuits per end
}

// rsvpEntry is a protected reservation. Its timer fires at the expiry known
// when it was armed; a refresh moves expire, and the timer re-arms for the
// rest instead of lifting the protection.
type rsvpEntry struct {
	expire time.Time
	timer  *time.Timer
}

func newProtector(s *Service) *protector {
	return &protector{svc: s, rsvp: make(map[peer.ID]*rsvpEntry), circuits: make(map[peer.ID]int)}
}

// reserved protects p, which has just been granted (or refreshed) a
// reservation lasting ttl. The library's clock is time.Now, and so is ours.
func (pr *protector) reserved(p peer.ID, ttl time.Duration) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.closed {
		return
	}
	expire := time.Now().Add(ttl)
	if e, ok := pr.rsvp[p]; ok {
		e.expire = expire
		return
	}
	e := &rsvpEntry{expire: expire}
	e.timer = time.AfterFunc(ttl, func() { pr.expired(p, e) })
	pr.rsvp[p] = e
	pr.svc.host.ConnManager().Protect(p, protectReservation)
	pr.svc.metrics.protectedReservations.Inc()
}

// expired runs when e's timer fires: it lifts the protection if e has not
// been refreshed meanwhile, and otherwise waits for the new expiry.
func (pr *protector) expired(p peer.ID, e *rsvpEntry) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.rsvp[p] != e {
		return // dropped or replaced meanwhile
	}
	if rest := time.Until(e.expire); rest > 0 {
		e.timer.Reset(rest)
		return
	}
	pr.dropLocked(p, e)
}

func (pr *protector) dropLocked(p peer.ID, e *rsvpEntry) {
	e.timer.Stop()
	delete(pr.rsvp, p)
	pr.svc.host.ConnManager().Unprotect(p, protectReservation)
	pr.svc.metrics.protectedReservations.Dec()
}

// disconnected drops p's reservation with its last connection, as the
// library does.
func (pr *protector) disconnected(n network.Network, c network.Conn) {
	p := c.RemotePeer()
	if n.Connectedness(p) == network.Connected {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if e, ok := pr.rsvp[p]; ok {
		pr.dropLocked(p, e)
	}
}

// circuitOpened protects both ends of a new circuit.
func (pr *protector) circuitOpened(src, dst peer.ID) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, p := range [2]peer.ID{src, dst} {
		pr.circuits[p]++
		if pr.circuits[p] == 1 {
			pr.svc.host.ConnManager().Protect(p, protectCircuit)
		}
	}
}

// circuitClosed lifts the protection of an end whose last circuit closed.
func (pr *protector) circuitClosed(src, dst peer.ID) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, p := range [2]peer.ID{src, dst} {
		switch pr.circuits[p] {
		case 0:
		case 1:
			delete(pr.circuits, p)
			pr.svc.host.ConnManager().Unprotect(p, protectCircuit)
		default:
			pr.circuits[p]--
		}
	}
}

// close lifts every reservation's protection (the closing library drops
// the reservations); circuits lift theirs as they close.
func (pr *protector) close() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.closed = true
	for p, e := range pr.rsvp {
		pr.dropLocked(p, e)
	}
}

// holds reports whether p holds an unexpired reservation.
func (pr *protector) holds(p peer.ID) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	e, ok := pr.rsvp[p]
	return ok && time.Now().Before(e.expire)
}

// HoldsReservation reports whether p holds a reservation on this relay
// now: granted or refreshed, not expired, and its connection not gone.
// Other services of the relay's host ask it to serve only the homes the
// relay already serves (the snapshot cache admits their pushes).
func (s *Service) HoldsReservation(p peer.ID) bool { return s.protect.holds(p) }
