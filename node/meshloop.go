package node

import (
	"context"
	"errors"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ipfs/go-datastore/namespace"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/delivery"
	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/internal/grantee"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/presence"
	"github.com/ocmt/mesh/internal/relevance"
	"github.com/ocmt/mesh/internal/resolve"
	"github.com/ocmt/mesh/internal/sharestore"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/grant"
	"github.com/ocmt/mesh/protocols/revgossip"
	"github.com/ocmt/mesh/protocols/share"
)

// startMesh starts the revocation service, the node's jobs (resolving
// handles, using grants, delivering them, keeping the node findable), the
// share and grant servers and the mesh connection, claims the configured
// handle, and starts the mesh loop (presence.Keeper.Run) that publishes
// the directory record, keeps the relay reservations and collects the
// mailbox.
func (n *Node) startMesh(ctx context.Context, budget *revgossip.Budget, mcfg meshnet.Config) error {
	var err error
	if n.net, err = meshnet.Start(ctx, mcfg); err != nil {
		return err
	}
	var syncFrom func() []peer.ID
	if n.net.HasBootstrap() || len(mcfg.Relays) > 0 {
		syncFrom = n.net.Infrastructure
	}
	log, t := n.cfg.Logger, n.cfg.Timings
	n.relevance = relevance.New(n.signer.ID())
	if err := n.relevance.Reload(ctx, n.state); err != nil {
		return err
	}
	var trusted func(peer.ID) bool
	if syncFrom != nil {
		trusted = n.trusted
	}
	// the share server's verified chains; a revocation frees the room of
	// the chains it ends (verification checks the set on every use anyway)
	chains := capability.NewChainCache(capability.DefaultCacheEntries, capability.DefaultCacheBytes)
	if n.rev, err = revgossip.Start(ctx, revgossip.Config{Host: n.host, Budget: budget, Store: namespace.Wrap(n.store, store.Mesh),
		Logger: log, Now: n.cfg.Now, SyncFrom: syncFrom, Timings: t.Revocations,
		Relevant: n.relevance.Relevant, Trusted: trusted,
		OnAdd: func(r *revocation.Revocation) { chains.Evict(r.ID()) }}); err != nil {
		return err
	}
	n.revs.SetLive(n.rev.Set())
	n.startJobs(log)
	replay, err := capability.OpenDatastoreReplay(ctx, namespace.Wrap(n.store, store.Uses))
	if err != nil {
		return err
	}
	n.shares = sharestore.New(sharestore.Config{Vault: n.vault, State: n.state, Served: n.served, Refused: n.metrics.Refused, Now: n.cfg.Now})
	verifier := capability.NewVerifier(capability.Config{Revocations: n.rev.Set(), Replay: replay, Clock: n.cfg.Now, Cache: chains})
	scfg := share.Config{Verifier: verifier, Store: n.shares, Logger: log, Refused: n.shares.Refused,
		RevokedBy: n.revokedBy, Ready: n.rev.Ready}
	if r := n.cfg.ShareRate; r > 0 {
		scfg.PerPeerRate, scfg.PerPeerBurst = rate.Limit(r), int(2*r)
	}
	if n.share, err = share.NewServer(n.host, scfg); err != nil {
		return err
	}
	n.grant = grant.NewServer(n.host, log, n.post.Receive)
	if h := n.cfg.Handle; h != "" {
		if cur, _ := n.Handle(ctx); cur != h {
			if err := n.Offline.SetHandle(ctx, h); err != nil {
				return err
			}
		}
	}
	if syncFrom != nil {
		n.net.Go(n.presence.Run)
	}
	return nil
}

// startJobs wires the node's jobs to its mesh connection, state, signer
// and to each other.
func (n *Node) startJobs(log *slog.Logger) {
	t := n.cfg.Timings
	n.resolver = resolve.New(resolve.Config{Net: n.net, State: n.state, Logger: log, Self: n.signer.ID(), Found: func(ctx context.Context, p peer.ID) {
		if !n.relevance.IsContact(p) {
			n.noticeChange(ctx) // a new contact: its revocations concern us
		}
	}})
	n.grantee = grantee.New(grantee.Config{Host: n.host, Net: n.net, Directory: n.resolver, Own: n.Offline, Handle: n.Handle,
		Received: n.received, Revocations: n.rev.Set(), Unlocked: n.signer.unlocked, Retry: t.ownerRetry(), Logger: log, Now: n.now,
		Cache: n.startCache()})
	n.post = delivery.New(delivery.Config{Host: n.host, Net: n.net, State: n.state, Self: n.signer.ID(), Revoked: n.rev.Set(), Audience: n.resolver.Audience,
		Issued: n.issued, Open: n.signer.OpenMailWhileLocked, Delivered: n.metrics.Delivered, Received: n.noticeChange,
		Now: n.now, Logger: log})
	n.presence = presence.New(presence.Config{Net: n.net, State: n.state, Self: n.signer.ID(), Sign: n.signer.SignRecordWhileLocked,
		Collect: n.post.Collect, ReserveAtOnce: len(n.cfg.RelayTokens) > 0, Now: n.now, Logger: log,
		Timings: presence.Timings{Mailbox: t.Mailbox, Republish: t.Republish, SelfCheck: t.SelfCheck, PublishRetryMax: t.PublishRetryMax}})
}

// SetHandle implements localapi.Backend: it stores the handle and claims
// it at the bootstrap.
func (n *Node) SetHandle(ctx context.Context, h string) error {
	if err := n.Offline.SetHandle(ctx, h); err != nil {
		return err
	}
	if !n.net.HasBootstrap() {
		return nil
	}
	if err := n.presence.Publish(ctx); err != nil {
		n.log.Info("claiming the handle failed", "err", err)
		if errors.Is(err, directory.ErrHandleTaken) {
			return words.Say(err, "handle saved, but %q is taken by another key at the bootstrap; choose another with mesh handle NAME", h)
		}
		return words.Say(err, "handle saved, but claiming it at the bootstrap failed: %s; run mesh handle %s again later", words.ReachProblem(err), h)
	}
	return nil
}

// Status implements localapi.Backend: the Offline's, plus what only a
// running node knows.
func (n *Node) Status(ctx context.Context) (localapi.Status, error) {
	st, err := n.Offline.Status(ctx)
	if err != nil {
		return st, err
	}
	st.Running, st.Listen, st.Relayed = true, n.Addrs(), n.net.HasReservation()
	if d := n.cfg.lockAfter(); d > 0 {
		st.LockAfter = duration.Format(d)
	}
	st.HandleProblem = n.presence.Problem()
	if u := n.ui; u != nil {
		st.UI, st.UIFingerprint = u.URL, u.Fingerprint
	}
	return st, nil
}

func (n *Node) stopMesh() {
	if n.net != nil {
		n.net.Close()
	}
	if n.rev != nil {
		n.rev.Close()
	}
	if n.share != nil {
		n.share.Close()
	}
	if n.shares != nil {
		n.shares.Close() // after the share server: no refusal comes after
	}
	if n.grant != nil {
		n.grant.Close()
	}
}
