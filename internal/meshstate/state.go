package meshstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/vault"
)

// Keys of the mesh state in a home node's store.
var (
	handleKey      = ds.NewKey("/mesh/profile/handle")
	issuedPrefix   = ds.NewKey("/mesh/grants/issued")
	receivedPrefix = ds.NewKey("/mesh/grants/received")
	contactsPrefix = ds.NewKey("/mesh/contacts")
)

// Audit operations of the mesh state.
const (
	OpHandleSet     = "profile.handle"
	OpGrantReceive  = "grant.receive"
	OpGrantDeliver  = "grant.deliver"
	OpContactNew    = "contact.new"
	OpContactChange = "contact.key-changed"
	OpContactAccept = "contact.accept"
)

// maxRecord bounds any mesh-state record read back from the store.
const maxRecord = 64 << 10

// State is a home node's mesh state in its store.
type State struct {
	store ds.Batching
	vault *vault.Vault
	actor string
	now   func() time.Time
	// contacts serialises the read-modify-write of contact records.
	contacts sync.Mutex
}

// New returns the state kept in store, audited through v under actor's
// name (who acts: "cli", "local-api"), on clock now (nil: time.Now).
func New(store ds.Batching, v *vault.Vault, actor string, now func() time.Time) *State {
	if now == nil {
		now = time.Now
	}
	return &State{store: store, vault: v, actor: actor, now: now}
}

// Handle returns the handle this node claims, or "".
func (s *State) Handle(ctx context.Context) (string, error) {
	b, err := s.store.Get(ctx, handleKey)
	if errors.Is(err, ds.ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

// SetHandle stores the handle this node claims (the caller checks it).
func (s *State) SetHandle(ctx context.Context, h string) error {
	return s.vault.Commit(ctx, vault.AuditEntry{Actor: s.actor, Op: OpHandleSet, Target: h, Outcome: vault.OutcomeOK},
		func(b ds.Batch) error { return b.Put(ctx, handleKey, []byte(h)) })
}

// commit writes v at k, audited by e.
func (s *State) commit(ctx context.Context, e vault.AuditEntry, k ds.Key, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.vault.Commit(ctx, e, func(b ds.Batch) error { return b.Put(ctx, k, raw) })
}

func decode(k string, raw []byte, v any) error {
	if len(raw) > maxRecord {
		return fmt.Errorf("%w: %s too large", vault.ErrCorrupt, k)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %s: %v", vault.ErrCorrupt, k, err)
	}
	return nil
}

func (s *State) get(ctx context.Context, k ds.Key, v any) error {
	raw, err := s.store.Get(ctx, k)
	if err != nil {
		return err
	}
	return decode(k.String(), raw, v)
}

func list[T any](ctx context.Context, store ds.Datastore, prefix ds.Key) ([]T, error) {
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
		if err := decode(e.Key, e.Value, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// WriteHandle stores the handle a peer without a vault claims (a group
// vault peer: mesh groupvault --handle). A home node's handle goes
// through SetHandle, which audits it in its vault.
func WriteHandle(ctx context.Context, store ds.Datastore, h string) error {
	return store.Put(ctx, handleKey, []byte(h))
}
