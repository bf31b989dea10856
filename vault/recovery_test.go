package vault

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// recoveryVault is an unlocked vault holding one secret, with the phrase
// method enabled under rk.
func recoveryVault(t *testing.T) (*Vault, ds.Batching, *fakeClock, *[32]byte) {
	t.Helper()
	store := dssync.MutexWrap(ds.NewMapDatastore())
	v, clk, _ := resumeVault(t, store)
	rk := resumeKey()
	if err := v.EnableRecovery(context.Background(), "phrase", rk, []byte("meta"), "test"); err != nil {
		t.Fatal(err)
	}
	return v, store, clk, rk
}

func TestARecoveryKeySetsANewPasswordOnALockedVault(t *testing.T) {
	ctx := context.Background()
	v, store, clk, rk := recoveryVault(t)
	v.Lock(ctx, "test")
	v = reopenLogged(t, store, clk, &syncBuf{})
	rs, err := v.Recoveries(ctx)
	if err != nil || len(rs) != 1 || rs[0].Method != "phrase" || string(rs[0].Meta) != "meta" || !rs[0].Tested.IsZero() {
		t.Fatalf("recoveries while locked: %+v %v", rs, err)
	}
	if err := v.Recover(ctx, "phrase", rk, []byte("a new password"), TestKDF(), "test"); err != nil {
		t.Fatal(err)
	}
	if v.Locked() {
		t.Fatal("a recovery left the vault locked")
	}
	s, err := v.GetSecret(ctx, "api", "test")
	if err != nil || string(s.Value) != "sk-resume-canary" {
		t.Fatalf("after recovery: %v", err)
	}
	v.Lock(ctx, "test")
	if err := v.Unlock(ctx, []byte("pw"), "test"); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("the old password after a recovery: %v", err)
	}
	clk.Advance(time.Minute)
	if err := v.Unlock(ctx, []byte("a new password"), "test"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	var ops []string
	for _, r := range lastAudit(t, v, 6) {
		ops = append(ops, r.Op+"/"+r.Target+"/"+r.Outcome)
	}
	if !strings.Contains(strings.Join(ops, " "), OpRecover+"/phrase/ok "+OpUnlock) {
		t.Fatalf("no recovery record before the unlock among %v", ops)
	}
}

func TestAWrongRecoveryKeyIsCountedAndChangesNothing(t *testing.T) {
	ctx := context.Background()
	v, store, clk, _ := recoveryVault(t)
	v.Lock(ctx, "test")
	before, _ := store.Get(ctx, pwWrapKey)
	err := v.Recover(ctx, "phrase", resumeKey(), []byte("mine now"), TestKDF(), "test")
	if !errors.Is(err, ErrRecoveryKey) {
		t.Fatalf("a wrong key: %v", err)
	}
	if n, _, _ := v.FailedAttempts(ctx); n != 1 {
		t.Fatalf("%d failures counted", n)
	}
	// within the backoff the next try is not even made
	if err := v.Recover(ctx, "phrase", resumeKey(), []byte("mine now"), TestKDF(), "test"); !errors.Is(err, ErrBackoff) {
		t.Fatalf("a second try at once: %v", err)
	}
	after, _ := store.Get(ctx, pwWrapKey)
	if !bytes.Equal(before, after) || !v.Locked() {
		t.Fatal("a refused recovery changed the password wrap or unlocked")
	}
	clk.Advance(time.Minute)
	if err := v.Unlock(ctx, []byte("pw"), "test"); err != nil {
		t.Fatal(err)
	}
	if err := v.Recover(ctx, "social", resumeKey(), []byte("x"), TestKDF(), "test"); !errors.Is(err, ErrNoRecovery) {
		t.Fatalf("a method not enabled: %v", err)
	}
}

func TestARecoveryWrapWithItsMetaOrMethodChangedDoesNotOpen(t *testing.T) {
	ctx := context.Background()
	for name, edit := range map[string]func(b []byte) []byte{
		"meta":    func(b []byte) []byte { return bytes.Replace(b, []byte("meta"), []byte("mota"), 1) },
		"sealed":  func(b []byte) []byte { b[len(b)-2*sealedLen+30] ^= 1; return b },
		"vault":   func(b []byte) []byte { b[9] ^= 1; return b },
		"garbage": func(b []byte) []byte { return b[:20] },
	} {
		t.Run(name, func(t *testing.T) {
			v, store, clk, rk := recoveryVault(t)
			v.Lock(ctx, "test")
			key := recoveryKey("phrase")
			b, _ := store.Get(ctx, key)
			store.Put(ctx, key, edit(bytes.Clone(b)))
			err := v.Recover(ctx, "phrase", rk, []byte("x"), TestKDF(), "test")
			if err == nil || !(errors.Is(err, ErrRecoveryKey) || errors.Is(err, ErrCorrupt)) {
				t.Fatalf("an altered wrap: %v", err)
			}
			clk.Advance(time.Minute)
			if err := v.Unlock(ctx, []byte("pw"), "test"); err != nil {
				t.Fatalf("the password after a refused recovery: %v", err)
			}
		})
	}
	// a wrap copied under another method's name does not open as that method
	v, store, _, rk := recoveryVault(t)
	b, _ := store.Get(ctx, recoveryKey("phrase"))
	store.Put(ctx, recoveryKey("escrow"), b)
	v.Lock(ctx, "test")
	if err := v.Recover(ctx, "escrow", rk, []byte("x"), TestKDF(), "test"); err == nil {
		t.Fatal("a wrap moved to another method opened")
	}
}

func TestATestedMethodChangesNothingAndRecordsWhen(t *testing.T) {
	ctx := context.Background()
	v, store, clk, rk := recoveryVault(t)
	before, _ := store.Get(ctx, pwWrapKey)
	clk.Advance(time.Hour)
	if err := v.TestRecovery(ctx, "phrase", rk, "test"); err != nil {
		t.Fatal(err)
	}
	after, _ := store.Get(ctx, pwWrapKey)
	r, err := v.Recovery(ctx, "phrase")
	if err != nil || !bytes.Equal(before, after) || !r.Tested.Equal(clk.Now()) {
		t.Fatalf("after a test: %+v %v", r, err)
	}
	v.Lock(ctx, "test")
	if err := v.TestRecovery(ctx, "phrase", rk, "test"); err != nil || !v.Locked() {
		t.Fatalf("a test while locked: %v (locked %v)", err, v.Locked())
	}
}

func TestRecoveryMethodsSurviveAKeyRotationAndDisabling(t *testing.T) {
	ctx := context.Background()
	v, _, clk, rk := recoveryVault(t)
	if err := v.RotateKey(ctx, []byte("pw"), []byte("pw2"), TestKDF(), "test"); err != nil {
		t.Fatal(err)
	}
	v.Lock(ctx, "test")
	if err := v.Recover(ctx, "phrase", rk, []byte("pw3"), TestKDF(), "test"); err != nil {
		t.Fatalf("a recovery after a key rotation: %v", err)
	}
	if s, err := v.GetSecret(ctx, "api", "test"); err != nil || string(s.Value) != "sk-resume-canary" {
		t.Fatalf("after recovery: %v", err)
	}
	if err := v.DisableRecovery(ctx, "phrase", "test"); err != nil {
		t.Fatal(err)
	}
	v.Lock(ctx, "test")
	clk.Advance(time.Minute)
	if err := v.Recover(ctx, "phrase", rk, []byte("pw4"), TestKDF(), "test"); !errors.Is(err, ErrNoRecovery) {
		t.Fatalf("a disabled method: %v", err)
	}
}
