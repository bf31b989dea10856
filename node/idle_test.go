package node

import (
	"context"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/idlelock"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// startAlone starts an unlocked node with no mesh on clock, adjusted by
// adjust.
func startAlone(t *testing.T, clock *testkit.Clock, adjust func(*Config)) *Node {
	t.Helper()
	ctx := context.Background()
	h := shortDir(t, "idle")
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF()}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Now: clock.Now, Timings: Timings{LockCheck: 5 * time.Millisecond}}
	if adjust != nil {
		adjust(&cfg)
	}
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Unlock(ctx, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAnUnusedVaultLocksItself: the vault locks itself after LockAfter
// without a use, counted from the last use (not from the unlock); reading
// status or lists is not a use; the lock is audited as an idle lock.
func TestAnUnusedVaultLocksItself(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Now())
	n := startAlone(t, clock, func(c *Config) { c.LockAfter = 30 * time.Minute })

	clock.Advance(29 * time.Minute)
	if _, err := n.SecretList(ctx); err != nil { // a use
		t.Fatal(err)
	}
	clock.Advance(29 * time.Minute) // 58 min after the unlock, 29 after the use
	n.idle.Check(ctx)
	if n.vault.Locked() {
		t.Fatal("the vault locked 29 minutes after its last use (LockAfter 30m)")
	}
	if _, err := n.Status(ctx); err != nil { // not uses
		t.Fatal(err)
	}
	if _, err := n.Shares(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute) // 31 min after the last use: the loop locks it
	waitFor(t, "the idle vault locks itself", func() bool { return n.vault.Locked() })

	rep, err := n.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Records[len(rep.Records)-1]
	if last.Op != vault.OpLock || last.Actor != idlelock.Actor {
		t.Fatalf("the last audit record is %s by %q, want %s by %q", last.Op, last.Actor, vault.OpLock, idlelock.Actor)
	}
	if st, _ := n.Status(ctx); st.LockAfter != "30m" {
		t.Fatalf("status says lock after %q, want 30m", st.LockAfter)
	}
}

// TestLockAfterZeroNeverLocks: a negative LockAfter (mesh node
// --lock-after 0) turns the idle lock off.
func TestLockAfterZeroNeverLocks(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Now())
	n := startAlone(t, clock, func(c *Config) { c.LockAfter = -1 })
	clock.Advance(1000 * time.Hour)
	n.idle.Check(ctx)
	if n.vault.Locked() {
		t.Fatal("the vault locked with the idle lock off")
	}
	if st, _ := n.Status(ctx); st.LockAfter != "" {
		t.Fatalf("status says lock after %q with the idle lock off", st.LockAfter)
	}
}
