package dht

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/protocols/directory"
)

// DefaultSweepInterval is how often Bootstrap deletes expired mail.
const DefaultSweepInterval = 10 * time.Minute

// BootstrapConfig configures the bootstrap/metadata peer. The zero value
// works: a DHT server with no peers, default directory and mailbox caps.
type BootstrapConfig struct {
	// Logger defaults to discarding; it is passed to every part.
	Logger *slog.Logger
	// Now defaults to time.Now; it is passed to every part.
	Now func() time.Time
	// DHT configures the kad-dht; its Mode is forced to ModeServer.
	DHT Config
	// Directory configures the directory store.
	Directory DirectoryConfig
	// Mailbox configures the mailbox store. Registered is always set to
	// the directory's, so only registered peers and the decoys handed out
	// receive mail.
	Mailbox MailboxConfig
	// Rate and Burst set the per-peer token bucket of the directory
	// protocol; defaults directory.DefaultRate and directory.DefaultBurst.
	Rate  float64
	Burst int
	// Infrastructure are the peers (the relays this bootstrap serves)
	// that skip the per-peer bucket and share one of InfraRate requests a
	// second, burst InfraBurst: they ask on behalf of every peer that
	// reserves. Defaults none, directory.DefaultInfraRate and
	// directory.DefaultInfraBurst.
	Infrastructure []peer.ID
	InfraRate      float64
	InfraBurst     int
	// SweepInterval defaults to DefaultSweepInterval.
	SweepInterval time.Duration

	// Audit receives the metadata-only audit log (AuditRecord), one JSON
	// object per Write: start and stop, registrations and handle changes,
	// refused publishes, admitted revocations, and the activity counts
	// (lookups, publishes, mail) once a window. node/infra passes the
	// role's hash-chained log. While it fails, publishes are refused.
	// Default nil: discarded.
	Audit io.Writer
	// AuditWindow and AuditMaxRecords bound the log whatever peers do:
	// per window, at most AuditMaxRecords records of directory changes and
	// as many of refused publishes (the first half recorded as they come,
	// the rest summarised per peer, see internal/auditlimit), and one of
	// counts. Defaults auditlimit.DefaultWindow (1 min) and
	// auditlimit.DefaultMaxRecords (64).
	AuditWindow     time.Duration
	AuditMaxRecords int
}

// Bootstrap is the bootstrap/metadata peer's service set on one host: the
// DHT server, the directory and mailbox stores, and the /ocmt/directory/1
// handler. Its datastore is split into /kad, /directory and /mailbox.
type Bootstrap struct {
	dht    *DHT
	dir    *Directory
	mbox   *Mailbox
	server *directory.Server
	log    *slog.Logger
	audit  *auditor
	m      *metrics
	self   peer.ID

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

// NewBootstrap starts the services on h over ds (pebble in production).
// Close stops them; the host and the datastore stay the caller's to close.
func NewBootstrap(ctx context.Context, h host.Host, ds datastore.Batching, cfg BootstrapConfig) (*Bootstrap, error) {
	if h == nil || ds == nil {
		return nil, errors.New("dht: host and datastore are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	log := cfg.Logger.With("role", "bootstrap")

	cfg.Directory.Now, cfg.Directory.Logger = cfg.Now, log
	dir, err := NewDirectory(ctx, namespace.Wrap(ds, store.Directory), cfg.Directory)
	if err != nil {
		return nil, err
	}
	cfg.Mailbox.Now, cfg.Mailbox.Logger, cfg.Mailbox.Registered = cfg.Now, log, dir.Registered
	mbox, err := NewMailbox(ctx, namespace.Wrap(ds, store.Mailbox), cfg.Mailbox)
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	m.gauges(dir, mbox)
	aud := newAuditor(cfg, log, m)
	if err := aud.write(AuditRecord{Time: cfg.Now().UTC(), Event: AuditStart, Peer: h.ID(), Detail: sizes(dir, mbox)}); err != nil {
		aud.close("", h.ID())
		return nil, err // no audit, no bootstrap
	}
	cfg.DHT.Mode, cfg.DHT.Logger = ModeServer, log
	d, err := New(h, namespace.Wrap(ds, store.Kad), cfg.DHT)
	if err != nil {
		aud.close("failed to start", h.ID())
		return nil, err
	}
	infra := make(map[peer.ID]bool, len(cfg.Infrastructure))
	for _, p := range cfg.Infrastructure {
		infra[p] = true
	}
	srv, err := directory.NewServer(h, directory.ServerConfig{
		Records: auditedRecords{dir, aud}, Mailboxes: auditedMail{mbox, aud}, Logger: log, Now: cfg.Now, Rate: cfg.Rate, Burst: cfg.Burst,
		Infrastructure: func(p peer.ID) bool { return infra[p] }, InfraRate: cfg.InfraRate, InfraBurst: cfg.InfraBurst,
	})
	if err != nil {
		d.Close()
		aud.close("failed to start", h.ID())
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	b := &Bootstrap{dht: d, dir: dir, mbox: mbox, server: srv, log: log, audit: aud, m: m, self: h.ID(), cancel: cancel}
	b.wg.Add(1)
	go b.sweep(sctx, cfg.SweepInterval)
	log.Info("bootstrap started", "peer", h.ID().String(), "records", dir.Len())
	return b, nil
}

// sizes describes the stores for the start and stop records.
func sizes(dir *Directory, mbox *Mailbox) string {
	return fmt.Sprintf("%d directory records, %d bytes of mail", dir.Len(), mbox.TotalBytes())
}

func (b *Bootstrap) sweep(ctx context.Context, every time.Duration) {
	defer b.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := b.mbox.Sweep(ctx); err != nil {
				b.log.Warn("mailbox sweep failed", "err", err)
			} else if n > 0 {
				b.log.Info("expired mail removed", "items", n)
			}
			if err := b.dir.SaveDecoys(ctx); err != nil {
				b.log.Warn("saving the decoys handed out failed", "err", err)
			}
		}
	}
}

// DHT returns the DHT server.
func (b *Bootstrap) DHT() *DHT { return b.dht }

// Directory returns the directory store (Registered is the relay ACL hook).
func (b *Bootstrap) Directory() *Directory { return b.dir }

// Mailbox returns the mailbox store.
func (b *Bootstrap) Mailbox() *Mailbox { return b.mbox }

// AuditRevocation records that a revocation by `by` of capability id was
// admitted (the role calls it from its revocation set's OnAdd).
func (b *Bootstrap) AuditRevocation(id capability.ID, by peer.ID) { b.audit.revoked(id, by) }

// MetricsHandler serves the bootstrap's metrics in the Prometheus text
// format, for `mesh bootstrap --metrics ADDR` to mount at /metrics.
func (b *Bootstrap) MetricsHandler() http.Handler { return b.m.handler() }

// Registry is the Bootstrap's private Prometheus registry, for the role's
// own collectors (the revocation set's size).
func (b *Bootstrap) Registry() *prometheus.Registry { return b.m.reg }

// Close stops the protocol handler, the sweeper and the DHT, then flushes
// the audit log and writes its stop record.
func (b *Bootstrap) Close() error {
	b.once.Do(func() {
		err1 := b.server.Close()
		b.cancel()
		b.wg.Wait()
		if err := b.dir.SaveDecoys(context.Background()); err != nil {
			b.log.Warn("saving the decoys handed out failed", "err", err)
		}
		err2 := b.dht.Close()
		err3 := b.audit.close(sizes(b.dir, b.mbox), b.self)
		b.err = errors.Join(err1, err2, err3)
	})
	return b.err
}
