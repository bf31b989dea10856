package oauthflow

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ocmt/mesh/vault"
	"golang.org/x/oauth2"
)

// Sentinels. Every error the package returns wraps one of them; the
// messages are sentences for the user and never hold a token, a code or a
// verifier.
var (
	// ErrConfig: a Config or Provider breaks its rules.
	ErrConfig = errors.New("oauthflow: invalid configuration")
	// ErrScope: Start was asked for a scope the provider does not offer.
	ErrScope = errors.New("oauthflow: unknown scope")
	// ErrName: the secret name breaks the vault's name rules.
	ErrName = errors.New("oauthflow: invalid secret name")
	// ErrCallback: the callback's parameters break their rules.
	ErrCallback = errors.New("oauthflow: malformed callback")
	// ErrState: the callback's state is not one in progress (never made,
	// already used, or forgotten).
	ErrState = errors.New("oauthflow: unknown state")
	// ErrExpired: the callback came more than StateTTL after Start.
	ErrExpired = errors.New("oauthflow: connection attempt expired")
	// ErrDenied: the user did not allow the access asked for.
	ErrDenied = errors.New("oauthflow: access denied")
	// ErrProvider: the provider refused, or answered what is not a token.
	ErrProvider = errors.New("oauthflow: refused by the provider")
	// ErrUnreachable: the token endpoint could not be reached or did not
	// answer within ExchangeTimeout.
	ErrUnreachable = errors.New("oauthflow: token endpoint unreachable")
	// ErrStore: the vault write (or read, when refreshing) failed.
	ErrStore = errors.New("oauthflow: vault failed")
)

// flowError is an error for the user: its message is words, and it
// matches its sentinel (and the store's own error, if any) with errors.Is.
type flowError struct {
	msg string
	is  []error
}

func (e *flowError) Error() string   { return e.msg }
func (e *flowError) Unwrap() []error { return e.is }

func refuse(sentinel error, msg string, also ...error) error {
	return &flowError{msg: msg, is: append([]error{sentinel}, also...)}
}

// Scope is one access a provider offers, in words a person picks from.
type Scope struct {
	ID    string   // "files", "read", "full": what Start is given
	Words string   // "only files I pick": what the page shows
	OAuth []string // the OAuth scopes it asks for
}

// Provider is an OAuth 2.0 authorization server and the client the node
// is registered as there.
type Provider struct {
	Name     string // "google-drive": the Provider field of the secrets it stores
	Title    string // "Google Drive": the provider in words; Name when empty
	AuthURL  string // the authorization endpoint, where the browser is sent
	TokenURL string // the token endpoint, where codes and refresh tokens are exchanged
	// Issuer, when set, is the iss a callback must carry if it carries
	// one (RFC 9207): an answer from another server is refused.
	Issuer       string
	ClientID     string
	ClientSecret string // "" for a public client (PKCE alone)
	// AuthStyle is how the client authenticates to the token endpoint;
	// the zero value tries the Authorization header, then the body.
	AuthStyle oauth2.AuthStyle
	// AuthParams are extra parameters of the authorization request, one
	// value each (Google: access_type=offline, prompt=consent). They may
	// not set the ones the flow sets.
	AuthParams url.Values
	Scopes     []Scope // offered, in order
}

// Google Drive's scopes, in the order the page offers them.
const (
	DriveFiles    = "https://www.googleapis.com/auth/drive.file"
	DriveReadOnly = "https://www.googleapis.com/auth/drive.readonly"
	DriveFull     = "https://www.googleapis.com/auth/drive"
)

// GoogleDrive is Google's authorization server with the three Drive
// scopes: files (only files I pick), read (read all my files) and full
// (full access). It asks for offline access and for the consent page
// every time, so every connection gets a refresh token.
func GoogleDrive(clientID, clientSecret string) Provider {
	return Provider{
		Name:         "google-drive",
		Title:        "Google Drive",
		AuthURL:      "https://accounts.google.com/o/oauth2/v2/auth",
		TokenURL:     "https://oauth2.googleapis.com/token",
		Issuer:       "https://accounts.google.com",
		ClientID:     clientID,
		ClientSecret: clientSecret,
		AuthStyle:    oauth2.AuthStyleInParams,
		AuthParams:   url.Values{"access_type": {"offline"}, "prompt": {"consent"}},
		Scopes: []Scope{
			{ID: "files", Words: "only files I pick", OAuth: []string{DriveFiles}},
			{ID: "read", Words: "read all my files", OAuth: []string{DriveReadOnly}},
			{ID: "full", Words: "full access", OAuth: []string{DriveFull}},
		},
	}
}

// Config configures a Flow. Provider, RedirectURL and Store are required.
type Config struct {
	Provider Provider
	// RedirectURL is the node's own callback page for this provider: the
	// same URL goes into the authorization request and the code exchange.
	RedirectURL string
	// Store writes a secret to the vault (the caller audits it). It is
	// called for each connection and each refresh, one call at a time.
	Store func(ctx context.Context, s vault.Secret) error
	// List and Load, needed for refreshing only (both or neither), list
	// the vault's secrets without values and read one (audited by the
	// caller; the Flow wipes what it reads).
	List func(ctx context.Context) ([]vault.SecretInfo, error)
	Load func(ctx context.Context, name string) (vault.Secret, error)
	// RefreshBefore is how long before expiry a token is refreshed.
	// Default DefaultRefreshBefore.
	RefreshBefore time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// HTTPClient makes the token endpoint requests. Default: a client
	// that follows no redirect. Each request is bounded by ExchangeTimeout.
	HTTPClient *http.Client
	// Logger receives one line per connection and per refresh, never a
	// token. Default: discard.
	Logger *slog.Logger
}

// Connected describes a stored connection, without its tokens.
type Connected struct {
	Name        string    // the secret's name
	Provider    string    // Provider.Name
	Scope       Scope     // the scope the user picked
	Granted     []string  // the OAuth scopes stored with the token
	Expiry      time.Time // when the access token expires; zero if the provider did not say
	Refreshable bool      // a refresh token was stored: the node keeps the connection alive
}

// pending is one started connection.
type pending struct {
	state    string
	verifier string
	scope    Scope
	name     string
	created  time.Time
}

// Flow runs the authorization code flow with PKCE for one provider and
// keeps its tokens fresh. Safe for concurrent use.
type Flow struct {
	cfg    Config
	title  string
	client *http.Client

	mu      sync.Mutex
	pending []pending           // oldest first, at most MaxPending
	track   map[string]*tracked // stored connections, for refreshing

	storeMu sync.Mutex        // one Store at a time
	gen     map[string]uint64 // per secret name, bumped by every Store

	passMu sync.Mutex // one refresh pass at a time
}

// New checks cfg and returns a Flow.
func New(cfg Config) (*Flow, error) {
	if err := checkProvider(cfg.Provider); err != nil {
		return nil, err
	}
	if err := checkURL("the callback page", cfg.RedirectURL); err != nil {
		return nil, err
	}
	if cfg.Store == nil {
		return nil, refuse(ErrConfig, "a connection flow needs a way to store secrets")
	}
	if (cfg.List == nil) != (cfg.Load == nil) {
		return nil, refuse(ErrConfig, "refreshing needs both a way to list secrets and a way to read one")
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{
			Timeout: ExchangeTimeout,
			// A redirect would carry the code, the verifier and the client
			// secret to wherever the token endpoint points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	cfg.Provider.AuthParams = maps.Clone(cfg.Provider.AuthParams)
	cfg.Provider.Scopes = cloneScopes(cfg.Provider.Scopes)
	title := cfg.Provider.Title
	if title == "" {
		title = cfg.Provider.Name
	}
	return &Flow{cfg: cfg, title: title, client: client, track: map[string]*tracked{}, gen: map[string]uint64{}}, nil
}

// reservedParams are the authorization request parameters the flow sets.
var reservedParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

func checkProvider(p Provider) error {
	if !charsIn(p.Name, MaxProviderNameLen, isNameChar) {
		return refuse(ErrConfig, fmt.Sprintf("a provider's name is 1 to %d lowercase letters, digits and dashes", MaxProviderNameLen))
	}
	if err := checkURL("the authorization endpoint", p.AuthURL); err != nil {
		return err
	}
	if err := checkURL("the token endpoint", p.TokenURL); err != nil {
		return err
	}
	if p.ClientID == "" {
		return refuse(ErrConfig, "the provider "+p.Name+" has no client ID: register the node with it first")
	}
	if p.Issuer != "" && !charsIn(p.Issuer, MaxIssuerLen, isNQChar) {
		return refuse(ErrConfig, "the provider "+p.Name+" has an issuer that is not a URL")
	}
	for k, vs := range p.AuthParams {
		if slices.Contains(reservedParams, k) || len(vs) != 1 || k == "" {
			return refuse(ErrConfig, fmt.Sprintf("the provider %s's extra parameter %q is one the flow sets, or has other than one value", p.Name, k))
		}
	}
	if len(p.Scopes) == 0 || len(p.Scopes) > MaxScopes {
		return refuse(ErrConfig, fmt.Sprintf("the provider %s offers %d scopes; it must offer 1 to %d", p.Name, len(p.Scopes), MaxScopes))
	}
	ids := map[string]bool{}
	for _, s := range p.Scopes {
		if !charsIn(s.ID, MaxScopeIDLen, isNameChar) || ids[s.ID] {
			return refuse(ErrConfig, fmt.Sprintf("the provider %s has a scope ID that is empty, repeated, or not 1 to %d lowercase letters, digits and dashes", p.Name, MaxScopeIDLen))
		}
		ids[s.ID] = true
		if strings.TrimSpace(s.Words) == "" {
			return refuse(ErrConfig, "the scope "+s.ID+" of "+p.Name+" has no words for the page")
		}
		if !validScopes(s.OAuth) {
			return refuse(ErrConfig, fmt.Sprintf("the scope %s of %s must ask for 1 to %d OAuth scopes of at most %d characters each, without spaces", s.ID, p.Name, MaxOAuthScopes, MaxScopeLen))
		}
	}
	return nil
}

func isNameChar(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' }

// validScopes reports whether ss are 1 to MaxOAuthScopes OAuth scopes.
func validScopes(ss []string) bool {
	if len(ss) == 0 || len(ss) > MaxOAuthScopes {
		return false
	}
	for _, s := range ss {
		if !charsIn(s, MaxScopeLen, isNQChar) {
			return false
		}
	}
	return true
}

// checkURL accepts an absolute https URL, or http to a loopback host,
// without user info or fragment.
func checkURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return refuse(ErrConfig, what+" must be an absolute URL without user name or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
	}
	return refuse(ErrConfig, what+" must be an https URL (http only to this machine)")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Scopes returns the scopes the provider offers, in order: what the page
// lets the user pick from.
func (f *Flow) Scopes() []Scope { return cloneScopes(f.cfg.Provider.Scopes) }

func cloneScopes(ss []Scope) []Scope {
	out := slices.Clone(ss)
	for i := range out {
		out[i].OAuth = slices.Clone(out[i].OAuth)
	}
	return out
}

// Provider returns the provider's name and its title in words.
func (f *Flow) Provider() (name, title string) { return f.cfg.Provider.Name, f.title }

func (f *Flow) oauthConfig(scopes []string) *oauth2.Config {
	p := f.cfg.Provider
	return &oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: p.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL, AuthStyle: p.AuthStyle},
		RedirectURL:  f.cfg.RedirectURL,
		Scopes:       scopes,
	}
}

// Start begins a connection: it picks the scope scopeID, makes a fresh
// state and PKCE verifier, keeps them in memory for StateTTL, and returns
// the URL of the provider's consent page, where the browser goes next. The
// token will be stored as the secret secretName (the vault's name rules).
// Past MaxPending connections in progress, the oldest is forgotten.
func (f *Flow) Start(scopeID, secretName string) (authURL string, err error) {
	i := slices.IndexFunc(f.cfg.Provider.Scopes, func(s Scope) bool { return s.ID == scopeID })
	if i < 0 {
		var offer []string
		for _, s := range f.cfg.Provider.Scopes {
			offer = append(offer, s.ID+" ("+s.Words+")")
		}
		return "", refuse(ErrScope, fmt.Sprintf("%s offers no scope %q: choose %s", f.title, cleanWords(scopeID, MaxScopeIDLen), strings.Join(offer, ", ")))
	}
	scope := f.cfg.Provider.Scopes[i]
	if vault.CheckName(secretName) != nil {
		return "", refuse(ErrName, fmt.Sprintf("a connection's name must be 1 to %d bytes of text without control characters", vault.MaxNameLen))
	}
	p := pending{state: randomText(), verifier: randomText(), scope: scope, name: secretName, created: f.cfg.Now()}
	f.mu.Lock()
	if len(f.pending) >= MaxPending {
		f.pending = slices.Delete(f.pending, 0, len(f.pending)-MaxPending+1)
	}
	f.pending = append(f.pending, p)
	f.mu.Unlock()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(p.verifier)}
	for k, vs := range f.cfg.Provider.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, vs[0]))
	}
	return f.oauthConfig(scope.OAuth).AuthCodeURL(p.state, opts...), nil
}

// randomText is StateBytes random bytes in unpadded base64url: a state or
// a PKCE verifier.
func randomText() string {
	b := make([]byte, StateBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// take removes and returns the connection in progress whose state is
// state, comparing it with every one in constant time.
func (f *Flow) take(state string) (pending, error) {
	now := f.cfg.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	found := -1
	for i := range f.pending {
		if subtle.ConstantTimeCompare([]byte(f.pending[i].state), []byte(state)) == 1 {
			found = i
		}
	}
	if found < 0 {
		return pending{}, refuse(ErrState, fmt.Sprintf("this answer from %s matches no connection in progress: it was used already, or the node restarted since; start again", f.title))
	}
	p := f.pending[found]
	f.pending = slices.Delete(f.pending, found, found+1)
	if now.Sub(p.created) >= StateTTL {
		return pending{}, refuse(ErrExpired, fmt.Sprintf("the connection to %s took longer than %d minutes: start again", f.title, int(StateTTL/time.Minute)))
	}
	return p, nil
}

// Finish completes a connection from the query of the request to the
// callback page: it checks the parameters (ParseCallback) and the state
// (made by Start, used once, younger than StateTTL), refuses the
// provider's error in words, exchanges the code with the verifier, and
// stores the tokens as an oauth_token secret. Whatever the outcome, the
// state is used up. No token, code or verifier is returned or logged.
func (f *Flow) Finish(ctx context.Context, query url.Values) (Connected, error) {
	cb, err := ParseCallback(query)
	if err != nil {
		return Connected{}, err
	}
	p, err := f.take(cb.State)
	if err != nil {
		return Connected{}, err
	}
	if iss := f.cfg.Provider.Issuer; cb.Issuer != "" && iss != "" && cb.Issuer != iss {
		return Connected{}, refuse(ErrProvider, fmt.Sprintf("the answer came from another server than %s: nothing was stored; start again", f.title))
	}
	if cb.Error != "" {
		return Connected{}, f.callbackError(cb, p.scope)
	}
	if err := f.checkNameFree(ctx, p.name); err != nil {
		return Connected{}, err
	}
	tok, err := f.exchange(ctx, func(ctx context.Context) (*oauth2.Token, error) {
		return f.oauthConfig(p.scope.OAuth).Exchange(ctx, cb.Code, oauth2.VerifierOption(p.verifier))
	})
	if err != nil {
		return Connected{}, f.tokenError(err, false)
	}
	granted, err := f.granted(tok, p.scope.OAuth)
	if err != nil {
		return Connected{}, err
	}
	if !slices.ContainsFunc(p.scope.OAuth, func(s string) bool { return slices.Contains(granted, s) }) {
		return Connected{}, refuse(ErrDenied, fmt.Sprintf("you did not allow %s (%s): nothing was stored", f.title, p.scope.Words))
	}
	s := vault.Secret{
		Name:     p.name,
		Type:     vault.TypeOAuthToken,
		Provider: f.cfg.Provider.Name,
		Scopes:   granted,
		Expiry:   f.expiry(tok),
		Value:    []byte(tok.AccessToken),
		Refresh:  []byte(tok.RefreshToken),
	}
	if len(s.Refresh) == 0 {
		s.Refresh = nil
	}
	defer s.Wipe()
	if err := f.store(ctx, s, nil); err != nil {
		return Connected{}, err
	}
	c := Connected{Name: s.Name, Provider: s.Provider, Scope: cloneScopes([]Scope{p.scope})[0], Granted: slices.Clone(granted),
		Expiry: unixOrZero(s.Expiry), Refreshable: len(s.Refresh) > 0}
	f.cfg.Logger.Info("oauth connection stored", "provider", s.Provider, "name", s.Name, "scope", p.scope.ID,
		"expiry", c.Expiry, "refreshable", c.Refreshable)
	return c, nil
}

// checkNameFree refuses, when the Flow can list secrets, a name that holds
// a secret other than a connection to its provider: connecting replaces
// a connection, never a password or a key.
func (f *Flow) checkNameFree(ctx context.Context, name string) error {
	if f.cfg.List == nil {
		return nil
	}
	infos, err := f.cfg.List(ctx)
	if err != nil {
		return refuse(ErrStore, fmt.Sprintf("the node could not list its secrets to store the %s connection: %v", f.title, err), err)
	}
	for _, in := range infos {
		if in.Name == name && (in.Type != vault.TypeOAuthToken || in.Provider != f.cfg.Provider.Name) {
			return refuse(ErrName, fmt.Sprintf("a secret named %q already exists and is not a %s connection: nothing was stored; connect again with another name", name, f.title))
		}
	}
	return nil
}

// callbackError words the provider's error in a callback.
func (f *Flow) callbackError(cb Callback, scope Scope) error {
	var msg string
	sentinel := ErrProvider
	switch cb.Error {
	case "access_denied":
		sentinel = ErrDenied
		msg = fmt.Sprintf("you did not allow access to %s (%s): nothing was stored", f.title, scope.Words)
	case "invalid_scope":
		msg = fmt.Sprintf("%s did not accept the access asked for (%s, invalid_scope)", f.title, scope.Words)
	case "server_error", "temporarily_unavailable":
		msg = fmt.Sprintf("%s could not answer just now (%s): try again in a moment", f.title, cb.Error)
	default:
		msg = fmt.Sprintf("%s refused the connection (%s)", f.title, cb.Error)
	}
	if cb.Description != "" && sentinel != ErrDenied {
		msg += ": " + f.title + " says " + strconv.Quote(cb.Description)
	}
	return refuse(sentinel, msg)
}

// exchange makes one token endpoint request, bounded by ExchangeTimeout,
// with the Flow's HTTP client.
func (f *Flow) exchange(ctx context.Context, do func(context.Context) (*oauth2.Token, error)) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, ExchangeTimeout)
	defer cancel()
	tok, err := do(context.WithValue(ctx, oauth2.HTTPClient, f.client))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if t := tok.TokenType; t != "" && !strings.EqualFold(t, "bearer") {
		return nil, refuse(ErrProvider, fmt.Sprintf("%s gave a token of type %q, which the node cannot use", f.title, cleanWords(t, MaxErrorCodeLen)))
	}
	return tok, nil
}

// tokenError words a failed token endpoint request: the error code and
// status the endpoint gave, never its body or description (which may
// repeat the code or a token).
func (f *Flow) tokenError(err error, refreshing bool) error {
	var fe *flowError
	if errors.As(err, &fe) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return refuse(ErrUnreachable, fmt.Sprintf("%s's token endpoint did not answer within %d seconds", f.title, int(ExchangeTimeout/time.Second)), context.DeadlineExceeded)
	}
	if errors.Is(err, context.Canceled) {
		return refuse(ErrUnreachable, fmt.Sprintf("the request to %s's token endpoint was cancelled", f.title), context.Canceled)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := cleanWords(re.ErrorCode, MaxErrorCodeLen)
		if code == "" {
			code = "no error code"
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		switch {
		case re.ErrorCode == "invalid_grant" && refreshing:
			return refuse(ErrProvider, fmt.Sprintf("%s no longer accepts this connection's refresh token (invalid_grant, HTTP %d): connect %s again", f.title, status, f.title))
		case re.ErrorCode == "invalid_grant":
			return refuse(ErrProvider, fmt.Sprintf("%s did not accept the authorization code (invalid_grant, HTTP %d): it was used already or is too old; start again", f.title, status))
		}
		return refuse(ErrProvider, fmt.Sprintf("%s's token endpoint refused the request (%s, HTTP %d)", f.title, code, status))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return refuse(ErrUnreachable, fmt.Sprintf("the node could not reach %s's token endpoint at %s", f.title, hostOf(f.cfg.Provider.TokenURL)))
	}
	return refuse(ErrProvider, fmt.Sprintf("%s's token endpoint answered something that is not a token", f.title))
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "its address"
	}
	return u.Host
}

// granted returns the scopes the token endpoint says it granted (its
// scope field), or the ones asked for when it does not say, sorted.
func (f *Flow) granted(tok *oauth2.Token, asked []string) ([]string, error) {
	raw, text := tok.Extra("scope").(string)
	if !text && tok.Extra("scope") != nil {
		return nil, refuse(ErrProvider, fmt.Sprintf("%s's token endpoint listed its scopes in a form that is not text", f.title))
	}
	got := strings.Fields(raw)
	if len(got) == 0 {
		got = slices.Clone(asked)
	}
	slices.Sort(got)
	got = slices.Compact(got)
	if !validScopes(got) {
		return nil, refuse(ErrProvider, fmt.Sprintf("%s's token endpoint listed more than %d scopes, or scopes that are not scopes", f.title, MaxOAuthScopes))
	}
	return got, nil
}

// expiry is the unix second the token expires, from expires_in on the
// Flow's clock (not the oauth2 package's, which reads the system clock); 0
// when the endpoint gave none.
func (f *Flow) expiry(tok *oauth2.Token) int64 {
	secs := tok.ExpiresIn
	if secs == 0 {
		switch v := tok.Extra("expires_in").(type) {
		case string: // a form-encoded answer
			secs, _ = strconv.ParseInt(v, 10, 64)
		case float64:
			if v > 0 && v < math.MaxInt32 {
				secs = int64(v)
			}
		}
	}
	if secs <= 0 {
		return 0
	}
	secs = min(secs, int64(MaxExpiresIn/time.Second))
	return f.cfg.Now().Add(time.Duration(secs) * time.Second).Unix()
}

// store writes s, one Store at a time, and tracks it for refreshing. With
// stale non-nil, it writes only if no write of the name happened since
// generation returned *stale, so a refresh never overwrites a newer
// connection; a skipped write returns errReplaced.
func (f *Flow) store(ctx context.Context, s vault.Secret, stale *uint64) error {
	f.storeMu.Lock()
	defer f.storeMu.Unlock()
	if stale != nil && f.gen[s.Name] != *stale {
		return errReplaced
	}
	if err := f.cfg.Store(ctx, s); err != nil {
		return refuse(ErrStore, fmt.Sprintf("the node could not save the %s connection %q: %v", f.title, s.Name, err), err)
	}
	f.gen[s.Name]++
	f.mu.Lock()
	f.track[s.Name] = &tracked{adopt: true, expiry: s.Expiry, refreshable: len(s.Refresh) > 0}
	f.mu.Unlock()
	return nil
}

// errReplaced: a refresh was not stored, because the secret was written
// since it was read.
var errReplaced = errors.New("oauthflow: replaced while refreshing")

// generation returns the writes of name so far, for store's stale check.
func (f *Flow) generation(name string) uint64 {
	f.storeMu.Lock()
	defer f.storeMu.Unlock()
	return f.gen[name]
}
