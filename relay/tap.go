package relay

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	pb "google.golang.org/protobuf/proto"
)

// How per-circuit accounting works.
//
// The relay library exposes only aggregates (MetricsTracer: total bytes,
// circuit durations) and the multistream muxer in v0.51.0 has no handler
// lookup, so the Service gives relayv2.New a decorated host (hookHost) whose
// SetStreamHandler wraps the hop handler as the library registers it. Every
// hop stream then reaches the library as a tapStream, which
//
//   - sniffs the first length-delimited message read (the HopMessage:
//     RESERVE or CONNECT and the destination) and the first one written (the
//     STATUS answer), both bounded to the library's 4 KiB message cap;
//   - counts the bytes read after the request (source → destination) and
//     written after the answer (destination → source): the library copies
//     every relayed byte through this one stream, both ways;
//   - sees the library's Close (both copy loops done) and Reset (a copy
//     failed), which end the circuit.
//
// Payload bytes are counted, never kept. The only bytes copied are those of
// the two handshake frames, which carry peer IDs and a status.

// maxHopMessage is the relay library's own cap on a hop message.
const maxHopMessage = 4096

// hookHost is the host given to relayv2.New: it wraps the hop handler.
type hookHost struct {
	host.Host
	wrap   func(network.StreamHandler) network.StreamHandler
	hooked *atomic.Bool
}

func (h hookHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	if pid == proto.ProtoIDv2Hop {
		handler = h.wrap(handler)
		h.hooked.Store(true)
	}
	h.Host.SetStreamHandler(pid, handler)
}

// frameSniffer keeps the first varint-delimited frame of a byte sequence.
type frameSniffer struct {
	buf    []byte
	hdr    int // varint length once known
	total  int // hdr + message length once known
	done   bool
	failed bool
}

// feed observes p, the next bytes of the sequence, and returns how many of
// them belong to the first frame.
func (f *frameSniffer) feed(p []byte) int {
	used := 0
	for !f.done && used < len(p) {
		if f.total == 0 {
			f.buf = append(f.buf, p[used])
			used++
			v, n := binary.Uvarint(f.buf)
			switch {
			case n > 0 && v > maxHopMessage:
				f.done, f.failed = true, true
			case n > 0:
				f.hdr, f.total = n, n+int(v)
				f.done = f.total == n
			case n < 0 || len(f.buf) >= binary.MaxVarintLen64:
				f.done, f.failed = true, true
			}
			continue
		}
		k := min(f.total-len(f.buf), len(p)-used)
		f.buf = append(f.buf, p[used:used+k]...)
		used += k
		f.done = len(f.buf) == f.total
	}
	return used
}

// message decodes the frame, once complete.
func (f *frameSniffer) message() (*pbv2.HopMessage, bool) {
	if !f.done || f.failed {
		return nil, false
	}
	var m pbv2.HopMessage
	if err := pb.Unmarshal(f.buf[f.hdr:], &m); err != nil {
		return nil, false
	}
	return &m, true
}

// Direction says which way relayed bytes went.
type Direction int

// Directions.
const (
	SrcToDst Direction = iota // read from the source, forwarded to the destination
	DstToSrc                  // read from the destination, forwarded to the source
)

func (d Direction) String() string {
	if d == SrcToDst {
		return "src_to_dst"
	}
	return "dst_to_src"
}

// tapStream is the hop stream as the relay library sees it; see the comment
// at the top of this file.
type tapStream struct {
	network.Stream
	svc *Service
	src peer.ID

	req, resp frameSniffer // touched only by the handler, then one copy loop each

	// set when the OK answer to a CONNECT has been written, before the
	// library starts its copy loops
	circuit atomic.Bool
	dst     peer.ID
	start   time.Time

	up, down atomic.Int64 // payload bytes src→dst, dst→src
	srcErr   atomic.Bool  // a read or write on the source side failed
	ended    atomic.Int32 // who ended it, set at the library's first Reset
	once     sync.Once

	// what admit read before the library (replayed by Read), and how that
	// read ended
	pre    []byte
	preErr error
	// stranger: the source is neither registered nor granted (strangers.go);
	// slot is the destination whose stranger slot this request holds while
	// slotHeld
	stranger bool
	slot     peer.ID
	slotHeld atomic.Bool
	// the idle watch of a stranger's circuit
	idleMu     sync.Mutex
	idleTimer  *time.Timer
	idleClosed atomic.Bool
}

func (t *tapStream) Read(p []byte) (int, error) {
	n, err, replayed := t.replay(p)
	if !replayed {
		n, err = t.Stream.Read(p)
	}
	if n > 0 {
		k := 0
		if !t.req.done {
			k = t.req.feed(p[:n])
		}
		t.svc.observe(SrcToDst, p[:n], n-k, &t.up)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		t.srcErr.Store(true)
	}
	return n, err
}

func (t *tapStream) Write(p []byte) (int, error) {
	k := 0
	answered := false
	if !t.resp.done {
		k = t.resp.feed(p)
		answered = t.resp.done
	}
	n, err := t.Stream.Write(p)
	if err != nil {
		t.srcErr.Store(true)
	}
	if answered && err == nil {
		t.answered()
	}
	if n > 0 {
		t.svc.observe(DstToSrc, p[:n], max(n-k, 0), &t.down)
	}
	return n, err
}

// answered runs once the relay's answer is on the wire: an OK to a CONNECT
// opens a circuit, an OK to a RESERVE grants or refreshes a reservation.
func (t *tapStream) answered() {
	req, ok1 := t.req.message()
	resp, ok2 := t.resp.message()
	if !ok1 || !ok2 || resp.GetStatus() != pbv2.Status_OK {
		return
	}
	if req.GetType() == pbv2.HopMessage_RESERVE {
		t.svc.protect.reserved(t.src, t.svc.cfg.ReservationTTL)
		if f := t.svc.cfg.OnReserve; f != nil {
			go f(t.src)
		}
		return
	}
	if req.GetType() != pbv2.HopMessage_CONNECT {
		return
	}
	dst, err := peer.IDFromBytes(req.GetPeer().GetId())
	if err != nil {
		return // the library would not have connected it either
	}
	t.dst = dst
	t.start = t.svc.cfg.Now()
	t.circuit.Store(true)
	t.svc.opened(t)
}

// Values of tapStream.ended.
const (
	endedNone int32 = iota
	endedBySrc
	endedByDst
)

// markReset records which side had failed when the library first reset the
// stream: the library resets both halves when either copy loop fails, and
// our own Read then fails too, so only the first Reset tells.
func (t *tapStream) markReset() {
	side := endedByDst
	if t.srcErr.Load() {
		side = endedBySrc
	}
	t.ended.CompareAndSwap(endedNone, side)
}

func (t *tapStream) Reset() error {
	t.markReset()
	return t.Stream.Reset()
}

func (t *tapStream) ResetWithError(code network.StreamErrorCode) error {
	t.markReset()
	return t.Stream.ResetWithError(code)
}

// Close is called by the library when both copy loops have ended, whatever
// the outcome, which is when a circuit's record is complete.
func (t *tapStream) Close() error {
	err := t.Stream.Close()
	if t.circuit.Load() {
		t.once.Do(func() { t.svc.closed(t) })
	}
	return err
}

// closeReason tells how a finished circuit ended.
func (t *tapStream) closeReason(relayClosing bool) Reason {
	switch {
	case t.idleClosed.Load():
		return ReasonIdle
	case relayClosing:
		return ReasonRelayClosed
	case t.ended.Load() == endedBySrc:
		return ReasonSrcClosed
	case t.ended.Load() == endedByDst:
		return ReasonDstClosed
	default:
		return ReasonClosed
	}
}

// refusal returns the audit event and reason for a hop stream that did not
// become a circuit, and false when there is nothing to record (a granted
// reservation).
func (t *tapStream) refusal() (AuditEvent, peer.ID, pbv2.Status, bool) {
	req, ok := t.req.message()
	if !ok {
		return EventConnectRefused, "", pbv2.Status_MALFORMED_MESSAGE, true
	}
	ev := EventConnectRefused
	var dst peer.ID
	if req.GetType() == pbv2.HopMessage_RESERVE {
		ev = EventReserveRefused
	} else if id, err := peer.IDFromBytes(req.GetPeer().GetId()); err == nil {
		dst = id
	}
	resp, ok := t.resp.message()
	if !ok {
		return ev, dst, -1, true
	}
	if resp.GetStatus() == pbv2.Status_OK {
		return "", "", 0, false
	}
	return ev, dst, resp.GetStatus(), true
}
