package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/ocmt/mesh/internal/agentsock"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/web"
)

// uiPassword is alice's vault password in the UI tests: a canary that
// must never show in a log, an audit record, a page or a stored file.
const uiPassword = "PWCANARY-ui-unlock-5f3a9c"

// uiMesh is a mesh whose alice serves her web UI on a loopback port
// (bob's is off), with alice's calendar/work written.
type uiMesh struct {
	*testMesh
	alice, bob *Node
	base       string // alice's UI: http://127.0.0.1:PORT
}

// startUIMesh starts the infrastructure, alice with her UI on 127.0.0.1:0
// and bob without one.
func startUIMesh(t *testing.T) *uiMesh {
	t.Helper()
	ctx := context.Background()
	m := startInfra(t)
	u := &uiMesh{testMesh: m}
	u.alice = m.startNodeWith(t, "alice", uiPassword, func(c *Config) { c.UI = web.Options{Addr: "127.0.0.1:0"} })
	u.bob = m.startNodeWith(t, "bob", "pw-b", func(c *Config) { c.UI = web.Options{Addr: "off"} })
	if err := u.alice.PutResource(ctx, "calendar/work", []byte(calendarCanary)); err != nil {
		t.Fatal(err)
	}
	st, err := u.alice.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.UI, "http://127.0.0.1:") {
		t.Fatalf("alice's UI is at %q, want plain HTTP on loopback", st.UI)
	}
	u.base = st.UI
	return u
}

// lockAlice locks alice's vault, as the Lock button or mesh lock does, so
// that the UI's unlock is a real one.
func (u *uiMesh) lockAlice(t *testing.T) {
	t.Helper()
	if err := u.alice.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// waitUnlockAllowed waits until alice's vault takes a password again: a
// wrong one makes it wait (250 ms, doubling).
func (u *uiMesh) waitUnlockAllowed(t *testing.T) {
	t.Helper()
	waitFor(t, "alice's vault takes a password again", func() bool {
		_, next, err := u.alice.Vault().FailedAttempts(context.Background())
		return err == nil && !time.Now().Before(next)
	})
}

// chromiumNames are the executables tried, in order, on PATH.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// findChromium returns the first Chromium on PATH, or "".
func findChromium() string {
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// browser is one headless Chromium tab on alice's UI, with what it saw on
// the network.
type browser struct {
	t    *testing.T
	ctx  context.Context // the tab's context, started
	base string          // alice's UI
	net  *netLog
}

// stepLimit bounds one browser step (a navigation, a click, a wait).
const stepLimit = waitLimit

// startBrowser starts headless Chromium (as root without its sandbox,
// which Chromium refuses to run as root) and opens a tab; the caller sets
// base. It skips the test only when no Chromium is on PATH or it cannot
// start.
// startBrowser starts headless Chromium, with extra flags when given.
func startBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	path := findChromium()
	if path == "" {
		t.Skipf("no Chromium on PATH (tried %s): the browser tests need one", strings.Join(chromiumNames, ", "))
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Skipf("Chromium (%s) could not be started: %v", path, err)
	}
	b := &browser{t: t, ctx: ctx, net: newNetLog()}
	if err := chromedp.Listen(ctx, b.net.event); err != nil {
		t.Fatal(err)
	}
	go b.net.fetchBodies(ctx)
	return b
}

// fail saves a screenshot in the test's artifact folder (kept with go
// test -artifacts), then fails the test saying where the page was.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	shot := "(no screenshot)"
	if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(90)); serr == nil {
		name := filepath.Join(b.t.ArtifactDir(), regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(what, "-")+".png")
		if os.WriteFile(name, png, 0o644) == nil {
			shot = name
		}
	}
	b.t.Fatalf("%s: %v\npage %s (screenshot %s):\n%s", what, err, loc, shot, text)
}

// do runs steps within stepLimit, failing the test (with a screenshot)
// when one fails.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepLimit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

// eval evaluates expr on the page now.
func evalJS[T any](b *browser, what, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// open navigates to path on the UI and waits until sel is visible.
func (b *browser) open(path, sel string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// waitJS waits until the page's expr is true: checked again after a
// navigation or a reload, which a single chromedp.Poll would not survive.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	var last error
	ok := testkit.PollEvery(stepLimit, 50*time.Millisecond, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		last = err
		return err == nil && v
	})
	if !ok {
		b.fail(what, fmt.Errorf("not the case within %v (last error: %v)", stepLimit, last))
	}
}

// waitText waits until the element sel shows text containing want.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf("%s shows %q", sel, want),
		fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want))
}

// landOn waits until the page's path is p after a form was sent, and
// fails at once, naming the POSTs and their Origin headers, when the node
// answered a refusal instead.
func (b *browser) landOn(p string) {
	b.t.Helper()
	b.waitJS("the page is "+p+" or a refusal", fmt.Sprintf(`(location.pathname === %q && document.readyState !== "loading") || (!!document.body && document.body.innerText.startsWith("refused"))`, p))
	if evalJS[bool](b, "where the page is", fmt.Sprintf(`location.pathname === %q`, p)) {
		return
	}
	b.net.mu.Lock()
	posts := strings.Join(b.net.posts, "; ")
	b.net.mu.Unlock()
	b.fail("the page is "+p, fmt.Errorf("the node refused the form; the browser sent: %s", posts))
}

// waitPath waits until the page's path is p.
func (b *browser) waitPath(p string) {
	b.t.Helper()
	b.waitJS("the page is "+p, fmt.Sprintf(`location.pathname === %q && document.readyState !== "loading"`, p))
}

// tabTo presses Tab until the focused element matches sel (Shift+Tab with
// back), failing after 60 presses.
func (b *browser) tabTo(sel string, back bool) {
	b.t.Helper()
	check := fmt.Sprintf(`(() => { const e = document.activeElement; return !!e && e.matches(%q); })()`, sel)
	var opts []chromedp.KeyOption
	if back {
		opts = append(opts, chromedp.KeyModifiers(chromedp.ModifierShift))
	}
	for range 60 {
		if evalJS[bool](b, "where the focus is", check) {
			return
		}
		b.do("press Tab", chromedp.KeyEvent(kb.Tab, opts...))
	}
	b.fail("tab to "+sel, fmt.Errorf("the focus never reached it"))
}

// key types keys into whatever has the focus.
func (b *browser) key(keys string) {
	b.t.Helper()
	b.do("type", chromedp.KeyEvent(keys))
}

// unlabelledJS lists the page's inputs, selects and buttons that have no
// name a screen reader can read: a <label for> naming them, an
// aria-label, or (for a button) its own text. Hidden inputs need none.
const unlabelledJS = `(() => {
  const bad = [];
  for (const el of document.querySelectorAll("input, select, button, textarea")) {
    if (el.tagName === "INPUT" && el.type === "hidden") continue;
    if ((el.getAttribute("aria-label") || "").trim() !== "") continue;
    if (el.id && Array.from(el.labels || []).some(l => l.htmlFor === el.id && l.textContent.trim() !== "")) continue;
    if (el.tagName === "BUTTON" && el.textContent.trim() !== "") continue;
    bad.push(el.outerHTML.slice(0, 160));
  }
  return bad;
})()`

// checkLabels fails the test when the page has a control without a label.
func (b *browser) checkLabels(page string) {
	b.t.Helper()
	if bad := evalJS[[]string](b, "scan "+page+" for labels", unlabelledJS); len(bad) > 0 {
		b.t.Errorf("%s has controls without a label: %s", page, strings.Join(bad, "; "))
	}
}

// netLog is what the tab saw on the network: every request's URL, every
// response's remote address, the WebSockets it opened, what they
// received, and the bodies of the responses it finished loading.
type netLog struct {
	mu        sync.Mutex
	requests  []string
	posts     []string        // each POST with the Origin header it carried
	remotes   map[string]bool // remote ip:port of every response
	ws        map[network.RequestID]string
	opened    []string // WebSocket URLs whose handshake was answered
	framesIn  [][]byte
	framesOut []sentFrame
	bodies    map[string][]byte // by request ID and URL
	missed    int               // bodies the browser no longer had
	finished  []network.RequestID
	urls      map[network.RequestID]string
	wake      chan struct{}
}

func newNetLog() *netLog {
	return &netLog{remotes: map[string]bool{}, ws: map[network.RequestID]string{}, bodies: map[string][]byte{},
		urls: map[network.RequestID]string{}, wake: make(chan struct{}, 1)}
}

// event records one network event; it runs in the tab's message loop, so
// it only records: fetchBodies asks for the bodies.
func (l *netLog) event(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if strings.HasPrefix(ev.Request.URL, "data:") {
			return // the browser's own images (a date field's icon): no network
		}
		l.requests = append(l.requests, ev.Request.URL)
		l.urls[ev.RequestID] = ev.Request.URL
		if ev.Request.Method == http.MethodPost {
			o, _ := ev.Request.Headers["Origin"].(string)
			l.posts = append(l.posts, fmt.Sprintf("POST %s with Origin %q", ev.Request.URL, o))
		}
	case *network.EventResponseReceived:
		if strings.HasPrefix(ev.Response.URL, "data:") {
			return
		}
		l.remotes[fmt.Sprintf("%s:%d", ev.Response.RemoteIPAddress, ev.Response.RemotePort)] = true
	case *network.EventLoadingFinished:
		l.finished = append(l.finished, ev.RequestID)
		select {
		case l.wake <- struct{}{}:
		default:
		}
	case *network.EventWebSocketCreated:
		l.ws[ev.RequestID] = ev.URL
		l.requests = append(l.requests, ev.URL)
	case *network.EventWebSocketHandshakeResponseReceived:
		l.opened = append(l.opened, l.ws[ev.RequestID])
	case *network.EventWebSocketFrameSent:
		if ev.Response != nil {
			l.framesOut = append(l.framesOut, sentFrame{url: l.ws[ev.RequestID], data: ev.Response.PayloadData})
		}
	case *network.EventWebSocketFrameReceived:
		if ev.Response != nil {
			l.framesIn = append(l.framesIn, ev.Response.PayloadData)
		}
	}
}

// sentFrame is a WebSocket message the page sent, and where.
type sentFrame struct {
	url  string
	data []byte
}

// sent returns the WebSocket messages the page sent.
func (l *netLog) sent() []sentFrame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sentFrame(nil), l.framesOut...)
}

// fetchBodies asks the browser for each finished response's body as soon
// as it finished, before a navigation can drop it.
func (l *netLog) fetchBodies(ctx context.Context) {
	for {
		l.mu.Lock()
		ids := l.finished
		l.finished = nil
		l.mu.Unlock()
		for _, id := range ids {
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			res, err := chromedp.Call(c, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
			cancel()
			l.mu.Lock()
			if err != nil {
				l.missed++
			} else {
				l.bodies[string(id)+" "+l.urls[id]] = res.Body
			}
			l.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
	}
}

// snapshot returns copies of what was recorded.
func (l *netLog) snapshot() (requests, opened []string, remotes []string, framesIn [][]byte, bodies map[string][]byte, missed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for r := range l.remotes {
		remotes = append(remotes, r)
	}
	bodies = map[string][]byte{}
	for k, v := range l.bodies {
		bodies[k] = v
	}
	return append([]string(nil), l.requests...), append([]string(nil), l.opened...), remotes, append([][]byte(nil), l.framesIn...), bodies, l.missed
}

// hasBody reports whether a body of a response for path was fetched.
func (l *netLog) hasBody(path string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.bodies {
		if _, u, _ := strings.Cut(k, " "); strings.HasSuffix(u, path) {
			return true
		}
	}
	return false
}

// wsOpened counts the answered WebSocket handshakes to path.
func (l *netLog) wsOpened(path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, u := range l.opened {
		if strings.HasSuffix(u, path) {
			n++
		}
	}
	return n
}

// uiClient is a plain HTTP client of the UI with its own cookie jar: the
// security tests need no browser.
type uiClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newUIClient(t *testing.T, base string) *uiClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &uiClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: stepLimit}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches path and returns its status, body and the page's CSRF
// token ("" when it has none).
func (c *uiClient) get(path string) (int, []byte, string) {
	c.t.Helper()
	resp, err := c.c.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	csrf := ""
	if m := csrfField.FindSubmatch(body); m != nil {
		csrf = string(m[1])
	}
	return resp.StatusCode, body, csrf
}

// post sends a form with the Origin header origin ("" for none) and
// returns the answer's status and body; redirects are not followed.
func (c *uiClient) post(path, origin string, form url.Values) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	cl := *c.c
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cl.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// unlockSocket sends password over /ws/unlock as the unlock page does,
// with the Origin header origin, and returns the node's answer; err is
// the dial's error when the socket was refused.
func (c *uiClient) unlockSocket(origin, csrf, password string) (map[string]string, int, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepLimit)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.base, "http")+"/ws/unlock",
		&websocket.DialOptions{HTTPClient: c.c, HTTPHeader: http.Header{"Origin": {origin}}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, err
	}
	defer conn.CloseNow()
	msg, _ := json.Marshal(struct {
		Password []byte `json:"password"`
		CSRF     string `json:"csrf"`
	}{[]byte(password), csrf})
	if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
		c.t.Fatal(err)
	}
	_, b, err := conn.Read(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	var out map[string]string
	if err := json.Unmarshal(b, &out); err != nil {
		c.t.Fatalf("the unlock socket answered %q: %v", b, err)
	}
	return out, http.StatusSwitchingProtocols, nil
}

// login unlocks through the UI as the page does (GET /unlock, the
// password over /ws/unlock, the ticket to POST /login) and returns the
// authenticated session's CSRF token.
func (c *uiClient) login(password string) string {
	c.t.Helper()
	_, _, csrf := c.get("/unlock")
	if csrf == "" {
		c.t.Fatal("the unlock page has no CSRF token")
	}
	ans, _, err := c.unlockSocket(c.base, csrf, password)
	if err != nil || ans["ticket"] == "" {
		c.t.Fatalf("unlock over the socket: %v %v", ans, err)
	}
	if st, body := c.post("/login", c.base, url.Values{"csrf": {csrf}, "ticket": {ans["ticket"]}}); st != http.StatusSeeOther {
		c.t.Fatalf("POST /login: %d %s", st, body)
	}
	st, body, csrf := c.get("/share")
	if st != http.StatusOK || csrf == "" || !strings.Contains(string(body), "<h1>Share</h1>") {
		c.t.Fatalf("after login, /share answered %d without a form:\n%s", st, body)
	}
	return csrf
}

// testAgent is an AI agent of alice's, connected to her agent socket.
type testAgent struct {
	t  *testing.T
	cs *mcp.ClientSession
}

// addTestAgent adds agent name to n (reaching calendar/**, the default
// ceiling) with a fresh key file, and connects it.
func addTestAgent(t *testing.T, n *Node, name string) *testAgent {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(string(shortDir(t, "agent")), name+".key")
	id, err := agentsock.CreateKeyFile(path, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.AgentAdd(ctx, localapi.AgentAddRequest{Name: name, Key: id.String(), Paths: []string{"calendar/**"}}); err != nil {
		t.Fatal(err)
	}
	k, err := agentsock.LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := agentsock.Connect(ctx, n.SocketPath(), k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return &testAgent{t: t, cs: cs}
}

// call runs a tool and returns its text, and false when it was refused.
func (a *testAgent) call(tool string, args map[string]any) (string, bool) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepLimit)
	defer cancel()
	res, err := a.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		a.t.Fatalf("%s: %v", tool, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), !res.IsError
}
