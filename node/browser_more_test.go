package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/ocmt/mesh/internal/oauthflow"
	"github.com/ocmt/mesh/internal/testmesh"
	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/relay"
	"github.com/ocmt/mesh/vault"
	"github.com/ocmt/mesh/web"
)

// Two more flows in headless Chromium: connecting Google Drive through
// the Connections page against an authorization server run by the test,
// and the UI reached through a relay's UI gateway over TLS that Chromium
// accepts for the test CA's leaf only.

// The Drive connection's values in the tests: canaries that must never
// show on a page, in a log or in an audit record.
const (
	driveClientID      = "mesh-browser-test.apps.example"
	driveClientSecret  = "CLIENTSECRETCANARY-drive-93d2"
	driveAccessCanary  = "ACCESSCANARY-ya29-drive-6c1f"
	driveRefreshCanary = "REFRESHCANARY-1-drive-0b7e"
)

// fakeGoogle is an OAuth 2.0 authorization server standing in for
// Google's: /authorize checks the authorization request as Google would
// and sends the browser straight back with a code; /token checks the
// code, the PKCE verifier and the redirect URI, and answers the canary
// tokens. What it refused is kept for the test to report.
type fakeGoogle struct {
	srv *httptest.Server

	mu         sync.Mutex
	redirect   string            // alice's callback page, set once her UI runs
	challenges map[string]string // issued code → its PKCE challenge
	problems   []string
	authorized int // authorization requests answered with a code
	// consent, when set, answers the authorization request with a
	// consent page whose Allow link goes back, as Google's does, instead
	// of sending the browser straight back: the way back is then a
	// navigation another site started.
	consent   bool
	exchanged int // codes exchanged for tokens
}

// newFakeGoogle starts the server; it stops when the test ends.
func newFakeGoogle(t *testing.T) *fakeGoogle {
	t.Helper()
	f := &fakeGoogle{challenges: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", f.authorize)
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("GET /favicon.ico", http.NotFound) // a browser asks, whatever the page says
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.refuse(w, "asked %s %s, which Google does not serve here", r.Method, r.URL.Path)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// authURL is the authorization endpoint as the browser is sent to it: on
// "localhost", another site than alice's UI on 127.0.0.1, as Google's is.
func (f *fakeGoogle) authURL() string {
	_, port, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	return "http://localhost:" + port + "/authorize"
}

// tokenURL is the token endpoint, which only alice's node asks.
func (f *fakeGoogle) tokenURL() string { return f.srv.URL + "/token" }

func (f *fakeGoogle) setRedirect(u string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redirect = u
}

// refuse records a problem and answers it as Google does, 400.
func (f *fakeGoogle) refuse(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.problems = append(f.problems, msg)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": msg})
}

func (f *fakeGoogle) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	redirect := f.redirect
	f.mu.Unlock()
	want := map[string]string{"client_id": driveClientID, "response_type": "code", "code_challenge_method": "S256",
		"redirect_uri": redirect, "scope": oauthflow.DriveFiles, "access_type": "offline", "prompt": "consent"}
	for k, v := range want {
		if got := q[k]; len(got) != 1 || got[0] != v {
			f.refuse(w, "the authorization request's %s is %q, want %q", k, got, v)
			return
		}
	}
	if len(q.Get("code_challenge")) != 43 || q.Get("state") == "" {
		f.refuse(w, "the authorization request has no PKCE challenge of 43 characters, or no state")
		return
	}
	if q.Has("client_secret") {
		f.refuse(w, "the authorization request, which the browser carries, holds the client secret")
		return
	}
	code := "CODE-" + rand.Text()
	f.mu.Lock()
	f.challenges[code] = q.Get("code_challenge")
	f.authorized++
	f.mu.Unlock()
	back, _ := url.Parse(redirect)
	back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}, "scope": {oauthflow.DriveFiles}}.Encode()
	f.mu.Lock()
	consent := f.consent
	f.mu.Unlock()
	if !consent {
		http.Redirect(w, r, back.String(), http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	consentPage.Execute(w, back.String())
}

// consentPage is the authorization server's page asking the user to
// allow the access.
var consentPage = template.Must(template.New("consent").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Sign in · Google Accounts</title></head>
<body><h1>mesh-browser-test wants to see the Google Drive files you pick</h1><p><a id="allow" href="{{.}}">Allow</a></p></body></html>`))

func (f *fakeGoogle) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.refuse(w, "the token request is not a form: %v", err)
		return
	}
	p := r.PostForm
	f.mu.Lock()
	challenge, known := f.challenges[p.Get("code")]
	delete(f.challenges, p.Get("code")) // a code is used once
	redirect := f.redirect
	f.mu.Unlock()
	want := map[string]string{"grant_type": "authorization_code", "client_id": driveClientID, "client_secret": driveClientSecret, "redirect_uri": redirect}
	for k, v := range want {
		if got := p[k]; len(got) != 1 || got[0] != v {
			f.refuse(w, "the token request's %s is not %q", k, v)
			return
		}
	}
	sum := sha256.Sum256([]byte(p.Get("code_verifier")))
	switch {
	case !known:
		f.refuse(w, "the token request's code was never issued, or was used already")
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != challenge:
		f.refuse(w, "the token request's code_verifier does not match the code's challenge")
		return
	}
	f.mu.Lock()
	f.exchanged++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": driveAccessCanary, "refresh_token": driveRefreshCanary,
		"expires_in": 3600, "token_type": "Bearer", "scope": oauthflow.DriveFiles})
}

// check fails the test when the server refused anything, or did not see
// exactly one authorization and one exchange.
func (f *fakeGoogle) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.problems {
		t.Errorf("the authorization server refused: %s", p)
	}
	if f.authorized != 1 || f.exchanged != 1 {
		t.Errorf("the authorization server answered %d authorization requests and %d token requests, want one of each", f.authorized, f.exchanged)
	}
}

// connectCSPBug: web's Content-Security-Policy has form-action 'self',
// and Chromium checks form-action on a form's redirects too, so it
// refuses to follow POST /connections/start's 303 to the authorization
// server: Connect Google Drive does nothing in Chromium. While it is
// true, the Drive test reports that refusal and connects again with the
// page's CSP bypassed (DevTools Page.setBypassCSP), to test the rest of
// the flow; set it false once web/ allows the provider there, and the
// test fails on any refusal.
const connectCSPBug = false

// sessionAfterConsentBug: the way back from the provider's consent page
// is a navigation another site started, which carries no SameSite=Strict
// cookie: the callback's 303 to /connections arrives without the
// session, goes on to /unlock, and that page sets a new, unauthenticated
// session cookie over the owner's. The connection is stored, but the
// owner lands on Unlock, logged out. While it is true, the consent-page
// test reports that and unlocks again; set it false once web/ brings the
// owner back to Connections, and the test fails on it.
const sessionAfterConsentBug = false

// connectDrive opens Connections, picks "only files I pick" after another
// choice, and clicks Connect Google Drive, with the page's CSP bypassed
// when bypass is set; with consent, it clicks Allow on the authorization
// server's page. It returns the CSP refusals the page reported, or nil
// once the browser left for the authorization server and came back to
// the UI with an answer.
func connectDrive(b *browser, seen pageHTML, bypass, consent bool) []string {
	b.t.Helper()
	if bypass {
		ctx, cancel := context.WithTimeout(b.ctx, stepLimit)
		_, err := chromedp.Call(ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true})
		cancel()
		if err != nil {
			b.fail("bypass the page's CSP", err)
		}
	}
	b.open("/connections", `form[action="/connections/start"]`)
	b.checkLabels("/connections")
	radio := func(words string) string {
		id := evalJS[string](b, "the radio for "+words, fmt.Sprintf(
			`(() => { const l = Array.from(document.querySelectorAll("label")).find(l => l.textContent.trim() === %q); return l && l.control && l.control.type === "radio" ? l.control.id : ""; })()`, words))
		if id == "" {
			b.fail("find the choice "+words, fmt.Errorf("no radio button is labelled %q", words))
		}
		return id
	}
	files, full := radio("only files I pick"), radio("full access")
	b.do("choose full access", chromedp.Click(chromedp.ID(full)))
	b.do("choose only files I pick", chromedp.Click(chromedp.ID(files)))
	if got := evalJS[string](b, "the chosen scope", `new FormData(document.querySelector('form[action="/connections/start"]')).get("scope")`); got != "files" {
		b.t.Fatalf("after choosing only files I pick, the form sends scope %q", got)
	}
	seen.see(b)
	evalJS[bool](b, "watch for CSP refusals", `(() => { window.meshCSP = []; document.addEventListener("securitypolicyviolation", e => window.meshCSP.push(e.effectiveDirective + " refused " + e.blockedURI)); return true; })()`)
	b.do("connect", chromedp.Click(chromedp.CSS(`form[action="/connections/start"] button[type=submit]`)))
	if consent {
		b.waitJS("the consent page, or CSP refused",
			`(window.meshCSP !== undefined && window.meshCSP.length > 0) || (window.meshCSP === undefined && document.readyState === "complete" && !!document.getElementById("allow"))`)
		if v := evalJS[[]string](b, "CSP refusals", `window.meshCSP || []`); len(v) > 0 {
			return v
		}
		seen.see(b)
		b.do("allow", chromedp.Click(chromedp.ID("allow")))
	}
	// The page marked above stays when CSP refuses; else the browser
	// comes back on a page of the UI with an answer (or on the unlock
	// page, when the session did not follow).
	b.waitJS("the browser is back with an answer, or CSP refused",
		`(window.meshCSP !== undefined && window.meshCSP.length > 0) || (window.meshCSP === undefined && document.readyState === "complete" && location.pathname !== "/connections/start" && location.pathname !== "/connections/callback" && (!!document.querySelector(".flash, .error") || location.pathname === "/unlock"))`)
	if v := evalJS[[]string](b, "CSP refusals", `window.meshCSP || []`); len(v) > 0 {
		return v
	}
	return nil
}

// pageHTML is document.documentElement.outerHTML of every page the test
// looked at, by the page's URL.
type pageHTML map[string]string

// see records the page the browser shows now.
func (p pageHTML) see(b *browser) {
	b.t.Helper()
	loc := evalJS[string](b, "where the page is", `location.href`)
	p[loc] += evalJS[string](b, "the page's HTML", `document.documentElement.outerHTML`)
}

// TestBrowserDriveConnectOnlyFilesIPick: on Connections, the owner picks
// "only files I pick" and connects Google Drive; the browser goes to the
// authorization server and comes back; the page says Connected and lists
// google-drive. The vault holds the access token with the drive.file
// scope, its refresh token and an expiry; no token shows on any page the
// browser saw, in what it received, in a log or in an audit record.
func TestBrowserDriveConnectOnlyFilesIPick(t *testing.T) { driveFlow(t, false) }

// TestBrowserDriveConnectAfterConsentPage: the same, with the owner
// clicking Allow on the authorization server's consent page, as with
// Google: the way back to the node is then started by another site.
func TestBrowserDriveConnectAfterConsentPage(t *testing.T) { driveFlow(t, true) }

// driveFlow connects Google Drive from the Connections page in Chromium
// and checks where the tokens went; with consent, through the
// authorization server's consent page.
func driveFlow(t *testing.T, consent bool) {
	if testing.Short() {
		t.Skip("a mesh and a browser: not in -short")
	}
	ctx := context.Background()
	b := startBrowser(t) // first: without a browser, the test skips before the mesh starts
	google := newFakeGoogle(t)
	google.consent = consent
	m := startInfra(t)
	alice := m.startNodeWith(t, "alice", uiPassword, func(c *Config) {
		c.UI = web.Options{Addr: "127.0.0.1:0", Drive: web.Drive{ClientID: driveClientID, ClientSecret: driveClientSecret,
			AuthURL: google.authURL(), TokenURL: google.tokenURL()}}
	})
	st, err := alice.Status(ctx)
	if err != nil || !strings.HasPrefix(st.UI, "http://127.0.0.1:") {
		t.Fatalf("alice's UI is at %q (%v), want plain HTTP on loopback", st.UI, err)
	}
	b.base = st.UI
	google.setRedirect(st.UI + "/connections/callback")
	if err := alice.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	seen := pageHTML{}

	b.open("/unlock", "#password")
	seen.see(b)
	b.do("unlock", chromedp.SendKeys(chromedp.ID("password"), uiPassword), chromedp.Click(chromedp.CSS(`#unlock button[type=submit]`)))
	b.landOn("/share")
	seen.see(b)

	// Connections offers the three scopes in words; the owner moves off
	// the default and back to "only files I pick", so the request proves
	// the choice was read.
	if refused := connectDrive(b, seen, false, consent); refused != nil {
		if !connectCSPBug {
			requests, _, _, _, _, _ := b.net.snapshot()
			b.fail("connect", fmt.Errorf("Chromium refused to follow Connect, for the page's Content-Security-Policy: %q; the browser asked %q", refused, requests))
		}
		t.Logf("KNOWN BUG (decisions-V.md): Chromium refused to follow Connect to the authorization server, for the UI's Content-Security-Policy (%q); connecting again with the page's CSP bypassed, to test the rest of the flow", refused)
		if refused := connectDrive(b, seen, true, consent); refused != nil {
			b.fail("connect with CSP bypassed", fmt.Errorf("still refused: %q", refused))
		}
	} else if connectCSPBug {
		t.Logf("Chromium followed Connect with the page's CSP: the form-action bug is fixed; set connectCSPBug to false")
	}
	seen.see(b)
	switch path := evalJS[string](b, "where the page is", `location.pathname`); {
	case path == "/connections":
		b.waitText(".flash", "Connected: the key is in your vault as google-drive.")
		if consent && sessionAfterConsentBug {
			t.Logf("the owner came back to Connections after the consent page: the session bug is fixed; set sessionAfterConsentBug to false")
		}
	case path == "/unlock" && consent && sessionAfterConsentBug:
		t.Logf("KNOWN BUG (decisions-V.md): back from the consent page, the owner lands on %s, logged out; unlocking again", path)
		b.do("unlock again", chromedp.SendKeys(chromedp.ID("password"), uiPassword), chromedp.Click(chromedp.CSS(`#unlock button[type=submit]`)))
		b.landOn("/share")
		b.open("/connections", "main h1")
		seen.see(b)
	default:
		google.check(t)
		b.fail("back on Connections", fmt.Errorf("the browser ended on %s", path))
	}
	b.waitText("main ul.rows", "google-drive (google-drive), since")
	google.check(t)

	// The pages that list secrets and what happened name the connection,
	// and hold no token.
	b.open("/secrets", "main h1")
	b.waitText("main .rows", "google-drive")
	seen.see(b)
	b.open("/activity", "main h1")
	seen.see(b)

	// The vault holds the tokens, with the scope picked and an expiry.
	s, err := alice.SecretGet(ctx, web.DriveSecret)
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != vault.TypeOAuthToken || s.Provider != "google-drive" || string(s.Value) != driveAccessCanary || string(s.Refresh) != driveRefreshCanary {
		t.Fatalf("the vault's google-drive: type %q, provider %q, access token as sent %v, refresh token as sent %v",
			s.Type, s.Provider, string(s.Value) == driveAccessCanary, string(s.Refresh) == driveRefreshCanary)
	}
	if !slices.Equal(s.Scopes, []string{oauthflow.DriveFiles}) {
		t.Fatalf("the vault's google-drive has the scopes %q, want only %s", s.Scopes, oauthflow.DriveFiles)
	}
	if exp := time.Unix(s.Expiry, 0); time.Until(exp) < 55*time.Minute || time.Until(exp) > time.Hour+time.Minute {
		t.Fatalf("the access token expires at %v, want in about an hour", exp)
	}

	// The browser only went to the authorization endpoint; the code went
	// to the token endpoint from the node.
	waitFor(t, "the browser has the Activity page's body", func() bool { return b.net.hasBody("/activity") })
	requests, _, _, framesIn, bodies, missed := b.net.snapshot()
	authz := 0
	for _, r := range requests {
		switch {
		case strings.HasPrefix(r, b.base+"/"), strings.HasPrefix(r, "ws"+strings.TrimPrefix(b.base, "http")+"/"):
		case strings.HasPrefix(r, google.authURL()+"?"):
			authz++
		case consent && r == strings.TrimSuffix(google.authURL(), "authorize")+"favicon.ico":
		default:
			t.Errorf("the browser asked %s, neither alice's UI nor the authorization endpoint", r)
		}
	}
	if authz != 1 {
		t.Errorf("the browser went to the authorization endpoint %d times, want once", authz)
	}
	t.Logf("the browser saw %d pages and got %d bodies (%d no longer there to read)", len(seen), len(bodies), missed)

	// No token, nor the client secret, shows anywhere.
	canaries := [][]byte{[]byte(driveAccessCanary), []byte(driveRefreshCanary), []byte(driveClientSecret)}
	for loc, html := range seen {
		if f := testmesh.Find([]byte(html), canaries...); f != nil {
			t.Errorf("the page %s shows %q", loc, f)
		}
	}
	for k, body := range bodies {
		if f := testmesh.Find(body, canaries...); f != nil {
			t.Errorf("the response %s carries %q", k, f)
		}
	}
	for _, fr := range framesIn {
		if f := testmesh.Find(fr, canaries...); f != nil {
			t.Errorf("a WebSocket message to the browser carries %q", f)
		}
	}
	if f := testmesh.Find(m.logs.bytes(), canaries...); f != nil {
		t.Errorf("the logs hold %q", f)
	}
	rep, err := alice.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stored := false
	for _, r := range rep.Records {
		j, _ := json.Marshal(r)
		if f := testmesh.Find(j, canaries...); f != nil {
			t.Errorf("audit record %d holds %q", r.Seq, f)
		}
		stored = stored || (r.Op == "secret.write" && r.Target == web.DriveSecret)
	}
	if !stored {
		t.Errorf("no audit record of the connection's write to the vault")
	}
	if f := testmesh.Find(m.relayAudit.bytes(), canaries...); f != nil {
		t.Errorf("the relay's audit holds %q", f)
	}
	noCanaryInFiles(t, alice.cfg.Home, canaries...)
}

// noCanaryInFiles fails the test for each file under home holding one of
// the canaries, in any of testmesh's forms.
func noCanaryInFiles(t *testing.T, home Home, canaries ...[]byte) {
	t.Helper()
	filepath.WalkDir(string(home), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeType != 0 {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		if f := testmesh.Find(data, canaries...); f != nil {
			t.Errorf("the file %s holds %q", p, f)
		}
		return nil
	})
}

// leafSPKI is the base64 SHA-256 of the SubjectPublicKeyInfo of the
// certificate in certFile, as --ignore-certificate-errors-spki-list
// takes it.
func leafSPKI(t *testing.T, certFile string) string {
	t.Helper()
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatalf("%s holds no PEM certificate", certFile)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// tcpTap forwards every connection it accepts to target and records the
// bytes in both directions: what a network observer between the browser
// and the relay's gateway sees.
type tcpTap struct {
	ln  net.Listener
	rec lockedLog
	wg  sync.WaitGroup
}

// newTCPTap listens on loopback; it stops when the test ends.
func newTCPTap(t *testing.T, target string) *tcpTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpTap{ln: ln}
	var mu sync.Mutex
	var conns []net.Conn
	p.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			pipe := func(dst, src net.Conn) {
				io.Copy(dst, io.TeeReader(src, &p.rec))
				dst.Close()
				src.Close()
			}
			p.wg.Go(func() { pipe(out, in) })
			p.wg.Go(func() { pipe(in, out) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// port is the port the tap listens on.
func (p *tcpTap) port() string {
	_, port, _ := net.SplitHostPort(p.ln.Addr().String())
	return port
}

// TestBrowserGatewayUnlockAndShare: Chromium reaches alice's UI as
// https://alice.ui.test through the relay's UI gateway, resolving the
// name to loopback and accepting only the key of alice's certificate,
// which the test CA signed. It unlocks there and reaches Share. The
// password crossed the relay as TLS ciphertext: it is not in what the
// connection to the gateway carried, nor in the relay's audit, which
// records the connection (ui-connection) and holds no page text.
func TestBrowserGatewayUnlockAndShare(t *testing.T) {
	if testing.Short() {
		t.Skip("a mesh with a UI gateway and a browser: not in -short")
	}
	ctx := context.Background()
	ca := newTestCA(t, t.TempDir(), "alice.ui.test")
	// No certutil (libnss3-tools) here to put the CA in an NSS database:
	// Chromium accepts the leaf's key, and only it (decisions-V.md).
	b := startBrowser(t,
		chromedp.Flag("host-resolver-rules", "MAP alice.ui.test 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", leafSPKI(t, ca.certFile)))
	var (
		secMu sync.Mutex
		sec   []*network.SecurityDetails
	)
	if err := chromedp.Listen(b.ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok && e.Type == network.ResourceTypeDocument && e.Response.SecurityDetails != nil {
			secMu.Lock()
			sec = append(sec, e.Response.SecurityDetails)
			secMu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}

	m := startInfra(t)
	var audit lockedLog
	var gwTap *testmesh.TapHost
	gw, err := infra.StartRelay(ctx, infra.RelayConfig{
		Config: infra.Config{Home: shortDir(t, "gw"), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: m.logs.logger("gateway"), Revocations: testTimings.Revocations,
			WrapHost: func(h host.Host) host.Host { gwTap = testmesh.NewTapHost(h); return gwTap }},
		Bootstrap: m.bootAddrs, Relay: relay.Config{AllowPrivateAddrs: true, Audit: &audit},
		UIGateway: "127.0.0.1:0", UIDomain: "ui.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	m.relayAddr = gw.Addrs()[0]
	alice := m.startNodeWith(t, "alice", uiPassword, func(c *Config) {
		c.UI = web.Options{Addr: "127.0.0.1:0", CertFile: ca.certFile, KeyFile: ca.keyFile, Domain: "ui.test"}
	})
	wire := newTCPTap(t, gw.UIGatewayAddr())
	b.base = "https://alice.ui.test:" + wire.port()

	// The gateway reaches alice once the directory knows her; a Go client
	// that trusts the test CA waits for it, on the gateway directly.
	probe := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := tls.Dialer{Config: &tls.Config{RootCAs: ca.pool, ServerName: "alice.ui.test"}}
			return d.DialContext(ctx, "tcp", gw.UIGatewayAddr())
		}}}
	waitFor(t, "the gateway reaches alice's UI", func() bool {
		resp, err := probe.Get("https://alice.ui.test/unlock")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err := alice.Lock(ctx); err != nil {
		t.Fatal(err)
	}

	b.open("/unlock", "#password")
	b.checkLabels("/unlock")
	b.do("unlock", chromedp.SendKeys(chromedp.ID("password"), uiPassword), chromedp.Click(chromedp.CSS(`#unlock button[type=submit]`)))
	b.landOn("/share")
	b.waitText("h1", "Share")
	if st, _ := alice.Status(ctx); st.Locked {
		t.Fatal("the page shows Share but the vault is locked")
	}
	if got := evalJS[string](b, "the page's origin", `location.origin`); got != b.base {
		t.Fatalf("the Share page's origin is %s, want %s", got, b.base)
	}

	// Chromium spoke TLS to alice's node, and saw her certificate.
	secMu.Lock()
	details := slices.Clone(sec)
	secMu.Unlock()
	if len(details) == 0 {
		t.Fatal("Chromium reported no TLS details for the pages")
	}
	for _, d := range details {
		if d.SubjectName != "alice.ui.test" || d.Issuer != "mesh test CA" || !slices.Contains(d.SanList, "alice.ui.test") {
			t.Errorf("a page came with the certificate of %q (SANs %q) issued by %q, want alice.ui.test's from the test CA", d.SubjectName, d.SanList, d.Issuer)
		}
	}
	t.Logf("Chromium's TLS: %s, %s %s", details[0].Protocol, details[0].KeyExchangeGroup, details[0].Cipher)

	// The password went once, on the unlock socket, and only inside TLS.
	var carried []string
	for _, f := range b.net.sent() {
		if testmesh.Find(f.data, []byte(uiPassword)) != nil {
			carried = append(carried, f.url)
		}
	}
	if wsUnlock := "wss://alice.ui.test:" + wire.port() + "/ws/unlock"; len(carried) != 1 || carried[0] != wsUnlock {
		t.Fatalf("the password went on the sockets %v, want once on %s", carried, wsUnlock)
	}
	requests, _, _, _, _, _ := b.net.snapshot()
	for _, r := range requests {
		if !strings.HasPrefix(r, b.base+"/") && !strings.HasPrefix(r, "wss://alice.ui.test:"+wire.port()+"/") {
			t.Errorf("the browser asked %s, not alice's UI through the gateway", r)
		}
	}

	// The relay writes a connection's record when it ends.
	gw.Close()
	onWire := wire.rec.bytes()
	if len(onWire) == 0 {
		t.Fatal("nothing went through the tap to the gateway")
	}
	pageText := [][]byte{[]byte("Unlock your vault"), []byte("Share · OCMT Mesh"), []byte(`name="csrf"`)}
	for what, rec := range map[string][]byte{"the connection to the gateway": onWire, "the relay's audit": audit.bytes(),
		"the relay's tapped streams": gwTap.Rec.Bytes(), "the logs": m.logs.bytes()} {
		if f := testmesh.Find(rec, []byte(uiPassword)); f != nil {
			t.Errorf("%s carry the password (%q)", what, f)
		}
		if what == "the logs" {
			continue
		}
		for _, p := range pageText {
			if strings.Contains(string(rec), string(p)) {
				t.Errorf("%s carry the page's text %q: not TLS from the browser to alice's node", what, p)
			}
		}
	}
	served := 0
	for line := range strings.Lines(string(audit.bytes())) {
		if strings.Contains(line, `"event":"ui-connection"`) && strings.Contains(line, alice.host.ID().String()) {
			served++
		}
	}
	if served == 0 {
		t.Fatalf("no ui-connection record to alice's node (%s) in the relay's audit:\n%s", alice.host.ID(), audit.bytes())
	}
	t.Logf("the relay audited %d UI connections; %d bytes crossed the tap", served, len(onWire))
}
