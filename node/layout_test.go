package node

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// TestEveryRoleWritesWhereTheLayoutSays runs each role through its work
// (a share, a read, a mailbox delivery, a revocation, a max-uses token)
// and then scans its whole store: every key must be under a namespace
// internal/store's layout documents for that role.
func TestEveryRoleWritesWhereTheLayoutSays(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	alice.PutResource(ctx, "calendar/work", []byte("standup"))
	alice.SecretSet(ctx, vault.Secret{Name: "openai", Type: vault.TypeAPIKey, Value: []byte("sk-test")})
	res := shareAndWait(t, alice, bob, "calendar/*", "bob", "read")
	if _, err := bob.Fetch(ctx, "alice/calendar/work"); err != nil {
		t.Fatal(err)
	}
	bobHome := bob.cfg.Home
	bob.Close() // the next share waits in bob's mailbox at the bootstrap
	if _, err := alice.Share(ctx, localapi.ShareRequest{Path: "notes/*", With: "bob", Can: "read", ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Revoke(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.TokenIssue(ctx, localapi.TokenRequest{Audience: bob.ID().String(), Resource: "calendar/*", Actions: "read", ValidFor: time.Hour, MaxUses: 1}); err != nil {
		t.Fatal(err)
	}
	rev := issuedID(t, alice, res.ID)
	waitFor(t, "the infrastructure holds the revocation", func() bool { return m.boot.IsRevoked(rev) && m.relay.IsRevoked(rev) })
	aliceHome := alice.cfg.Home
	alice.Close()
	m.relay.Close()
	m.boot.Close()

	for _, c := range []struct {
		role store.Role
		home Home
	}{{store.HomeNode, aliceHome}, {store.HomeNode, bobHome}, {store.Bootstrap, m.bootHome}, {store.Relay, m.relHome}} {
		st, err := store.Open(c.home.StorePath())
		if err != nil {
			t.Fatal(err)
		}
		res, err := st.Query(ctx, query.Query{KeysOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := res.Rest()
		st.Close()
		if len(entries) == 0 {
			t.Fatalf("the %s store is empty; the scan would prove nothing", c.role)
		}
		for _, e := range entries {
			if !store.Documented(c.role, e.Key) {
				t.Errorf("the %s wrote %s, which internal/store/layout.go does not document", c.role, e.Key)
			}
		}
	}
}

// issuedID returns the full token ID of n's issued share whose ID starts
// with short.
func issuedID(t *testing.T, n *Node, short string) capability.ID {
	t.Helper()
	tok, err := n.findToken(context.Background(), short)
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID()
}
