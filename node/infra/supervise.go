package infra

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/wakehook"
)

// SuperviseConfig configures a supervisor peer (mesh supervise): the
// process on a container host that starts the users' containers when a
// relay orders it to (internal/wakehook, /ocmt/supervise/1). Of Config it
// uses Home (its key and, while it runs, its addrs file), Listen, Logger,
// Now and WrapHost; it keeps no store, no revocation set and no metrics.
type SuperviseConfig struct {
	Config
	// Relays are the relays whose wake orders it carries out, by peer ID.
	// An order from any other peer, or not signed by the relay that sent
	// it, is refused before the command is looked at. Required.
	Relays []peer.ID
	// Exec is the command template run for a wake (wakehook.ParseTemplate:
	// split into arguments without a shell, {handle} and {peer} replaced
	// inside arguments); ExecFor overrides it per handle. At least one is
	// required: a supervisor runs only its operator's commands.
	Exec    string
	ExecFor map[string]string
}

// StartSupervisor runs a supervisor peer: a libp2p host with its own
// identity in cfg.Home that answers /ocmt/supervise/1. A wake order signed
// by one of cfg.Relays, naming it and dated within
// wakehook.SuperviseMaxSkew of cfg.Now, starts the command cfg.Exec (or
// cfg.ExecFor's) for the order's handle, detached, its output in
// cfg.Logger; anything else is refused in words and runs nothing. Close
// stops answering and waits for the orders in flight, not for the
// commands they started (a command may be the node itself).
func StartSupervisor(ctx context.Context, cfg SuperviseConfig) (_ *Peer, err error) {
	cfg.fill()
	if len(cfg.Relays) == 0 {
		return nil, errors.New("a supervisor needs the peer IDs of the relays whose wake orders it carries out")
	}
	for _, id := range cfg.Relays {
		if _, err := peer.IDFromBytes([]byte(id)); err != nil {
			return nil, fmt.Errorf("the relay %q is not a peer ID", id.String())
		}
	}
	hook, err := wakehook.NewExec(wakehook.ExecConfig{Default: cfg.Exec, PerHandle: cfg.ExecFor, Logger: cfg.Logger.With("wake", "exec")})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
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
	// Not startHost: a supervisor serves no NAT checks and claims no
	// public reachability; only its relays have a reason to reach it.
	h, err := p2phost.New(k.Libp2pPrivKey(), cfg.Listen, libp2p.DisableRelay())
	if err != nil {
		return nil, err
	}
	p.Host = h
	p.onClose(h.Close)
	relays := slices.Clone(cfg.Relays)
	for _, id := range relays {
		h.ConnManager().Protect(id, protectSupervisedRelay)
	}
	srv, err := wakehook.ServeSupervisor(cfg.WrapHost(h), wakehook.SupervisorServerConfig{
		Relays: func(id peer.ID) bool { return slices.Contains(relays, id) },
		Hook:   hook, Now: cfg.Now, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	p.onClose(func() error { srv.Close(); return nil })
	cfg.Logger.Info("supervisor ready", "peer", h.ID().String(), "relays", len(relays))
	return p, p.publishAddrs(cfg.Home)
}

// protectSupervisedRelay keeps the connections of the relays a supervisor
// serves out of the connection manager's trimming.
const protectSupervisedRelay = "ocmt-supervised-relay"
