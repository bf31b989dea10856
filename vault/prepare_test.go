package vault

import (
	"context"
	"errors"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/internal/testkit"
)

// TestUnlockPreparedUsesTheKeyOnlyForItsWrap: a key derived beforehand
// from the wrap's parameters unlocks without the KDF; once the wrap has
// other parameters (a new password) it is ignored and the password given
// is derived again; a wrong one is counted, audited and backed off as by
// Unlock.
func TestUnlockPreparedUsesTheKeyOnlyForItsWrap(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Unix(1_700_000_000, 0))
	st := dssync.MutexWrap(ds.NewMapDatastore())
	v, err := Create(ctx, Config{Store: st, Now: clock.Now}, []byte("pw"), TestKDF(), "t")
	if err != nil {
		t.Fatal(err)
	}
	v.Lock(ctx, "t")

	p, err := ReadKeyParams(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	k := p.Derive([]byte("pw"))
	// The prepared key is what opens the wrap: the password given beside it
	// is not derived while the key fits.
	if err := v.UnlockPrepared(ctx, k, []byte("not used"), "t"); err != nil {
		t.Fatalf("unlock with the prepared key: %v", err)
	}
	if err := v.ChangePassword(ctx, []byte("pw"), []byte("new"), TestKDF(), "t"); err != nil {
		t.Fatal(err)
	}
	v.Lock(ctx, "t")
	if err := v.UnlockPrepared(ctx, k, []byte("new"), "t"); err != nil {
		t.Fatalf("a key prepared for the old wrap, with the new password: %v", err)
	}
	v.Lock(ctx, "t")

	wrong := p.Derive([]byte("guess"))
	if err := v.UnlockPrepared(ctx, wrong, []byte("guess"), "t"); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("a wrong password: %v", err)
	}
	if err := v.UnlockPrepared(ctx, wrong, []byte("guess"), "t"); !errors.Is(err, ErrBackoff) {
		t.Fatalf("a second try at once: %v, want the backoff", err)
	}
	if n, _, _ := v.FailedAttempts(ctx); n != 1 {
		t.Fatalf("%d failures counted, want 1", n)
	}
	k.Wipe()
	k.Wipe()
	var none *PreparedKey
	none.Wipe()
	clock.Advance(time.Minute)
	if err := v.UnlockPrepared(ctx, k, []byte("new"), "t"); err != nil {
		t.Fatalf("a wiped key, with the password: %v", err)
	}
	recs, _, err := v.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, r := range recs {
		if r.Op == OpUnlock && r.Outcome == OutcomeFailed {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("%d failed unlocks audited, want 1", failed)
	}
}

func TestReadKeyParamsWithoutAVault(t *testing.T) {
	if _, err := ReadKeyParams(context.Background(), ds.NewMapDatastore()); !errors.Is(err, ErrNoVault) {
		t.Fatalf("an empty store: %v, want ErrNoVault", err)
	}
}
