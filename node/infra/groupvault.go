package infra

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ipfs/go-datastore/namespace"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/groupvault"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/homehost"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/presence"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/groupwire"
	"github.com/ocmt/mesh/protocols/revgossip"
)

// GroupVaultConfig configures a group vault peer (mesh groupvault).
type GroupVaultConfig struct {
	Config
	// Bootstrap and Relays are multiaddrs ending in /p2p/ID: the peer
	// claims its handle at the bootstrap and holds reservations on the
	// relays, as a home node does, since it may sit behind NAT.
	Bootstrap, Relays []string
	// Handle, when set, becomes the peer's handle (kept in its store);
	// default: the handle stored there (mesh init --handle, or an
	// earlier --handle).
	Handle string
	// Creators, when set, are the only peers that may create groups
	// here. Default: any peer, within groupvault's per-creator bound.
	Creators []peer.ID
	// Groups tunes the service (bounds, Rand); its Key, Store, Publish,
	// Now and Logger are set by the role.
	Groups groupvault.Config
	// Timings are the mesh connection's and the presence loop's waits
	// (tests); zero values take their defaults.
	Mesh     meshnet.Timings
	Presence presence.Timings
}

// StartGroupVault runs a group vault peer: a storage-only peer that keeps
// groups' sealed shares, sealed secrets and signed audit chains
// (internal/groupvault), answers /ocmt/group/1, publishes each audit
// record on the group's gossip topic, and keeps itself findable like a
// home node (its handle in the directory, relay reservations). It has no
// vault of its own to unlock, no agent socket and no UI: its peer key is
// its only secret, and a group's key exists only in its memory, while
// K of the group's admins have unlocked it.
func StartGroupVault(ctx context.Context, cfg GroupVaultConfig) (_ *Peer, err error) {
	cfg.fill()
	boots, err := p2phost.ParseAddrInfos("bootstrap", cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	relays, err := p2phost.ParseAddrInfos("relay", cfg.Relays)
	if err != nil {
		return nil, err
	}
	p, k, err := open(cfg.Home)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	st, err := openStore(ctx, p, cfg.Home, store.GroupVault)
	if err != nil {
		return nil, err
	}
	if cfg.Handle != "" {
		if _, err := directory.ParseHandle(cfg.Handle); err != nil {
			return nil, fmt.Errorf("handle %q: %w", cfg.Handle, err)
		}
		if err := meshstate.WriteHandle(ctx, st, cfg.Handle); err != nil {
			return nil, err
		}
	}
	os.Remove(cfg.Home.ReachablePath()) // left by a run that crashed
	// removed after the mesh connection's goroutines (which write it) stop
	p.onClose(func() error { os.Remove(cfg.Home.ReachablePath()); return nil })
	var svc *groupvault.Service
	// the groups' admins are the host's known peers: their relayed
	// connections are never refused for a stranger's
	known := func(context.Context) (map[peer.ID]bool, error) {
		m := map[peer.ID]bool{}
		if svc != nil {
			for _, id := range svc.Admins() {
				m[id] = true
			}
		}
		return m, nil
	}
	budget := revgossip.NewBudget(revgossip.BudgetConfig{Now: cfg.Now})
	h, err := homehost.New(k.Libp2pPrivKey(), cfg.Listen, budget.Gater(nil), known)
	if err != nil {
		return nil, err
	}
	p.Host = h
	p.onClose(h.Close)
	net, err := meshnet.Start(ctx, meshnet.Config{Host: h, Bootstrap: boots, Relays: relays,
		DHTStore: namespace.Wrap(st, store.MeshDHT), Logger: cfg.Logger, Now: cfg.Now, Timings: cfg.Mesh})
	if err != nil {
		return nil, err
	}
	p.onClose(func() error { net.Close(); return nil })
	var syncFrom func() []peer.ID
	if net.HasBootstrap() || len(relays) > 0 {
		syncFrom = net.Infrastructure
	}
	if p.rev, err = revgossip.Start(ctx, revgossip.Config{Host: h, Budget: budget, Store: namespace.Wrap(st, store.Mesh),
		Logger: cfg.Logger, Now: cfg.Now, SyncFrom: syncFrom, Timings: cfg.Revocations}); err != nil {
		return nil, err
	}
	p.onClose(p.rev.Close)
	topics := &auditTopics{ps: p.rev.PubSub(), self: h.ID(), topics: map[string]*pubsub.Topic{}}
	p.onClose(topics.close)
	gk := k // the service's copy, wiped at Close
	gcfg := cfg.Groups
	gcfg.Key, gcfg.Store, gcfg.Now, gcfg.Logger = &gk, namespace.Wrap(st, store.Groups), cfg.Now, cfg.Logger
	gcfg.Publish, gcfg.Creators, gcfg.Revocations, gcfg.Revoke = topics.publish, cfg.Creators, p.rev.Set(), p.rev.Revoke
	if svc, err = groupvault.Open(ctx, gcfg); err != nil {
		return nil, err
	}
	p.onClose(func() error { err := svc.Close(); gk.Wipe(); return err })
	srv, err := groupwire.NewServer(h, groupwire.Config{Handler: svc, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	p.onClose(srv.Close)
	rk := k // the directory record's signer, for the presence loop
	keeper := presence.New(presence.Config{Net: net, State: meshstate.New(st, nil, "groupvault", cfg.Now), Self: h.ID(),
		Sign: func(r directory.Record) (*directory.SignedRecord, error) { return directory.SignRecord(&rk, r) },
		Now:  cfg.Now, Logger: cfg.Logger, Timings: cfg.Presence.Filled()})
	p.onClose(func() error { rk.Wipe(); return nil })
	net.Go(keeper.Run)
	net.Go(svc.Run)
	net.Go(func(ctx context.Context) { markReachable(ctx, cfg.Home, net, st) })
	p.groups = svc
	cfg.Logger.Info("group vault started", "peer", h.ID(), "addrs", p2phost.Addrs(h))
	return p, p.publishAddrs(cfg.Home)
}

// auditTopics publishes each group's audit records on its topic, joining
// it on the first record.
type auditTopics struct {
	ps   *pubsub.PubSub
	self peer.ID

	mu     sync.Mutex
	topics map[string]*pubsub.Topic
}

func (a *auditTopics) publish(group string, record []byte) {
	a.mu.Lock()
	t := a.topics[group]
	if t == nil {
		var err error
		if t, err = groupwire.JoinAudit(a.ps, a.self, group); err != nil {
			a.mu.Unlock()
			return // admins sync what gossip misses
		}
		a.topics[group] = t
	}
	a.mu.Unlock()
	_ = t.Publish(context.Background(), record)
}

func (a *auditTopics) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.topics {
		t.Close()
	}
	return nil
}

// markReachable writes the reachable file (mesh addrs --reachable) once
// the peer holds a relay slot, which it reserves after its handle is
// claimed. Close removes it.
func markReachable(ctx context.Context, h home.Home, net *meshnet.Net, st ds.Batching) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !net.HasReservation() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	handle, _ := meshstate.New(st, nil, "groupvault", nil).Handle(ctx)
	home.WriteReachable(h, handle)
}
