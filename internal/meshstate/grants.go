package meshstate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// Grant statuses, as mesh shares and mesh shared show them.
const (
	Active      = "active"
	Revoked     = "revoked"
	Expired     = "expired"
	NotYet      = "not yet valid"
	Undelivered = "undelivered" // issued, active, never reached its audience
)

// Via says how a grant travelled: delivered live, through the recipient's
// mailbox, or by hand (a token the recipient pasted: mesh token use).
const (
	ViaLive    = "live"
	ViaMailbox = "mailbox"
	ViaHand    = "by hand"
)

func issuedKey(id capability.ID) ds.Key   { return issuedPrefix.ChildString(id.String()) }
func receivedKey(id capability.ID) ds.Key { return receivedPrefix.ChildString(id.String()) }

// GrantOf describes tok as the CLI shows it.
func GrantOf(tok *capability.Token) localapi.Grant {
	root := tok.Chain()[0]
	return localapi.Grant{
		ID: tok.ID().String(), Token: tok.String(),
		Owner: root.Issuer().String(), Issuer: tok.Issuer().String(), Audience: tok.Audience().String(),
		Resource: string(tok.Resource()), Actions: tok.Actions().Names(),
		NotBefore: tok.NotBefore().UTC(), Expiry: tok.Expiry().UTC(), Depth: tok.Depth(),
	}
}

// Issue records a grant this node issued, with its audit record e.
func (s *State) Issue(ctx context.Context, g localapi.Grant, e vault.AuditEntry) error {
	id, err := capability.ParseID(g.ID)
	if err != nil {
		return err
	}
	return s.commit(ctx, e, issuedKey(id), g)
}

// MarkDelivered records how issued grant g reached its audience (via).
// A failure leaves it undelivered, to be retried; it is not an error the
// sharer can act on, so it is not returned.
func (s *State) MarkDelivered(ctx context.Context, g localapi.Grant, via string) {
	id, err := capability.ParseID(g.ID)
	if err != nil {
		return
	}
	g.Via, g.Status = via, "" // status is derived when read
	_ = s.commit(ctx, vault.AuditEntry{Actor: s.actor, Op: OpGrantDeliver, Target: id.Short(), Outcome: vault.OutcomeOK, Detail: via},
		issuedKey(id), g)
}

// HasReceived reports whether this node already holds grant id.
func (s *State) HasReceived(ctx context.Context, id capability.ID) (bool, error) {
	return s.store.Has(ctx, receivedKey(id))
}

// Receive records a grant this node took (live or from its mailbox),
// audited under the owner's name.
func (s *State) Receive(ctx context.Context, tok *capability.Token, g localapi.Grant) error {
	owner := tok.Chain()[0].Issuer()
	e := vault.AuditEntry{Actor: owner.String(), Op: OpGrantReceive, Target: g.Resource, Outcome: vault.OutcomeOK,
		Detail: fmt.Sprintf("%s from %s via %s: %s", tok.ID().Short(), g.OwnerHandle, g.Via, strings.Join(g.Actions, ","))}
	return s.commit(ctx, e, receivedKey(tok.ID()), g)
}

// Issued lists the grants this node issued, oldest first, each with its
// status; one that is active but never reached its audience is
// Undelivered. revoked says which tokens are revoked.
func (s *State) Issued(ctx context.Context, revoked capability.RevocationChecker) ([]localapi.Grant, error) {
	gs, err := list[localapi.Grant](ctx, s.store, issuedPrefix)
	if err != nil {
		return nil, err
	}
	gs = s.withStatus(gs, revoked)
	for i := range gs {
		if gs[i].Status == Active && gs[i].Via == "" {
			gs[i].Status = Undelivered
		}
	}
	return gs, nil
}

// Received lists the grants this node holds, oldest first, each with its
// status.
func (s *State) Received(ctx context.Context, revoked capability.RevocationChecker) ([]localapi.Grant, error) {
	gs, err := list[localapi.Grant](ctx, s.store, receivedPrefix)
	if err != nil {
		return nil, err
	}
	return s.withStatus(gs, revoked), nil
}

func (s *State) withStatus(gs []localapi.Grant, revoked capability.RevocationChecker) []localapi.Grant {
	now := s.now()
	for i := range gs {
		g := &gs[i]
		// the owner's verifier's window, skew included, so that a share
		// is "active" exactly while its owner serves it
		err := capability.Window{NotBefore: g.NotBefore, Expiry: g.Expiry}.Check(now)
		switch {
		case chainRevoked(g.Token, revoked):
			g.Status = Revoked
		case errors.Is(err, capability.ErrExpired):
			g.Status = Expired
		case errors.Is(err, capability.ErrNotYetValid):
			g.Status = NotYet
		default:
			g.Status = Active
		}
	}
	slices.SortFunc(gs, func(a, b localapi.Grant) int { return a.Created.Compare(b.Created) })
	return gs
}

// chainRevoked reports whether any link of the token is revoked: revoking
// a share revokes everything delegated from it.
func chainRevoked(text string, revoked capability.RevocationChecker) bool {
	tok, err := capability.Parse(text)
	if err != nil {
		return false
	}
	for _, t := range tok.Chain() {
		if revoked.IsRevoked(t.ID()) {
			return true
		}
	}
	return false
}
