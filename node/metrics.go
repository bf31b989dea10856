package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/wire"
)

// metrics are the home node's Prometheus metrics, on a registry private
// to one Node (tests and the demo run several). Metadata only: counts and
// states, labelled by a fixed set of words (an operation, a status, a
// delivery route), never by a peer, a path, a name or a value.
type metrics struct {
	reg       *prometheus.Registry
	served    *prometheus.CounterVec
	refused   *prometheus.CounterVec
	delivered *prometheus.CounterVec
	autoLocks prometheus.Counter
}

// Share operations as the served counter labels them (shareStore).
const (
	opRead   = "read"
	opList   = "list"
	opWrite  = "write"
	opDelete = "delete"
)

func newMetrics(n *Node) *metrics {
	const ns, sub = "ocmt", "node"
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: ns, Subsystem: sub, Name: name, Help: help}
	}
	m := &metrics{reg: prometheus.NewRegistry()}
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
	m.reg.MustRegister(m.served, m.refused, m.delivered, m.autoLocks,
		gauge("grants_pending", "Shares this node issued that have not reached their recipient yet (retried while the node runs).", func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), metricsRead)
			defer cancel()
			gs, err := n.issued(ctx)
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
		gauge("relay_reservation", "1 while a relay holds a reservation for this node (others can reach it through the relay), else 0.", func() float64 {
			return b(n.net != nil && n.net.HasReservation())
		}),
		gauge("relays", "Relays this node uses (configured or found).", func() float64 {
			if n.net == nil {
				return 0
			}
			return float64(len(n.net.Relays()))
		}),
		gauge("revocations", "Revocations in this node's revocation set.", func() float64 {
			if n.rev == nil {
				return 0
			}
			return float64(n.rev.Set().Len())
		}),
		gauge("revocation_bytes", "Bytes of the revocation records in this node's set.", func() float64 {
			if n.rev == nil {
				return 0
			}
			return float64(n.rev.Set().Bytes())
		}),
		gauge("vault_locked", "1 while the vault is locked, else 0.", func() float64 { return b(n.vault.Locked()) }),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// servedOne counts a share request served.
func (m *metrics) servedOne(op string) { m.served.WithLabelValues(op).Inc() }

// refusedOne counts a refused share request by the status it got.
func (m *metrics) refusedOne(err error) { m.refused.WithLabelValues(wire.StatusOf(err).String()).Inc() }

// deliveredOne counts a grant that reached its audience.
func (m *metrics) deliveredOne(via string) { m.delivered.WithLabelValues(via).Inc() }

// serveMetrics serves the metrics at http://addr/metrics until Close.
func (n *Node) serveMetrics(addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return say(err, "the metrics address %q is not one: want HOST:PORT, such as 127.0.0.1:9464", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return say(err, "cannot serve metrics on %s: another process uses that port", addr)
	} else if err != nil {
		return fmt.Errorf("cannot serve metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", n.metrics.handler())
	n.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: metricsHeaderTimeout}
	n.metricsAddr = ln.Addr().String()
	go func() {
		if err := n.metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn("metrics server stopped", "err", err)
		}
	}()
	return nil
}

// MetricsAddr returns the address metrics are served on ("" when off).
func (n *Node) MetricsAddr() string { return n.metricsAddr }

// MetricsHandler serves the metrics (what --metrics ADDR serves at /metrics).
func (n *Node) MetricsHandler() http.Handler { return n.metrics.handler() }
