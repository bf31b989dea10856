package node

import (
	"context"
	"errors"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ipfs/go-datastore/namespace"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/auditlimit"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/grant"
	"github.com/ocmt/mesh/protocols/revgossip"
	"github.com/ocmt/mesh/protocols/share"
)

// startMesh starts the revocation service, the share and grant servers and
// the mesh connection, claims the configured handle, and starts the loop
// that publishes the directory record, keeps the relay reservations and
// collects the mailbox.
func (n *Node) startMesh(ctx context.Context, budget *revgossip.Budget, mcfg meshnet.Config) error {
	var err error
	if n.net, err = meshnet.Start(ctx, mcfg); err != nil {
		return err
	}
	var syncFrom func() []peer.ID
	if n.net.HasBootstrap() || len(mcfg.Relays) > 0 {
		syncFrom = n.net.Infrastructure
	}
	n.relevance.self = n.signer.ID()
	if err := n.relevance.reload(ctx, n.Offline); err != nil {
		return err
	}
	var trusted func(peer.ID) bool
	if syncFrom != nil {
		trusted = n.trusted
	}
	if n.rev, err = revgossip.Start(ctx, revgossip.Config{Host: n.host, Budget: budget, Store: namespace.Wrap(n.store, store.Mesh),
		Logger: n.cfg.Logger, Now: n.cfg.Now, SyncFrom: syncFrom, Timings: n.cfg.Timings.Revocations,
		Relevant: n.relevance.relevant, Trusted: trusted}); err != nil {
		return err
	}
	n.revoked = n.rev.Set()
	replay, err := capability.OpenDatastoreReplay(ctx, namespace.Wrap(n.store, store.Uses))
	if err != nil {
		return err
	}
	n.refusals = auditlimit.New(auditlimit.Config{Record: n.auditRefusal, Now: n.cfg.Now})
	verifier := capability.NewVerifier(capability.Config{Revocations: n.rev.Set(), Replay: replay, Clock: n.cfg.Now})
	scfg := share.Config{Verifier: verifier, Store: shareStore{o: n.Offline, served: n.served}, Logger: n.cfg.Logger, Refused: n.refused,
		RevokedBy: n.revokedBy, Ready: n.rev.Ready}
	if r := n.cfg.ShareRate; r > 0 {
		scfg.PerPeerRate, scfg.PerPeerBurst = rate.Limit(r), int(2*r)
	}
	if n.share, err = share.NewServer(n.host, scfg); err != nil {
		return err
	}
	n.grant = grant.NewServer(n.host, n.cfg.Logger, n.receive)
	if h := n.cfg.Handle; h != "" {
		if cur, _ := n.Handle(ctx); cur != h {
			if err := n.Offline.SetHandle(ctx, h); err != nil {
				return err
			}
		}
	}
	if syncFrom != nil {
		n.net.Go(n.meshLoop)
	}
	return nil
}

// meshLoop keeps the node in the mesh: it finds a relay if none is
// configured, publishes the directory record (retrying until the bootstrap
// takes it) and then holds relay reservations (the relay admits peers in
// the directory; with a relay-access capability they start at once), then
// checks the mailbox and retries undelivered shares every Timings.Mailbox,
// looks for a relay again while it has none, and republishes every
// Timings.Republish.
func (n *Node) meshLoop(ctx context.Context) {
	t := n.cfg.Timings
	n.net.FindRelays()
	if len(n.cfg.RelayTokens) > 0 {
		// A relay-access capability admits us without the directory. Without
		// one, reserving before the record is published would only teach
		// the relay that we are not registered (it remembers a no briefly).
		n.net.KeepReservations()
	}
	backoff := publishRetryFirst
	for n.net.HasBootstrap() {
		err := n.publishRecord(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, errNoHandle) {
			break
		}
		n.log.Warn("publishing the directory record failed", "err", err)
		if !meshnet.Sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, t.PublishRetryMax)
	}
	n.net.KeepReservations()
	n.net.RetryReservations()
	republish := n.now().Add(t.Republish)
	for n.net.HasBootstrap() {
		rctx, cancel := context.WithTimeout(ctx, mailRound)
		if k, err := n.fetchMail(rctx); err != nil {
			n.log.Debug("mailbox fetch failed", "err", err)
		} else if k > 0 {
			n.log.Info("grants collected from the mailbox", "count", k)
		}
		n.redeliver(rctx)
		if n.now().After(republish) {
			if err := n.publishRecord(rctx); err == nil {
				republish = n.now().Add(t.Republish)
			}
		}
		cancel()
		if len(n.net.Relays()) == 0 && n.net.FindRelays() {
			n.net.KeepReservations()
			n.publishRecord(ctx) // the record now names the relay
		}
		if !meshnet.Sleep(ctx, t.Mailbox) {
			return
		}
	}
}

var errNoHandle = errors.New("no handle set: this node is not in the directory (set one with `mesh handle NAME`)")

// publishRecord signs (see Signer.SignRecordWhileLocked) and publishes the
// directory record for the handle, and keeps why it failed for mesh status.
func (n *Node) publishRecord(ctx context.Context) error {
	handle, err := n.Handle(ctx)
	if err != nil {
		return err
	}
	if handle == "" {
		n.log.Warn(errNoHandle.Error())
		return errNoHandle
	}
	now := n.now()
	sr, err := n.signer.SignRecordWhileLocked(directory.Record{Handle: directory.Handle(handle), Relays: n.net.RelayAddrs(),
		Name: handle, Seq: directory.SeqAt(now), Issued: now})
	if err != nil {
		return err
	}
	err = n.net.Publish(ctx, sr)
	problem := ""
	switch {
	case errors.Is(err, directory.ErrHandleTaken):
		problem = "taken by another key at the bootstrap; choose another with `mesh handle NAME`"
	case err != nil:
		problem = "not claimed at the bootstrap yet: " + reachProblem(err)
	}
	n.mu.Lock()
	n.handleProblem = problem
	n.mu.Unlock()
	return err
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
	if err := n.publishRecord(ctx); err != nil {
		n.log.Info("claiming the handle failed", "err", err)
		if errors.Is(err, directory.ErrHandleTaken) {
			return say(err, "handle saved, but %q is taken by another key at the bootstrap; choose another with mesh handle NAME", h)
		}
		return say(err, "handle saved, but claiming it at the bootstrap failed: %s; run mesh handle %s again later", reachProblem(err), h)
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
		st.LockAfter = FormatDuration(d)
	}
	n.mu.Lock()
	st.HandleProblem = n.handleProblem
	n.mu.Unlock()
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
	if n.refusals != nil {
		n.refusals.Close() // after the share server: no refusal comes after
	}
	if n.grant != nil {
		n.grant.Close()
	}
}
