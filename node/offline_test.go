package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/vault"
)

// openOffline makes a home folder and opens it without a node.
func openOffline(t *testing.T) *Offline {
	t.Helper()
	ctx := context.Background()
	h := shortDir(t, "off")
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF(), Handle: "alice"}); err != nil {
		t.Fatal(err)
	}
	o, err := Open(ctx, h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// TestWithoutANodeMeshOperationsNeedOne: every operation that talks to
// other peers is refused with ErrNeedsNode, and the rest work.
func TestWithoutANodeMeshOperationsNeedOne(t *testing.T) {
	ctx := context.Background()
	o := openOffline(t)
	for name, err := range map[string]error{
		"share":         func() error { _, err := o.Share(ctx, localapi.ShareRequest{}); return err }(),
		"fetch":         func() error { _, err := o.Get(ctx, localapi.FetchRequest{Remote: "bob/x"}); return err }(),
		"snapshot push": func() error { _, err := o.SnapshotPush(ctx, ""); return err }(),
		"list remote":   func() error { _, err := o.ListRemote(ctx, "bob"); return err }(),
		"revoke":        func() error { _, err := o.Revoke(ctx, "01234567"); return err }(),
	} {
		if !errors.Is(err, ErrNeedsNode) {
			t.Errorf("%s without a node: %v, want ErrNeedsNode", name, err)
		}
	}
	st, err := o.Status(ctx)
	if err != nil || st.Running || st.Handle != "alice" || !st.Locked {
		t.Fatalf("status without a node: %+v, %v", st, err)
	}
	if gs, err := o.Shares(ctx); err != nil || len(gs) != 0 {
		t.Fatalf("shares: %v, %v", gs, err)
	}
}

// TestTheSignerSignsOnlyWhileUnlocked: a locked node issues and revokes
// nothing; it still signs its directory record (and only that).
func TestTheSignerSignsOnlyWhileUnlocked(t *testing.T) {
	ctx := context.Background()
	o := openOffline(t)
	bob := testkit.Key(t, "bob").ID()
	now := time.Now()
	p := capability.Params{Audience: bob, Resource: "calendar/*", Actions: capability.Read, NotBefore: now, Expiry: now.Add(time.Hour)}
	if _, err := o.signer.Issue(p); !errors.Is(err, vault.ErrLocked) {
		t.Fatalf("issuing while locked: %v, want ErrLocked", err)
	}
	if _, err := o.TokenIssue(ctx, localapi.TokenRequest{Audience: bob.String(), Resource: "calendar/*", Actions: "read", ValidFor: time.Hour}); !errors.Is(err, vault.ErrLocked) {
		t.Fatalf("mesh token issue while locked: %v, want ErrLocked", err)
	}
	if _, err := o.signer.SignRecordWhileLocked(directory.Record{Handle: "alice", Seq: 1, Issued: now}); err != nil {
		t.Fatalf("the directory record while locked: %v", err)
	}
	if err := o.Unlock(ctx, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	tok, err := o.signer.Issue(p)
	if err != nil {
		t.Fatalf("issuing while unlocked: %v", err)
	}
	if err := o.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := o.signer.Revoke(tok, now); !errors.Is(err, vault.ErrLocked) {
		t.Fatalf("revoking while locked: %v, want ErrLocked", err)
	}
}
