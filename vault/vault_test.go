package vault

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

func memStore() ds.Batching { return dssync.MutexWrap(ds.NewMapDatastore()) }

func newTestVault(t *testing.T, store ds.Batching, pw string) (*Vault, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	v, err := Create(context.Background(), Config{Store: store, Now: clk.Now}, []byte(pw), TestKDF(), "test")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return v, clk
}

func reopen(t *testing.T, store ds.Batching, clk *fakeClock) *Vault {
	t.Helper()
	v, err := Open(context.Background(), Config{Store: store, Now: clk.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return v
}

func TestSecretRoundTripAcrossReopen(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk := newTestVault(t, store, "hunter2")
	secrets := []Secret{
		{Name: "openai", Type: TypeAPIKey, Provider: "openai", Value: []byte("sk-canary-1")},
		{Name: "google", Type: TypeOAuthToken, Provider: "google", Scopes: []string{"calendar.read"}, Expiry: 1900000000, Value: []byte("ya29.x"), Refresh: []byte("1//r")},
		{Name: "bank", Type: TypePassword, Username: "alice", Value: []byte("pw")},
		{Name: "diary/2026", Type: TypeNote, Value: []byte("dear diary")},
	}
	for _, s := range secrets {
		if err := v.PutSecret(ctx, s, "test"); err != nil {
			t.Fatalf("PutSecret(%s): %v", s.Name, err)
		}
	}
	v.Close()
	v2 := reopen(t, store, clk)
	if _, err := v2.GetSecret(ctx, "openai", "test"); !errors.Is(err, ErrLocked) {
		t.Fatalf("GetSecret on a locked vault = %v, want ErrLocked", err)
	}
	if err := v2.Unlock(ctx, []byte("hunter2"), "test"); err != nil {
		t.Fatal(err)
	}
	for _, want := range secrets {
		got, err := v2.GetSecret(ctx, want.Name, "test")
		if err != nil {
			t.Fatalf("GetSecret(%s): %v", want.Name, err)
		}
		if !bytes.Equal(got.Value, want.Value) || !bytes.Equal(got.Refresh, want.Refresh) || got.Type != want.Type || got.Provider != want.Provider || got.Username != want.Username {
			t.Errorf("GetSecret(%s) = %+v, want %+v", want.Name, got, want)
		}
	}
	list, err := v2.ListSecrets(ctx)
	if err != nil || len(list) != len(secrets) {
		t.Fatalf("ListSecrets = %v, %v", list, err)
	}
	if err := v2.DeleteSecret(ctx, "bank", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := v2.GetSecret(ctx, "bank", "test"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
}

func TestWrongPasswordBacksOffAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk := newTestVault(t, store, "right")
	v.Close()
	// Each failure makes the next attempt wait longer; an attempt before
	// then is refused at once, with the wait, and is not counted.
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}
	for i, d := range want {
		if err := v.Unlock(ctx, []byte("wrong"), "test"); !errors.Is(err, ErrBadPassword) {
			t.Fatalf("attempt %d: %v, want ErrBadPassword", i, err)
		}
		var be *BackoffError
		if err := v.Unlock(ctx, []byte("wrong"), "test"); !errors.As(err, &be) || be.Wait != d || be.Failures != uint32(i+1) {
			t.Fatalf("attempt %d again at once: %v, want a %v backoff after %d failures", i, err, d, i+1)
		}
		clk.Advance(d)
	}
	// A restart does not reset the counter.
	v2 := reopen(t, store, clk)
	n, next, err := v2.FailedAttempts(ctx)
	if err != nil || n != 3 || !next.Equal(clk.Now()) {
		t.Fatalf("FailedAttempts after restart = %d, %v, %v; want 3, now", n, next, err)
	}
	if err := v2.Unlock(ctx, []byte("wrong"), "test"); !errors.Is(err, ErrBadPassword) {
		t.Fatal(err)
	}
	if err := v2.Unlock(ctx, []byte("right"), "test"); !errors.Is(err, ErrBackoff) || err.Error() != "too many wrong passwords: next try in 2 s" {
		t.Fatalf("right password during the backoff: %v", err)
	}
	clk.Advance(2 * time.Second)
	if err := v2.Unlock(ctx, []byte("right"), "test"); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := v2.FailedAttempts(ctx); n != 0 {
		t.Fatalf("counter not reset after success: %d", n)
	}
	recs, err := ReadAudit(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, r := range recs {
		if r.Op == OpUnlock && r.Outcome == OutcomeFailed {
			failed++
		}
	}
	if failed != 4 {
		t.Fatalf("audit has %d failed unlocks, want 4 (refusals during the backoff are not attempts)", failed)
	}
}

func TestBackoffIsCapped(t *testing.T) {
	v := &Vault{cfg: Config{}}
	v.cfg.fill()
	if got := v.backoff(100); got != 30*time.Second {
		t.Fatalf("backoff(100) = %v, want the 30s cap", got)
	}
	if got := v.backoff(0); got != 0 {
		t.Fatalf("backoff(0) = %v", got)
	}
}

func TestWrongPasswordAndTamperedWrapLookAlike(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk := newTestVault(t, store, "right")
	v.Close()
	errWrong := v.Unlock(ctx, []byte("wrong"), "test")
	clk.Advance(time.Minute)
	w, _ := store.Get(ctx, pwWrapKey)
	w[len(w)-1] ^= 1
	store.Put(ctx, pwWrapKey, w)
	errTamper := reopen(t, store, clk).Unlock(ctx, []byte("right"), "test")
	if errWrong == nil || errTamper == nil || errWrong.Error() != errTamper.Error() {
		t.Fatalf("wrong password %q vs tampered wrap %q: must be one indistinguishable error", errWrong, errTamper)
	}
}

func TestChangePasswordRewrapsOnly(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk := newTestVault(t, store, "old")
	if err := v.PutSecret(ctx, Secret{Name: "k", Type: TypeNote, Value: []byte("v")}, "t"); err != nil {
		t.Fatal(err)
	}
	recBefore, _ := store.Get(ctx, recKey(NSSecrets, "k"))
	if err := v.ChangePassword(ctx, []byte("nope"), []byte("new"), TestKDF(), "t"); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("change with wrong old password: %v", err)
	}
	clk.Advance(time.Minute)
	if err := v.ChangePassword(ctx, []byte("old"), []byte("new"), TestKDF(), "t"); err != nil {
		t.Fatal(err)
	}
	if v.Locked() {
		t.Fatal("changing the password locked the session")
	}
	recAfter, _ := store.Get(ctx, recKey(NSSecrets, "k"))
	if !bytes.Equal(recBefore, recAfter) {
		t.Fatal("records were rewritten; only the master key wrap should change")
	}
	v.Close()
	v2 := reopen(t, store, clk)
	if err := v2.Unlock(ctx, []byte("old"), "t"); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("old password still works: %v", err)
	}
	clk.Advance(time.Minute)
	if err := v2.Unlock(ctx, []byte("new"), "t"); err != nil {
		t.Fatal(err)
	}
	if s, err := v2.GetSecret(ctx, "k", "t"); err != nil || string(s.Value) != "v" {
		t.Fatalf("after change: %v %v", s, err)
	}
}

func TestLockWipesKeys(t *testing.T) {
	ctx := context.Background()
	v, _ := newTestVault(t, memStore(), "pw")
	if err := v.PutSecret(ctx, Secret{Name: "k", Type: TypeNote, Value: []byte("v")}, "t"); err != nil {
		t.Fatal(err)
	}
	rk := v.recKeys[NSSecrets]
	if rk == nil || rk.IsZero() {
		t.Fatal("record key not cached")
	}
	if err := v.Lock(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if !v.master.IsZero() || !rk.IsZero() || len(v.recKeys) != 0 {
		t.Fatal("lock left key material in memory")
	}
	if _, err := v.GetSecret(ctx, "k", "t"); !errors.Is(err, ErrLocked) {
		t.Fatalf("%v, want ErrLocked", err)
	}
}

func TestTamperedRecordsFailClearly(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		mutate func(store ds.Batching, b []byte)
		want   error
	}{
		{"a flipped ciphertext byte fails authentication", func(s ds.Batching, b []byte) {
			b[len(b)-3] ^= 0x40
			s.Put(ctx, recKey(NSSecrets, "a"), b)
		}, ErrCorrupt},
		{"a flipped version fails authentication", func(s ds.Batching, b []byte) {
			b[len(recordMagic)+7] ^= 2
			s.Put(ctx, recKey(NSSecrets, "a"), b)
		}, ErrCorrupt},
		{"a truncated record is refused", func(s ds.Batching, b []byte) {
			s.Put(ctx, recKey(NSSecrets, "a"), b[:20])
		}, ErrCorrupt},
		{"an empty record is refused, not read as empty", func(s ds.Batching, b []byte) {
			s.Put(ctx, recKey(NSSecrets, "a"), nil)
		}, ErrCorrupt},
		{"a record copied under another name fails", func(s ds.Batching, b []byte) {
			other, _ := s.Get(ctx, recKey(NSSecrets, "b"))
			s.Put(ctx, recKey(NSSecrets, "a"), other)
		}, ErrCorrupt},
		{"a record moved to another namespace fails", func(s ds.Batching, b []byte) {
			s.Put(ctx, recKey(NSSecrets, "a"), nil)
			s.Delete(ctx, recKey(NSSecrets, "a"))
			s.Put(ctx, recKey(NSResources, "a"), b)
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := memStore()
			v, _ := newTestVault(t, store, "pw")
			for _, n := range []string{"a", "b"} {
				if err := v.PutSecret(ctx, Secret{Name: n, Type: TypeNote, Value: []byte("value-" + n)}, "t"); err != nil {
					t.Fatal(err)
				}
			}
			b, _ := store.Get(ctx, recKey(NSSecrets, "a"))
			tc.mutate(store, b)
			if tc.want == nil { // moved namespace
				if _, err := v.Get(ctx, NSResources, "a", AuditEntry{Op: "t"}); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("moved record opened: %v", err)
				}
				return
			}
			s, err := v.GetSecret(ctx, "a", "t")
			if !errors.Is(err, tc.want) {
				t.Fatalf("GetSecret = %+v, %v; want %v", s, err, tc.want)
			}
		})
	}
}

func TestOversizedKDFParamsRefused(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk := newTestVault(t, store, "pw")
	v.Close()
	w, _ := store.Get(ctx, pwWrapKey)
	w[len(wrapMagic)+5] = 0xff // memory: far above 1 GiB
	store.Put(ctx, pwWrapKey, w)
	err := reopen(t, store, clk).Unlock(ctx, []byte("pw"), "t")
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "cap") {
		t.Fatalf("oversized KDF: %v, want a clear ErrCorrupt naming the cap", err)
	}
}

func TestCreateRefusesExistingVault(t *testing.T) {
	store := memStore()
	newTestVault(t, store, "pw")
	if _, err := Create(context.Background(), Config{Store: store}, []byte("x"), TestKDF(), "t"); !errors.Is(err, ErrExists) {
		t.Fatalf("%v, want ErrExists", err)
	}
	if _, err := Open(context.Background(), Config{Store: memStore()}); !errors.Is(err, ErrNoVault) {
		t.Fatalf("%v, want ErrNoVault", err)
	}
	// A header deleted: a new vault is not created over the old log.
	store.Delete(context.Background(), headerKey)
	if _, err := Create(context.Background(), Config{Store: store}, []byte("x"), TestKDF(), "t"); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "no vault header") {
		t.Fatalf("%v, want ErrExists naming the missing header", err)
	}
}

func TestNamesCannotAlias(t *testing.T) {
	ctx := context.Background()
	v, _ := newTestVault(t, memStore(), "pw")
	for _, n := range []string{"a/b", "a//b", "a/../a/b", "a/./b"} {
		if err := v.PutSecret(ctx, Secret{Name: n, Type: TypeNote, Value: []byte(n)}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"a/b", "a//b", "a/../a/b", "a/./b"} {
		s, err := v.GetSecret(ctx, n, "t")
		if err != nil || string(s.Value) != n {
			t.Fatalf("%q: got %q, %v", n, s.Value, err)
		}
	}
	if err := v.PutSecret(ctx, Secret{Name: "bad\x00name", Type: TypeNote, Value: []byte("x")}, "t"); !errors.Is(err, ErrBadName) {
		t.Fatalf("control character accepted: %v", err)
	}
}

func TestProductionKDFDefaultsAndCaps(t *testing.T) {
	d := DefaultKDF()
	if d.Time != 3 || d.MemoryKiB != 64<<10 || d.Threads != 4 {
		t.Fatalf("DefaultKDF = %+v, want RFC 9106's second option t=3 m=64MiB p=4", d)
	}
	if MaxKDFMemoryKiB != 1<<20 || MaxKDFTime != 16 || MaxKDFThreads != 16 {
		t.Fatal("decode caps changed: m ≤ 1 GiB, t ≤ 16, p ≤ 16")
	}
	for _, p := range []KDFParams{
		{Time: 17, MemoryKiB: 64, Threads: 1},
		{Time: 1, MemoryKiB: 1<<20 + 1, Threads: 1},
		{Time: 1, MemoryKiB: 1024, Threads: 17},
		{Time: 0, MemoryKiB: 64, Threads: 1},
		{Time: 1, MemoryKiB: 64, Threads: 0},
	} {
		if checkKDF(p) == nil {
			t.Errorf("checkKDF accepted %+v", p)
		}
	}
	if err := checkKDF(KDFParams{Time: 16, MemoryKiB: 1 << 20, Threads: 16}); err != nil {
		t.Errorf("the caps themselves are refused: %v", err)
	}
}
