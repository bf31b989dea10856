package infra

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/protocols/directory"
)

// remoteDirectory answers the relay's "is this peer registered?" by asking
// the bootstrap's directory, caching a yes for registeredFor and a no for
// unregisteredFor.
type remoteDirectory struct {
	h     host.Host
	boots []peer.AddrInfo
	log   *slog.Logger
	now   func() time.Time

	mu  sync.Mutex
	yes map[peer.ID]time.Time // peer → until when the answer holds
	no  map[peer.ID]time.Time
}

func newRemoteDirectory(h host.Host, boots []peer.AddrInfo, log *slog.Logger, now func() time.Time) *remoteDirectory {
	return &remoteDirectory{h: h, boots: boots, log: log, now: now, yes: map[peer.ID]time.Time{}, no: map[peer.ID]time.Time{}}
}

// Registered reports whether p holds a record in the directory.
func (d *remoteDirectory) Registered(p peer.ID) bool {
	now := d.now()
	d.mu.Lock()
	if until, ok := d.yes[p]; ok && now.Before(until) {
		d.mu.Unlock()
		return true
	}
	if until, ok := d.no[p]; ok && now.Before(until) {
		d.mu.Unlock()
		return false
	}
	d.mu.Unlock()
	ok := d.lookup(p)
	d.mu.Lock()
	defer d.mu.Unlock()
	answers, ttl := d.no, unregisteredFor
	if ok {
		answers, ttl = d.yes, registeredFor
	}
	if len(answers) >= maxDirectoryCache {
		clear(answers)
	}
	answers[p] = now.Add(ttl)
	return ok
}

func (d *remoteDirectory) lookup(p peer.ID) bool {
	ctx, cancel := context.WithTimeout(context.Background(), directoryLookup)
	defer cancel()
	for _, b := range d.boots {
		rec, err := directory.LookupPeer(ctx, d.h, b.ID, p)
		if err == nil && rec.Peer == p {
			return true
		}
		if err != nil {
			d.log.Debug("directory lookup", "peer", p, "err", err)
		}
	}
	return false
}
