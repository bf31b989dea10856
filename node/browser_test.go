package node

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/testmesh"
	"github.com/ocmt/mesh/vault"
)

// The web UI in a real browser (headless Chromium, driven over the
// DevTools protocol by chromedp) against alice's running node, with bob's
// node on the other side of the mesh. The browser tests skip only when no
// Chromium is found or it does not start.

// TestBrowserUnlockShareAndStopSharing: a wrong password is refused in
// words, the right one lands on Share; a share made on the page reaches
// bob's node, which reads the calendar; Stop sharing revokes it, and bob
// is refused. The password goes over the UI's loopback socket only, and
// shows nowhere: not in a log, an audit record, a page, a stored file,
// nor what the bootstrap and the relay carried.
func TestBrowserUnlockShareAndStopSharing(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole mesh and a browser: not in -short")
	}
	ctx := context.Background()
	b := startBrowser(t) // first: without a browser, the test skips before the mesh starts
	u := startUIMesh(t)
	b.base = u.base
	u.lockAlice(t)

	// 1. A wrong password, then the right one.
	b.open("/", "#password") // no session: the UI sends the browser to /unlock
	b.waitPath("/unlock")
	b.do("type a wrong password", chromedp.SendKeys(chromedp.ID("password"), "not-the-password"), chromedp.Click(chromedp.CSS(`#unlock button[type=submit]`)))
	b.waitText("#unlock-status", "Wrong password.")
	if st, _ := u.alice.Status(ctx); !st.Locked {
		t.Fatal("a wrong password unlocked the vault")
	}
	u.waitUnlockAllowed(t)
	bootStreams, relayStreams := u.bootTap.Rec.Streams(), u.relayTap.Rec.Streams()
	b.do("type the password", chromedp.SendKeys(chromedp.ID("password"), uiPassword), chromedp.Click(chromedp.CSS(`#unlock button[type=submit]`)))
	b.landOn("/share")
	b.waitText("h1", "Share")
	if st, _ := u.alice.Status(ctx); st.Locked {
		t.Fatal("the page shows Share but the vault is locked")
	}
	t.Logf("during the unlock, the bootstrap's tapped streams went %d → %d and the relay's %d → %d: the mesh's own mailbox and reservation checks, none carrying the password (checked below)",
		bootStreams, u.bootTap.Rec.Streams(), relayStreams, u.relayTap.Rec.Streams())
	// The password went once, encoded as the page sends it, on the socket
	// to alice's loopback UI, and on no other.
	var carried []string
	for _, f := range b.net.sent() {
		if testmesh.Find(f.data, []byte(uiPassword)) != nil {
			carried = append(carried, f.url)
		}
	}
	if wsUnlock := "ws" + strings.TrimPrefix(u.base, "http") + "/ws/unlock"; len(carried) != 1 || carried[0] != wsUnlock {
		t.Fatalf("the password went on the sockets %v, want once on %s", carried, wsUnlock)
	}

	// 2. Share the calendar with bob: view, for a week.
	if got := evalJS[string](b, "the Calendar choice", `Array.from(document.querySelectorAll("#what option")).filter(o => o.textContent.trim() === "Calendar").map(o => o.value).join()`); got != "calendar/**" {
		t.Fatalf("the Share page offers Calendar as %q, want calendar/**", got)
	}
	if got := evalJS[string](b, "the week choice", `Array.from(document.querySelectorAll("#for option")).filter(o => o.textContent.trim() === "1 week").map(o => o.value).join()`); got != "7d" {
		t.Fatalf("the Share page offers 1 week as %q", got)
	}
	b.do("fill the share form",
		chromedp.SetValue(chromedp.ID("what"), "calendar/**"),
		chromedp.SendKeys(chromedp.ID("with"), "bob"),
		chromedp.Click(chromedp.ID("can-view")),
		chromedp.SetValue(chromedp.ID("for"), "7d"),
		chromedp.Click(chromedp.CSS(`form[action="/share"] button[type=submit]`)))
	b.waitText(".flash", "Shared Calendar with bob until")
	shares, err := u.alice.Shares(ctx)
	if err != nil || len(shares) != 1 || shares[0].Resource != "calendar/**" || shares[0].AudienceHandle != "bob" || strings.Contains(strings.Join(shares[0].Actions, ","), "write") {
		t.Fatalf("alice's shares after the page shared: %+v, %v", shares, err)
	}
	if d := time.Until(shares[0].Expiry); d < 6*24*time.Hour || d > 7*24*time.Hour+time.Minute {
		t.Fatalf("the share ends in %v, want a week", d)
	}
	var read []byte
	if !testkit.PollEvery(waitLimit, 100*time.Millisecond, func() bool {
		read, err = u.bob.Fetch(ctx, "alice/calendar/work")
		return err == nil
	}) || string(read) != calendarCanary {
		t.Fatalf("bob reads alice/calendar/work: %q, %v", read, err)
	}

	// 3. Stop sharing: bob is refused, as revoked.
	b.open("/shared-by-me", `button[aria-label="Stop sharing Calendar with bob"]`)
	b.checkLabels("/shared-by-me")
	b.do("stop sharing", chromedp.Click(chromedp.CSS(`button[aria-label="Stop sharing Calendar with bob"]`)))
	b.waitText(".flash", "Stopped: they can no longer open it, anywhere.")
	if !testkit.PollEvery(waitLimit, 100*time.Millisecond, func() bool {
		_, err = u.bob.Fetch(ctx, "alice/calendar/work")
		return errors.Is(err, capability.ErrRevoked)
	}) {
		t.Fatalf("bob's read after Stop sharing: %v, want it refused as revoked", err)
	}
	if shares, _ := u.alice.Shares(ctx); len(shares) != 1 || shares[0].Status != "revoked" {
		t.Fatalf("alice's shares after Stop sharing: %+v", shares)
	}

	// The unlock went to the UI's loopback port, and only there.
	waitFor(t, "the browser has the Shared by me page's body", func() bool { return b.net.hasBody("/shared-by-me") })
	requests, opened, remotes, framesIn, bodies, missed := b.net.snapshot()
	for _, r := range requests {
		if !strings.HasPrefix(r, u.base+"/") && !strings.HasPrefix(r, "ws"+strings.TrimPrefix(u.base, "http")+"/") {
			t.Errorf("the browser asked %s, not alice's UI", r)
		}
	}
	uiAddr := strings.TrimPrefix(u.base, "http://")
	for _, r := range remotes {
		if r != uiAddr {
			t.Errorf("the browser got a response from %s, not alice's UI at %s", r, uiAddr)
		}
	}
	if n := b.net.wsOpened("/ws/unlock"); n != 2 || !strings.HasPrefix(opened[0], "ws://127.0.0.1:") {
		t.Errorf("unlock sockets opened: %v, want two on the loopback UI", opened)
	}
	t.Logf("the browser made %d requests, all to alice's UI; it got %d bodies (%d no longer there to read)", len(requests), len(bodies), missed)

	// The password shows nowhere.
	pw := []byte(uiPassword)
	for k, body := range bodies {
		if f := testmesh.Find(body, pw); f != nil {
			t.Errorf("the response %s carries the password (%q)", k, f)
		}
	}
	for _, f := range framesIn {
		if testmesh.Find(f, pw) != nil {
			t.Errorf("a WebSocket message to the browser carries the password: %q", f)
		}
	}
	assertPasswordNowhere(t, u)
}

// assertPasswordNowhere checks that alice's password is in no log, no
// audit record, no file of any role's home, and nothing the bootstrap or
// the relay carried or audited.
func assertPasswordNowhere(t *testing.T, u *uiMesh) {
	t.Helper()
	pw := []byte(uiPassword)
	if f := testmesh.Find(u.logs.bytes(), pw); f != nil {
		t.Errorf("the password is in the logs (%q)", f)
	}
	rep, err := u.alice.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	unlocks := 0
	for _, r := range rep.Records {
		j, _ := json.Marshal(r)
		if f := testmesh.Find(j, pw); f != nil {
			t.Errorf("audit record %d carries the password (%q)", r.Seq, f)
		}
		if r.Op == "vault.unlock" {
			unlocks++
		}
	}
	if unlocks < 2 {
		t.Errorf("%d unlocks audited, want the test's own and the page's", unlocks)
	}
	for what, rec := range map[string][]byte{"bootstrap's streams": u.bootTap.Rec.Bytes(), "relay's streams": u.relayTap.Rec.Bytes(), "relay's audit": u.relayAudit.bytes()} {
		if f := testmesh.Find(rec, pw); f != nil {
			t.Errorf("the %s carry the password (%q)", what, f)
		}
	}
	for _, h := range []Home{u.alice.cfg.Home, u.bob.cfg.Home, u.bootHome, u.relHome} {
		filepath.WalkDir(string(h), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Type()&fs.ModeType != 0 {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			if f := testmesh.Find(data, pw); f != nil {
				t.Errorf("the file %s holds the password (%q)", p, f)
			}
			return nil
		})
	}
}

// TestBrowserApproveAnAgentAndUnlockItAfterAnAlert: an agent asks to share
// the calendar with bob; the request appears on Approvals, Allow issues
// the share. The agent then floods the node until it is locked; Alerts
// shows it, Unlock lets it call again.
func TestBrowserApproveAnAgentAndUnlockItAfterAnAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole mesh and a browser: not in -short")
	}
	ctx := context.Background()
	b := startBrowser(t) // first: without a browser, the test skips before the mesh starts
	u := startUIMesh(t)
	b.base = u.base
	u.lockAlice(t)
	b.open("/unlock", "#password")
	b.do("unlock", chromedp.SendKeys(chromedp.ID("password"), uiPassword), chromedp.Click(chromedp.CSS(`#unlock button[type=submit]`)))
	b.landOn("/share")
	helper := addTestAgent(t, u.alice, "helper")

	// 4. The request appears on the open Approvals page; Allow shares.
	b.open("/approvals", "#live")
	b.waitText("main .card", "Your agents have not asked for anything.")
	waitFor(t, "the Approvals page listens to the node's events", func() bool { return b.net.wsOpened("/ws/events") >= 1 })
	if out, ok := helper.call("request_share", map[string]any{"path": "calendar/**", "with": "bob", "can": "read", "for": "7d"}); !ok {
		t.Fatalf("request_share: %s", out)
	}
	allow := `button[aria-label^="Allow: share calendar/** with bob"]`
	live, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	err := chromedp.Do(live, chromedp.WaitVisible(chromedp.CSS(allow)))
	cancel()
	if err != nil { // the page subscribes to events just after its socket opens
		t.Logf("the Approvals page did not update live (%v): loading it again", err)
		b.open("/approvals", allow)
	}
	b.checkLabels("/approvals")
	if shares, _ := u.alice.Shares(ctx); len(shares) != 0 {
		t.Fatalf("shared before the owner allowed it: %+v", shares)
	}
	listening := b.net.wsOpened("/ws/events")
	b.do("allow", chromedp.Click(chromedp.CSS(allow)))
	b.waitText(".flash", "Allowed: share calendar/** with bob")
	waitFor(t, "alice's shares hold the allowed share", func() bool {
		s, _ := u.alice.Shares(ctx)
		return len(s) == 1 && s[0].Resource == "calendar/**" && s[0].AudienceHandle == "bob"
	})
	if l, _ := u.alice.Approvals(ctx); len(l) != 1 || l[0].State != "approved" {
		t.Fatalf("approvals after Allow: %+v", l)
	}
	// A request made while the page shows the decision appears live,
	// and the decision is not sent again.
	waitFor(t, "the page after Allow listens to the node's events", func() bool { return b.net.wsOpened("/ws/events") > listening })
	if out, ok := helper.call("request_share", map[string]any{"path": "calendar/work", "with": "bob", "can": "read", "for": "1d"}); !ok {
		t.Fatalf("request_share: %s", out)
	}
	b.waitJS("the second request appears", `document.querySelector('button[aria-label^="Allow: share calendar/work"]') !== null`)
	if msg := evalJS[string](b, "errors shown", `Array.from(document.querySelectorAll(".error")).map(e => e.innerText).join()`); msg != "" {
		t.Errorf("after a decision, the live update shows %q at %s: the reload sent the decision's form again", msg, evalJS[string](b, "where", "location.pathname"))
	}

	// 5. A flood locks the agent; Alerts shows it; Unlock lets it call.
	flood(t, helper)
	unlock := `button[aria-label="Unlock agent helper"]`
	b.open("/alerts", unlock)
	b.waitText("main .card", "Agent helper was locked")
	b.checkLabels("/alerts")
	listening = b.net.wsOpened("/ws/events")
	b.do("unlock the agent", chromedp.Click(chromedp.CSS(unlock)))
	b.waitText(".flash", "Agent helper can call again.")
	if out, ok := helper.call("read_resource", map[string]any{"path": "calendar/work"}); !ok || !strings.Contains(out, calendarCanary) {
		t.Fatalf("the agent's call after Unlock: %v %s", ok, out)
	}
	if l, _ := u.alice.AgentList(ctx); len(l) != 1 || l[0].Locked {
		t.Fatalf("agents after Unlock: %+v", l)
	}

	// Locked again while the page shows the unlock: the live update shows
	// the alert, and does not unlock the agent again.
	waitFor(t, "the page after Unlock listens to the node's events", func() bool { return b.net.wsOpened("/ws/events") > listening })
	evalJS[bool](b, "mark the page", `window.meshTestMark = true`)
	flood(t, helper)
	b.waitJS("the Alerts page updates", `window.meshTestMark === undefined && document.readyState === "complete" && document.querySelector("main") !== null`)
	b.waitJS("the page settles", `document.querySelector("#live") !== null`)
	if l, _ := u.alice.AgentList(ctx); len(l) != 1 || !l[0].Locked {
		t.Errorf("the agent, locked again while the Alerts page was open, is unlocked (page %s: %q): the live reload sent the Unlock form again",
			evalJS[string](b, "where", "location.pathname"), evalJS[string](b, "what", `document.querySelector("main").innerText`))
	}

	// Lock, in the header, locks the vault and ends the session.
	b.open("/share", "#what")
	b.do("lock", chromedp.Click(chromedp.CSS(`header form[action="/lock"] button`)))
	b.waitPath("/unlock")
	if st, _ := u.alice.Status(ctx); !st.Locked {
		t.Fatal("Lock left the vault unlocked")
	}
	b.open("/shared-by-me", "#password")
	b.waitPath("/unlock")
}

// flood has the agent read until its calls are refused as locked (a new
// agent's cap is 200 calls an hour).
func flood(t *testing.T, a *testAgent) {
	t.Helper()
	for i := 1; i <= 400; i++ {
		out, ok := a.call("read_resource", map[string]any{"path": "calendar/work"})
		if !ok {
			if !strings.Contains(out, "locked") {
				t.Fatalf("call %d refused for another reason: %s", i, out)
			}
			return
		}
	}
	t.Fatal("400 calls did not lock the agent")
}

// uiPages are the pages behind the unlock, as the header's links name
// them.
var uiPages = []string{"/share", "/shared-by-me", "/shared-with-me", "/approvals", "/alerts", "/activity", "/secrets", "/connections"}

// TestBrowserKeyboardOnlyAndLabelled: the unlock and a share done with
// the keyboard only (Tab, typing, Enter, arrows; no mouse), and every
// control of every page named for a screen reader. It logs how long
// /share takes to become interactive.
func TestBrowserKeyboardOnlyAndLabelled(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole mesh and a browser: not in -short")
	}
	ctx := context.Background()
	b := startBrowser(t) // first: without a browser, the test skips before the mesh starts
	u := startUIMesh(t)
	b.base = u.base
	u.lockAlice(t)

	b.open("/unlock", "#password")
	b.checkLabels("/unlock")
	b.tabTo("#password", false)
	b.key(uiPassword)
	b.key(kb.Enter)
	b.landOn("/share")

	b.tabTo("#what", false)
	b.key("Calendar") // a closed select takes typed letters
	b.tabTo("#with", false)
	b.key("bob")
	b.tabTo("#can-view", false)
	b.key(" ")
	b.tabTo("#for", false)
	for range 6 { // 1 week is the default; arrows move to it if not
		switch evalJS[string](b, "the chosen length", `document.getElementById("for").value`) {
		case "7d":
		case "1d":
			b.key(kb.ArrowDown)
			continue
		default:
			b.key(kb.ArrowUp)
			continue
		}
		break
	}
	got := evalJS[string](b, "the form", `(() => { const f = new FormData(document.querySelector('form[action="/share"]')); return [f.get("what"), f.get("with"), f.get("can"), f.get("for")].join(" "); })()`)
	if got != "calendar/** bob view 7d" {
		t.Fatalf("the form typed with the keyboard holds %q", got)
	}
	b.tabTo(`form[action="/share"] button[type=submit]`, false)
	b.key(kb.Enter)
	b.waitText(".flash", "Shared Calendar with bob until")
	if s, err := u.alice.Shares(ctx); err != nil || len(s) != 1 || s[0].AudienceHandle != "bob" {
		t.Fatalf("alice's shares after the keyboard share: %+v, %v", s, err)
	}

	// A secret, so that Secrets has a row with its buttons.
	if err := u.alice.SecretSet(ctx, vault.Secret{Name: "openai", Type: vault.TypeAPIKey, Provider: "openai", Value: []byte(secretCanary)}); err != nil {
		t.Fatal(err)
	}
	// The scan catches a control without a label.
	b.open("/share", "#what")
	planted := evalJS[[]string](b, "a planted control", `(() => { const i = document.createElement("input"); i.id = "planted"; document.body.append(i); return `+unlabelledJS+`; })()`)
	if len(planted) != 1 || !strings.Contains(planted[0], `id="planted"`) {
		t.Fatalf("the label scan found %q, want the planted input only", planted)
	}
	for _, p := range uiPages {
		b.open(p, "main h1")
		b.checkLabels(p)
	}
	b.open("/share", "#what")
	ms := evalJS[float64](b, "navigation timing", `performance.getEntriesByType("navigation")[0].domInteractive`)
	t.Logf("/share became interactive %.1f ms after navigation started (domInteractive; not an assertion)", ms)

	// Log out, from the keyboard: this session ends, the vault stays
	// unlocked.
	b.tabTo(`header form[action="/logout"] button`, false)
	b.key(kb.Enter)
	b.waitPath("/unlock")
	if st, _ := u.alice.Status(ctx); st.Locked {
		t.Fatal("Log out locked the vault; only Lock should")
	}
	b.open("/shared-by-me", "#password")
	b.waitPath("/unlock")
	assertPasswordNowhere(t, u)
}

// maxBundle is the spec's bound on the UI's whole bundle, gzipped: every
// static file and the rendered Share and Unlock pages.
const maxBundle = 150 << 10

// TestBrowserUISecurityOverPlainHTTP: no state changes without a session,
// a matching CSRF token and this origin; the unlock socket refuses a
// foreign origin. It also bounds the bundle's gzipped size. No browser:
// an attacker's requests, sent by hand.
func TestBrowserUISecurityOverPlainHTTP(t *testing.T) {
	ctx := context.Background()
	u := startUIMesh(t)
	u.lockAlice(t)
	share := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "what": {"calendar/**"}, "with": {"bob"}, "can": {"view"}, "for": {"7d"}}
	}
	nothingShared := func(what string) {
		t.Helper()
		if s, err := u.alice.Shares(ctx); err != nil || len(s) != 0 {
			t.Fatalf("%s: alice's shares are %+v, %v; want none", what, s, err)
		}
	}

	// A foreign origin cannot open the unlock socket.
	stranger := newUIClient(t, u.base)
	_, _, csrf := stranger.get("/unlock")
	if ans, status, err := stranger.unlockSocket("http://evil.example", csrf, uiPassword); err == nil || status != http.StatusForbidden {
		t.Fatalf("the unlock socket from http://evil.example: %v, status %d, %v; want refused 403", ans, status, err)
	}
	if st, _ := u.alice.Status(ctx); !st.Locked {
		t.Fatal("a foreign origin's socket unlocked the vault")
	}

	// No session: refused, nothing shared.
	anon := newUIClient(t, u.base)
	if st, body := anon.post("/share", u.base, share("")); st != http.StatusUnauthorized {
		t.Fatalf("POST /share without a session: %d %s, want 401", st, body)
	}
	nothingShared("without a session")

	owner := newUIClient(t, u.base)
	good := owner.login(uiPassword)
	for what, form := range map[string]url.Values{"no CSRF token": share(""), "a wrong CSRF token": share(strings.Repeat("A", len(good)))} {
		if st, body := owner.post("/share", u.base, form); st != http.StatusForbidden {
			t.Fatalf("POST /share with a session and %s: %d %s, want 403", what, st, body)
		}
		nothingShared(what)
	}
	for _, origin := range []string{"http://evil.example", "null", ""} {
		if st, body := owner.post("/share", origin, share(good)); st != http.StatusForbidden {
			t.Fatalf("POST /share with a good token from origin %q: %d %s, want 403", origin, st, body)
		}
		nothingShared("from origin " + origin)
	}
	// What was refused was refused for its origin or token: the same form,
	// right, shares.
	// (It answers 303 to the Share page, which shows what it did once.)
	if st, body := owner.post("/share", u.base, share(good)); st != http.StatusSeeOther {
		t.Fatalf("the good POST /share: %d %s", st, body)
	}
	if s, _ := u.alice.Shares(ctx); len(s) != 1 {
		t.Fatalf("the good POST /share left %d shares", len(s))
	}

	// The bundle, gzipped: every static file and the two pages.
	var all bytes.Buffer
	files, err := os.ReadDir(filepath.Join("..", "web", "static"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		st, body, _ := owner.get("/static/" + f.Name())
		if st != http.StatusOK {
			t.Fatalf("GET /static/%s: %d", f.Name(), st)
		}
		all.Write(body)
	}
	for _, p := range []string{"/share", "/unlock"} {
		c := owner
		if p == "/unlock" {
			c = stranger // the owner's session would be sent on to /share
		}
		st, body, _ := c.get(p)
		if st != http.StatusOK || !strings.Contains(string(body), "<form") {
			t.Fatalf("GET %s: %d", p, st)
		}
		all.Write(body)
	}
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write(all.Bytes())
	w.Close()
	t.Logf("the UI's bundle: %d static files and 2 pages, %d bytes, %d gzipped", len(files), all.Len(), gz.Len())
	if gz.Len() >= maxBundle {
		t.Fatalf("the bundle is %d bytes gzipped, over the spec's %d", gz.Len(), maxBundle)
	}
	assertPasswordNowhere(t, u)
}

// TestBrowserWrongPasswordOnAnUnlockedNode: while the vault is unlocked
// (by mesh unlock, or another browser), the unlock page must still check
// the password before it gives a session.
func TestBrowserWrongPasswordOnAnUnlockedNode(t *testing.T) {
	u := startUIMesh(t) // alice is unlocked
	c := newUIClient(t, u.base)
	_, _, csrf := c.get("/unlock")
	ans, _, err := c.unlockSocket(u.base, csrf, "not-the-password")
	if err != nil {
		t.Fatal(err)
	}
	if ans["ticket"] != "" || ans["error"] == "" {
		t.Fatalf("a wrong password on an unlocked node answered %v, want a refusal and no ticket (a ticket is a session)", ans)
	}
}
