package infra

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/auditlimit"
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
	alog, err := p.openRoleLog(cfg.Config, &k, RoleSupervisor)
	if err != nil {
		return nil, err
	}
	audit := newSuperviseAudit(alog, cfg.Config)
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
		Hook:   hook, Now: cfg.Now, Logger: cfg.Logger, Audit: audit.order})
	if err != nil {
		return nil, err
	}
	p.onClose(func() error { srv.Close(); return audit.stop() })
	if err := audit.start(h.ID()); err != nil {
		return nil, err
	}
	cfg.Logger.Info("supervisor ready", "peer", h.ID().String(), "relays", len(relays))
	return p, p.publishAddrs(cfg.Home)
}

// protectSupervisedRelay keeps the connections of the relays a supervisor
// serves out of the connection manager's trimming.
const protectSupervisedRelay = "ocmt-supervised-relay"

// superviseRecord is one record of a supervisor's audit log: metadata
// only (who ordered which node woken, and what came of it).
type superviseRecord struct {
	Time    time.Time `json:"time"`
	Event   string    `json:"event"` // start, stop, wake, refusals (a summary)
	Relay   string    `json:"relay,omitempty"`
	Handle  string    `json:"handle,omitempty"`
	Peer    string    `json:"peer,omitempty"`
	Outcome string    `json:"outcome,omitempty"` // done, failed, refused
	Reason  string    `json:"reason,omitempty"`
	Count   int       `json:"count,omitempty"` // a summary's orders
}

// superviseAudit writes the supervisor's chained audit log. Orders from
// the relays it serves are recorded one by one; refused orders, which
// anyone can send, go through a coalescer (summarised per peer past half
// of AuditMaxRecords a window), as the relay's refusals do.
type superviseAudit struct {
	log      *chainLog
	refusals *auditlimit.Coalescer
	now      func() time.Time
	self     peer.ID
}

func newSuperviseAudit(l *chainLog, cfg Config) *superviseAudit {
	a := &superviseAudit{log: l, now: cfg.Now}
	a.refusals = auditlimit.New(auditlimit.Config{Record: a.coalesced, Window: cfg.AuditWindow, MaxRecords: cfg.AuditMaxRecords, Now: cfg.Now})
	return a
}

func (a *superviseAudit) order(o wakehook.Order) {
	if o.Outcome == wakehook.OrderRefused {
		a.refusals.Add(o.Relay.String(), "wake", "", o.Reason)
		return
	}
	r := superviseRecord{Time: a.now().UTC(), Event: "wake", Relay: o.Relay.String(), Handle: o.Handle, Outcome: o.Outcome, Reason: o.Reason}
	if o.Peer != "" {
		r.Peer = o.Peer.String()
	}
	_ = a.log.Append(r) // a failing log is its own state; the order was carried out
}

func (a *superviseAudit) coalesced(e auditlimit.Event) {
	r := superviseRecord{Time: a.now().UTC(), Event: "wake", Relay: e.Peer, Outcome: wakehook.OrderRefused, Reason: e.Detail}
	if e.Summary() {
		r.Event, r.Count, r.Reason = "refusals", e.Count, e.String()
	}
	_ = a.log.Append(r)
}

func (a *superviseAudit) start(self peer.ID) error {
	a.self = self
	if err := a.log.Append(superviseRecord{Time: a.now().UTC(), Event: "start", Peer: self.String()}); err != nil {
		return err
	}
	return a.log.Sync()
}

func (a *superviseAudit) stop() error {
	a.refusals.Close()
	return errors.Join(a.log.Append(superviseRecord{Time: a.now().UTC(), Event: "stop", Peer: a.self.String()}), a.log.Sync())
}
