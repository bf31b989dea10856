package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// TestGranteesWriteAndDeleteWithTheirShare: a share that allows write and
// delete lets bob change alice's resource through the mesh; alice's audit
// names bob; a share without them refuses in words.
func TestGranteesWriteAndDeleteWithTheirShare(t *testing.T) {
	ctx := context.Background()
	_, alice, bob := startAliceAndBob(t)
	alice.PutResource(ctx, "notes/todo", []byte("milk"))
	alice.PutResource(ctx, "calendar/work", []byte("standup"))
	shareAndWait(t, alice, bob, "notes/*", "bob", "read,write,delete")
	shareAndWait(t, alice, bob, "calendar/*", "bob", "read")

	if err := bob.PutRemote(ctx, "alice/notes/todo", []byte("milk, eggs")); err != nil {
		t.Fatal(err)
	}
	if got, _ := alice.GetResource(ctx, "notes/todo"); string(got) != "milk, eggs" {
		t.Fatalf("alice's notes/todo after bob's write: %q", got)
	}
	if err := bob.RemoveRemote(ctx, "alice/notes/todo"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.GetResource(ctx, "notes/todo"); err == nil {
		t.Fatal("alice's notes/todo is still there after bob's delete")
	}
	err := bob.PutRemote(ctx, "alice/calendar/work", []byte("cancelled"))
	if err == nil || !strings.Contains(err.Error(), "allows read there, not write") {
		t.Fatalf("a write with a read-only share: %v", err)
	}
	if got, _ := alice.GetResource(ctx, "calendar/work"); string(got) != "standup" {
		t.Fatalf("alice's calendar changed: %q", got)
	}
	// A locked node uses none of the capabilities it holds.
	if err := bob.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"get": func() error { _, err := bob.Fetch(ctx, "alice/calendar/work"); return err }(),
		"ls":  func() error { _, err := bob.ListRemote(ctx, "alice"); return err }(),
		"put": bob.PutRemote(ctx, "alice/notes/todo", []byte("x")),
		"rm":  bob.RemoveRemote(ctx, "alice/notes/todo"),
	} {
		if !errors.Is(err, vault.ErrLocked) {
			t.Errorf("%s through a locked node: %v, want ErrLocked", what, err)
		}
	}
	rep, err := alice.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var byBob []string
	for _, r := range rep.Records {
		if r.Op == OpShareServe && r.Actor == bob.ID().String() && r.Target == "notes/todo" {
			byBob = append(byBob, r.Detail)
		}
	}
	if len(byBob) != 2 || !strings.Contains(byBob[0], "write by bob") || !strings.Contains(byBob[1], "delete by bob") {
		t.Fatalf("alice's audit of bob's changes: %q", byBob)
	}
}

// TestATokenGivenByHandWorks: a token alice issues by hand to bob's handle
// is useless to bob until he uses it; then mesh get works with it.
func TestATokenGivenByHandWorks(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	carol := m.startNode(t, "carol", "pw-c")
	alice.PutResource(ctx, "calendar/work", []byte("standup"))
	text, err := alice.TokenIssue(ctx, localapi.TokenRequest{Audience: "bob", Resource: "calendar/*", Actions: "read", ValidFor: time.Hour})
	if err != nil {
		t.Fatalf("issuing to a handle: %v", err)
	}
	if _, err := bob.Fetch(ctx, "alice/calendar/work"); err == nil {
		t.Fatal("bob read before using the token")
	}
	if _, err := carol.AcceptToken(ctx, text); err == nil || !strings.Contains(err.Error(), "only its audience") {
		t.Fatalf("carol using bob's token: %v", err)
	}
	g, err := bob.AcceptToken(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	if g.OwnerHandle != "alice" || g.Via != "by hand" || g.Status != "active" {
		t.Fatalf("the grant bob holds: %+v", g)
	}
	data, err := bob.Fetch(ctx, "alice/calendar/work")
	if err != nil || string(data) != "standup" {
		t.Fatalf("bob reads %q, %v", data, err)
	}
	// a handle nobody holds resolves like any other (the directory's
	// decoys), so the token is issued, to a key nobody holds
	if nt, err := alice.TokenIssue(ctx, localapi.TokenRequest{Audience: "nobody-here", Resource: "calendar/*", Actions: "read", ValidFor: time.Hour}); err != nil {
		t.Fatalf("a token for a handle nobody holds: %v", err)
	} else if tok, err := capability.Parse(nt); err != nil || tok.Audience() == alice.ID() || tok.Audience() == bob.ID() || tok.Audience() == carol.ID() {
		t.Fatalf("the token for nobody-here names one of the mesh's peers (%v)", err)
	}
	tok, _ := capability.Parse(text)
	if tok.Audience() != bob.ID() {
		t.Fatalf("the token is for %s, want bob %s", tok.Audience(), bob.ID())
	}
}
