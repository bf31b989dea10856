package nodemetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
)

const (
	// headerTimeout bounds reading a metrics request's headers.
	headerTimeout = 5 * time.Second
	// readTimeout bounds the store reads one scrape makes.
	readTimeout = 5 * time.Second
)

// Source is what the gauges read from the node, at each scrape.
type Source struct {
	// Issued lists the grants the node issued.
	Issued func(context.Context) ([]localapi.Grant, error)
	// Mesh is the node's mesh connection; nil before it starts.
	Mesh func() *meshnet.Net
	// Revocations is the node's revocation set; nil before it starts.
	Revocations func() *revocation.Set
	// Locked reports whether the vault is locked.
	Locked func() bool
}

// Metrics are one node's metrics, on a registry of their own (tests and
// the demo run several nodes).
type Metrics struct {
	reg       *prometheus.Registry
	served    *prometheus.CounterVec
	refused   *prometheus.CounterVec
	delivered *prometheus.CounterVec
	autoLocks prometheus.Counter
}

// New returns the metrics of the node src reads.
func New(src Source) *Metrics {
	const ns, sub = "ocmt", "node"
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: ns, Subsystem: sub, Name: name, Help: help}
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.served = prometheus.NewCounterVec(prometheus.CounterOpts(opts("share_requests_served_total", "Share requests from grantees served, by operation (read, list, write, delete).")), []string{"op"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts(opts("share_requests_refused_total", "Share requests refused, by the status sent (forbidden, revoked, expired, locked, ...).")), []string{"status"})
	m.delivered = prometheus.NewCounterVec(prometheus.CounterOpts(opts("grants_delivered_total", "Shares this node issued that reached their recipient, by route (live, mailbox).")), []string{"via"})
	m.autoLocks = prometheus.NewCounter(prometheus.CounterOpts(opts("vault_auto_locks_total", "Times the vault locked itself after --lock-after without use.")))
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts(name, help)), f)
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	mesh := func(f func(*meshnet.Net) float64) func() float64 {
		return func() float64 {
			if n := src.Mesh(); n != nil {
				return f(n)
			}
			return 0
		}
	}
	revs := func(f func(*revocation.Set) float64) func() float64 {
		return func() float64 {
			if s := src.Revocations(); s != nil {
				return f(s)
			}
			return 0
		}
	}
	m.reg.MustRegister(m.served, m.refused, m.delivered, m.autoLocks,
		gauge("grants_pending", "Shares this node issued that have not reached their recipient yet (retried while the node runs).", func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
			defer cancel()
			gs, err := src.Issued(ctx)
			if err != nil {
				return -1
			}
			k := 0
			for _, g := range gs {
				if g.Status == meshstate.Undelivered {
					k++
				}
			}
			return float64(k)
		}),
		gauge("relay_reservation", "1 while a relay holds a reservation for this node (others can reach it through the relay), else 0.",
			mesh(func(n *meshnet.Net) float64 { return b(n.HasReservation()) })),
		gauge("relays", "Relays this node uses (configured or found).",
			mesh(func(n *meshnet.Net) float64 { return float64(len(n.Relays())) })),
		gauge("revocations", "Revocations in this node's revocation set.",
			revs(func(s *revocation.Set) float64 { return float64(s.Len()) })),
		gauge("revocation_bytes", "Bytes of the revocation records in this node's set.",
			revs(func(s *revocation.Set) float64 { return float64(s.Bytes()) })),
		gauge("vault_locked", "1 while the vault is locked, else 0.", func() float64 { return b(src.Locked()) }),
	)
	return m
}

// Handler serves the metrics (what Serve serves at /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Served counts a share request served (op: sharestore.OpRead, ...).
func (m *Metrics) Served(op string) { m.served.WithLabelValues(op).Inc() }

// Refused counts a refused share request by the status it got.
func (m *Metrics) Refused(err error) { m.refused.WithLabelValues(wire.StatusOf(err).String()).Inc() }

// Delivered counts a grant that reached its audience (via: a meshstate.Via).
func (m *Metrics) Delivered(via string) { m.delivered.WithLabelValues(via).Inc() }

// AutoLocked counts a lock of the idle vault.
func (m *Metrics) AutoLocked() { m.autoLocks.Inc() }

// Serve serves the metrics at http://addr/metrics until the returned
// server is closed, and says where (addr may end in port 0).
func (m *Metrics) Serve(addr string, log *slog.Logger) (*http.Server, string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, "", words.Say(err, "the metrics address %q is not one: want HOST:PORT, such as 127.0.0.1:9464", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, "", words.Say(err, "cannot serve metrics on %s: another process uses that port", addr)
	} else if err != nil {
		return nil, "", fmt.Errorf("cannot serve metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: headerTimeout}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", "err", err)
		}
	}()
	return srv, ln.Addr().String(), nil
}
