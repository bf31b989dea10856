package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

const password = "pw-CANARY-web-93f1"

// fakeNode is the backend: a vault that unlocks with password, and
// records the shares asked.
type fakeNode struct {
	localapi.Backend // nil: a method the test does not expect panics
	mu               sync.Mutex
	locked           bool
	shares           []localapi.ShareRequest
	revoked          []string
}

func (f *fakeNode) Status(context.Context) (localapi.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return localapi.Status{Locked: f.locked}, nil
}

func (f *fakeNode) Unlock(_ context.Context, pw []byte) error {
	if string(pw) != password {
		return vault.ErrBadPassword
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.locked = false
	return nil
}

func (f *fakeNode) Lock(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.locked = true
	return nil
}

func (f *fakeNode) ListResources(context.Context, string) ([]localapi.Resource, error) {
	return []localapi.Resource{{Path: "calendar/work"}, {Path: "files/report"}}, nil
}

func (f *fakeNode) Contacts(context.Context) ([]localapi.Contact, error) {
	return []localapi.Contact{{Handle: "bob", Code: "1234-5678"}}, nil
}

func (f *fakeNode) Share(_ context.Context, r localapi.ShareRequest) (localapi.ShareResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shares = append(f.shares, r)
	return localapi.ShareResult{ID: "abc", Delivered: "live", Expiry: testkit.Epoch.Add(r.ValidFor)}, nil
}

func (f *fakeNode) Shares(context.Context) ([]localapi.Grant, error) { return nil, nil }

func (f *fakeNode) Revoke(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, id)
	return id, nil
}

type harness struct {
	t     *testing.T
	srv   *httptest.Server
	node  *fakeNode
	clock *testkit.Clock
	logs  *bytes.Buffer
	web   *Server
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, node: &fakeNode{locked: true}, clock: testkit.NewClock(testkit.Epoch), logs: &bytes.Buffer{}}
	var err error
	h.web, err = New(Config{Backend: h.node, Now: h.clock.Now, Logger: slog.New(slog.NewTextHandler(h.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(h.web)
	t.Cleanup(h.srv.Close)
	return h
}

// browser is a client with its own cookies that sends this site's
// Origin, as a browser on the page would.
type browser struct {
	h    *harness
	c    *http.Client
	csrf string
}

func (h *harness) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{h: h, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) get(path string) (*http.Response, string) {
	b.h.t.Helper()
	resp, err := b.c.Get(b.h.srv.URL + path)
	if err != nil {
		b.h.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := csrfField.FindStringSubmatch(string(body)); m != nil {
		b.csrf = m[1]
	}
	return resp, string(body)
}

func (b *browser) post(path string, form url.Values, origin string) (*http.Response, string) {
	b.h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.h.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.h.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// unlock runs the unlock page's exchange: GET /unlock, the password over
// the WebSocket, POST /login with the ticket.
func (b *browser) unlock(pw string) (string, error) {
	b.h.t.Helper()
	b.get("/unlock")
	ctx := testkit.Context(b.h.t, 20*time.Second)
	u, _ := url.Parse(b.h.srv.URL)
	c, _, err := websocket.Dial(ctx, "ws://"+u.Host+"/ws/unlock", &websocket.DialOptions{HTTPClient: b.c,
		HTTPHeader: http.Header{"Origin": {b.h.srv.URL}}})
	if err != nil {
		return "", err
	}
	defer c.CloseNow()
	msg, _ := json.Marshal(map[string]any{"password": []byte(pw), "csrf": b.csrf})
	if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
		return "", err
	}
	_, reply, err := c.Read(ctx)
	if err != nil {
		return "", err
	}
	var r struct{ Ticket, Error string }
	json.Unmarshal(reply, &r)
	if r.Error != "" {
		return "", errors.New(r.Error)
	}
	resp, _ := b.post("/login", url.Values{"csrf": {b.csrf}, "ticket": {r.Ticket}}, b.h.srv.URL)
	if resp.StatusCode != http.StatusSeeOther {
		return "", errors.New("login refused: " + resp.Status)
	}
	b.get("/share")
	return r.Ticket, nil
}

func TestUnlockAndShare(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	if resp, _ := b.get("/share"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/unlock" {
		t.Fatalf("the Share page without a session: %s %s", resp.Status, resp.Header.Get("Location"))
	}
	if _, err := b.unlock("wrong"); err == nil || err.Error() != "Wrong password." {
		t.Fatalf("a wrong password: %v", err)
	}
	if _, err := b.unlock(password); err != nil {
		t.Fatal(err)
	}
	resp, page := b.get("/share")
	if resp.StatusCode != 200 || !strings.Contains(page, "Calendar") || !strings.Contains(page, "1234-5678") {
		t.Fatalf("the Share page: %s\n%s", resp.Status, page)
	}
	form := url.Values{"csrf": {b.csrf}, "what": {"calendar/**"}, "with": {"bob"}, "can": {"view"}, "for": {"7d"}}
	resp, _ = b.post("/share", form, h.srv.URL)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/share" {
		t.Fatalf("sharing: %s (a POST answers a redirect, so a reload never posts again)", resp.Status)
	}
	if _, page = b.get("/share"); !strings.Contains(page, "Shared Calendar with bob") {
		t.Fatalf("the page after sharing:\n%s", page)
	}
	if _, page2 := b.get("/share"); strings.Contains(page2, "Shared Calendar with bob") {
		t.Fatal("the message shows twice")
	}
	if len(h.node.shares) != 1 || h.node.shares[0] != (localapi.ShareRequest{Path: "calendar/**", With: "bob", Can: "read,list", ValidFor: 7 * 24 * time.Hour}) {
		t.Fatalf("shares: %+v", h.node.shares)
	}
	if strings.Contains(h.logs.String(), password) || strings.Contains(page, password) {
		t.Fatal("the password is in a log or a page")
	}
}

func TestStateChangesNeedSessionTokenAndOrigin(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	if _, err := b.unlock(password); err != nil {
		t.Fatal(err)
	}
	good := url.Values{"csrf": {b.csrf}, "what": {"calendar/**"}, "with": {"bob"}, "can": {"view"}, "for": {"7d"}}
	noToken := url.Values{"what": {"calendar/**"}, "with": {"bob"}, "can": {"view"}, "for": {"7d"}}
	wrongToken := url.Values{"csrf": {"nope"}, "what": {"calendar/**"}, "with": {"bob"}, "can": {"view"}, "for": {"7d"}}
	stranger := h.browser()
	for _, c := range []struct {
		what   string
		b      *browser
		form   url.Values
		origin string
		want   int
	}{
		{"no session", stranger, good, h.srv.URL, http.StatusUnauthorized},
		{"no CSRF token", b, noToken, h.srv.URL, http.StatusForbidden},
		{"a wrong CSRF token", b, wrongToken, h.srv.URL, http.StatusForbidden},
		{"another site's form", b, good, "http://evil.example", http.StatusForbidden},
		{"no Origin at all", b, good, "", http.StatusForbidden},
	} {
		if resp, _ := c.b.post("/share", c.form, c.origin); resp.StatusCode != c.want {
			t.Errorf("%s: %s, want %d", c.what, resp.Status, c.want)
		}
	}
	if len(h.node.shares) != 0 {
		t.Fatalf("a refused request shared: %+v", h.node.shares)
	}
	// A WebSocket from another site is refused before it reads anything.
	ctx := testkit.Context(t, 10*time.Second)
	u, _ := url.Parse(h.srv.URL)
	if c, _, err := websocket.Dial(ctx, "ws://"+u.Host+"/ws/unlock", &websocket.DialOptions{HTTPClient: b.c,
		HTTPHeader: http.Header{"Origin": {"http://evil.example"}}}); err == nil {
		c.CloseNow()
		t.Fatal("a cross-origin WebSocket was accepted")
	}
}

func TestTicketsAndSessionsEnd(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	ticket, err := b.unlock(password)
	if err != nil {
		t.Fatal(err)
	}
	// The ticket is spent: posting it again gives nothing.
	other := h.browser()
	other.get("/unlock")
	if resp, _ := other.post("/login", url.Values{"csrf": {other.csrf}, "ticket": {ticket}}, h.srv.URL); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a spent ticket: %s", resp.Status)
	}
	// Idle too long: back to the unlock page.
	h.clock.Advance(DefaultSessionIdle + time.Second)
	if resp, _ := b.get("/share"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("an idle session still works: %s", resp.Status)
	}
	// Lock ends every session and locks the vault.
	if _, err := b.unlock(password); err != nil {
		t.Fatal(err)
	}
	c := h.browser()
	if _, err := c.unlock(password); err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.post("/lock", url.Values{"csrf": {b.csrf}}, h.srv.URL); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("lock: %s", resp.Status)
	}
	if st, _ := h.node.Status(context.Background()); !st.Locked {
		t.Fatal("Lock did not lock the vault")
	}
	if resp, _ := c.get("/share"); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("another session survived Lock")
	}
}

func TestHeadersAndNoOtherHost(t *testing.T) {
	h := newHarness(t)
	b := h.browser()
	for _, p := range []string{"/unlock", "/static/style.css", "/static/unlock.js", "/share"} {
		resp, _ := b.get(p)
		if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'self'") || strings.Contains(got, "unsafe-inline") {
			t.Errorf("%s: CSP %q", p, got)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", p)
		}
	}
	// No asset names another host, and no template has inline script.
	fs.WalkDir(assets, ".", func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return nil
		}
		b, _ := assets.ReadFile(p)
		if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).Match(b) {
			t.Errorf("%s references another host", p)
		}
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).Match(b) || bytes.Contains(b, []byte(" on")) && regexp.MustCompile(`\son[a-z]+="`).Match(b) {
			t.Errorf("%s has inline script", p)
		}
		return nil
	})
}
