package idlelock

import (
	"context"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// unlockedVault is a vault on an in-memory store, unlocked.
func unlockedVault(t *testing.T) *vault.Vault {
	t.Helper()
	v, err := vault.Create(context.Background(), vault.Config{Store: dssync.MutexWrap(ds.NewMapDatastore())}, []byte("pw"), vault.TestKDF(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if v.Locked() {
		t.Fatal("a new vault is locked")
	}
	return v
}

// TestTheVaultLocksAfterItsLastUse: the idle time counts from the last
// Touch, not from the start; the lock runs the hooks once and is audited
// under Actor.
func TestTheVaultLocksAfterItsLastUse(t *testing.T) {
	ctx := context.Background()
	v := unlockedVault(t)
	clock := testkit.NewClock(testkit.Epoch)
	var locking, locked int
	l := New(Config{Vault: v, After: 30 * time.Minute, Check: time.Hour, Now: clock.Now,
		Locking: func() { locking++ }, Locked: func() { locked++ }})

	clock.Advance(29 * time.Minute)
	l.Touch()
	clock.Advance(29 * time.Minute) // 58 min after New, 29 after the use
	l.Check(ctx)
	if v.Locked() {
		t.Fatal("locked 29 minutes after the last use (After 30m)")
	}
	clock.Advance(2 * time.Minute)
	l.Check(ctx)
	if !v.Locked() {
		t.Fatal("not locked 31 minutes after the last use")
	}
	l.Check(ctx) // already locked: nothing more
	if locking != 1 || locked != 1 {
		t.Errorf("hooks ran %d and %d times, want once each", locking, locked)
	}
	recs, _, err := v.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last := recs[len(recs)-1]; last.Op != vault.OpLock || last.Actor != Actor {
		t.Errorf("the last audit record is %s by %q, want %s by %q", last.Op, last.Actor, vault.OpLock, Actor)
	}
}

// TestRunLocksAndZeroNeverDoes: Run locks an idle vault at its next
// check; with After 0 the vault stays unlocked however long it idles.
func TestRunLocksAndZeroNeverDoes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := testkit.NewClock(testkit.Epoch)

	never := unlockedVault(t)
	n := New(Config{Vault: never, After: 0, Check: time.Hour, Now: clock.Now})
	clock.Advance(1000 * time.Hour)
	n.Check(ctx)
	if never.Locked() {
		t.Fatal("After 0 locked the vault")
	}

	v := unlockedVault(t)
	l := New(Config{Vault: v, After: time.Minute, Check: 5 * time.Millisecond, Now: clock.Now})
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	clock.Advance(2 * time.Minute)
	testkit.Eventually(t, 10*time.Second, v.Locked, "Run locks the idle vault")
	cancel()
	<-done
}
