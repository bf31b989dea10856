package revstatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/revgossip"
	"github.com/ocmt/mesh/vault"
)

// View says which tokens are revoked for one home.
type View struct {
	store ds.Datastore
	now   func() time.Time
	log   *slog.Logger

	mu   sync.Mutex
	live capability.RevocationChecker // the running node's set (SetLive)

	once      sync.Once
	stored    *revocation.Set
	storedErr error
}

// New returns the View of the home whose store is st (the store's root).
func New(st ds.Datastore, now func() time.Time, log *slog.Logger) *View {
	return &View{store: st, now: now, log: log}
}

// SetLive makes the running node's revocation set the answer from now on.
func (v *View) SetLive(c capability.RevocationChecker) {
	v.mu.Lock()
	v.live = c
	v.mu.Unlock()
}

// Checker returns what says whether a token is revoked: the running
// node's set or, without a node, the set as the node last stored it. ok
// is false when that cannot be read: then nobody can say.
func (v *View) Checker(ctx context.Context) (checker capability.RevocationChecker, ok bool) {
	v.mu.Lock()
	live := v.live
	v.mu.Unlock()
	if live != nil {
		return live, true
	}
	set, err := v.storedSet(ctx)
	if err != nil {
		return nil, false
	}
	return set, true
}

// storedSet opens, once, the revocation set the node keeps in the store
// (/mesh/revocations), read-only: this process adds nothing, collects
// nothing (CollectEvery -1) and writes nothing, not even the housekeeping
// Open does (a new epoch, dropping expired entries), which is left to
// the node.
func (v *View) storedSet(ctx context.Context) (*revocation.Set, error) {
	v.once.Do(func() {
		v.stored, v.storedErr = revocation.Open(ctx, revocation.Config{
			Datastore:    readOnly{revgossip.RevocationStore(namespace.Wrap(v.store, store.Mesh))},
			Clock:        v.now,
			Logger:       v.log,
			CollectEvery: -1,
		})
		if v.storedErr != nil {
			v.log.Warn("the stored revocation set cannot be read", "err", v.storedErr)
		}
	})
	return v.stored, v.storedErr
}

// Close closes the stored set, if it was opened.
func (v *View) Close() {
	if v.stored != nil {
		v.stored.Close()
	}
}

// readOnly is a datastore whose writes are dropped: reads see the store
// as it is.
type readOnly struct{ ds.Datastore }

func (readOnly) Put(context.Context, ds.Key, []byte) error { return nil }
func (readOnly) Delete(context.Context, ds.Key) error      { return nil }
func (readOnly) Sync(context.Context, ds.Key) error        { return nil }
func (readOnly) Close() error                              { return nil }

// Issued lists the grants st says the node issued, with their states.
func (v *View) Issued(ctx context.Context, st *meshstate.State) ([]localapi.Grant, error) {
	rev, ok := v.Checker(ctx)
	gs, err := st.Issued(ctx, orNone(rev))
	return unknownUnless(ok, gs), err
}

// Received lists the grants st says the node holds, with their states.
// Without a running node, a grant the stored set does not show revoked is
// StatusLastSeen, not active: its owner may have revoked it while this
// node was not there to hear it.
func (v *View) Received(ctx context.Context, st *meshstate.State) ([]localapi.Grant, error) {
	rev, ok := v.Checker(ctx)
	gs, err := st.Received(ctx, orNone(rev))
	gs = unknownUnless(ok, gs)
	if !v.isLive() {
		for i := range gs {
			if gs[i].Status == meshstate.Active {
				gs[i].Status = localapi.StatusLastSeen
			}
		}
	}
	return gs, err
}

// isLive reports whether the running node's set answers (SetLive).
func (v *View) isLive() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.live != nil
}

// orNone is rev, or a checker that knows of no revocation.
func orNone(rev capability.RevocationChecker) capability.RevocationChecker {
	if rev == nil {
		return capability.NewMemoryRevocations()
	}
	return rev
}

// unknownUnless marks every grant that could be revoked for all anyone
// can tell as localapi.StatusUnknown when the revocation state is not
// known: a revoked share is never shown active. Expired grants stay
// expired (nothing serves them, revoked or not).
func unknownUnless(known bool, gs []localapi.Grant) []localapi.Grant {
	if known {
		return gs
	}
	for i := range gs {
		if gs[i].Status != meshstate.Expired && gs[i].Status != meshstate.Revoked {
			gs[i].Status = localapi.StatusUnknown
		}
	}
	return gs
}

// Among returns those of ids (token IDs, at most a chain's worth) that are
// revoked.
func (v *View) Among(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) > capability.MaxDepth {
		return nil, fmt.Errorf("at most %d token IDs (a chain)", capability.MaxDepth)
	}
	rev, ok := v.Checker(ctx)
	if !ok {
		return nil, errors.New("the stored revocation set cannot be read; start the node (mesh node) to know which tokens are revoked")
	}
	var out []string
	for _, s := range ids {
		id, err := capability.ParseID(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a token ID", s)
		}
		if rev.IsRevoked(id) {
			out = append(out, s)
		}
	}
	return out, nil
}

// FindToken resolves a share ID (or a prefix of at least 8 hex digits)
// among the grants st issued and received, or parses token text.
func (v *View) FindToken(ctx context.Context, st *meshstate.State, s string) (*capability.Token, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, capability.TextPrefix) {
		tok, err := capability.Parse(s)
		if err != nil {
			return nil, words.BadToken("the token", s, err)
		}
		return tok, nil
	}
	if len(s) < 8 {
		return nil, fmt.Errorf("share ID %q is too short (give at least 8 hex digits)", s)
	}
	gs, err := v.Issued(ctx, st)
	if err != nil {
		return nil, err
	}
	rs, err := v.Received(ctx, st)
	if err != nil {
		return nil, err
	}
	var found []localapi.Grant
	for _, g := range append(gs, rs...) {
		if strings.HasPrefix(g.ID, s) {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return nil, words.Say(vault.ErrNotFound, "you have no share %s (see mesh shares and mesh shared)", s)
	case 1:
		return capability.Parse(found[0].Token)
	}
	return nil, fmt.Errorf("share ID %s is ambiguous; give more digits", s)
}
