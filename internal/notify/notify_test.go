package notify

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ocmt/mesh/internal/testkit"
)

// canary stands for the secret part of a topic URL.
const canary = "tk_C4NARY_s3cret"

type received struct {
	method string
	path   string
	body   string
	hdr    http.Header
}

// recorder is a push service that records every request and answers
// with the next of its codes (200 once they run out).
type recorder struct {
	got   chan received
	mu    sync.Mutex
	codes []int
	calls atomic.Int64
}

func newRecorder(t *testing.T, codes ...int) (*recorder, *httptest.Server) {
	rec := &recorder{got: make(chan received, 64), codes: codes}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.calls.Add(1)
		rec.got <- received{r.Method, r.URL.Path, string(b), r.Header.Clone()}
		rec.mu.Lock()
		code := http.StatusOK
		if len(rec.codes) > 0 {
			code, rec.codes = rec.codes[0], rec.codes[1:]
		}
		rec.mu.Unlock()
		w.WriteHeader(code)
		io.WriteString(w, strings.Repeat("answer ", 2000))
	}))
	t.Cleanup(srv.Close)
	return rec, srv
}

// timers is the backoff timer of a test: it fires at once and records
// each wait asked for, so no test sleeps.
type timers struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (tm *timers) after(d time.Duration) <-chan time.Time {
	tm.mu.Lock()
	tm.waits = append(tm.waits, d)
	tm.mu.Unlock()
	c := make(chan time.Time, 1)
	c <- testkit.Epoch
	return c
}

func (tm *timers) asked() []time.Duration {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return slices.Clone(tm.waits)
}

// logSink returns a debug logger and what it wrote.
func logSink() (*slog.Logger, *testkit.Buffer) {
	buf := &testkit.Buffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func startTest(t *testing.T, cfg Config, h hooks) (*Notifier, *timers) {
	t.Helper()
	tm := &timers{}
	if h.after == nil {
		h.after = tm.after
	}
	n, err := start(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n, tm
}

func stats(n *Notifier, want Stats) func() bool {
	return func() bool { return n.Stats() == want }
}

func TestTheRequestIsWhatDocGoSays(t *testing.T) {
	rec, srv := newRecorder(t)
	n, _ := startTest(t, Config{URL: srv.URL + "/my-topic"}, hooks{})
	if n.Host() != strings.TrimPrefix(srv.URL, "http://") {
		t.Errorf("Host() = %q", n.Host())
	}
	if !n.Send(Message{Title: "Disk almost full", Body: "The backup disk\r\nis 97% full.\n", Priority: 4,
		Tags: []string{"Warning", "floppy_disk", "bad tag!", "warning", "a,b"}, Click: "https://home.example/status"}) {
		t.Fatal("Send refused the first message")
	}
	r := testkit.Within(t, 10*time.Second, rec.got, "the message to arrive")
	if r.method != http.MethodPost || r.path != "/my-topic" {
		t.Errorf("%s %s", r.method, r.path)
	}
	if r.body != "The backup disk\nis 97% full.\n" {
		t.Errorf("body %q", r.body)
	}
	want := map[string]string{"Content-Type": "text/plain; charset=utf-8", "Title": "Disk almost full", "Priority": "4",
		"Tags": "warning,floppy_disk", "Click": "https://home.example/status"}
	for k, v := range want {
		if got := r.hdr.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	testkit.Eventually(t, 10*time.Second, stats(n, Stats{Sent: 1}), "the message to be counted sent")

	// Defaults: priority 3, no title, tags or click; a title not in
	// ASCII as RFC 2047 words.
	n.Send(Message{Body: "x", Click: "ftp://nope", Tags: []string{"", "!"}})
	r = testkit.Within(t, 10*time.Second, rec.got, "the second message")
	if r.hdr.Get("Priority") != "3" || r.hdr.Values("Title") != nil || r.hdr.Values("Tags") != nil || r.hdr.Values("Click") != nil {
		t.Errorf("defaults: %v", r.hdr)
	}
	title := "Température élevée 🔥 " + strings.Repeat("é", 200)
	n.Send(Message{Title: title, Priority: 9})
	r = testkit.Within(t, 10*time.Second, rec.got, "the third message")
	dec, err := new(mime.WordDecoder).DecodeHeader(r.hdr.Get("Title"))
	if err != nil || dec != cleanTitle(title) || len(dec) > MaxTitle || !strings.HasPrefix(dec, "Température élevée 🔥 é") {
		t.Errorf("title %q decodes to %q (%v)", r.hdr.Get("Title"), dec, err)
	}
	if r.hdr.Get("Priority") != "5" {
		t.Errorf("priority 9 sent as %q", r.hdr.Get("Priority"))
	}
}

func TestCRLFInATitleAddsNoHeader(t *testing.T) {
	rec, srv := newRecorder(t)
	n, _ := startTest(t, Config{URL: srv.URL + "/t"}, hooks{})
	n.Send(Message{
		Title: "hi\r\nX-Injected: yes\r\n\r\nbody", Body: "b",
		Tags: []string{"ok\r\nX-Injected: tag"}, Click: "https://a.example/\r\nX-Injected: click",
	})
	r := testkit.Within(t, 10*time.Second, rec.got, "the message to arrive")
	if r.hdr.Get("X-Injected") != "" || r.body != "b" {
		t.Fatalf("a header was injected: %v, body %q", r.hdr, r.body)
	}
	if got := r.hdr.Get("Title"); got != "hi  X-Injected: yes    body" {
		t.Errorf("title %q", got)
	}
	if r.hdr.Values("Tags") != nil || r.hdr.Values("Click") != nil {
		t.Errorf("a tag or click with CR/LF was sent: %v", r.hdr)
	}
}

func TestRetriesA500ThenSucceeds(t *testing.T) {
	rec, srv := newRecorder(t, 500, 503)
	n, tm := startTest(t, Config{URL: srv.URL + "/t"}, hooks{})
	n.Send(Message{Body: "x"})
	testkit.Eventually(t, 10*time.Second, stats(n, Stats{Sent: 1}), "the message to be sent on the third try")
	if c := rec.calls.Load(); c != 3 {
		t.Errorf("%d requests, want 3", c)
	}
	if w := tm.asked(); !slices.Equal(w, []time.Duration{time.Second, 2 * time.Second}) {
		t.Errorf("waited %v", w)
	}
}

func TestA429IsRetriedUpToMaxAttempts(t *testing.T) {
	rec, srv := newRecorder(t, 429, 429, 429, 429, 429)
	n, tm := startTest(t, Config{URL: srv.URL + "/t"}, hooks{})
	n.Send(Message{Body: "x"})
	testkit.Eventually(t, 10*time.Second, stats(n, Stats{Failed: 1}), "the message to fail")
	if c := rec.calls.Load(); c != MaxAttempts {
		t.Errorf("%d requests, want %d", c, MaxAttempts)
	}
	if w := tm.asked(); !slices.Equal(w, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}) {
		t.Errorf("waited %v", w)
	}
}

func TestA400IsNotRetried(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 413, 302} {
		rec, srv := newRecorder(t, code, 200)
		n, tm := startTest(t, Config{URL: srv.URL + "/t"}, hooks{})
		n.Send(Message{Body: "x"})
		testkit.Eventually(t, 10*time.Second, stats(n, Stats{Failed: 1}), "the message to fail on %d", code)
		n.Close()
		if c := rec.calls.Load(); c != 1 || len(tm.asked()) != 0 {
			t.Errorf("%d: %d requests, waits %v", code, c, tm.asked())
		}
	}
}

// hanging is a push service whose every request blocks until the test
// ends; entered yields once per request.
func hanging(t *testing.T) (entered chan struct{}, srv *httptest.Server) {
	entered, release := make(chan struct{}, 64), make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: handlers return, then Close
	return entered, srv
}

func TestAFullQueueDropsAndCountsWithoutBlocking(t *testing.T) {
	entered, srv := hanging(t)
	logger, logs := logSink()
	n, _ := startTest(t, Config{URL: srv.URL + "/" + canary, MaxQueue: 2, Logger: logger}, hooks{budget: 50 * time.Millisecond})
	if !n.Send(Message{Body: "in flight"}) {
		t.Fatal("the first message was refused")
	}
	testkit.Within(t, 10*time.Second, entered, "the first message to reach the server")
	done := make(chan int)
	go func() {
		accepted := 0
		for range 1000 {
			if n.Send(Message{Body: "flood"}) {
				accepted++
			}
		}
		done <- accepted
	}()
	if got := testkit.Within(t, 10*time.Second, done, "1000 Sends to return while the server hangs"); got != 2 {
		t.Errorf("%d messages queued, want 2", got)
	}
	if s := n.Stats(); s != (Stats{Dropped: 998}) {
		t.Errorf("stats %+v", s)
	}
	n.Close()
	if s := n.Stats(); s != (Stats{Dropped: 1001}) {
		t.Errorf("after Close: %+v", s)
	}
	if !strings.Contains(logs.String(), "alerts dropped") || strings.Contains(logs.String(), canary) {
		t.Errorf("logs:\n%s", logs)
	}
}

func TestCloseReturnsPromptlyWhenTheServerHangs(t *testing.T) {
	entered, srv := hanging(t)
	n, _ := startTest(t, Config{URL: srv.URL + "/t"}, hooks{budget: 100 * time.Millisecond})
	for range 3 {
		n.Send(Message{Body: "x"})
	}
	testkit.Within(t, 10*time.Second, entered, "the first message to reach the server")
	closed := make(chan struct{})
	go func() { n.Close(); close(closed) }()
	testkit.Within(t, 5*time.Second, closed, "Close to return with the server hanging")
	if s := n.Stats(); s != (Stats{Dropped: 3}) {
		t.Errorf("stats %+v", s)
	}
	if n.Send(Message{Body: "late"}) || n.Stats().Dropped != 4 {
		t.Error("Send after Close was not dropped")
	}
	n.Close() // again: no effect
}

func TestCloseSendsWhatIsQueued(t *testing.T) {
	rec, srv := newRecorder(t)
	n, _ := startTest(t, Config{URL: srv.URL + "/t"}, hooks{})
	for i := range 5 {
		if !n.Send(Message{Body: strings.Repeat("x", i+1)}) {
			t.Fatal("a Send was refused")
		}
	}
	n.Close()
	if s := n.Stats(); s != (Stats{Sent: 5}) {
		t.Fatalf("stats %+v", s)
	}
	for i := range 5 {
		if r := <-rec.got; r.body != strings.Repeat("x", i+1) {
			t.Errorf("message %d is %q: out of order", i, r.body)
		}
	}
}

func TestTheURLSecretStaysOutOfLogsAndErrors(t *testing.T) {
	logger, logs := logSink()
	// A server that fails, then one that is gone.
	_, srv := newRecorder(t, 500, 500, 500, 500)
	n, _ := startTest(t, Config{URL: srv.URL + "/" + canary + "?auth=" + canary, Logger: logger}, hooks{})
	n.Send(Message{Body: "x"})
	testkit.Eventually(t, 10*time.Second, stats(n, Stats{Failed: 1}), "the message to fail")
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	m, _ := startTest(t, Config{URL: gone.URL + "/" + canary + "?auth=" + canary, Logger: logger}, hooks{})
	m.Send(Message{Body: "x"})
	testkit.Eventually(t, 10*time.Second, stats(m, Stats{Failed: 1}), "the message to an absent server to fail")
	out := logs.String()
	if strings.Contains(out, canary) {
		t.Fatalf("the secret is in the logs:\n%s", out)
	}
	if !strings.Contains(out, "host="+strings.TrimPrefix(srv.URL, "http://")) || !strings.Contains(out, "answered 500") {
		t.Errorf("the logs do not say where and why:\n%s", out)
	}
	for _, raw := range []string{
		"https://user:" + canary + "@ntfy.sh/t", "https://" + canary + "@ntfy.sh/t",
		"ftp://ntfy.sh/" + canary, "http://ntfy.sh/" + canary, "https://[::1/" + canary, "https:///" + canary,
		"https://ntfy.sh/" + canary + strings.Repeat("x", MaxURL), "mailto:" + canary, "https://ntfy.sh/%zz" + canary,
	} {
		err := CheckURL(raw, false)
		if !errors.Is(err, ErrBadURL) || strings.Contains(err.Error(), canary) {
			t.Errorf("CheckURL(%q) = %v", raw, err)
		}
		if _, err := New(Config{URL: raw}); err == nil || strings.Contains(err.Error(), canary) {
			t.Errorf("New with %q: %v", raw, err)
		}
	}
}

func TestURLChecks(t *testing.T) {
	for _, c := range []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"https://ntfy.sh/my-topic", false, true},
		{"https://ntfy.example:8443/topic?auth=tk", false, true},
		{"HTTPS://ntfy.sh/t", false, true},
		{"http://localhost:8080/t", false, true},
		{"http://LOCALHOST/t", false, true},
		{"http://127.0.0.1/t", false, true},
		{"http://127.8.9.10/t", false, true},
		{"http://[::1]:80/t", false, true},
		{"http://ntfy.sh/t", false, false},
		{"http://ntfy.sh/t", true, true},
		{"http://192.168.1.2/t", false, false},
		{"http://localhost.evil.example/t", false, false},
		{"http://127.0.0.1.nip.io/t", false, false},
		{"https://user:pw@ntfy.sh/t", true, false},
		{"https://user@ntfy.sh/t", true, false},
		{"https://@ntfy.sh/t", true, false},
		{"ftp://ntfy.sh/t", true, false},
		{"ws://ntfy.sh/t", true, false},
		{"ntfy.sh/t", true, false},
		{"/t", true, false},
		{"", true, false},
		{"https://", true, false},
		{"https://:443/t", true, false},
		{"https://ntfy.sh/t\r\nX: y", true, false},
	} {
		err := CheckURL(c.url, c.insecure)
		if (err == nil) != c.ok {
			t.Errorf("CheckURL(%q, %v) = %v", c.url, c.insecure, err)
		}
		n, err := New(Config{URL: c.url, AllowInsecure: c.insecure})
		if (err == nil) != c.ok {
			t.Errorf("New(%q, %v): %v", c.url, c.insecure, err)
		}
		if n != nil {
			n.Close()
		}
	}
	for _, q := range []int{-1, MaxQueueCap + 1} {
		if _, err := New(Config{URL: "https://ntfy.sh/t", MaxQueue: q}); err == nil {
			t.Errorf("MaxQueue %d accepted", q)
		}
	}
}

func TestTextsAreCleanedAndClipped(t *testing.T) {
	for in, want := range map[string]string{
		"a\tb\x00c\x7fd\u0085e": "a b c d e",
		"l1\r\nl2\rl3\n":        "l1\nl2 l3\n",
		"bad \xff utf8":         "bad \uFFFD utf8",
	} {
		if got := cleanBody(in); got != want {
			t.Errorf("cleanBody(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cleanTitle("a\nb\r\nc"); got != "a b  c" {
		t.Errorf("cleanTitle: %q", got)
	}
	long := strings.Repeat("é", MaxBody) // two bytes each
	if got := cleanBody(long); len(got) > MaxBody || !utf8.ValidString(got) || !strings.HasSuffix(got, ellipsis) || len(got) < MaxBody-4 {
		t.Errorf("a long body clips to %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	exact := strings.Repeat("a", MaxTitle)
	if cleanTitle(exact) != exact {
		t.Error("a title of exactly MaxTitle bytes was clipped")
	}
	if got := cleanTitle(exact + "b"); len(got) != MaxTitle || !strings.HasSuffix(got, ellipsis) {
		t.Errorf("a title of MaxTitle+1 bytes: %d bytes", len(got))
	}
	many := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", strings.Repeat("x", MaxTagLen+1)}
	if got := cleanTags(many); len(got) != MaxTags || got[0] != "a" {
		t.Errorf("tags %q", got)
	}
	for p, want := range map[int]int{0: 3, 1: 1, 5: 5, -2: 1, 6: 5} {
		if priority(p) != want {
			t.Errorf("priority(%d) = %d", p, priority(p))
		}
	}
}

// FuzzBuild: whatever a message holds, its header values are printable
// ASCII (no CR, no LF), the title decodes back to the cleaned title
// within MaxTitle, and the body is valid UTF-8 within MaxBody.
func FuzzBuild(f *testing.F) {
	f.Add("Disk almost full", "The disk\r\nis full", "warning", "https://a.example/x", 4)
	f.Add("hi\r\nX: y", "\xff\x00", "a,b", "https://a.example/\r\n", 0)
	f.Add("=?utf-8?q?x?=", strings.Repeat("é", 3000), "ROTATING_light", "http://u:p@a/", -7)
	f.Fuzz(func(t *testing.T, title, body, tag, click string, prio int) {
		r := build(Message{Title: title, Body: body, Tags: []string{tag, "ok"}, Click: click, Priority: prio})
		if len(r.body) > MaxBody || !utf8.ValidString(r.body) {
			t.Fatalf("body of %d bytes, valid %v", len(r.body), utf8.ValidString(r.body))
		}
		for _, h := range r.headers {
			for i := 0; i < len(h[1]); i++ {
				if h[1][i] < 0x20 || h[1][i] > 0x7e {
					t.Fatalf("header %s holds byte %#x: %q", h[0], h[1][i], h[1])
				}
			}
		}
		if enc := headerOf(r, "Title"); enc != "" {
			dec, err := new(mime.WordDecoder).DecodeHeader(enc)
			if err != nil || dec != cleanTitle(title) || len(dec) > MaxTitle {
				t.Fatalf("title %q sent as %q decodes to %q (%v)", title, enc, dec, err)
			}
		}
	})
}

func TestDropsAreLoggedAsACountAtMostOnceAMinute(t *testing.T) {
	entered, gate := make(chan struct{}, 64), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-gate
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(gate) })
	clock := testkit.NewClock(testkit.Epoch)
	logger, logs := logSink()
	n, _ := startTest(t, Config{URL: srv.URL + "/t", MaxQueue: 1, Logger: logger, Now: clock.Now}, hooks{budget: 50 * time.Millisecond})
	count := func() int { return strings.Count(logs.String(), "alerts dropped") }
	// round fills the queue behind a message in flight, drops `drop`
	// more, then lets the one in flight finish, so that the sender takes
	// the queued one and reaches the server again.
	round := func(drop int) {
		t.Helper()
		n.Send(Message{Body: "queued"})
		for range drop {
			if n.Send(Message{Body: "dropped"}) {
				t.Fatal("a Send past the full queue was accepted")
			}
		}
		gate <- struct{}{}
		testkit.Within(t, 10*time.Second, entered, "the queued message to reach the server")
	}
	n.Send(Message{Body: "first"})
	testkit.Within(t, 10*time.Second, entered, "the first message to reach the server")
	round(2)
	if count() != 1 || !strings.Contains(logs.String(), "dropped=2") {
		t.Fatalf("after the first drops:\n%s", logs)
	}
	round(3)
	if count() != 1 {
		t.Fatalf("dropped messages logged twice within a minute:\n%s", logs)
	}
	clock.Advance(dropLogInterval)
	round(1)
	if count() != 2 || !strings.Contains(logs.String(), "dropped=4") {
		t.Fatalf("a minute later:\n%s", logs)
	}
}
