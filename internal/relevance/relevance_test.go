package relevance

import (
	"context"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// TestOnlyWhatAStrangerCannotFakeConcernsANode: bob's filter keeps the
// revocations of tokens he issued, of grants he holds and of chains
// rooted at his contacts, each only once his state says so (Reload); a
// stranger's token addressed to him, free to mint, never counts.
func TestOnlyWhatAStrangerCannotFakeConcernsANode(t *testing.T) {
	ctx := context.Background()
	st := dssync.MutexWrap(ds.NewMapDatastore())
	v, err := vault.Create(ctx, vault.Config{Store: st}, []byte("pw"), vault.TestKDF(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	state := meshstate.New(st, v, "test", time.Now)
	alice, bob, stranger := testkit.Key(t, "alice"), testkit.Key(t, "bob"), testkit.Key(t, "stranger")
	f := New(bob.ID())

	held := issue(t, alice, bob)
	fromAlice := revoke(t, alice, held)
	rootedAtAlice := revoke(t, alice, issue(t, alice, stranger))
	byBob := revoke(t, bob, issue(t, bob, alice))
	minted := revoke(t, stranger, issue(t, stranger, bob))
	check := func(when string, want map[string]bool) {
		t.Helper()
		for name, r := range map[string]*revocation.Revocation{"a token bob issued": byBob, "a grant bob holds": fromAlice,
			"a chain rooted at alice": rootedAtAlice, "a stranger's token addressed to bob": minted} {
			if got := f.Relevant(r); got != want[name] {
				t.Errorf("%s: %s: relevant = %v, want %v", when, name, got, want[name])
			}
		}
	}
	check("before any reload", map[string]bool{"a token bob issued": true})

	g := meshstate.GrantOf(held)
	g.Via = meshstate.ViaHand
	if err := state.Receive(ctx, held, g); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(ctx, state); err != nil {
		t.Fatal(err)
	}
	check("holding alice's grant", map[string]bool{"a token bob issued": true, "a grant bob holds": true})
	if f.IsContact(alice.ID()) {
		t.Error("alice is a contact before she is pinned")
	}

	if err := state.Pin(ctx, "alice", alice.ID()); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(ctx, state); err != nil {
		t.Fatal(err)
	}
	check("with alice pinned", map[string]bool{"a token bob issued": true, "a grant bob holds": true, "a chain rooted at alice": true})
	if !f.IsContact(alice.ID()) || f.IsContact(stranger.ID()) {
		t.Error("IsContact does not follow the pinned contacts")
	}
}

func issue(t *testing.T, from, to *keys.PeerKey) *capability.Token {
	t.Helper()
	now := time.Now()
	tok, err := capability.Issue(from, capability.Params{Audience: to.ID(), Resource: "x/*", Actions: capability.Read, NotBefore: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func revoke(t *testing.T, k *keys.PeerKey, tok *capability.Token) *revocation.Revocation {
	t.Helper()
	r, err := revocation.New(k, tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}
