package relay

import (
	"net/http"
	"time"

	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the relay's Prometheus metrics, on a registry private to one
// Service so that several services (tests, `mesh demo`) never collide.
//
// Reservation counts come from the relay library through its MetricsTracer
// hook (it alone knows when reservations expire); circuits, bytes and
// refusals come from the hop observer, which knows the reason.
type metrics struct {
	reg *prometheus.Registry

	reservationsActive    prometheus.Gauge
	reservationsAccepted  prometheus.Counter
	reservationsRenewed   prometheus.Counter
	reservationsRefused   *prometheus.CounterVec
	circuitsActive        prometheus.Gauge
	circuitsOpened        prometheus.Counter
	circuitsClosed        *prometheus.CounterVec
	circuitsRefused       *prometheus.CounterVec
	bytesRelayed          *prometheus.CounterVec
	bytesByDir            [2]prometheus.Counter // resolved once: the copy path stays lock-free
	rateLimited           *prometheus.CounterVec
	auditErrors           prometheus.Counter
	strangerCircuits      prometheus.Gauge
	protectedReservations prometheus.Gauge
}

func newMetrics() *metrics {
	const ns, sub = "ocmt", "relay"
	m := &metrics{reg: prometheus.NewRegistry()}
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: ns, Subsystem: sub, Name: name, Help: help}
	}
	m.reservationsActive = prometheus.NewGauge(prometheus.GaugeOpts(opts("reservations_active", "Reservations currently held.")))
	m.reservationsAccepted = prometheus.NewCounter(prometheus.CounterOpts(opts("reservations_accepted_total", "Reservations granted, new ones only.")))
	m.reservationsRenewed = prometheus.NewCounter(prometheus.CounterOpts(opts("reservations_renewed_total", "Reservations refreshed by their holder.")))
	m.reservationsRefused = prometheus.NewCounterVec(prometheus.CounterOpts(opts("reservations_refused_total", "Reservations refused, by reason.")), []string{"reason"})
	m.circuitsActive = prometheus.NewGauge(prometheus.GaugeOpts(opts("circuits_active", "Relayed connections currently open.")))
	m.circuitsOpened = prometheus.NewCounter(prometheus.CounterOpts(opts("circuits_opened_total", "Relayed connections opened.")))
	m.circuitsClosed = prometheus.NewCounterVec(prometheus.CounterOpts(opts("circuits_closed_total", "Relayed connections closed, by reason.")), []string{"reason"})
	m.circuitsRefused = prometheus.NewCounterVec(prometheus.CounterOpts(opts("circuits_refused_total", "Circuit requests refused, by reason.")), []string{"reason"})
	m.bytesRelayed = prometheus.NewCounterVec(prometheus.CounterOpts(opts("bytes_relayed_total", "Bytes copied between circuit ends, by direction.")), []string{"direction"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts(opts("rate_limited_total",
		"Requests refused by a rate limit, by kind: reserve and connect (per peer), destination (per circuit destination), relay (relay-wide).")), []string{"kind"})
	m.strangerCircuits = prometheus.NewGauge(prometheus.GaugeOpts(opts("stranger_circuits_active", "Open circuits whose source is neither registered nor granted.")))
	m.protectedReservations = prometheus.NewGauge(prometheus.GaugeOpts(opts("reservations_protected", "Reservation holders protected from the connection manager.")))
	m.auditErrors = prometheus.NewCounter(prometheus.CounterOpts(opts("audit_errors_total", "Audit records that could not be written.")))
	m.bytesByDir = [2]prometheus.Counter{
		m.bytesRelayed.WithLabelValues(SrcToDst.String()),
		m.bytesRelayed.WithLabelValues(DstToSrc.String()),
	}
	m.reg.MustRegister(m.reservationsActive, m.reservationsAccepted, m.reservationsRenewed, m.reservationsRefused,
		m.circuitsActive, m.circuitsOpened, m.circuitsClosed, m.circuitsRefused, m.bytesRelayed, m.rateLimited, m.auditErrors,
		m.strangerCircuits, m.protectedReservations)
	for _, kind := range []string{"reserve", "connect", "destination", "relay"} {
		m.rateLimited.WithLabelValues(kind) // exported at 0 from the start
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// tracer adapts metrics to the relay library's MetricsTracer.
type tracer struct{ m *metrics }

var _ relayv2.MetricsTracer = tracer{}

func (tracer) RelayStatus(bool)                      {}
func (tracer) ConnectionOpened()                     {}
func (tracer) ConnectionClosed(time.Duration)        {}
func (tracer) ConnectionRequestHandled(pbv2.Status)  {}
func (tracer) ReservationRequestHandled(pbv2.Status) {}
func (tracer) BytesTransferred(int)                  {}
func (t tracer) ReservationClosed(n int)             { t.m.reservationsActive.Sub(float64(n)) }
func (t tracer) ReservationAllowed(renewal bool) {
	if renewal {
		t.m.reservationsRenewed.Inc()
		return
	}
	t.m.reservationsAccepted.Inc()
	t.m.reservationsActive.Inc()
}
