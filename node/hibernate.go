package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/hibernate"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/resume"
)

// startSleeper wires internal/hibernate and, when the home holds a resume
// file, asks relays for the half they kept to come back unlocked. A node
// with no relay configured returns to those it hibernated at.
func (n *Node) startSleeper(ctx context.Context, mcfg *meshnet.Config) {
	if len(mcfg.Relays) == 0 {
		mcfg.Relays = hibernate.SleptAt(n.cfg.Home.SleptAtPath())
	}
	path := n.cfg.Home.ResumePath()
	prepare, open := n.signer.resumer(path, n.now)
	n.sleeper = hibernate.New(hibernate.Config{Host: n.host, Handle: n.Handle, Locked: n.vault.Locked, ResumedUntil: n.vault.ResumedUntil, Prepare: prepare, Resume: open,
		Relays:  func() []peer.ID { return n.net.ReservedOn() },
		Pending: func() bool { _, ok := resume.Pending(path); return ok }, Discard: func() error { return resume.Discard(path) },
		Flush: func(ctx context.Context) error { return n.cache.Flush(ctx) }, Window: n.cfg.ResumeWindow, Logger: n.log, Now: n.now,
		SleptAt: n.cfg.Home.SleptAtPath()})
	n.sleeper.ResumeFrom(ctx, mcfg.Relays)
}

// Hibernate implements localapi.Backend: mesh hibernate. Once a relay
// took it, Hibernated is closed and the process should exit.
func (n *Node) Hibernate(ctx context.Context) (int, error) { return n.sleeper.Hibernate(ctx) }

// Hibernated is closed once the node has hibernated.
func (n *Node) Hibernated() <-chan struct{} { return n.sleeper.Done() }
