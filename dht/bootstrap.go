package dht

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/host"

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
	// the directory's, so only registered peers receive mail.
	Mailbox MailboxConfig
	// Rate and Burst set the per-peer token bucket of the directory
	// protocol; defaults directory.DefaultRate and directory.DefaultBurst.
	Rate  float64
	Burst int
	// SweepInterval defaults to DefaultSweepInterval.
	SweepInterval time.Duration
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
	dir, err := NewDirectory(ctx, namespace.Wrap(ds, datastore.NewKey("/directory")), cfg.Directory)
	if err != nil {
		return nil, err
	}
	cfg.Mailbox.Now, cfg.Mailbox.Logger, cfg.Mailbox.Registered = cfg.Now, log, dir.Registered
	mbox, err := NewMailbox(ctx, namespace.Wrap(ds, datastore.NewKey("/mailbox")), cfg.Mailbox)
	if err != nil {
		return nil, err
	}
	cfg.DHT.Mode, cfg.DHT.Logger = ModeServer, log
	d, err := New(h, namespace.Wrap(ds, datastore.NewKey("/kad")), cfg.DHT)
	if err != nil {
		return nil, err
	}
	srv, err := directory.NewServer(h, directory.ServerConfig{
		Records: dir, Mailboxes: mbox, Logger: log, Now: cfg.Now, Rate: cfg.Rate, Burst: cfg.Burst,
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	b := &Bootstrap{dht: d, dir: dir, mbox: mbox, server: srv, log: log, cancel: cancel}
	b.wg.Add(1)
	go b.sweep(sctx, cfg.SweepInterval)
	log.Info("bootstrap started", "peer", h.ID().String(), "records", dir.Len())
	return b, nil
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
		}
	}
}

// DHT returns the DHT server.
func (b *Bootstrap) DHT() *DHT { return b.dht }

// Directory returns the directory store (Registered is the relay ACL hook).
func (b *Bootstrap) Directory() *Directory { return b.dir }

// Mailbox returns the mailbox store.
func (b *Bootstrap) Mailbox() *Mailbox { return b.mbox }

// Close stops the protocol handler, the sweeper and the DHT.
func (b *Bootstrap) Close() error {
	b.once.Do(func() {
		err1 := b.server.Close()
		b.cancel()
		b.wg.Wait()
		err2 := b.dht.Close()
		b.err = errors.Join(err1, err2)
	})
	return b.err
}
