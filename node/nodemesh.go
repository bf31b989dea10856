package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/grant"
	"github.com/ocmt/mesh/protocols/share"
)

// startMesh registers the share and grant protocols, joins the bootstrap
// peers and starts the loop that publishes the directory record, keeps the
// relay reservations and collects the mailbox.
func (n *Node) startMesh(ctx context.Context, boots, relays []peer.AddrInfo) error {
	l := n.local
	n.mesh = &meshNet{h: n.host, log: n.cfg.Logger, bootstrap: boots, relays: relays}
	for _, text := range n.cfg.RelayTokens {
		tok, err := capability.Parse(text)
		if err != nil {
			return fmt.Errorf("relay token: %w", err)
		}
		if tok.Audience() != n.host.ID() {
			return fmt.Errorf("relay token %s is for %s, not this node", tok.ID().Short(), tok.Audience())
		}
		n.mesh.relayTokens = append(n.mesh.relayTokens, tok)
	}
	l.net = n.mesh
	infra := func() []peer.ID { return peerIDs(boots, n.mesh.relayList()) }
	var err error
	if l.rev, err = startRevocations(ctx, revConfig{host: n.host, budget: n.budget, store: l.store, log: n.cfg.Logger, syncFrom: infra}); err != nil {
		return err
	}
	l.revocations = l.rev.set
	replay, err := openReplay(ctx, l.store)
	if err != nil {
		return err
	}
	verifier := capability.NewVerifier(capability.Config{Revocations: l.rev.set, Replay: replay})
	scfg := share.Config{Verifier: verifier, Store: shareStore{l}, Logger: n.cfg.Logger, Refused: l.refused, RevokedBy: l.revokedBy, Ready: l.rev.ready}
	if n.cfg.ShareRate > 0 {
		scfg.PerPeerRate, scfg.PerPeerBurst = rate.Limit(n.cfg.ShareRate), int(2*n.cfg.ShareRate)
	}
	if n.share, err = share.NewServer(n.host, scfg); err != nil {
		return err
	}
	n.grant = grant.NewServer(n.host, n.cfg.Logger, l.receive)
	if err := n.mesh.start(ctx, l.store); err != nil {
		return err
	}
	if n.cfg.Handle != "" {
		if cur, _ := l.Handle(ctx); cur != n.cfg.Handle {
			if err := l.checkAndSetHandle(ctx, n.cfg.Handle); err != nil {
				return err
			}
		}
	}
	if len(boots) == 0 && len(relays) == 0 {
		return nil
	}
	interval := n.cfg.MailboxInterval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	n.mesh.wg.Add(1)
	go func() {
		defer n.mesh.wg.Done()
		n.meshLoop(interval)
	}()
	return nil
}

// meshLoop publishes the record (retrying until the bootstrap takes it),
// then starts the relay reservations, then checks the mailbox periodically
// and republishes every half hour.
func (n *Node) meshLoop(interval time.Duration) {
	m, l := n.mesh, n.local
	if len(m.relays) == 0 && m.dht != nil {
		m.findRelays()
	}
	backoff := time.Second
	for len(m.bootstrap) > 0 {
		err := l.publishRecord(m.ctx)
		if err == nil || errors.Is(err, errNoHandle) {
			break
		}
		m.log.Warn("publishing the directory record failed", "err", err)
		if !sleepCtx(m.ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	m.keepReservations(func() {})
	republish := time.Now().Add(30 * time.Minute)
	for len(m.bootstrap) > 0 {
		ctx, cancel := context.WithTimeout(m.ctx, 20*time.Second)
		if k, err := l.fetchMail(ctx); err != nil {
			m.log.Debug("mailbox fetch failed", "err", err)
		} else if k > 0 {
			m.log.Info("grants collected from the mailbox", "count", k)
		}
		l.redeliver(ctx)
		if time.Now().After(republish) {
			if err := l.publishRecord(ctx); err == nil {
				republish = time.Now().Add(30 * time.Minute)
			}
		}
		cancel()
		if !sleepCtx(m.ctx, interval) {
			return
		}
	}
	<-m.ctx.Done()
}

var errNoHandle = errors.New("no handle set: this node is not in the directory (set one with `mesh handle NAME`)")

// publishRecord signs and publishes the directory record for the handle.
// Directory records only announce reachability and grant nothing, so they
// are signed even while the vault is locked.
func (l *Local) publishRecord(ctx context.Context) error {
	handle, err := l.Handle(ctx)
	if err != nil {
		return err
	}
	if handle == "" {
		l.log.Warn(errNoHandle.Error())
		return errNoHandle
	}
	now := time.Now()
	sr, err := directory.SignRecord(&l.peer, directory.Record{Handle: directory.Handle(handle), Relays: l.net.relayAddrs(),
		Name: handle, Seq: directory.SeqAt(now), Issued: now})
	if err != nil {
		return err
	}
	err = l.net.publish(ctx, sr)
	l.mu.Lock()
	l.handleProblem = ""
	if err != nil {
		l.handleProblem = "not claimed at the bootstrap yet: " + err.Error()
		if errors.Is(err, directory.ErrHandleTaken) {
			l.handleProblem = "taken by another key at the bootstrap; choose another with `mesh handle NAME`"
		}
	}
	l.mu.Unlock()
	return err
}

func (l *Local) checkAndSetHandle(ctx context.Context, h string) error {
	if _, err := directory.ParseHandle(h); err != nil {
		return err
	}
	return l.setHandle(ctx, h)
}

// SetHandle implements localapi.Backend: it stores the handle and, on a
// running node, claims it at the bootstrap.
func (l *Local) SetHandle(ctx context.Context, h string) error {
	if err := l.checkAndSetHandle(ctx, h); err != nil {
		return err
	}
	if l.net == nil || len(l.net.bootstrap) == 0 {
		return nil
	}
	if err := l.publishRecord(ctx); err != nil {
		return fmt.Errorf("handle saved, but claiming it at the bootstrap failed: %w", err)
	}
	return nil
}

func (n *Node) stopMesh() {
	if n.mesh != nil {
		n.mesh.close()
	}
	if n.local != nil {
		n.local.rev.close()
	}
	if n.share != nil {
		n.share.Close()
	}
	if n.grant != nil {
		n.grant.Close()
	}
}
