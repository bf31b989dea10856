package relay

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// closeWait bounds how long Close waits for reset circuits to finish.
const closeWait = 5 * time.Second

// Service is a running circuit relay v2 with OCMT's ACL, rate limits,
// metadata-only audit and metrics.
type Service struct {
	cfg       Config
	host      host.Host
	relay     *relayv2.Relay
	acl       *acl
	metrics   *metrics
	audit     *auditLog
	protect   *protector
	strangers *strangerSlots
	notifiee  network.Notifiee

	auditBroken atomic.Bool
	extra       []relayv2.Option
	tap         func(Direction, []byte) // tests only: sees every relayed byte

	mu      sync.Mutex
	closing bool
	active  map[*tapStream]struct{}
}

// Option adjusts a Service beyond its Config.
type Option func(*Service) error

// WithRelayOptions passes extra options to relayv2.New, after the Service's
// own (resources, ACL, metrics tracer, address filter). Overriding the ACL
// this way removes OCMT's access control; it is meant for library knobs the
// Config does not cover.
func WithRelayOptions(opts ...relayv2.Option) Option {
	return func(s *Service) error {
		s.extra = append(s.extra, opts...)
		return nil
	}
}

// New starts a relay on h. It registers the hop protocol on h; h must not
// already run a relay (do not also pass libp2p.EnableRelayService).
func New(h host.Host, cfg Config, opts ...Option) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:       cfg,
		host:      h,
		metrics:   newMetrics(),
		audit:     &auditLog{w: cfg.Audit},
		strangers: newStrangerSlots(cfg.MaxStrangerCircuits),
		active:    make(map[*tapStream]struct{}),
	}
	s.protect = newProtector(s)
	if s.audit.w == nil {
		s.audit.w = io.Discard
	}
	if cfg.Authorizer == nil {
		cfg.Logger.Warn("relay: no Authorizer configured; every reservation and circuit will be refused")
	}
	s.acl = &acl{
		svc:      s,
		auth:     cfg.Authorizer,
		reserve:  newPeerLimiter(cfg.ReservationsPerMinute, cfg.RateLimitPeers, cfg.Now),
		connect:  newPeerLimiter(cfg.CircuitsPerMinute, cfg.RateLimitPeers, cfg.Now),
		toDst:    newSharedLimiter(cfg.DestinationCircuitsPerMinute, cfg.RateLimitPeers, cfg.Now),
		relayAll: newSharedLimiter(cfg.RelayCircuitsPerMinute, 1, cfg.Now),
		pending:  make(map[pendingKey][]Reason),
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	var hooked atomic.Bool
	hh := hookHost{Host: h, wrap: s.wrapHop, hooked: &hooked}
	ropts := append([]relayv2.Option{
		relayv2.WithResources(cfg.resources()), // sets Limit too: nil unless capped
		relayv2.WithACL(s.acl),
		relayv2.WithMetricsTracer(tracer{s.metrics}),
		relayv2.WithReservationAddressFilter(cfg.addressFilter()),
	}, s.extra...)
	r, err := relayv2.New(hh, ropts...)
	if err != nil {
		return nil, fmt.Errorf("relay: starting circuit relay v2: %w", err)
	}
	if !hooked.Load() {
		r.Close()
		return nil, errors.New("relay: the relay library did not register its hop handler through the host; per-circuit audit would be blind")
	}
	s.relay = r
	s.notifiee = &network.NotifyBundle{DisconnectedF: s.protect.disconnected}
	h.Network().Notify(s.notifiee)
	cfg.Logger.Info("relay started", "peer", h.ID(), "limited", cfg.resources().Limit != nil,
		"max_reservations", cfg.MaxReservations, "max_circuits_per_peer", cfg.MaxCircuits)
	return s, nil
}

// Close stops the relay: no new reservations or circuits, every open circuit
// is reset (both peers see their relayed connection fail at once), and Close
// returns once their audit records are written or after 5 s. It does not
// close the host.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	open := make([]*tapStream, 0, len(s.active))
	for t := range s.active {
		open = append(open, t)
	}
	s.mu.Unlock()

	err := s.relay.Close()
	s.host.Network().StopNotify(s.notifiee)
	s.protect.close()
	for _, t := range open {
		t.Reset()
	}
	deadline := time.Now().Add(closeWait)
	for s.ActiveCircuits() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return err
}

// ActiveCircuits reports how many relayed connections are open.
func (s *Service) ActiveCircuits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.active)
}

// MetricsHandler serves the relay's metrics in the Prometheus text format,
// for `mesh relay --metrics ADDR` to mount at /metrics.
func (s *Service) MetricsHandler() http.Handler { return s.metrics.handler() }

// Registry is the Service's private Prometheus registry, for adding the
// node's own collectors next to the relay's.
func (s *Service) Registry() *prometheus.Registry { return s.metrics.reg }

// ID is the relay's peer ID.
func (s *Service) ID() peer.ID { return s.host.ID() }

// wrapHop wraps the library's hop handler; see tap.go.
func (s *Service) wrapHop(inner network.StreamHandler) network.StreamHandler {
	return func(st network.Stream) {
		t := &tapStream{Stream: st, svc: s, src: st.Conn().RemotePeer()}
		if !s.admit(t) {
			return // refused and audited by admit
		}
		inner(t)
		if t.circuit.Load() {
			return // audited when it closes
		}
		s.releaseSlot(t)
		ev, dst, status, refused := t.refusal()
		if !refused {
			return
		}
		reason := s.reasonFor(t, ev, dst, status)
		if ev == EventReserveRefused {
			s.metrics.reservationsRefused.WithLabelValues(string(reason)).Inc()
		} else {
			s.metrics.circuitsRefused.WithLabelValues(string(reason)).Inc()
		}
		s.record(AuditRecord{Time: s.cfg.Now(), Event: ev, Src: t.src, Dst: dst, Reason: reason})
	}
}

// reasonFor maps a refusal status to an audit reason.
func (s *Service) reasonFor(t *tapStream, ev AuditEvent, dst peer.ID, status pbv2.Status) Reason {
	switch status {
	case pbv2.Status_PERMISSION_DENIED:
		if r, ok := s.acl.takeReason(pendingKey{connect: ev == EventConnectRefused, src: t.src, dst: dst}); ok {
			return r
		}
		if _, err := t.Conn().RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err == nil {
			return ReasonRelayedSource
		}
		return ReasonServiceUnavailable
	case pbv2.Status_NO_RESERVATION:
		return ReasonNoReservation
	case pbv2.Status_RESERVATION_REFUSED:
		return ReasonReservationLimit
	case pbv2.Status_RESOURCE_LIMIT_EXCEEDED:
		return ReasonResourceLimit
	case pbv2.Status_CONNECTION_FAILED:
		return ReasonConnectionFailed
	case pbv2.Status_MALFORMED_MESSAGE:
		return ReasonMalformed
	default:
		return ReasonStreamError
	}
}

// observe counts (and, in tests, taps) bytes crossing the hop stream; the
// first n-payload of p are handshake bytes.
func (s *Service) observe(d Direction, p []byte, payload int, ctr *atomic.Int64) {
	if s.tap != nil {
		s.tap(d, p)
	}
	if payload > 0 {
		ctr.Add(int64(payload))
		s.metrics.bytesByDir[d].Add(float64(payload))
	}
}

func (s *Service) opened(t *tapStream) {
	s.mu.Lock()
	s.active[t] = struct{}{}
	s.mu.Unlock()
	s.protect.circuitOpened(t.src, t.dst)
	s.idleWatch(t)
	s.metrics.circuitsOpened.Inc()
	s.metrics.circuitsActive.Inc()
	if t.stranger {
		s.metrics.strangerCircuits.Inc()
	}
}

func (s *Service) closed(t *tapStream) {
	t.stopIdleWatch()
	s.releaseSlot(t)
	s.protect.circuitClosed(t.src, t.dst)
	if t.stranger {
		s.metrics.strangerCircuits.Dec()
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	reason := t.closeReason(closing)
	s.record(AuditRecord{
		Time:          s.cfg.Now(),
		Event:         EventCircuit,
		Src:           t.src,
		Dst:           t.dst,
		BytesSrcToDst: t.up.Load(),
		BytesDstToSrc: t.down.Load(),
		DurationMS:    float64(s.cfg.Now().Sub(t.start)) / float64(time.Millisecond),
		Reason:        reason,
	})
	s.metrics.circuitsActive.Dec()
	s.metrics.circuitsClosed.WithLabelValues(string(reason)).Inc()
	s.mu.Lock()
	delete(s.active, t)
	s.mu.Unlock()
}

// record writes an audit line. While the log is failing the ACL refuses
// new reservations and circuits (the design's "no audit, no operation");
// the refusals keep trying the log, and the first line that lands reopens
// the relay.
func (s *Service) record(r AuditRecord) {
	if err := s.audit.write(r); err != nil {
		if !s.auditBroken.Swap(true) {
			s.cfg.Logger.Error("relay: audit log failing; refusing new reservations and circuits", "err", err)
		}
		s.metrics.auditErrors.Inc()
		return
	}
	s.auditBroken.Store(false)
}

func (s *Service) auditHealthy() bool { return !s.auditBroken.Load() }

// AccessRevoked records that p's relay-access capability was revoked and
// its reservation and circuits cut (the caller closes its connections).
func (s *Service) AccessRevoked(p peer.ID) {
	s.record(AuditRecord{Time: s.cfg.Now().UTC(), Event: EventAccessRevoked, Src: p, Reason: ReasonRevoked})
}

// withTap hands every byte crossing the relay's hop streams to f. It exists
// for the zero-knowledge tests and is deliberately unexported: production
// code has no way to see payload.
func withTap(f func(Direction, []byte)) Option {
	return func(s *Service) error {
		s.tap = f
		return nil
	}
}
