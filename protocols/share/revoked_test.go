package share

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// TestRevokedRefusalCarriesTheDetail: a Revoked refusal tells the grantee
// which token of its chain is revoked, by whom and when, in the reply's
// detail field; Revoked reads it without looking at the message.
func TestRevokedRefusalCarriesTheDetail(t *testing.T) {
	ak, bk, ck := testkit.Key(t, "alice"), testkit.Key(t, "bob"), testkit.Key(t, "carol")
	alice, bob, carol := testkit.Host(t, ak), testkit.Host(t, bk), testkit.Host(t, ck)
	revs := capability.NewMemoryRevocations()
	revokedAt := testkit.Epoch
	var mu sync.Mutex
	known := map[capability.ID]peer.ID{}
	srv, err := NewServer(alice, Config{
		Verifier: capability.NewVerifier(capability.Config{Revocations: revs}),
		Store:    &memStore{data: map[capability.ResourcePath][]byte{"calendar/work": []byte("standup")}},
		RevokedBy: func(id capability.ID) (peer.ID, time.Time, bool) {
			mu.Lock()
			defer mu.Unlock()
			by, ok := known[id]
			return by, revokedAt, ok
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	testkit.Connect(t, bob, alice)
	testkit.Connect(t, carol, alice)
	ctx := testkit.Context(t, 30*time.Second)

	root := issue(t, ak, bk.ID(), capability.Read|capability.Share, nil)
	leaf := issue(t, bk, ck.ID(), capability.Read, root)

	t.Run("the revoked root of a delegated chain is named with its link and revoker", func(t *testing.T) {
		revs.Revoke(root.ID())
		mu.Lock()
		known[root.ID()] = ak.ID()
		mu.Unlock()
		_, err := Read(ctx, carol, alice.ID(), leaf, "calendar/work")
		d, ok := Revoked(err)
		want := RevokedDetail{Token: root.ID(), Link: 1, Of: 2, By: ak.ID(), At: revokedAt}
		if !errors.Is(err, wire.Revoked) || !ok || d != want {
			t.Fatalf("got %+v, %v from %v; want %+v", d, ok, err, want)
		}
	})
	t.Run("a revocation whose revoker the owner does not know names the token only", func(t *testing.T) {
		tok := issue(t, ak, bk.ID(), capability.Read, nil)
		revs.Revoke(tok.ID())
		_, err := Read(ctx, bob, alice.ID(), tok, "calendar/work")
		d, ok := Revoked(err)
		if !ok || d != (RevokedDetail{Token: tok.ID(), Link: 1, Of: 1}) {
			t.Fatalf("got %+v, %v from %v", d, ok, err)
		}
	})
	t.Run("other refusals carry no revocation", func(t *testing.T) {
		tok := issue(t, ak, bk.ID(), capability.List, nil)
		_, err := Read(ctx, bob, alice.ID(), tok, "calendar/work")
		if _, ok := Revoked(err); ok || !errors.Is(err, wire.Forbidden) {
			t.Fatalf("got %v", err)
		}
	})
}

func issue(t *testing.T, signer *keys.PeerKey, to peer.ID, acts capability.Actions, parent *capability.Token) *capability.Token {
	t.Helper()
	now := time.Now()
	tok, err := capability.Issue(signer, capability.Params{Audience: to, Resource: "calendar/*", Actions: acts,
		NotBefore: now.Add(-time.Minute), Expiry: now.Add(time.Hour), Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
