package node

import (
	"context"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// TestANodeKeepsTheRevocationsThatConcernIt: of what a stranger can sign,
// only what touches this node's own grants counts; a token merely
// addressed to the node (free to mint) does not.
func TestANodeKeepsTheRevocationsThatConcernIt(t *testing.T) {
	ctx := context.Background()
	_, alice, bob := startAliceAndBob(t)
	alice.PutResource(ctx, "calendar/work", []byte("standup"))
	shareAndWait(t, alice, bob, "calendar/*", "bob", "read")
	held, err := bob.received(ctx)
	if err != nil || len(held) != 1 {
		t.Fatalf("bob holds %v, %v", held, err)
	}
	heldTok, _ := capability.Parse(held[0].Token)
	if _, err := bob.Fetch(ctx, "alice/calendar/work"); err != nil { // bob looks alice up: she is his contact now
		t.Fatal(err)
	}
	now := time.Now()
	stranger := testkit.Key(t, "stranger")
	minted, err := capability.Issue(stranger, capability.Params{Audience: bob.ID(), Resource: "x/*", Actions: capability.Read,
		NotBefore: now, Expiry: now.Add(10000 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	forAlice, err := capability.Issue(stranger, capability.Params{Audience: alice.ID(), Resource: "x/*", Actions: capability.Read,
		NotBefore: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		n    *Node
		rev  *revocation.Revocation
		want bool
	}{
		{"bob: a token he holds, revoked by its issuer", bob, mustRevokeWith(t, &alice.signer.key, heldTok), true},
		{"alice: a token she issued", alice, mustRevokeWith(t, &alice.signer.key, heldTok), true},
		{"bob: a stranger's token addressed to him", bob, mustRevokeWith(t, stranger, minted), false},
		{"bob: a stranger's token for someone else", bob, mustRevokeWith(t, stranger, forAlice), false},
		{"bob: a token rooted at his contact alice", bob, mustRevokeWith(t, &alice.signer.key, mintBy(t, &alice.signer.key, stranger)), true},
	} {
		if got := c.n.relevance.Relevant(c.rev); got != c.want {
			t.Errorf("%s: relevant = %v, want %v", c.name, got, c.want)
		}
	}
}

func mintBy(t *testing.T, issuer, to *keys.PeerKey) *capability.Token {
	t.Helper()
	now := time.Now()
	tok, err := capability.Issue(issuer, capability.Params{Audience: to.ID(), Resource: "x/*", Actions: capability.Read, NotBefore: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustRevokeWith(t *testing.T, k *keys.PeerKey, tok *capability.Token) *revocation.Revocation {
	t.Helper()
	r, err := revocation.New(k, tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}
