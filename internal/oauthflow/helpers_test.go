package oauthflow

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
	"golang.org/x/oauth2"
)

// Canaries: values that must never appear in an error or a log line.
const (
	canaryClientSecret = "CANARY-CLIENT-SECRET-7f3a"
	canaryAccess       = "CANARY-ACCESS-"
	canaryRefresh      = "CANARY-REFRESH-"
	canaryCode         = "CANARY-CODE-"
	testClientID       = "node-client-id"
	testRedirect       = "https://node.example/oauth/test-drive/callback"
)

// grant is what the fake server remembers of an issued code.
type grant struct {
	challenge, redirect, scope string
	used                       bool
}

// authServer is a local authorization server that checks what a real one
// checks: the client, PKCE (S256 of the verifier equals the challenge),
// the redirect_uri of the exchange equals the authorization request's,
// codes are used once, and refresh tokens are the ones it issued.
type authServer struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	grants    map[string]*grant // code → grant
	refreshes map[string]string // refresh token → scope
	n         int               // tokens issued, to number canaries
	problems  []string          // checks that failed, each with why
	tokenReqs int               // requests to the token endpoint
	refreshN  int               // refresh_token grants answered with a token
	authQuery url.Values        // the last authorization request

	// Knobs, set before use.
	deny          bool    // the user says no: error=access_denied
	failExchange  bool    // the token endpoint answers 400 to codes
	failRefresh   bool    // the token endpoint answers 400 to refreshes
	omitRefresh   bool    // refresh answers carry no refresh_token
	expiresIn     int     // default 3600
	tokenType     string  // default "Bearer"
	grantedScope  *string // the scope field of answers; nil: echo the asked one
	onRefresh     func()  // called inside the refresh request, before it answers
	issuer        string  // the iss of callbacks; "" for none
	lastRefreshed string  // the refresh token the last refresh request carried
	lastWhy       string  // why the last code was refused, "" if it was not
}

func newAuthServer(t *testing.T) *authServer {
	a := &authServer{t: t, grants: map[string]*grant{}, refreshes: map[string]string{}, expiresIn: 3600, tokenType: "Bearer"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth", a.authorize)
	mux.HandleFunc("POST /token", a.token)
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	t.Cleanup(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, p := range a.problems {
			t.Errorf("the authorization server saw: %s", p)
		}
	})
	return a
}

func (a *authServer) problem(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.problems = append(a.problems, fmt.Sprintf(format, args...))
}

// provider is the fake server as a Provider with two scopes.
func (a *authServer) provider() Provider {
	return Provider{
		Name:         "test-drive",
		Title:        "Test Drive",
		AuthURL:      a.srv.URL + "/auth",
		TokenURL:     a.srv.URL + "/token",
		ClientID:     testClientID,
		ClientSecret: canaryClientSecret,
		AuthStyle:    oauth2.AuthStyleInParams,
		AuthParams:   url.Values{"access_type": {"offline"}},
		Scopes: []Scope{
			{ID: "files", Words: "only files I pick", OAuth: []string{DriveFiles}},
			{ID: "read", Words: "read all my files", OAuth: []string{DriveReadOnly}},
		},
	}
}

func (a *authServer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.mu.Lock()
	a.authQuery = q
	a.mu.Unlock()
	for k, want := range map[string]string{"response_type": "code", "client_id": testClientID, "code_challenge_method": "S256", "access_type": "offline"} {
		if got := q.Get(k); got != want {
			a.problem("authorization request %s = %q, want %q", k, got, want)
		}
	}
	if len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || q.Get("redirect_uri") == "" || q.Get("scope") == "" {
		a.problem("authorization request lacks a challenge, state, redirect_uri or scope: %v", q)
	}
	if q.Has("code_verifier") || q.Has("client_secret") {
		a.problem("the verifier or client secret went to the browser")
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		a.problem("redirect_uri %q: %v", q.Get("redirect_uri"), err)
		return
	}
	v := url.Values{"state": {q.Get("state")}}
	if a.issuer != "" {
		v.Set("iss", a.issuer)
	}
	if a.deny {
		v.Set("error", "access_denied")
		v.Set("error_description", "The user denied the request")
	} else {
		a.mu.Lock()
		a.n++
		code := fmt.Sprintf("%s%d/xyz", canaryCode, a.n)
		a.grants[code] = &grant{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), scope: q.Get("scope")}
		a.mu.Unlock()
		v.Set("code", code)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (a *authServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		a.problem("token request form: %v", err)
		return
	}
	f := r.PostForm
	a.mu.Lock()
	a.tokenReqs++
	a.mu.Unlock()
	if f.Get("client_id") != testClientID || f.Get("client_secret") != canaryClientSecret {
		tokenRefusal(w, "invalid_client", "")
		return
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		a.exchange(w, f)
	case "refresh_token":
		a.refresh(w, f)
	default:
		tokenRefusal(w, "unsupported_grant_type", "")
	}
}

func (a *authServer) exchange(w http.ResponseWriter, f url.Values) {
	code := f.Get("code")
	a.mu.Lock()
	g := a.grants[code]
	fail := a.failExchange
	var ok bool
	why := ""
	switch {
	case g == nil:
		why = "unknown code"
	case g.used:
		why = "code used already"
	case s256(f.Get("code_verifier")) != g.challenge:
		why = "PKCE: the verifier does not match the challenge"
	case f.Get("redirect_uri") != g.redirect:
		why = "redirect_uri differs from the authorization request's"
	default:
		ok = true
		g.used = true
	}
	a.lastWhy = why
	a.mu.Unlock()
	if !ok || fail {
		// A careless server: its description echoes the code and a token.
		tokenRefusal(w, "invalid_grant", why+": code "+code+" token "+canaryAccess+"x")
		return
	}
	a.issue(w, g.scope, true)
}

func (a *authServer) refresh(w http.ResponseWriter, f url.Values) {
	rt := f.Get("refresh_token")
	a.mu.Lock()
	scope, known := a.refreshes[rt]
	fail, hook := a.failRefresh, a.onRefresh
	a.lastRefreshed = rt
	a.mu.Unlock()
	if hook != nil {
		hook()
	}
	if !known || fail {
		tokenRefusal(w, "invalid_grant", "Token has been expired or revoked: "+rt)
		return
	}
	a.mu.Lock()
	a.refreshN++
	omit := a.omitRefresh
	a.mu.Unlock()
	a.issue(w, scope, !omit)
}

// issue answers with a fresh access token (and refresh token).
func (a *authServer) issue(w http.ResponseWriter, scope string, withRefresh bool) {
	a.mu.Lock()
	a.n++
	body := map[string]any{"access_token": fmt.Sprintf("%s%d", canaryAccess, a.n), "token_type": a.tokenType}
	if a.expiresIn != 0 {
		body["expires_in"] = a.expiresIn
	}
	if a.grantedScope != nil {
		body["scope"] = *a.grantedScope
	} else {
		body["scope"] = scope
	}
	if withRefresh {
		rt := fmt.Sprintf("%s%d", canaryRefresh, a.n)
		a.refreshes[rt] = scope
		body["refresh_token"] = rt
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func tokenRefusal(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func (a *authServer) count() (tokenReqs, refreshes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokenReqs, a.refreshN
}

// memVault is the node's vault as the Flow sees it: a write that stamps
// Updated on the clock, a listing without values and a read.
type memVault struct {
	now func() time.Time

	mu      sync.Mutex
	secrets map[string]vault.Secret
	loads   int
	failPut error
}

func newMemVault(now func() time.Time) *memVault {
	return &memVault{now: now, secrets: map[string]vault.Secret{}}
}

func cloneSecret(s vault.Secret) vault.Secret {
	s.Scopes = slices.Clone(s.Scopes)
	s.Value = slices.Clone(s.Value)
	s.Refresh = slices.Clone(s.Refresh)
	return s
}

func (m *memVault) Store(_ context.Context, s vault.Secret) error {
	if err := s.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPut != nil {
		return m.failPut
	}
	s = cloneSecret(s)
	s.Updated = m.now().Unix()
	m.secrets[s.Name] = s
	return nil
}

func (m *memVault) List(context.Context) ([]vault.SecretInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []vault.SecretInfo
	for _, n := range slices.Sorted(maps.Keys(m.secrets)) {
		s := m.secrets[n]
		out = append(out, vault.SecretInfo{Name: s.Name, Type: s.Type, Provider: s.Provider, Updated: time.Unix(s.Updated, 0).UTC()})
	}
	return out, nil
}

func (m *memVault) Load(_ context.Context, name string) (vault.Secret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	s, ok := m.secrets[name]
	if !ok {
		return vault.Secret{}, vault.ErrNotFound
	}
	return cloneSecret(s), nil
}

func (m *memVault) get(t *testing.T, name string) vault.Secret {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.secrets[name]
	if !ok {
		t.Fatalf("no secret %q stored", name)
	}
	return cloneSecret(s)
}

func (m *memVault) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.secrets)
}

// env is a Flow wired to a fake server, an in-memory vault, a fake clock
// and a log buffer.
type env struct {
	t     *testing.T
	as    *authServer
	vault *memVault
	clock *testkit.Clock
	log   *testkit.Buffer
	flow  *Flow
	// browser follows the authorization URL without following the
	// redirect back, as a browser that lands on the node's page.
	browser *http.Client
}

func newEnv(t *testing.T, tweak ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, as: newAuthServer(t), clock: testkit.NewClock(testkit.Epoch), log: &testkit.Buffer{}}
	e.vault = newMemVault(e.clock.Now)
	cfg := Config{
		Provider:    e.as.provider(),
		RedirectURL: testRedirect,
		Store:       e.vault.Store,
		List:        e.vault.List,
		Load:        e.vault.Load,
		Now:         e.clock.Now,
		Logger:      slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range tweak {
		f(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.flow = f
	e.browser = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(func() { e.noSecretsIn("the log", e.log.String()) })
	return e
}

// browse plays the browser: it opens authURL at the fake server, which
// redirects back to the node's callback page, and returns that page's
// query.
func (e *env) browse(authURL string) url.Values {
	e.t.Helper()
	resp, err := e.browser.Get(authURL)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("the authorization endpoint answered %d, not a redirect", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		e.t.Fatalf("the browser was sent back to %s, not the node's page %s", got, testRedirect)
	}
	return loc.Query()
}

// connect runs a whole connection and returns what Finish returned.
func (e *env) connect(scopeID, name string) (Connected, error) {
	e.t.Helper()
	u, err := e.flow.Start(scopeID, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.flow.Finish(e.t.Context(), e.browse(u))
}

// noSecretsIn fails the test if text shows a canary, a code or the
// client secret.
func (e *env) noSecretsIn(what, text string) {
	e.t.Helper()
	for _, c := range []string{canaryClientSecret, canaryAccess, canaryRefresh, canaryCode, "code_verifier", "Response:"} {
		if strings.Contains(text, c) {
			e.t.Errorf("%s shows %q:\n%s", what, c, text)
		}
	}
}

// refused checks err is a sentence for the user, saying want, matching
// sentinel, and free of secrets.
func (e *env) refused(what string, err error, want string, sentinel error) {
	e.t.Helper()
	testkit.Sentence(e.t, what, err, want, sentinel)
	if err != nil {
		e.noSecretsIn(what, err.Error())
		var fe *flowError
		if !errors.As(err, &fe) {
			e.t.Errorf("%s: %T is not the package's error", what, err)
		}
	}
}
