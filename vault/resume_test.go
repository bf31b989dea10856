package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/testkit"
)

func resumeKey() *[32]byte {
	var k [32]byte
	rand.Read(k[:])
	return &k
}

// resumeVault is an unlocked vault holding one secret, with its clock and
// a log buffer.
func resumeVault(t testing.TB, store ds.Batching) (*Vault, *fakeClock, *syncBuf) {
	t.Helper()
	clk := newFakeClock()
	logs := &syncBuf{}
	v, err := Create(context.Background(), Config{Store: store, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, []byte("pw"), TestKDF(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.PutSecret(context.Background(), Secret{Name: "api", Type: TypeAPIKey, Value: []byte("sk-resume-canary")}, "test"); err != nil {
		t.Fatal(err)
	}
	return v, clk, logs
}

func reopenLogged(t *testing.T, store ds.Batching, clk *fakeClock, logs *syncBuf) *Vault {
	t.Helper()
	v, err := Open(context.Background(), Config{Store: store, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// lastAudit returns the last n audit records.
func lastAudit(t *testing.T, v *Vault, n int) []AuditRecord {
	t.Helper()
	recs, _, err := v.VerifyAudit(context.Background())
	if err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	if len(recs) < n {
		t.Fatalf("%d audit records, want at least %d", len(recs), n)
	}
	return recs[len(recs)-n:]
}

func TestWrapForResumeNeedsAnUnlockedVaultAndAWindow(t *testing.T) {
	ctx := context.Background()
	v, clk, _ := resumeVault(t, memStore())
	if _, err := v.WrapForResume(ctx, resumeKey(), clk.Now().Add(-time.Second), "t"); err == nil || !strings.Contains(err.Error(), "would end before it starts") {
		t.Errorf("a window in the past: %v", err)
	}
	if _, err := v.WrapForResume(ctx, &[32]byte{}, clk.Now().Add(time.Hour), "t"); err == nil {
		t.Error("an all-zero resume key was accepted")
	}
	if _, err := v.WrapForResume(ctx, nil, clk.Now().Add(time.Hour), "t"); err == nil {
		t.Error("a nil resume key was accepted")
	}
	v.Close()
	if _, err := v.WrapForResume(ctx, resumeKey(), clk.Now().Add(time.Hour), "t"); !errors.Is(err, ErrLocked) {
		t.Errorf("locked vault: %v, want ErrLocked", err)
	}
}

func TestResumeRoundTrip(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk, logs := resumeVault(t, store)
	R := resumeKey()
	until := clk.Now().Add(12 * time.Hour)
	w := mustWrap(t, v, R, until, "hibernate")
	if len(w) != ResumeWrapSize || ResumeWrapSize != 108 {
		t.Fatalf("wrap is %d bytes, ResumeWrapSize %d, want 108", len(w), ResumeWrapSize)
	}
	if id, got, err := ReadResumeWrap(w); err != nil || !got.Equal(until) || !bytes.Equal(id, v.ID()) {
		t.Errorf("ReadResumeWrap = %x, %v, %v; want %x, %v", id, got, err, v.ID(), until)
	}
	prep := lastAudit(t, v, 1)[0]
	if prep.Op != OpResumePrepare || prep.Outcome != OutcomeOK || prep.Actor != "hibernate" || !strings.Contains(prep.Detail, until.UTC().Format(time.RFC3339)) {
		t.Errorf("prepare record = %+v", prep)
	}
	v.Close() // the process ends: hibernation

	clk.Advance(11 * time.Hour)
	v2 := reopenLogged(t, store, clk, logs)
	if err := v2.UnlockResumed(ctx, w, R, clk.Now(), "wake"); err != nil {
		t.Fatal(err)
	}
	if v2.Locked() {
		t.Fatal("the vault is locked after a resume")
	}
	s, err := v2.GetSecret(ctx, "api", "t")
	if err != nil || string(s.Value) != "sk-resume-canary" {
		t.Fatalf("GetSecret after a resume = %q, %v", s.Value, err)
	}
	recs := lastAudit(t, v2, 3) // unlock, resume, secret.read
	if recs[0].Op != OpUnlock || recs[0].Outcome != OutcomeOK || recs[0].Actor != "wake" {
		t.Errorf("unlock record = %+v", recs[0])
	}
	if recs[1].Op != OpResume || recs[1].Target != ResumeTarget || recs[1].Outcome != OutcomeOK || !strings.Contains(recs[1].Detail, "resume key") {
		t.Errorf("resume record = %+v", recs[1])
	}
	if err := v2.UnlockResumed(ctx, w, R, clk.Now(), "wake"); err != nil {
		t.Errorf("UnlockResumed on an unlocked vault = %v, want nil", err)
	}
	// The password still opens the vault the same way afterwards.
	if err := v2.Lock(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := v2.Unlock(ctx, []byte("pw"), "t"); err != nil {
		t.Fatal(err)
	}
}

func TestUnlockResumedRefuses(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk, logs := resumeVault(t, store)
	R := resumeKey()
	until := clk.Now().Add(time.Hour)
	w := mustWrap(t, v, R, until, "t")
	other, oclk, _ := resumeVault(t, memStore())
	ow, err := other.WrapForResume(ctx, R, oclk.Now().Add(time.Hour), "t")
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	v = reopenLogged(t, store, clk, logs)

	flip := func(i int) []byte { b := bytes.Clone(w); b[i] ^= 1; return b }
	cases := []struct {
		name   string
		wrap   []byte
		key    *[32]byte
		now    time.Time
		want   string
		is     error
		detail string
	}{
		{"at the end of the window", w, R, until, "the resume window has ended", ErrResumeExpired, "the resume window ended at"},
		{"after the end of the window", w, R, until.Add(time.Minute), "unlock the vault with its password", ErrResumeExpired, "the resume window ended at"},
		{"a wrap of another vault", ow, R, clk.Now(), "another vault", ErrResumeOtherVault, "another vault"},
		{"a key from another hibernation", w, resumeKey(), clk.Now(), "does not open", ErrResumeKey, "not counted as a wrong password"},
		{"the window extended", flip(resumePrefix - 2), R, clk.Now(), "does not open", ErrResumeKey, "does not open"},
		{"the ciphertext altered", flip(len(w) - 1), R, clk.Now(), "does not open", ErrResumeKey, "does not open"},
		{"the generation altered", flip(len(resumeMagic) + vaultIDSize + 3), R, clk.Now(), "key changed since the hibernation", ErrResumeKey, "key generation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := v.UnlockResumed(ctx, tc.wrap, tc.key, tc.now, "wake")
			testkit.Sentence(t, tc.name, err, tc.want, tc.is)
			if !v.Locked() {
				t.Fatal("unlocked")
			}
			recs, err := ReadAudit(ctx, store)
			if err != nil {
				t.Fatal(err)
			}
			r := recs[len(recs)-1]
			if r.Op != OpUnlock || r.Outcome != OutcomeFailed || r.Target != ResumeTarget || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("audit record = %+v", r)
			}
		})
	}
	if _, _, err := ReadResumeWrap([]byte("garbage")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage: %v", err)
	}
	if err := v.UnlockResumed(ctx, w[:len(w)-1], R, clk.Now(), "wake"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a short wrap: %v", err)
	}
	// None of it counted as a wrong password: no backoff, the password
	// opens at once, and the failed attempts were audited, then verified.
	if n, _, err := v.FailedAttempts(ctx); err != nil || n != 0 {
		t.Errorf("FailedAttempts = %d, %v; want 0", n, err)
	}
	if err := v.Unlock(ctx, []byte("pw"), "t"); err != nil {
		t.Fatalf("password unlock after refused resumes: %v", err)
	}
	if r := lastAudit(t, v, 1)[0]; !strings.Contains(r.Detail, "written while locked verified") {
		t.Errorf("the unlock did not verify the refusals written while locked: %+v", r)
	}
}

// A wrong password counted before the hibernation stays counted: a
// resume neither adds to the count nor clears it.
func TestResumeLeavesTheFailureCountAlone(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk, logs := resumeVault(t, store)
	R := resumeKey()
	w := mustWrap(t, v, R, clk.Now().Add(time.Hour), "t")
	v.Close()
	v = reopenLogged(t, store, clk, logs)
	if err := v.Unlock(ctx, []byte("wrong"), "t"); !errors.Is(err, ErrBadPassword) {
		t.Fatal(err)
	}
	if err := v.UnlockResumed(ctx, w, resumeKey(), clk.Now(), "wake"); !errors.Is(err, ErrResumeKey) {
		t.Fatal(err)
	}
	if n, _, _ := v.FailedAttempts(ctx); n != 1 {
		t.Errorf("after a wrong resume key the count is %d, want 1", n)
	}
	// The backoff of the wrong password does not stop a resume.
	if err := v.UnlockResumed(ctx, w, R, clk.Now(), "wake"); err != nil {
		t.Fatalf("resume during a password backoff: %v", err)
	}
	if n, _, _ := v.FailedAttempts(ctx); n != 1 {
		t.Errorf("after a resume the count is %d, want 1", n)
	}
}

// A key rotation after the wrap was made (or a rotation's wrap put back)
// leaves the resume wrap unusable, with a sentence saying why.
func TestResumeWrapDiesWithAKeyRotation(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk, logs := resumeVault(t, store)
	R := resumeKey()
	w := mustWrap(t, v, R, clk.Now().Add(time.Hour), "t")
	if err := v.RotateKey(ctx, []byte("pw"), []byte("pw2"), TestKDF(), "t"); err != nil {
		t.Fatal(err)
	}
	v.Close()
	v = reopenLogged(t, store, clk, logs)
	err := v.UnlockResumed(ctx, w, R, clk.Now(), "wake")
	testkit.Sentence(t, "after a rotation", err, "key changed since the hibernation", ErrResumeKey)
	if !v.Locked() {
		t.Fatal("unlocked with the old generation's key")
	}
}

// failAfterStore commits n batches, then refuses every commit.
type failAfterStore struct {
	ds.Batching
	mu sync.Mutex
	n  int
}

func (f *failAfterStore) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := f.Batching.Batch(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n <= 0 {
		return failingBatch{b}, err
	}
	f.n--
	return b, err
}

// A resume that cannot write its own record does not stay unlocked.
func TestResumeNotAuditedLocksAgain(t *testing.T) {
	ctx := context.Background()
	inner := memStore()
	v, clk, logs := resumeVault(t, inner)
	R := resumeKey()
	w := mustWrap(t, v, R, clk.Now().Add(time.Hour), "t")
	v.Close()
	fs := &failAfterStore{Batching: inner, n: 1} // the unlock record only
	v, err := Open(ctx, Config{Store: fs, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	err = v.UnlockResumed(ctx, w, R, clk.Now(), "wake")
	if err == nil || !strings.Contains(err.Error(), "locked again") {
		t.Fatalf("UnlockResumed = %v, want it to say the vault was locked again", err)
	}
	if !v.Locked() {
		t.Fatal("the vault stayed unlocked without its resume record")
	}
	if p := v.PendingAudit(); len(p) != 1 || p[0].Op != OpLock {
		t.Errorf("pending audit = %+v, want the lock record", p)
	}
}

// Canary: neither the resume key nor the master key shows in an error, a
// log line, an audit record or the store, in any encoding.
func TestResumeKeysNeverLeak(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk, logs := resumeVault(t, store)
	master := bytes.Clone(v.master.Bytes())
	R := resumeKey()
	w := mustWrap(t, v, R, clk.Now().Add(time.Hour), "t")
	var errs []string
	if _, err := v.WrapForResume(ctx, R, clk.Now(), "t"); err != nil {
		errs = append(errs, err.Error())
	}
	v.Close()
	v = reopenLogged(t, store, clk, logs)
	wrong := resumeKey()
	for _, try := range []struct {
		k   *[32]byte
		now time.Time
	}{{wrong, clk.Now()}, {R, clk.Now().Add(2 * time.Hour)}, {R, clk.Now()}} {
		if err := v.UnlockResumed(ctx, w, try.k, try.now, "wake"); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if v.Locked() {
		t.Fatal("the resume did not unlock")
	}
	recs, _, err := v.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var haystack []string
	haystack = append(haystack, errs...)
	haystack = append(haystack, logs.String())
	for _, r := range recs {
		haystack = append(haystack, string(r.canonical()))
	}
	for k, val := range dump(t, store) {
		haystack = append(haystack, k, string(val))
	}
	for _, secret := range [][]byte{R[:], wrong[:], master} {
		for _, form := range []string{string(secret), hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)), base64.StdEncoding.EncodeToString(secret), base64.RawURLEncoding.EncodeToString(secret)} {
			for _, h := range haystack {
				if strings.Contains(h, form) {
					t.Fatalf("a key shows in %q", h)
				}
			}
		}
	}
	if len(errs) < 3 {
		t.Fatalf("only %d refusals were seen", len(errs))
	}
}

// FuzzParseResumeWrap: the resume wrap's decoder refuses with ErrCorrupt
// or gives a wrap that encodes back to the same bytes.
func FuzzParseResumeWrap(f *testing.F) {
	v, clk, _ := resumeVault(f, memStore())
	w, err := v.WrapForResume(context.Background(), resumeKey(), clk.Now().Add(time.Hour), "t")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(w)
	f.Add(w[:len(w)-1])
	f.Add([]byte(resumeMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseResumeWrap(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("refusal %v is not ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(got.marshal(), b) {
			t.Fatal("a parsed wrap does not encode back")
		}
	})
}

// syncBuf is a log sink safe for concurrent use.
type syncBuf = testkit.Buffer

// mustWrap is WrapForResume that fails the test on an error.
func mustWrap(t *testing.T, v *Vault, R *[32]byte, until time.Time, actor string) []byte {
	t.Helper()
	w, err := v.WrapForResume(context.Background(), R, until, actor)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
