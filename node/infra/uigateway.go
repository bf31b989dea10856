package infra

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/uigateway"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/relay"
)

// The UI gateway's audit events: a connection served, and refusals
// (through the role's coalescer: strangers choose them).
const (
	EventUIConnection relay.AuditEvent = "ui-connection"
	EventUIRefused    relay.AuditEvent = "ui-refused"
)

var errNotServedHere = errors.New("that home holds no reservation on this relay")

// uiGateway routes TLS connections for HANDLE.UIDomain to that home's web
// UI (internal/uigateway): the handle is looked up in the bootstrap's
// directory, and only a home holding a reservation here is reached, over
// its own connection.
func (r *relayStart) uiGateway(context.Context) error {
	if r.cfg.UIGateway == "" {
		return nil
	}
	svc := r.svc.Load()
	g, err := uigateway.New(uigateway.Config{Listen: r.cfg.UIGateway, Domain: r.cfg.UIDomain, Logger: r.cfg.Logger, Now: r.cfg.Now,
		Open: uigateway.Opener(r.p.Host),
		Resolve: func(ctx context.Context, h directory.Handle) (peer.ID, error) {
			var last error = errNotServedHere
			for _, b := range r.boots {
				rec, err := directory.Lookup(ctx, r.p.Host, b.ID, h)
				if err != nil {
					last = err
					continue
				}
				if !svc.HoldsReservation(rec.Peer) {
					return "", errNotServedHere
				}
				return rec.Peer, nil
			}
			return "", last
		},
		Audit: func(e uigateway.Event) {
			if e.Outcome.Refused() {
				r.audit.refusals.Add("ip:"+e.SourceIP.String(), string(EventUIRefused), e.Node.String(), string(e.Outcome))
				return
			}
			_ = r.audit.write(relay.AuditRecord{Time: e.Time.UTC(), Event: EventUIConnection, Dst: e.Node, BytesSrcToDst: e.BytesIn,
				BytesDstToSrc: e.BytesOut, DurationMS: float64(e.Duration) / float64(time.Millisecond), Reason: relay.Reason(e.Outcome)})
		}})
	if err != nil {
		return fmt.Errorf("the UI gateway: %w", err)
	}
	r.p.onClose(g.Close)
	r.p.uiGateway = g.Addr().String()
	return nil
}
