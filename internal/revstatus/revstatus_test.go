package revstatus

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-datastore/namespace"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/revgossip"
	"github.com/ocmt/mesh/vault"
)

// snapshot is every key and value of st.
func snapshot(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	res, err := st.Query(context.Background(), query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range all {
		out[e.Key] = string(e.Value)
	}
	return out
}

// TestWithoutANodeTheStoredSetAnswersAndIsLeftAlone: on a home's store as
// a node left it, the View says which grants are revoked from the set the
// node stored, and writes nothing to the store; once the running node's
// set is given (SetLive), that set answers.
func TestWithoutANodeTheStoredSetAnswersAndIsLeftAlone(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := vault.Create(ctx, vault.Config{Store: st}, []byte("pw"), vault.TestKDF(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	state := meshstate.New(st, v, "test", time.Now)
	alice, bob := testkit.Key(t, "alice"), testkit.Key(t, "bob")
	now := time.Now()
	var toks []*capability.Token
	for i := range 2 {
		tok, err := capability.Issue(alice, capability.Params{Audience: bob.ID(), Resource: capability.Pattern(fmt.Sprintf("r%d/*", i)),
			Actions: capability.Read, NotBefore: now, Expiry: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		g := meshstate.GrantOf(tok)
		g.Via = meshstate.ViaLive
		if err := state.Issue(ctx, g, vault.AuditEntry{Actor: "test", Op: "share.issue", Outcome: vault.OutcomeOK}); err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	// The node's set, as it stores it: the first grant revoked.
	set, err := revocation.Open(ctx, revocation.Config{Datastore: revgossip.RevocationStore(namespace.Wrap(st, store.Mesh)), CollectEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := revocation.New(alice, toks[0], now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Add(ctx, rev); err != nil {
		t.Fatal(err)
	}
	set.Close()

	before := snapshot(t, st)
	view := New(st, time.Now, slog.New(slog.DiscardHandler))
	defer view.Close()
	gs, err := view.Issued(ctx, state)
	if err != nil || len(gs) != 2 {
		t.Fatalf("issued %v, %v", gs, err)
	}
	want := map[string]string{toks[0].ID().String(): meshstate.Revoked, toks[1].ID().String(): meshstate.Active}
	for _, g := range gs {
		if g.Status != want[g.ID] {
			t.Errorf("grant %s is %q, want %q", g.ID[:8], g.Status, want[g.ID])
		}
	}
	ids, err := view.Among(ctx, []string{toks[0].ID().String(), toks[1].ID().String()})
	if err != nil || len(ids) != 1 || ids[0] != toks[0].ID().String() {
		t.Errorf("Among = %v, %v; want the first only", ids, err)
	}
	if _, err := view.Among(ctx, make([]string, capability.MaxDepth+1)); err == nil {
		t.Error("Among took more IDs than a chain holds")
	}
	after := snapshot(t, st)
	if len(after) != len(before) {
		t.Errorf("reading the stored set changed the store: %d keys, then %d", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("reading the stored set changed %s", k)
		}
	}

	view.SetLive(capability.NewMemoryRevocations()) // a running node that knows of no revocation
	if gs, _ := view.Issued(ctx, state); gs[0].Status != meshstate.Active || gs[1].Status != meshstate.Active {
		t.Errorf("with the live set: %q and %q, want both active", gs[0].Status, gs[1].Status)
	}
}
