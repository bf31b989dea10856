package resolve

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/protocols/directory"
)

// nameLookup bounds naming a peer in a refusal message.
const nameLookup = 2 * time.Second

// Config configures a Resolver.
type Config struct {
	// Net is the node's mesh connection, which asks the directory.
	Net *meshnet.Net
	// State holds the node's handle and its pinned contacts.
	State *meshstate.State
	// Found, when set, is told of every peer a handle resolved to (a new
	// contact's revocations concern the node).
	Found func(ctx context.Context, p peer.ID)
	// Self is the node's own peer ID. When set, the node's own handle
	// resolving to another key means the bootstrap lost the node's record
	// (it answers a decoy for a handle nobody holds, protocols/directory
	// "Decoys"): the node publishes again, and pins nothing. Default: not
	// checked.
	Self peer.ID
	// Logger receives operational logs. Default: discard.
	Logger *slog.Logger
}

// Resolver resolves handles and peers for one home node.
type Resolver struct{ cfg Config }

// New returns a Resolver.
func New(cfg Config) *Resolver {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Found == nil {
		cfg.Found = func(context.Context, peer.ID) {}
	}
	return &Resolver{cfg: cfg}
}

// Resolve looks a handle up in the directory and checks it against the
// pinned contact, keeping the record's relay addresses with it. When the
// directory cannot answer (the bootstrap is down), a pinned contact is
// resolved from what was kept: its key and last-known relays.
//
// A handle nobody holds resolves, at a bootstrap that keeps decoys
// (protocols/directory, "Decoys"), to the handle's decoy: a record like
// any other, which this node cannot tell apart (nor can anyone without
// the bootstrap's secret). It is pinned as any record is; a grant for it
// waits in a mailbox nobody reads until it expires, and should someone
// claim the handle later, their key shows as a key change waiting for
// acceptance. Words about such a peer must not claim it exists: "has not
// fetched it yet", not "is offline".
func (r *Resolver) Resolve(ctx context.Context, handle string) (*directory.Record, error) {
	if _, err := directory.ParseHandle(handle); err != nil {
		return nil, words.BadHandle(handle, err)
	}
	st, log := r.cfg.State, r.cfg.Logger
	rec, err := r.cfg.Net.Lookup(ctx, handle)
	if errors.Is(err, wire.NotFound) {
		if mine, _ := st.Handle(ctx); mine == handle {
			r.cfg.Net.Republish() // the bootstrap lost our record
		}
		return nil, words.Say(err, "nobody is called %q in the directory", handle)
	} else if err != nil {
		if rec, ok := r.remembered(ctx, handle, err); ok {
			return rec, nil
		}
		log.Info("directory lookup failed", "handle", handle, "err", err)
		return nil, words.Say(err, "could not look %q up in the directory: %s", handle, words.ReachProblem(err))
	}
	if mine, _ := st.Handle(ctx); mine == handle && r.cfg.Self != "" && rec.Peer != r.cfg.Self {
		r.cfg.Net.Republish()
		return nil, words.Say(wire.Errorf(wire.NotFound, "own record missing"),
			"%q is your own handle, but the directory does not hold your record right now; your node is publishing it again", handle)
	}
	if err := st.Pin(ctx, handle, rec.Peer); err != nil {
		return nil, err
	}
	if err := st.Remember(ctx, handle, rec.Peer, rec.Relays); err != nil {
		log.Debug("keeping a contact's relays failed", "handle", handle, "err", err)
	}
	r.cfg.Found(ctx, rec.Peer)
	return rec, nil
}

// remembered resolves a pinned contact without the directory, after the
// lookup failed with err: only when the directory did not answer (a
// refusal or "no such handle" is an answer) and no key change waits for
// acceptance.
func (r *Resolver) remembered(ctx context.Context, handle string, err error) (*directory.Record, bool) {
	var we *wire.Error
	if ctx.Err() != nil || (errors.As(err, &we) && we.Status != wire.Unavailable && we.Status != wire.RateLimited) {
		return nil, false
	}
	c, ok := r.cfg.State.Pinned(ctx, handle)
	if !ok || c.Pending != "" {
		return nil, false
	}
	r.cfg.Logger.Info("directory unavailable; using the pinned contact and its last-known relays", "handle", handle,
		"relays", len(c.Relays), "err", err)
	return &directory.Record{Handle: directory.Handle(handle), Peer: c.Peer, Relays: c.Relays}, true
}

// Audience finds how to reach a grant's audience: its directory record
// (whose relays are kept with the contact), else the pinned contact's
// last-known relays (the bootstrap is down, or lost the record).
func (r *Resolver) Audience(ctx context.Context, id peer.ID) (*directory.Record, error) {
	rec, err := r.cfg.Net.LookupPeer(ctx, id)
	if err == nil {
		if err := r.cfg.State.Remember(ctx, string(rec.Handle), rec.Peer, rec.Relays); err != nil {
			r.cfg.Logger.Debug("keeping a contact's relays failed", "peer", id, "err", err)
		}
		return rec, nil
	}
	c, ok := r.cfg.State.PinnedPeer(ctx, id)
	if !ok || len(c.Relays) == 0 {
		return nil, err
	}
	return &directory.Record{Handle: directory.Handle(c.Handle), Peer: id, Relays: c.Relays}, nil
}

// NameOf names a peer for messages: its pinned contact handle, else the
// handle its own signed directory record claims (looked up briefly), else "".
func (r *Resolver) NameOf(ctx context.Context, id peer.ID) string {
	if name := r.cfg.State.NameOf(ctx, id); name != "" {
		return name
	}
	ctx, cancel := context.WithTimeout(ctx, nameLookup)
	defer cancel()
	rec, err := r.cfg.Net.LookupPeer(ctx, id)
	if err != nil || rec.Peer != id {
		return ""
	}
	return string(rec.Handle)
}
