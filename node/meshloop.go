package node

import (
	"context"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ipfs/go-datastore/namespace"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/auditlimit"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/wire"
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

// meshLoop keeps the node in the mesh. It looks for relays in the DHT in
// the background when none is configured (meshnet.LookForRelays), and
// publishes the directory record until the bootstrap takes it, then holds
// relay reservations (the relay admits peers in the directory; with a
// relay-access capability they start at once). Every Timings.Mailbox it
// checks the mailbox and retries undelivered shares. It publishes the
// record again every Timings.Republish, as soon as a connection to the
// bootstrap comes back (a restarted bootstrap may have lost its store),
// when relays are found (the record names them), and when a lookup of its
// own handle, every Timings.SelfCheck, finds the bootstrap without it;
// mesh status says what is wrong meanwhile.
func (n *Node) meshLoop(ctx context.Context) {
	t := n.cfg.Timings
	reserving := false
	reserve := func() {
		n.net.KeepReservations()
		n.net.RetryReservations() // what the relay checks has just changed
		reserving = true
	}
	if len(n.cfg.RelayTokens) > 0 {
		// A relay-access capability admits us without the directory. Without
		// one, reserving before the record is published would only teach
		// the relay that we are not registered (it remembers a no briefly).
		reserve()
	}
	if !n.net.HasBootstrap() {
		n.net.KeepReservations()
		return
	}
	relaysUp := n.net.LookForRelays()
	if len(n.net.Relays()) > 0 {
		relaysUp = nil // configured: nothing to wait for
	}
	var (
		publish   = true              // the record is to be published
		published bool                // the bootstrap took it once in this run
		missing   bool                // the last self-check found it missing
		pubWait   = publishRetryFirst // the pause after a failed publish
		pubAt     time.Time           // no publish before this (after a failure)
		round     time.Time           // the next mailbox round
		now       = time.Now()
		republish = now.Add(t.Republish)
		selfCheck = now.Add(t.SelfCheck)
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now = time.Now()
		if !now.Before(selfCheck) {
			selfCheck = now.Add(t.SelfCheck)
			if again, lost := n.checkOwnRecord(ctx); again {
				publish, missing = true, lost
				if lost {
					pubAt = time.Time{}
				}
			}
		}
		if !now.Before(republish) {
			publish, republish = true, now.Add(t.Republish)
		}
		if publish && !now.Before(pubAt) {
			drain(n.net.RepublishWanted()) // this attempt answers any request made before it
			switch err := n.publishRecord(ctx); {
			case err == nil, errors.Is(err, errNoHandle):
				publish, published, missing, pubWait = false, err == nil || published, false, publishRetryFirst
				republish = time.Now().Add(t.Republish)
				reserve()
			default:
				n.log.Warn("publishing the directory record failed", "err", err)
				switch {
				case errors.Is(err, directory.ErrHandleTaken): // publishRecord says so
				case missing:
					n.setHandleProblem("missing from the bootstrap's directory (it may have lost its store), and publishing it again failed: " + bootstrapProblem(err))
				case published:
					n.setHandleProblem("not confirmed at the bootstrap: publishing it again failed: " + bootstrapProblem(err))
				}
				pubAt = time.Now().Add(pubWait)
				pubWait = min(2*pubWait, t.PublishRetryMax)
			}
		}
		if !now.Before(round) {
			rctx, cancel := context.WithTimeout(ctx, mailRound)
			n.collect(rctx)
			cancel()
			round = time.Now().Add(t.Mailbox)
		}
		wake := minTime(round, minTime(republish, selfCheck))
		if publish {
			wake = minTime(wake, pubAt)
		}
		timer.Reset(time.Until(wake))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-n.net.RepublishWanted():
			// The bootstrap is back (or lost our record): publish, and
			// collect the mail and retry the shares that waited for it.
			publish, pubAt, round = true, time.Time{}, time.Time{}
		case <-relaysUp:
			relaysUp = nil
			publish, pubAt = true, time.Time{} // the record now names the relays
			if reserving {
				n.net.KeepReservations()
			}
		}
	}
}

// collect checks the mailbox and retries undelivered shares.
func (n *Node) collect(ctx context.Context) {
	if k, err := n.fetchMail(ctx); err != nil {
		n.log.Debug("mailbox fetch failed", "err", err)
	} else if k > 0 {
		n.log.Info("grants collected from the mailbox", "count", k)
	}
	n.redeliver(ctx)
}

// checkOwnRecord looks the node's own handle up at the bootstrap,
// bypassing the cache. again says the record should be published again:
// the bootstrap does not hold it (lost), holds another key's (publishing
// says it is taken), or did not answer (publishing retries, and says why
// in mesh status while it fails).
func (n *Node) checkOwnRecord(ctx context.Context) (again, lost bool) {
	handle, err := n.Handle(ctx)
	if err != nil || handle == "" {
		return false, false
	}
	cctx, cancel := context.WithTimeout(ctx, selfLookup)
	defer cancel()
	rec, err := n.net.LookupNow(cctx, handle)
	switch {
	case errors.Is(err, wire.NotFound):
		n.log.Warn("the bootstrap does not hold our directory record; publishing it again", "handle", handle)
		n.setHandleProblem("missing from the bootstrap's directory (it may have lost its store); publishing it again")
		return true, true
	case err != nil:
		n.log.Info("checking our directory record failed", "handle", handle, "err", err)
		return true, false
	case rec.Peer != n.signer.ID():
		return true, false
	}
	return false, false
}

// bootstrapProblem says why the bootstrap did not take the record.
func bootstrapProblem(err error) string {
	if errors.Is(err, wire.Unavailable) {
		return "the bootstrap cannot take it right now"
	}
	return reachProblem(err)
}

func (n *Node) setHandleProblem(p string) {
	n.mu.Lock()
	n.handleProblem = p
	n.mu.Unlock()
}

func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
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
	n.setHandleProblem(problem)
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
