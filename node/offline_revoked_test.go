package node

import (
	"context"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/revgossip"
	"github.com/ocmt/mesh/vault"
)

// withoutANode makes a home folder, as a node leaves it, holding one share
// this node issued to bob and one alice gave it, each revoked in the
// stored revocation set when revoked says so, and opens it without a node.
func withoutANode(t *testing.T, revoked bool) (o *Offline, issued, received capability.ID) {
	t.Helper()
	ctx := context.Background()
	o = openOffline(t)
	if err := o.Unlock(ctx, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	bob, alice := testkit.Key(t, "bob"), testkit.Key(t, "alice")
	mine, err := o.signer.Issue(capability.Params{Audience: bob.ID(), Resource: "calendar/*", Actions: capability.Read,
		NotBefore: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	g := meshstate.GrantOf(mine)
	g.AudienceHandle, g.Created, g.Via = "bob", now, meshstate.ViaLive
	if err := o.state.Issue(ctx, g, vault.AuditEntry{Actor: "test", Op: OpShareIssue, Outcome: vault.OutcomeOK}); err != nil {
		t.Fatal(err)
	}
	theirs, err := capability.Issue(alice, capability.Params{Audience: o.signer.ID(), Resource: "notes/*", Actions: capability.Read,
		NotBefore: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	r := meshstate.GrantOf(theirs)
	r.OwnerHandle, r.Created, r.Via = "alice", now, meshstate.ViaLive
	if err := o.state.Receive(ctx, theirs, r); err != nil {
		t.Fatal(err)
	}
	// The revocation set as a running node keeps it: the node's own
	// revocation of its share, and alice's of hers, received by gossip.
	set, err := revocation.Open(ctx, revocation.Config{Datastore: revgossip.RevocationStore(namespace.Wrap(o.store, store.Mesh)), CollectEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	if revoked {
		own, err := o.signer.Revoke(mine, now)
		if err != nil {
			t.Fatal(err)
		}
		hers, err := revocation.New(alice, theirs, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, rev := range []*revocation.Revocation{own, hers} {
			if _, err := set.Add(ctx, rev); err != nil {
				t.Fatal(err)
			}
		}
	}
	set.Close()
	return o, mine.ID(), theirs.ID()
}

// statusOf returns the status of grant id among gs.
func statusOf(t *testing.T, gs []localapi.Grant, id capability.ID) string {
	t.Helper()
	for _, g := range gs {
		if g.ID == id.String() {
			return g.Status
		}
	}
	t.Fatalf("grant %s not listed", id.Short())
	return ""
}

// TestWithoutANodeRevokedSharesShowRevoked: mesh shares and mesh shared
// without a node read the revocation set the node stored, so a revoked
// share shows as revoked, never as active; one that is not revoked shows
// active; and RevokedAmong (mesh token inspect) answers from it too.
func TestWithoutANodeRevokedSharesShowRevoked(t *testing.T) {
	ctx := context.Background()
	for _, revoked := range []bool{true, false} {
		o, issued, received := withoutANode(t, revoked)
		want := meshstate.Active
		if revoked {
			want = meshstate.Revoked
		}
		shares, err := o.Shares(ctx)
		if err != nil {
			t.Fatal(err)
		}
		shared, err := o.Shared(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := statusOf(t, shares, issued); got != want {
			t.Errorf("revoked %v: mesh shares says %q, want %q", revoked, got, want)
		}
		// a held share the node last saw unrevoked is said to be so: its
		// owner may have revoked it since, unheard
		wantHeld := want
		if !revoked {
			wantHeld = localapi.StatusLastSeen
		}
		if got := statusOf(t, shared, received); got != wantHeld {
			t.Errorf("revoked %v: mesh shared says %q, want %q", revoked, got, wantHeld)
		}
		ids, err := o.RevokedAmong(ctx, []string{issued.String(), received.String()})
		if err != nil || len(ids) != map[bool]int{true: 2, false: 0}[revoked] {
			t.Errorf("revoked %v: RevokedAmong = %v, %v", revoked, ids, err)
		}
	}
}

// TestWithoutANodeAnUnreadableSetSaysUnknown: when the stored revocation
// set cannot be read, a share that might be revoked shows as unknown, not
// active, and nothing is written to the store.
func TestWithoutANodeAnUnreadableSetSaysUnknown(t *testing.T) {
	ctx := context.Background()
	o, issued, received := withoutANode(t, true)
	epoch := revgossip.RevocationStore(namespace.Wrap(o.store, store.Mesh))
	if err := epoch.Put(ctx, ds.NewKey("/meta/epoch"), []byte("not an epoch")); err != nil {
		t.Fatal(err)
	}
	shares, err := o.Shares(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := o.Shared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []string{statusOf(t, shares, issued), statusOf(t, shared, received)} {
		if got != localapi.StatusUnknown {
			t.Errorf("status with an unreadable set: %q, want %q", got, localapi.StatusUnknown)
		}
	}
	if _, err := o.RevokedAmong(ctx, []string{issued.String()}); err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("RevokedAmong with an unreadable set: %v", err)
	}
	if b, _ := epoch.Get(ctx, ds.NewKey("/meta/epoch")); string(b) != "not an epoch" {
		t.Error("reading the stored set without a node wrote to it")
	}
}
