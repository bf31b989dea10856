package dht

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the bootstrap's Prometheus metrics, on a registry private to
// one Bootstrap (as the relay's are), so several in one process (tests,
// mesh demo) never collide. Metadata only: sizes and counts, no peer, no
// handle. Rates (lookups or publishes per second) are the counters'
// rate() in Prometheus.
type metrics struct {
	reg *prometheus.Registry

	lookups          prometheus.Counter
	publishes        prometheus.Counter
	publishesRefused *prometheus.CounterVec
	mailPuts         prometheus.Counter
	mailPutBytes     prometheus.Counter
	mailPutsRefused  *prometheus.CounterVec
	mailFetches      prometheus.Counter
	mailAcks         prometheus.Counter
	auditErrors      prometheus.Counter
}

func newMetrics() *metrics {
	const ns, sub = "ocmt", "bootstrap"
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: ns, Subsystem: sub, Name: name, Help: help}
	}
	m := &metrics{reg: prometheus.NewRegistry()}
	m.lookups = prometheus.NewCounter(prometheus.CounterOpts(opts("lookups_total", "Directory lookups served (by handle or by peer).")))
	m.publishes = prometheus.NewCounter(prometheus.CounterOpts(opts("publishes_total", "Directory records accepted (registrations, handle changes, refreshes).")))
	m.publishesRefused = prometheus.NewCounterVec(prometheus.CounterOpts(opts("publishes_refused_total", "Directory records refused, by reason.")), []string{"reason"})
	m.mailPuts = prometheus.NewCounter(prometheus.CounterOpts(opts("mail_puts_total", "Sealed mail items accepted.")))
	m.mailPutBytes = prometheus.NewCounter(prometheus.CounterOpts(opts("mail_put_bytes_total", "Sealed bytes accepted into mailboxes.")))
	m.mailPutsRefused = prometheus.NewCounterVec(prometheus.CounterOpts(opts("mail_puts_refused_total", "Mail puts refused, by status.")), []string{"status"})
	m.mailFetches = prometheus.NewCounter(prometheus.CounterOpts(opts("mail_fetches_total", "Mailbox fetches served.")))
	m.mailAcks = prometheus.NewCounter(prometheus.CounterOpts(opts("mail_acks_total", "Mailbox acks served.")))
	m.auditErrors = prometheus.NewCounter(prometheus.CounterOpts(opts("audit_errors_total", "Audit records that could not be written.")))
	m.reg.MustRegister(m.lookups, m.publishes, m.publishesRefused, m.mailPuts, m.mailPutBytes, m.mailPutsRefused,
		m.mailFetches, m.mailAcks, m.auditErrors)
	return m
}

// gauges adds the stores' sizes, read at scrape time.
func (m *metrics) gauges(dir *Directory, mbox *Mailbox) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "ocmt", Subsystem: "bootstrap", Name: "directory_records",
			Help: "Records in the directory (registered peers)."}, func() float64 { return float64(dir.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "ocmt", Subsystem: "bootstrap", Name: "mailbox_bytes",
			Help: "Sealed bytes held in all mailboxes."}, func() float64 { return float64(mbox.TotalBytes()) }),
	)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
