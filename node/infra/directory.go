package infra

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// remoteDirectory answers the relay's "is this peer registered?" by asking
// the bootstrap's directory, caching a yes for registeredFor and a no for
// unregisteredFor. It asks within a budget (DirectoryLookupRate questions
// a second, maxLookupsInFlight at once): a question past it is answered
// no without asking and not remembered. Peers that present a registration
// never reach it (relayaccess.Registrar), so the budget is spent only on
// peers that did not: old nodes, and strangers.
//
// The bootstrap answers lookup-peer for the decoys it handed out
// (protocols/directory, "Decoys") as for registered peers, so a yes here
// may be a decoy's; it admits nobody, since the peer asked about is the
// one that authenticated to the relay, and nobody holds a decoy's key.
type remoteDirectory struct {
	h      host.Host
	boots  []peer.AddrInfo
	log    *slog.Logger
	now    func() time.Time
	budget *rate.Limiter // nil: no bound
	slots  chan struct{}

	mu  sync.Mutex
	yes map[peer.ID]time.Time // peer → until when the answer holds
	no  map[peer.ID]time.Time
}

// DefaultDirectoryLookupRate is RelayConfig.DirectoryLookupRate's default:
// a tenth of the bootstrap's shared infrastructure rate
// (directory.DefaultInfraRate), so ten relays fit in it.
const DefaultDirectoryLookupRate = 20.0

func newRemoteDirectory(h host.Host, boots []peer.AddrInfo, perSecond float64, log *slog.Logger, now func() time.Time) *remoteDirectory {
	d := &remoteDirectory{h: h, boots: boots, log: log, now: now, yes: map[peer.ID]time.Time{}, no: map[peer.ID]time.Time{},
		slots: make(chan struct{}, maxLookupsInFlight)}
	if perSecond == 0 {
		perSecond = DefaultDirectoryLookupRate
	}
	if perSecond > 0 {
		d.budget = rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond)))
	}
	return d
}

// Registered reports whether p holds a record in the directory, asking
// within the budget: past it, the answer is no (the reservation path).
func (d *remoteDirectory) Registered(p peer.ID) bool { return d.registered(p, true) }

// Ask reports whether p holds a record in the directory, asking whatever
// the budget: for the relay's own decisions that a wrong no would spoil
// (admitting a revocation, cutting a registered peer), each bounded by
// its caller.
func (d *remoteDirectory) Ask(p peer.ID) bool { return d.registered(p, false) }

func (d *remoteDirectory) registered(p peer.ID, budgeted bool) bool {
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
	if budgeted && d.budget != nil {
		if !d.budget.AllowN(now, 1) {
			return false // over budget: not asked, so nothing learnt
		}
		select {
		case d.slots <- struct{}{}:
			defer func() { <-d.slots }()
		default:
			return false
		}
	}
	ok, known := d.lookup(p)
	if !known {
		return false // the bootstrap did not answer: ask again next time
	}
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

// lookup asks each bootstrap in turn; known is false when none answered
// yes or no (unreachable, rate-limited).
func (d *remoteDirectory) lookup(p peer.ID) (registered, known bool) {
	ctx, cancel := context.WithTimeout(context.Background(), directoryLookup)
	defer cancel()
	for _, b := range d.boots {
		rec, err := directory.LookupPeer(ctx, d.h, b.ID, p)
		switch {
		case err == nil && rec.Peer == p:
			return true, true
		case errors.Is(err, wire.NotFound):
			known = true
		case err != nil:
			d.log.Debug("directory lookup", "peer", p, "err", err)
		}
	}
	return false, known
}
