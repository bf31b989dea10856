package relay

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/util"
)

// Circuits from strangers.
//
// A registered home node may be reached by anyone (see Authorizer), so
// throwaway identities can open circuits to it and hold them, each costing
// the home one inbound stop stream from the relay (libp2p allows 128 per
// relay peer by default) and the relay 2×BufferSize. Circuits whose source
// is a stranger (neither Registered nor AllowReserve) are therefore bounded
// per destination (Config.MaxStrangerCircuits) and closed when idle
// (Config.CircuitIdleTimeout, CircuitIdleBytes).
//
// The per-destination count must be exact under concurrent requests, so it
// is taken before the library sees the request: the Service reads the hop
// request itself (admit), takes a slot, and hands the library a stream that
// replays what was read. The slot is returned when the request does not
// become a circuit, or when the circuit closes.

// strangerSlots counts open (and opening) stranger circuits per
// destination.
type strangerSlots struct {
	max int // < 0: unlimited

	mu   sync.Mutex
	open map[peer.ID]int
}

func newStrangerSlots(max int) *strangerSlots {
	return &strangerSlots{max: max, open: make(map[peer.ID]int)}
}

// take takes a slot for dst, or reports there is none.
func (s *strangerSlots) take(dst peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max >= 0 && s.open[dst] >= s.max {
		return false
	}
	s.open[dst]++
	return true
}

func (s *strangerSlots) give(dst peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[dst] <= 1 {
		delete(s.open, dst)
		return
	}
	s.open[dst]--
}

// count reports dst's open stranger circuits.
func (s *strangerSlots) count(dst peer.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open[dst]
}

// admit reads the hop request on t before the library does and decides
// what only the Service can: a stranger's CONNECT takes one of the
// destination's stranger slots, or is refused here. It returns false when
// it answered the request itself. The bytes read are replayed to the
// library by t.Read; a read error is replayed after them.
func (s *Service) admit(t *tapStream) bool {
	var req frameSniffer
	t.Stream.SetReadDeadline(time.Now().Add(relayv2.StreamTimeout))
	buf := make([]byte, 512)
	for !req.done {
		n, err := t.Stream.Read(buf)
		if n > 0 {
			req.feed(buf[:n])
			t.pre = append(t.pre, buf[:n]...)
		}
		if err != nil {
			t.preErr = err
			break
		}
	}
	t.Stream.SetReadDeadline(time.Time{})
	msg, ok := req.message()
	if !ok || msg.GetType() != pbv2.HopMessage_CONNECT {
		return true // the library answers reservations and malformed requests
	}
	dst, err := peer.IDFromBytes(msg.GetPeer().GetId())
	if err != nil || s.acl.authorized(t.src) {
		return true
	}
	t.stranger = true
	if !s.strangers.take(dst) {
		s.refuseHop(t, dst, pbv2.Status_RESOURCE_LIMIT_EXCEEDED, ReasonStrangerLimit)
		return false
	}
	t.slot = dst
	t.slotHeld.Store(true)
	return true
}

// releaseSlot returns t's stranger slot, once.
func (s *Service) releaseSlot(t *tapStream) {
	if t.slotHeld.Swap(false) {
		s.strangers.give(t.slot)
	}
}

// refuseHop answers a hop request the Service refuses itself, and audits
// and counts the refusal.
func (s *Service) refuseHop(t *tapStream, dst peer.ID, status pbv2.Status, reason Reason) {
	t.Stream.SetWriteDeadline(time.Now().Add(relayv2.StreamTimeout))
	err := util.NewDelimitedWriter(t.Stream).WriteMsg(&pbv2.HopMessage{Type: pbv2.HopMessage_STATUS.Enum(), Status: status.Enum()})
	if err != nil {
		t.Stream.Reset()
	} else {
		t.Stream.Close()
	}
	s.metrics.circuitsRefused.WithLabelValues(string(reason)).Inc()
	s.record(AuditRecord{Time: s.cfg.Now(), Event: EventConnectRefused, Src: t.src, Dst: dst, Reason: reason})
}

// replay serves the bytes admit read before those still on the stream.
func (t *tapStream) replay(p []byte) (int, error, bool) {
	if len(t.pre) > 0 {
		n := copy(p, t.pre)
		t.pre = t.pre[n:]
		return n, nil, true
	}
	if t.preErr != nil {
		return 0, t.preErr, true
	}
	return 0, nil, false
}

// idleWatch closes t, a stranger's circuit, at the end of the first window
// of CircuitIdleTimeout in which no more than CircuitIdleBytes crossed it.
func (s *Service) idleWatch(t *tapStream) {
	if !t.stranger || s.cfg.CircuitIdleTimeout < 0 {
		return
	}
	allow := max(s.cfg.CircuitIdleBytes, 0)
	var last int64
	t.idleMu.Lock()
	defer t.idleMu.Unlock()
	check := func() {
		t.idleMu.Lock()
		defer t.idleMu.Unlock()
		if t.idleTimer == nil {
			return // closed meanwhile
		}
		total := t.up.Load() + t.down.Load()
		if total-last > allow {
			last = total
			t.idleTimer.Reset(s.cfg.CircuitIdleTimeout)
			return
		}
		t.idleClosed.Store(true)
		go t.Reset() // the library's copy loops fail and close both halves
	}
	t.idleTimer = time.AfterFunc(s.cfg.CircuitIdleTimeout, check)
}

// stopIdleWatch stops t's idle timer.
func (t *tapStream) stopIdleWatch() {
	t.idleMu.Lock()
	defer t.idleMu.Unlock()
	if t.idleTimer != nil {
		t.idleTimer.Stop()
		t.idleTimer = nil
	}
}
