package oauthflow

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

func TestFullFlowStoresTheSecret(t *testing.T) {
	e := newEnv(t)
	u, err := e.flow.Start("read", "drive")
	if err != nil {
		t.Fatal(err)
	}
	e.noSecretsIn("the authorization URL", u)
	q := e.browse(u)
	if q.Get("state") == "" || q.Get("code") == "" {
		t.Fatalf("the callback carries %v", q)
	}
	c, err := e.flow.Finish(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	want := Connected{Name: "drive", Provider: "test-drive", Scope: e.as.provider().Scopes[1], Granted: []string{DriveReadOnly},
		Expiry: testkit.Epoch.Add(time.Hour), Refreshable: true}
	if c.Name != want.Name || c.Provider != want.Provider || c.Scope.ID != "read" || !slices.Equal(c.Granted, want.Granted) ||
		!c.Expiry.Equal(want.Expiry) || !c.Refreshable {
		t.Fatalf("Finish returned %+v, want %+v", c, want)
	}
	s := e.vault.get(t, "drive")
	if s.Type != vault.TypeOAuthToken || s.Provider != "test-drive" || !slices.Equal(s.Scopes, []string{DriveReadOnly}) ||
		s.Expiry != testkit.Epoch.Add(time.Hour).Unix() {
		t.Fatalf("stored %+v", s)
	}
	if !strings.HasPrefix(string(s.Value), canaryAccess) || !strings.HasPrefix(string(s.Refresh), canaryRefresh) {
		t.Fatalf("stored value %q, refresh %q", s.Value, s.Refresh)
	}
	// The authorization request the server saw.
	e.as.mu.Lock()
	aq := e.as.authQuery
	e.as.mu.Unlock()
	if aq.Get("scope") != DriveReadOnly || aq.Get("redirect_uri") != testRedirect {
		t.Fatalf("the authorization request asked %v", aq)
	}
	if st := e.flow.Status(); len(st) != 1 || st[0].Name != "drive" || !st[0].Refreshable || !st[0].Expiry.Equal(want.Expiry) {
		t.Fatalf("Status is %+v", st)
	}
	if !strings.Contains(e.log.String(), "oauth connection stored") {
		t.Fatalf("no log line for the connection:\n%s", e.log.String())
	}
}

func TestGoogleDrive(t *testing.T) {
	p := GoogleDrive("id.apps.googleusercontent.com", canaryClientSecret)
	want := []Scope{
		{ID: "files", Words: "only files I pick", OAuth: []string{"https://www.googleapis.com/auth/drive.file"}},
		{ID: "read", Words: "read all my files", OAuth: []string{"https://www.googleapis.com/auth/drive.readonly"}},
		{ID: "full", Words: "full access", OAuth: []string{"https://www.googleapis.com/auth/drive"}},
	}
	if !slices.EqualFunc(p.Scopes, want, func(a, b Scope) bool {
		return a.ID == b.ID && a.Words == b.Words && slices.Equal(a.OAuth, b.OAuth)
	}) {
		t.Fatalf("GoogleDrive offers %+v", p.Scopes)
	}
	f, err := New(Config{Provider: p, RedirectURL: "https://node.example/oauth/google-drive/callback", Store: func(context.Context, vault.Secret) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := f.Start("files", "google-drive")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "accounts.google.com" || q.Get("scope") != DriveFiles || q.Get("access_type") != "offline" ||
		q.Get("prompt") != "consent" || q.Get("code_challenge_method") != "S256" || q.Has("client_secret") {
		t.Fatalf("the Google authorization URL is %s", raw)
	}
	if sc := f.Scopes(); len(sc) != 3 || sc[2].ID != "full" || sc[2].OAuth[0] != DriveFull {
		t.Fatalf("Scopes() = %+v", sc)
	}
	if name, title := f.Provider(); name != "google-drive" || title != "Google Drive" {
		t.Fatalf("Provider() = %q, %q", name, title)
	}
}

func TestWrongOrReplayedStateIsRefused(t *testing.T) {
	e := newEnv(t)
	u, err := e.flow.Start("files", "drive")
	if err != nil {
		t.Fatal(err)
	}
	q := e.browse(u)
	forged := url.Values{"state": {randomText()}, "code": {q.Get("code")}}
	_, err = e.flow.Finish(t.Context(), forged)
	e.refused("a state never handed out", err, "matches no connection in progress", ErrState)
	if _, err := e.flow.Finish(t.Context(), q); err != nil {
		t.Fatalf("the genuine callback after a forged one: %v", err)
	}
	before, _ := e.as.count()
	_, err = e.flow.Finish(t.Context(), q)
	e.refused("a replayed callback", err, "it was used already", ErrState)
	if after, _ := e.as.count(); after != before {
		t.Fatal("a replayed callback reached the token endpoint")
	}
}

func TestExpiredStateIsRefused(t *testing.T) {
	e := newEnv(t)
	u, err := e.flow.Start("files", "drive")
	if err != nil {
		t.Fatal(err)
	}
	q := e.browse(u)
	e.clock.Advance(StateTTL)
	_, err = e.flow.Finish(t.Context(), q)
	e.refused("a callback after StateTTL", err, "took longer than 10 minutes", ErrExpired)
	_, err = e.flow.Finish(t.Context(), q)
	e.refused("the same callback again", err, "matches no connection", ErrState)
	if n, _ := e.as.count(); n != 0 || e.vault.count() != 0 {
		t.Fatal("an expired state reached the token endpoint or the vault")
	}
}

func TestAccessDeniedIsRefusedInWords(t *testing.T) {
	e := newEnv(t)
	e.as.deny = true
	u, err := e.flow.Start("files", "drive")
	if err != nil {
		t.Fatal(err)
	}
	q := e.browse(u)
	_, err = e.flow.Finish(t.Context(), q)
	e.refused("access_denied", err, "you did not allow access to Test Drive (only files I pick): nothing was stored", ErrDenied)
	if e.vault.count() != 0 {
		t.Fatal("a denied connection stored a secret")
	}
	_, err = e.flow.Finish(t.Context(), q)
	e.refused("a denied callback again", err, "matches no connection", ErrState)
}

func TestProviderErrorsInCallbackAreWorded(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ code, desc, want string }{
		{"invalid_scope", "", "did not accept the access asked for"},
		{"temporarily_unavailable", "", "try again in a moment"},
		{"unauthorized_client", "bad <script> \x00 client", `refused the connection (unauthorized_client): Test Drive says "bad <script> ? client"`},
	} {
		u, err := e.flow.Start("files", "drive")
		if err != nil {
			t.Fatal(err)
		}
		state := e.browse(u).Get("state")
		q := url.Values{"state": {state}, "error": {c.code}}
		if c.desc != "" {
			q.Set("error_description", c.desc)
		}
		_, err = e.flow.Finish(t.Context(), q)
		e.refused(c.code, err, c.want, ErrProvider)
	}
}

func TestTokenEndpointRefusalShowsNoCodeOrToken(t *testing.T) {
	e := newEnv(t)
	e.as.failExchange = true
	_, err := e.connect("files", "drive")
	e.refused("a 400 from the token endpoint", err, "Test Drive did not accept the authorization code (invalid_grant, HTTP 400)", ErrProvider)
	if strings.Contains(err.Error(), "xyz") || e.vault.count() != 0 {
		t.Fatalf("%q shows the code, or a secret was stored", err)
	}
}

func TestTokenEndpointOtherRefusal(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Provider.ClientSecret = "wrong" })
	_, err := e.connect("files", "drive")
	e.refused("a wrong client secret", err, "token endpoint refused the request (invalid_client, HTTP 400)", ErrProvider)
}

func TestPKCEAndRedirectAreChecked(t *testing.T) {
	e := newEnv(t)
	// Two connections in progress; the code of one is brought back with
	// the state of the other, as by someone who stole a code: the
	// verifier kept for that state does not match the code's challenge.
	ua, err := e.flow.Start("files", "a")
	if err != nil {
		t.Fatal(err)
	}
	ub, err := e.flow.Start("files", "b")
	if err != nil {
		t.Fatal(err)
	}
	qa, qb := e.browse(ua), e.browse(ub)
	_, err = e.flow.Finish(t.Context(), url.Values{"state": qa["state"], "code": qb["code"]})
	e.refused("a code with another connection's verifier", err, "invalid_grant", ErrProvider)
	e.as.mu.Lock()
	why := e.as.lastWhy
	e.as.mu.Unlock()
	if !strings.HasPrefix(why, "PKCE") {
		t.Fatalf("the server refused for %q, not the verifier", why)
	}

	// The fake server's checks themselves: a wrong verifier and a wrong
	// redirect_uri are refused, the right ones accepted.
	code := e.browse(mustStart(t, e.flow, "files", "c")).Get("code")
	e.as.mu.Lock()
	challenge := e.as.grants[code].challenge
	e.as.mu.Unlock()
	post := func(verifier, redirect string) int {
		resp, err := http.PostForm(e.as.srv.URL+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"code_verifier": {verifier}, "redirect_uri": {redirect}, "client_id": {testClientID}, "client_secret": {canaryClientSecret}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(strings.Repeat("A", 43), testRedirect); st != http.StatusBadRequest {
		t.Fatalf("the fake server took a wrong verifier: %d", st)
	}
	e.flow.mu.Lock()
	var verifier string
	for _, p := range e.flow.pending {
		if s256(p.verifier) == challenge {
			verifier = p.verifier
		}
	}
	e.flow.mu.Unlock()
	if st := post(verifier, "https://elsewhere.example/cb"); st != http.StatusBadRequest {
		t.Fatalf("the fake server took a wrong redirect_uri: %d", st)
	}
	if st := post(verifier, testRedirect); st != http.StatusOK {
		t.Fatalf("the fake server refused the right verifier and redirect_uri: %d", st)
	}
}

func mustStart(t *testing.T, f *Flow, scope, name string) string {
	t.Helper()
	u, err := f.Start(scope, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPendingIsBounded(t *testing.T) {
	e := newEnv(t)
	first := e.browse(mustStart(t, e.flow, "files", "drive"))
	var last string
	for range 10 * MaxPending {
		last = mustStart(t, e.flow, "files", "drive")
	}
	e.flow.mu.Lock()
	n := len(e.flow.pending)
	e.flow.mu.Unlock()
	if n != MaxPending {
		t.Fatalf("%d connections in progress, want MaxPending (%d)", n, MaxPending)
	}
	_, err := e.flow.Finish(t.Context(), first)
	e.refused("the oldest, forgotten", err, "matches no connection", ErrState)
	if _, err := e.flow.Finish(t.Context(), e.browse(last)); err != nil {
		t.Fatalf("the newest: %v", err)
	}
}

func TestStartRefusals(t *testing.T) {
	e := newEnv(t)
	_, err := e.flow.Start("everything", "drive")
	e.refused("an unknown scope", err, `Test Drive offers no scope "everything": choose files (only files I pick), read (read all my files)`, ErrScope)
	_, err = e.flow.Start("files", "bad\nname")
	e.refused("a bad name", err, "a connection's name must be 1 to 512 bytes", ErrName)
	_, err = e.flow.Start("files", "")
	e.refused("no name", err, "a connection's name", ErrName)
}

func TestFinishRefusals(t *testing.T) {
	t.Run("issuer", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Provider.Issuer = "https://issuer.example" })
		e.as.issuer = "https://other.example"
		_, err := e.connect("files", "drive")
		e.refused("another issuer", err, "the answer came from another server than Test Drive", ErrProvider)
		e.as.issuer = "https://issuer.example"
		if _, err := e.connect("files", "drive"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("token type", func(t *testing.T) {
		e := newEnv(t)
		e.as.tokenType = "mac"
		_, err := e.connect("files", "drive")
		e.refused("a mac token", err, `Test Drive gave a token of type "mac"`, ErrProvider)
		e.as.tokenType = "bearer"
		if _, err := e.connect("files", "drive"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("scope not granted", func(t *testing.T) {
		e := newEnv(t)
		other := "openid email"
		e.as.grantedScope = &other
		_, err := e.connect("files", "drive")
		e.refused("none of the asked scopes", err, "you did not allow Test Drive (only files I pick)", ErrDenied)
		if e.vault.count() != 0 {
			t.Fatal("stored")
		}
		both := DriveFiles + " openid"
		e.as.grantedScope = &both
		c, err := e.connect("files", "drive")
		if err != nil || !slices.Equal(c.Granted, []string{DriveFiles, "openid"}) {
			t.Fatalf("granted %v, %v", c.Granted, err)
		}
		none := ""
		e.as.grantedScope = &none
		if c, err := e.connect("files", "drive"); err != nil || !slices.Equal(c.Granted, []string{DriveFiles}) {
			t.Fatalf("with no scope field, granted %v, %v", c.Granted, err)
		}
	})
	t.Run("no expiry, no refresh token", func(t *testing.T) {
		e := newEnv(t)
		e.as.expiresIn = 0
		c, err := e.connect("files", "drive")
		if err != nil || !c.Expiry.IsZero() || e.vault.get(t, "drive").Expiry != 0 {
			t.Fatalf("%+v, %v", c, err)
		}
	})
	t.Run("name holds another secret", func(t *testing.T) {
		e := newEnv(t)
		if err := e.vault.Store(t.Context(), vault.Secret{Name: "drive", Type: vault.TypePassword, Value: []byte("hunter2")}); err != nil {
			t.Fatal(err)
		}
		_, err := e.connect("files", "drive")
		e.refused("a name taken by a password", err, `a secret named "drive" already exists and is not a Test Drive connection`, ErrName)
		if n, _ := e.as.count(); n != 0 || string(e.vault.get(t, "drive").Value) != "hunter2" {
			t.Fatal("the code was exchanged, or the password replaced")
		}
		// A connection of the same provider is replaced: connecting again renews it.
		if _, err := e.connect("files", "drive2"); err != nil {
			t.Fatal(err)
		}
		first := e.vault.get(t, "drive2")
		if _, err := e.connect("read", "drive2"); err != nil {
			t.Fatal(err)
		}
		if again := e.vault.get(t, "drive2"); string(again.Value) == string(first.Value) || again.Scopes[0] != DriveReadOnly {
			t.Fatal("connecting again did not replace the connection")
		}
	})
	t.Run("store fails", func(t *testing.T) {
		e := newEnv(t)
		e.vault.failPut = vault.ErrLocked
		_, err := e.connect("files", "drive")
		e.refused("a failed store", err, `the node could not save the Test Drive connection "drive"`, ErrStore)
		if !errors.Is(err, vault.ErrLocked) {
			t.Fatalf("%v does not keep the vault's error", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		e := newEnv(t)
		e.flow.cfg.Provider.TokenURL = gone.URL + "/token"
		_, err := e.connect("files", "drive")
		e.refused("a token endpoint that is gone", err, "the node could not reach Test Drive's token endpoint at "+strings.TrimPrefix(gone.URL, "http://"), ErrUnreachable)
	})
	t.Run("cancelled", func(t *testing.T) {
		e := newEnv(t)
		u := mustStart(t, e.flow, "files", "drive")
		q := e.browse(u)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := e.flow.Finish(ctx, q)
		e.refused("a cancelled request", err, "was cancelled", ErrUnreachable)
	})
	t.Run("malformed", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.flow.Finish(t.Context(), url.Values{"code": {"x"}})
		e.refused("no state", err, "carries no state", ErrCallback)
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	store := func(context.Context, vault.Secret) error { return nil }
	good := func() Config {
		return Config{Provider: GoogleDrive("id", "secret"), RedirectURL: "https://node.example/cb", Store: store}
	}
	if _, err := New(good()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		tweak func(*Config)
		want  string
	}{
		{"no store", func(c *Config) { c.Store = nil }, "needs a way to store secrets"},
		{"list without load", func(c *Config) { c.List = (&memVault{}).List }, "both a way to list"},
		{"http redirect", func(c *Config) { c.RedirectURL = "http://node.example/cb" }, "the callback page must be an https URL"},
		{"relative redirect", func(c *Config) { c.RedirectURL = "/cb" }, "the callback page must be an absolute URL"},
		{"fragment", func(c *Config) { c.RedirectURL = "https://node.example/cb#x" }, "without user name or fragment"},
		{"user info", func(c *Config) { c.Provider.TokenURL = "https://u:p@oauth2.example/token" }, "the token endpoint must be"},
		{"http auth", func(c *Config) { c.Provider.AuthURL = "http://accounts.example/auth" }, "the authorization endpoint must be an https URL"},
		{"bad name", func(c *Config) { c.Provider.Name = "Google Drive" }, "a provider's name is 1 to 32"},
		{"no client", func(c *Config) { c.Provider.ClientID = "" }, "has no client ID"},
		{"no scopes", func(c *Config) { c.Provider.Scopes = nil }, "offers 0 scopes"},
		{"repeated scope", func(c *Config) { c.Provider.Scopes = append(c.Provider.Scopes, c.Provider.Scopes[0]) }, "repeated"},
		{"no words", func(c *Config) { c.Provider.Scopes = []Scope{{ID: "x", OAuth: []string{"a"}}} }, "has no words"},
		{"spaced scope", func(c *Config) { c.Provider.Scopes = []Scope{{ID: "x", Words: "x", OAuth: []string{"a b"}}} }, "without spaces"},
		{"reserved param", func(c *Config) { c.Provider.AuthParams = url.Values{"redirect_uri": {"https://evil.example"}} }, "is one the flow sets"},
		{"bad issuer", func(c *Config) { c.Provider.Issuer = "has space" }, "an issuer that is not a URL"},
	} {
		cfg := good()
		cfg.Provider.Scopes = slices.Clone(cfg.Provider.Scopes)
		c.tweak(&cfg)
		_, err := New(cfg)
		testkit.Sentence(t, c.name, err, c.want, ErrConfig)
	}
	// Loopback http is allowed, for tests and a node on the user's machine.
	cfg := good()
	cfg.RedirectURL = "http://127.0.0.1:8080/cb"
	cfg.Provider.TokenURL = "http://localhost:9/token"
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsAreSentencesAndMatch(t *testing.T) {
	e := newEnv(t)
	if _, err := e.flow.Start("nope", "x"); !errors.Is(err, ErrScope) || errors.Is(err, ErrState) {
		t.Fatalf("%v matches the wrong sentinels", err)
	}
	// The Flow's error type carries no cause that could hold a body.
	_, err := e.flow.Finish(t.Context(), url.Values{"state": {randomText()}, "code": {"c"}})
	var fe *flowError
	if !errors.As(err, &fe) || len(fe.is) != 1 {
		t.Fatalf("%#v", err)
	}
}
