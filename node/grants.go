package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// The node's mesh state lives in its store beside the vault, in the clear
// (internal/store's layout lists every key): tokens are bound to their
// audience and are not secrets, and a node must be able to receive grants
// while its vault is locked. Every change is written in the same batch as
// its audit record.
var (
	profileHandleKey = ds.NewKey("/mesh/profile/handle")
	issuedPrefix     = ds.NewKey("/mesh/grants/issued")
	receivedPrefix   = ds.NewKey("/mesh/grants/received")
	contactsPrefix   = ds.NewKey("/mesh/contacts")
)

// Audit operations of the home node.
const (
	OpShareIssue    = "share.issue"
	OpShareServe    = "share.serve"
	OpShareRefused  = "share.refused"
	OpGrantReceive  = "grant.receive"
	OpGrantDeliver  = "grant.deliver"
	OpResourceWrite = "resource.write"
	OpResourceRead  = "resource.read"
	OpContactNew    = "contact.new"
	OpContactChange = "contact.key-changed"
	OpContactAccept = "contact.accept"
	OpHandleSet     = "profile.handle"
	OpTokenIssue    = "token.issue"
	OpTokenRevoke   = "token.revoke"
)

// Grant statuses, as mesh shares and mesh shared show them.
const (
	statusActive      = "active"
	statusRevoked     = "revoked"
	statusExpired     = "expired"
	statusNotYet      = "not yet valid"
	statusUndelivered = "undelivered" // issued, active, never reached its audience
)

// maxStoredJSON bounds any mesh-state record read back from the store.
const maxStoredJSON = 64 << 10

func putJSON(ctx context.Context, b ds.Batch, k ds.Key, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(ctx, k, raw)
}

func decodeJSON(k string, raw []byte, v any) error {
	if len(raw) > maxStoredJSON {
		return fmt.Errorf("%w: %s too large", vault.ErrCorrupt, k)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %s: %v", vault.ErrCorrupt, k, err)
	}
	return nil
}

func getJSON(ctx context.Context, store ds.Datastore, k ds.Key, v any) error {
	raw, err := store.Get(ctx, k)
	if err != nil {
		return err
	}
	return decodeJSON(k.String(), raw, v)
}

func listJSON[T any](ctx context.Context, store ds.Datastore, prefix ds.Key) ([]T, error) {
	res, err := store.Query(ctx, query.Query{Prefix: prefix.String()})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(entries))
	for _, e := range entries {
		var v T
		if err := decodeJSON(e.Key, e.Value, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Handle returns the handle this node claims, or "".
func (o *Offline) Handle(ctx context.Context) (string, error) {
	b, err := o.store.Get(ctx, profileHandleKey)
	if errors.Is(err, ds.ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

func (o *Offline) setHandle(ctx context.Context, h string) error {
	return o.vault.Commit(ctx, vault.AuditEntry{Actor: o.actor, Op: OpHandleSet, Target: h, Outcome: vault.OutcomeOK},
		func(b ds.Batch) error { return b.Put(ctx, profileHandleKey, []byte(h)) })
}

// SetHandle implements localapi.Backend: it checks and stores the handle
// (a running node also claims it at the bootstrap).
func (o *Offline) SetHandle(ctx context.Context, h string) error {
	if err := checkHandle(h); err != nil {
		return err
	}
	return o.setHandle(ctx, h)
}

func issuedKey(id capability.ID) ds.Key   { return issuedPrefix.ChildString(id.String()) }
func receivedKey(id capability.ID) ds.Key { return receivedPrefix.ChildString(id.String()) }

// grantStatus is a grant's state at now.
func grantStatus(g localapi.Grant, revoked bool, now time.Time) string {
	switch {
	case revoked:
		return statusRevoked
	case now.After(g.Expiry):
		return statusExpired
	case now.Before(g.NotBefore):
		return statusNotYet
	}
	return statusActive
}

func grantOf(tok *capability.Token) localapi.Grant {
	root := tok.Chain()[0]
	return localapi.Grant{
		ID: tok.ID().String(), Token: tok.String(),
		Owner: root.Issuer().String(), Issuer: tok.Issuer().String(), Audience: tok.Audience().String(),
		Resource: string(tok.Resource()), Actions: tok.Actions().Names(),
		NotBefore: tok.NotBefore().UTC(), Expiry: tok.Expiry().UTC(), Depth: tok.Depth(),
	}
}

// Shares implements localapi.Backend: the grants this node issued.
func (o *Offline) Shares(ctx context.Context) ([]localapi.Grant, error) { return o.issued(ctx) }

// Shared implements localapi.Backend: the grants this node holds (a
// running node first collects its mailbox).
func (o *Offline) Shared(ctx context.Context) ([]localapi.Grant, error) { return o.received(ctx) }

// issued lists the grants this node issued. One that is active but never
// reached its audience is "undelivered" (a running node retries it).
func (o *Offline) issued(ctx context.Context) ([]localapi.Grant, error) {
	gs, err := listJSON[localapi.Grant](ctx, o.store, issuedPrefix)
	if err != nil {
		return nil, err
	}
	gs = o.withStatus(gs)
	for i := range gs {
		if gs[i].Status == statusActive && gs[i].Via == "" {
			gs[i].Status = statusUndelivered
		}
	}
	return gs, nil
}

func (o *Offline) received(ctx context.Context) ([]localapi.Grant, error) {
	gs, err := listJSON[localapi.Grant](ctx, o.store, receivedPrefix)
	if err != nil {
		return nil, err
	}
	return o.withStatus(gs), nil
}

func (o *Offline) withStatus(gs []localapi.Grant) []localapi.Grant {
	now := o.now()
	for i := range gs {
		gs[i].Status = grantStatus(gs[i], o.chainRevoked(gs[i].Token), now)
	}
	slices.SortFunc(gs, func(a, b localapi.Grant) int { return a.Created.Compare(b.Created) })
	return gs
}

// chainRevoked reports whether any link of the token is revoked: revoking
// a share revokes everything delegated from it.
func (o *Offline) chainRevoked(text string) bool {
	tok, err := capability.Parse(text)
	if err != nil {
		return false
	}
	for _, t := range tok.Chain() {
		if o.revoked.IsRevoked(t.ID()) {
			return true
		}
	}
	return false
}
