package infra

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/wakehook"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/wake"
)

// WakeConfig says how a relay wakes the home nodes that hibernated on it
// (protocols/wake, internal/wakehook). At most one hook kind is set; with
// none, the relay still queues wakes and answers them when the owner's
// reservation returns (an orchestrator that wakes nodes by itself).
type WakeConfig struct {
	// Exec is a command template run on the relay host, split into
	// arguments without a shell, with {handle} and {peer} substituted
	// (wakehook.ParseTemplate); ExecFor overrides it per handle.
	Exec    string
	ExecFor map[string]string
	// Webhook is an orchestrator's URL: a POST signed with the relay key.
	Webhook string
	// Supervisor is a supervisor peer's multiaddr (ending in /p2p/ID): a
	// signed libp2p wake order (mesh supervise).
	Supervisor string
	// TTL is how long a wake waits for the owner; 0 is wake.DefaultTTL.
	TTL time.Duration
	// Hook, when set, is a hook given in code (a program embedding the
	// relay, benchmarks); it counts as the one hook kind.
	Hook wakehook.Hook
}

// hook builds the configured hook, nil when none is.
func (w WakeConfig) hook(r *relayStart, k *keys.PeerKey) (wakehook.Hook, error) {
	set := 0
	for _, on := range []bool{w.Exec != "" || len(w.ExecFor) > 0, w.Webhook != "", w.Supervisor != "", w.Hook != nil} {
		if on {
			set++
		}
	}
	switch {
	case set > 1:
		return nil, errors.New("set one wake hook: exec, webhook or supervisor")
	case w.Hook != nil:
		return w.Hook, nil
	case w.Webhook != "":
		return wakehook.NewWebhook(wakehook.WebhookConfig{URL: w.Webhook, Key: k.Libp2pPrivKey(), Now: r.cfg.Now})
	case w.Supervisor != "":
		ai, err := peer.AddrInfoFromString(w.Supervisor)
		if err != nil {
			return nil, fmt.Errorf("wake supervisor %q: want a multiaddr ending in /p2p/ID: %w", w.Supervisor, err)
		}
		r.p.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, 365*24*time.Hour)
		return wakehook.NewSupervisor(r.p.Host, k.Libp2pPrivKey(), ai.ID, r.cfg.Now)
	case set == 1:
		return wakehook.NewExec(wakehook.ExecConfig{Default: w.Exec, PerHandle: w.ExecFor, Logger: r.cfg.Logger.With("wake", "exec")})
	}
	return nil, nil
}

// wake serves /ocmt/wake/1: homes holding a reservation here may
// hibernate (under the handle the directory gives them), grantees with a
// token from them may wake them.
func (r *relayStart) wake(ctx context.Context, k *keys.PeerKey, reserved *atomic.Pointer[wake.Server]) error {
	hook, err := r.cfg.Wake.hook(r, k)
	if err != nil {
		return err
	}
	svc := r.svc.Load()
	srv, err := wake.NewServer(ctx, r.p.Host, wake.Config{Store: namespace.Wrap(r.st, store.Wake), Revocations: r.p.rev.Set(),
		Authorizer: svc.HoldsReservation, IsReserved: svc.HoldsReservation, CheckHandle: r.handleIs, Hook: hook,
		TTL: r.cfg.Wake.TTL, Now: r.cfg.Now, Logger: r.cfg.Logger})
	if err != nil {
		return fmt.Errorf("serve wakes: %w", err)
	}
	reserved.Store(srv)
	r.p.onClose(srv.Close)
	return nil
}

// handleIs reports whether the directory gives handle to p.
func (r *relayStart) handleIs(p peer.ID, handle string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), directoryLookup)
	defer cancel()
	for _, b := range r.boots {
		if rec, err := directory.LookupPeer(ctx, r.p.Host, b.ID, p); err == nil {
			return rec.Peer == p && string(rec.Handle) == handle
		}
	}
	return false
}
