package oauthflow

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// refreshAt is the moment a token issued at Epoch with expires_in 3600
// becomes due: RefreshBefore before its expiry.
var refreshAt = testkit.Epoch.Add(time.Hour - DefaultRefreshBefore)

func refreshDue(t *testing.T, e *env) int {
	t.Helper()
	n, err := e.flow.RefreshDue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRefreshBeforeExpiryKeepsTheRefreshToken(t *testing.T) {
	e := newEnv(t)
	if _, err := e.connect("read", "drive"); err != nil {
		t.Fatal(err)
	}
	old := e.vault.get(t, "drive")
	loads := e.vault.loads
	if n := refreshDue(t, e); n != 0 {
		t.Fatalf("refreshed %d right after connecting", n)
	}
	if e.vault.loads != loads {
		t.Fatal("a pass read a secret the Flow had just written")
	}
	e.clock.Set(refreshAt.Add(-time.Second))
	if n := refreshDue(t, e); n != 0 {
		t.Fatalf("refreshed %d a second before due", n)
	}
	e.as.omitRefresh = true
	e.clock.Set(refreshAt)
	if n := refreshDue(t, e); n != 1 {
		t.Fatalf("refreshed %d when due, want 1", n)
	}
	e.as.mu.Lock()
	sent := e.as.lastRefreshed
	e.as.mu.Unlock()
	if sent != string(old.Refresh) {
		t.Fatal("the refresh did not send the stored refresh token")
	}
	s := e.vault.get(t, "drive")
	if string(s.Value) == string(old.Value) || !strings.HasPrefix(string(s.Value), canaryAccess) {
		t.Fatalf("the access token was not replaced: %q", s.Value)
	}
	if string(s.Refresh) != string(old.Refresh) {
		t.Fatalf("the refresh token changed to %q though the server sent none", s.Refresh)
	}
	if s.Expiry != refreshAt.Add(time.Hour).Unix() || s.Provider != "test-drive" || s.Type != vault.TypeOAuthToken {
		t.Fatalf("stored %+v", s)
	}
	// The next one is due an hour later, and the server's new refresh
	// token, when it sends one, replaces the old.
	if n := refreshDue(t, e); n != 0 {
		t.Fatalf("refreshed %d again at once", n)
	}
	e.as.omitRefresh = false
	e.clock.Set(refreshAt.Add(time.Hour))
	if n := refreshDue(t, e); n != 1 {
		t.Fatalf("refreshed %d an hour later, want 1", n)
	}
	if s2 := e.vault.get(t, "drive"); string(s2.Refresh) == string(old.Refresh) {
		t.Fatal("the server's new refresh token was not stored")
	}
	if !strings.Contains(e.log.String(), "oauth token refreshed") {
		t.Fatalf("no log line for the refresh:\n%s", e.log.String())
	}
}

func TestRefreshFindsSecretsItDidNotWrite(t *testing.T) {
	e := newEnv(t)
	if _, err := e.connect("files", "drive"); err != nil {
		t.Fatal(err)
	}
	// A node restarted: a new Flow over the same vault and server.
	f2, err := New(e.flow.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.flow = f2
	loads := e.vault.loads
	if n := refreshDue(t, e); n != 0 {
		t.Fatal("refreshed before due")
	}
	if e.vault.loads != loads+1 {
		t.Fatalf("%d reads to learn one secret", e.vault.loads-loads)
	}
	if n := refreshDue(t, e); n != 0 || e.vault.loads != loads+1 {
		t.Fatal("a second pass read the unchanged secret again")
	}
	// Secrets of other providers and types are left alone.
	_ = e.vault.Store(t.Context(), vault.Secret{Name: "other", Type: vault.TypeOAuthToken, Provider: "elsewhere", Value: []byte("x"), Refresh: []byte("y"), Expiry: 1})
	_ = e.vault.Store(t.Context(), vault.Secret{Name: "key", Type: vault.TypeAPIKey, Value: []byte("x")})
	// No refresh token, or no expiry: never refreshed.
	_ = e.vault.Store(t.Context(), vault.Secret{Name: "short", Type: vault.TypeOAuthToken, Provider: "test-drive", Value: []byte("x"), Expiry: 1})
	_ = e.vault.Store(t.Context(), vault.Secret{Name: "forever", Type: vault.TypeOAuthToken, Provider: "test-drive", Value: []byte("x"), Refresh: []byte("y")})
	e.clock.Set(refreshAt)
	if n := refreshDue(t, e); n != 1 {
		t.Fatalf("refreshed %d, want only drive", n)
	}
	st := e.flow.Status()
	if len(st) != 3 || st[0].Name != "drive" || st[1].Name != "forever" || st[2].Name != "short" || st[2].Refreshable {
		t.Fatalf("Status is %+v", st)
	}
	// A deleted secret is forgotten.
	e.vault.mu.Lock()
	delete(e.vault.secrets, "short")
	e.vault.mu.Unlock()
	refreshDue(t, e)
	if st := e.flow.Status(); len(st) != 2 {
		t.Fatalf("Status after a delete is %+v", st)
	}
}

func TestRefreshFailureBacksOff(t *testing.T) {
	e := newEnv(t)
	if _, err := e.connect("files", "drive"); err != nil {
		t.Fatal(err)
	}
	e.as.failRefresh = true
	e.clock.Set(refreshAt)
	for i, wait := range []time.Duration{RetryMin, 2 * RetryMin, 4 * RetryMin} {
		before, _ := e.as.count()
		if n := refreshDue(t, e); n != 0 {
			t.Fatal("a refused refresh counted as done")
		}
		if after, _ := e.as.count(); after != before+1 {
			t.Fatalf("attempt %d made %d requests", i+1, after-before)
		}
		st := e.flow.Status()[0]
		if st.Failures != i+1 || !st.NextTry.Equal(e.clock.Now().Add(wait)) {
			t.Fatalf("after failure %d: %+v, want the next try in %v", i+1, st, wait)
		}
		testkit.Sentence(t, "the problem", refuse(ErrProvider, st.Problem), "Test Drive no longer accepts this connection's refresh token (invalid_grant, HTTP 400): connect Test Drive again")
		// Before the wait is over, no request.
		e.clock.Advance(wait - time.Second)
		refreshDue(t, e)
		if after, _ := e.as.count(); after != before+1 {
			t.Fatal("retried before the backoff passed")
		}
		e.clock.Advance(time.Second)
	}
	if !strings.Contains(e.log.String(), "oauth refresh failed") || !strings.Contains(e.log.String(), "invalid_grant") {
		t.Fatalf("the failures were not logged:\n%s", e.log.String())
	}
	e.as.failRefresh = false
	if n := refreshDue(t, e); n != 1 {
		t.Fatal("no refresh once the server accepts again")
	}
	if st := e.flow.Status()[0]; st.Failures != 0 || st.Problem != "" || !st.NextTry.IsZero() {
		t.Fatalf("a success left %+v", st)
	}
}

func TestBackoffIsCapped(t *testing.T) {
	for n, want := range map[int]time.Duration{1: RetryMin, 2: 2 * RetryMin, 6: 32 * RetryMin, 7: RetryMax, 1000: RetryMax} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestRefreshNeverOverwritesAReconnection(t *testing.T) {
	e := newEnv(t)
	if _, err := e.connect("files", "drive"); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(refreshAt)
	var reconnected Connected
	e.as.onRefresh = func() {
		// While the refresh is at the token endpoint, the user connects
		// again, this time with more access.
		e.as.onRefresh = nil
		c, err := e.connect("read", "drive")
		if err != nil {
			t.Error(err)
		}
		reconnected = c
	}
	if n := refreshDue(t, e); n != 0 {
		t.Fatal("the refresh was stored over the reconnection")
	}
	s := e.vault.get(t, "drive")
	if reconnected.Scope.ID != "read" || s.Scopes[0] != DriveReadOnly {
		t.Fatalf("the stored connection has %v", s.Scopes)
	}
	if !strings.Contains(e.log.String(), "replaced meanwhile") {
		t.Fatalf("the dropped refresh was not logged:\n%s", e.log.String())
	}
}

func TestRunRefreshesAndStops(t *testing.T) {
	e := newEnv(t)
	if _, err := e.connect("files", "drive"); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(refreshAt)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.flow.Run(ctx) }()
	testkit.Eventually(t, 10*time.Second, func() bool { _, n := e.as.count(); return n == 1 }, "Run's first pass refreshes the due token")
	cancel()
	if err := testkit.Within(t, 10*time.Second, done, "Run returns once its context ends"); err != nil {
		t.Fatal(err)
	}
}

func TestRefreshNeedsListAndLoad(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.List, c.Load = nil, nil })
	_, err := e.flow.RefreshDue(t.Context())
	testkit.Sentence(t, "RefreshDue without List", err, "refreshing needs a way to list secrets", ErrConfig)
	testkit.Sentence(t, "Run without List", e.flow.Run(t.Context()), "refreshing needs", ErrConfig)
}
