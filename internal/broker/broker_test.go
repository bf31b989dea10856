package broker

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// sentKey is the key the provider received, taken from its Authorization
// header: an echoing provider quotes what it was sent.
func sentKey(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// The key reaches the provider in the header its table names; the agent
// gets the provider's answer, and never the key.
func TestKeyReachesTheProviderAndNotTheAgent(t *testing.T) {
	r := newRig(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"answer":42}`)
	}, nil)
	resp, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/chat?x=1", Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"q":"hi"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.p.last().Get("Authorization"); got != "Bearer "+testKey {
		t.Fatalf("the provider was sent Authorization %q", got)
	}
	if resp.Status != 200 || string(resp.Body) != `{"answer":42}` || resp.Redacted != 0 {
		t.Fatalf("the agent got %d %q (%d redacted)", resp.Status, resp.Body, resp.Redacted)
	}
	if l := leaks(shown(resp), testKey); len(l) > 0 {
		t.Fatalf("the agent saw %q", l)
	}
	if r.p.bodies[0] != `{"q":"hi"}` || r.s.reads.Load() != 1 {
		t.Fatalf("body %q, %d secret reads", r.p.bodies[0], r.s.reads.Load())
	}
	if !r.s.wiped() {
		t.Fatal("the secret the broker read was not wiped after the call")
	}
}

// A provider that echoes the key, in every form redaction covers and in
// headers as well as the body, shows the agent none of them.
func TestAnEchoedKeyIsRedactedInEveryForm(t *testing.T) {
	forms := map[string]func(k string) string{
		"plain":          func(k string) string { return k },
		"base64":         func(k string) string { return base64.StdEncoding.EncodeToString([]byte(k)) },
		"base64 url raw": func(k string) string { return base64.RawURLEncoding.EncodeToString([]byte(k)) },
		"base64 inside json": func(k string) string {
			return base64.StdEncoding.EncodeToString([]byte(`{"authorization":"Bearer ` + k + `"}`))
		},
		"base64 offset 1":    func(k string) string { return base64.StdEncoding.EncodeToString([]byte("x" + k + "y")) },
		"base64 offset 2":    func(k string) string { return base64.URLEncoding.EncodeToString([]byte("xy" + k)) },
		"url query":          func(k string) string { return url.QueryEscape(k) },
		"url path lowercase": func(k string) string { return lowerEscapes(url.PathEscape(k)) },
		"hex":                func(k string) string { return hex.EncodeToString([]byte(k)) },
		"HEX":                func(k string) string { return strings.ToUpper(hex.EncodeToString([]byte(k))) },
		"json":               func(k string) string { b, _ := json.Marshal(k); return string(b) },
		"json slash":         func(k string) string { return strings.ReplaceAll(k, "/", `\/`) },
		"utf-16le": func(k string) string {
			var b []byte
			for _, c := range []byte(k) {
				b = append(b, c, 0)
			}
			return string(b)
		},
		"twice": func(k string) string { return k + k + "-" + k },
	}
	for name, form := range forms {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, func(w http.ResponseWriter, req *http.Request) {
				k := sentKey(req)
				w.Header().Set("X-Echo", "key "+k)
				w.Header().Set("X-"+k[3:12], "header name")
				fmt.Fprintf(w, "you sent: %s.", form(k))
			}, nil)
			resp, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/echo"})
			if err != nil {
				t.Fatal(err)
			}
			if l := leaks(shown(resp), testKey); len(l) > 0 {
				t.Fatalf("the agent saw %q in %q", l, shown(resp))
			}
			if strings.Contains(shown(resp), form(testKey)) && form(testKey) != "" {
				t.Fatalf("the %s form reached the agent", name)
			}
			if !strings.Contains(string(resp.Body), Redacted) || resp.Redacted < 2 {
				t.Fatalf("nothing was marked redacted: %q (%d)", resp.Body, resp.Redacted)
			}
			if !strings.HasPrefix(string(resp.Body), "you sent: ") {
				t.Fatalf("redaction took more than the key: %q", resp.Body)
			}
		})
	}
}

// A URL outside the allowlist is refused in words, before the secret is
// read and before anything is sent.
func TestURLsOutsideTheAllowlistAreRefused(t *testing.T) {
	r := newRig(t, nil, nil)
	base := r.p.srv.URL // http://127.0.0.1:PORT
	port := strings.TrimPrefix(base, "http://127.0.0.1:")
	for _, c := range []struct{ url, want string }{
		{base + "/v2/chat", "outside secret \"openai\"'s allowlist"},
		{base + "/v1beta/chat", "outside secret"},
		{base + "/", "outside secret"},
		{"http://127.0.0.2:" + port + "/v1/x", "outside secret"},
		{"http://localhost:" + port + "/v1/x", "outside secret"},
		{"http://127.0.0.1:1/v1/x", "outside secret"},
		{"https://127.0.0.1:" + port + "/v1/x", "outside secret"},
		{"http://user:pw@127.0.0.1:" + port + "/v1/x", "user name or password"},
		{"http://evil.example@127.0.0.1:" + port + "/v1/x", "user name or password"},
		{base + "/v1/../admin", `".." segment`},
		{base + "/v1/%2e%2e/admin", "encoded slash or dot"},
		{base + "/v1/a%2Fb", "encoded slash or dot"},
		{base + "/v1//x", "empty segment"},
		{base + `/v1\x`, "backslash"},
		{"http://2130706433:" + port + "/v1/x", "reads as a numeric address"},
		{"http://0x7f.1:" + port + "/v1/x", "reads as a numeric address"},
		{"http://127.1:" + port + "/v1/x", "reads as a numeric address"},
		{"http://0177.0.0.1:" + port + "/v1/x", "reads as a numeric address"},
		{"http://127.0.0.1.:" + port + "/v1/x", "trailing dot"},
		{"http://[fe80::1%25eth0]:" + port + "/v1/x", "plain IPv6"},
		{"http://API.example.com/v1", "lowercase"},
		{"http://example.com/v1/x", "use https"},
		{"ftp://127.0.0.1/v1/x", "speaks https"},
		{"/v1/x", "not an absolute URL"},
		{base + "/v1/x y", "space"},
		{base + "/v1/" + strings.Repeat("a", MaxURLBytes), "longer than 4096 bytes"},
	} {
		_, err := r.do(t, Request{URL: c.url})
		testkit.Sentence(t, c.url, err, c.want, ErrRefused)
	}
	if r.p.calls() != 0 || r.s.reads.Load() != 0 {
		t.Fatalf("%d requests sent and %d secret reads for refused URLs", r.p.calls(), r.s.reads.Load())
	}
	// A secret without an allowlist is sent nowhere.
	_, err := r.do(t, Request{Secret: "github", URL: base + "/v1/x"})
	testkit.Sentence(t, "a secret without an allowlist", err, `secret "github" has no endpoint allowlist`, ErrRefused)
}

// Without the loopback override, plain http is refused even on loopback;
// with it, only loopback hosts may be plain http.
func TestPlainHTTPIsForLoopbackOnly(t *testing.T) {
	for _, c := range []struct {
		entry    string
		loopback bool
		want     string
	}{
		{"http://127.0.0.1:8080/v1", false, "use https"},
		{"http://10.0.0.1/v1", true, "loopback host only"},
		{"http://api.example.com/v1", true, "loopback host only"},
		{"https://api.example.com/v1?x=1", false, "without a query"},
		{"https://api.example.com/v1#f", false, "without a query or a fragment"},
	} {
		_, err := ParseEndpoint(c.entry, c.loopback)
		testkit.Sentence(t, c.entry, err, c.want, ErrRefused)
	}
	for _, ok := range []string{"http://127.0.0.1:8080/v1", "http://localhost/v1", "http://[::1]:9/", "http://[::ffff:127.0.0.1]:9/v1"} {
		if _, err := ParseEndpoint(ok, true); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if err := loopbackOnly("10.1.2.3:80"); err == nil {
		t.Fatal("the plain-http dialer accepts a connection to 10.1.2.3")
	}
	if err := loopbackOnly("[::1]:80"); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Secret: newSecrets().get, Endpoints: map[string][]string{"k": {"http://example.com/v1"}}})
	testkit.Sentence(t, "a plain-http allowlist entry", err, "use https", ErrRefused)
}

// Matching is by whole segments, and what was matched is what is sent.
func TestEndpointsMatchWholeSegments(t *testing.T) {
	e, err := ParseEndpoint("https://api.example.com/v1", false)
	if err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]bool{
		"https://api.example.com/v1":               true,
		"https://api.example.com/v1/":              true,
		"https://api.example.com/v1/embeddings":    true,
		"https://api.example.com:443/v1/x?y=z#f":   true,
		"https://api.example.com/v1beta":           false,
		"https://api.example.com/v":                false,
		"https://api.example.com:8443/v1":          false,
		"https://api.example.com.evil.net/v1":      false,
		"https://evil.net/api.example.com/v1":      false,
		"https://xapi.example.com/v1":              false,
		"https://api.example.com/V1/embeddings":    false,
		"https://api.example.com/v1/%65mbeddings?": true,
	} {
		tg, err := normalize(u, false)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if e.matches(tg) != want {
			t.Errorf("%s matches %s: %v", u, e, !want)
		}
		if strings.Contains(tg.url().String(), "#") {
			t.Errorf("%s: a fragment is sent", u)
		}
	}
}

// An agent may not set a credential header, or one that would hide the
// key from redaction.
func TestAgentCredentialHeadersAreRefused(t *testing.T) {
	r := newRig(t, nil, nil)
	for _, h := range []string{"Authorization", "authorization", "AUTHORIZATION", "Proxy-Authorization", "X-Api-Key", "api-key", "x-goog-api-key", "Cookie", "Accept-Encoding", "Host", "Transfer-Encoding", "Proxy-Foo"} {
		_, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/x", Header: http.Header{h: {"Bearer sk-agents-own"}}})
		testkit.Sentence(t, h, err, "may not set", ErrRefused)
		if err != nil && !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(h)) && h != "Proxy-Foo" {
			t.Errorf("%s: the refusal does not name the header: %v", h, err)
		}
	}
	many := http.Header{}
	for i := range MaxHeaders + 1 {
		many.Set(fmt.Sprintf("X-H%d", i), "v")
	}
	_, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/x", Header: many})
	testkit.Sentence(t, "too many headers", err, "at most 32 headers", ErrRefused)
	_, err = r.do(t, Request{URL: r.p.srv.URL + "/v1/x", Method: "TRACE"})
	testkit.Sentence(t, "TRACE", err, `the method "TRACE" is not one the broker sends`, ErrRefused)
	_, err = r.do(t, Request{URL: r.p.srv.URL + "/v1/x", Body: make([]byte, MaxRequestBody+1)})
	testkit.Sentence(t, "a large body", err, "over 1048576 bytes", ErrRefused)
	if r.p.calls() != 0 || r.s.reads.Load() != 0 {
		t.Fatalf("%d requests sent, %d secret reads", r.p.calls(), r.s.reads.Load())
	}
	// Ordinary headers pass.
	if _, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/x", Header: http.Header{"Openai-Beta": {"assistants=v2"}}}); err != nil {
		t.Fatal(err)
	}
	if r.p.last().Get("Openai-Beta") != "assistants=v2" {
		t.Fatal("the agent's header did not reach the provider")
	}
}

// No redirect is followed by default: the other host never hears of the
// call, and a Location quoting the key is redacted in the error.
func TestRedirectsAreNotFollowed(t *testing.T) {
	other := newProvider(t, nil)
	r := newRig(t, func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, other.srv.URL+"/steal?k="+url.QueryEscape(sentKey(req)), http.StatusTemporaryRedirect)
	}, nil)
	resp, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/x"})
	testkit.Sentence(t, "a redirect", err, "the broker follows no redirect", ErrRedirect)
	if resp != nil || other.calls() != 0 || r.p.calls() != 1 {
		t.Fatalf("response %v; the other host got %d calls", resp, other.calls())
	}
	if l := leaks(err.Error()+r.log.String(), testKey); len(l) > 0 {
		t.Fatalf("the key in %q", l)
	}
	if !strings.Contains(err.Error(), Redacted) {
		t.Fatalf("the Location was not redacted: %v", err)
	}
}

// With redirects allowed, a hop stays within the secret's allowlist.
func TestAllowedRedirectsStayInTheAllowlist(t *testing.T) {
	other := newProvider(t, nil)
	r := newRig(t, func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/v1/old":
			http.Redirect(w, req, "/v1/new", http.StatusFound)
		case "/v1/away":
			http.Redirect(w, req, other.srv.URL+"/v1/x", http.StatusFound)
		case "/v1/loop":
			http.Redirect(w, req, "/v1/loop", http.StatusFound)
		default:
			fmt.Fprint(w, "arrived")
		}
	}, func(c *Config) { c.Redirects = 2 })
	resp, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/old", Method: "GET"})
	if err != nil || string(resp.Body) != "arrived" {
		t.Fatalf("%v %v", resp, err)
	}
	_, err = r.do(t, Request{URL: r.p.srv.URL + "/v1/away", Method: "GET"})
	testkit.Sentence(t, "a redirect away", err, "outside secret \"openai\"'s allowlist", ErrRedirect)
	_, err = r.do(t, Request{URL: r.p.srv.URL + "/v1/loop", Method: "GET"})
	testkit.Sentence(t, "a redirect loop", err, "redirected more than 2 times", ErrRedirect)
	if other.calls() != 0 {
		t.Fatal("the other host was called")
	}
	_, err = New(Config{Secret: newSecrets().get, Redirects: MaxRedirects + 1})
	if err == nil {
		t.Fatal("a configuration following 6 redirects was taken")
	}
}

// A compressed answer the transport did not ask for is refused: the key
// could hide in it. One the transport asked for is decoded, then redacted.
func TestCompressedAnswers(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	r := newRig(t, func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v1/br" {
			w.Header().Set("Content-Encoding", "br")
			w.Write([]byte("\x1b\x00not really brotli " + sentKey(req)))
			return
		}
		if !strings.Contains(req.Header.Get("Accept-Encoding"), "gzip") {
			t.Errorf("the transport did not ask for gzip")
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz("key=" + sentKey(req)))
	}, nil)
	_, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/br"})
	testkit.Sentence(t, "a brotli answer", err, `answered in the "br" encoding`, ErrUnchecked)
	resp, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/gzip"})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "key="+Redacted {
		t.Fatalf("the gzip answer reached the agent as %q", resp.Body)
	}
}

// The response body is capped, and a provider that does not answer is
// given up after the timeout, in words.
func TestResponsesAreCappedAndTimed(t *testing.T) {
	release := make(chan struct{})
	r := newRig(t, func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v1/slow" {
			select {
			case <-release:
			case <-req.Context().Done():
			}
			return
		}
		w.Write(make([]byte, 1001))
	}, func(c *Config) { c.MaxResponse = 1000 })
	t.Cleanup(func() { close(release) })
	_, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/big"})
	testkit.Sentence(t, "a large answer", err, "over 1000 bytes", ErrTooLarge)
	short, err := New(Config{Secret: r.s.get, AllowLoopbackHTTP: true, Endpoints: map[string][]string{"openai": {r.p.srv.URL}}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	_, err = short.Do(testkit.Context(t, 10*time.Second), Request{Secret: "openai", URL: r.p.srv.URL + "/v1/slow"})
	testkit.Sentence(t, "a slow provider", err, "did not answer within 300ms", ErrUnreachable)
	// A closed port.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	b, err := New(Config{Secret: r.s.get, AllowLoopbackHTTP: true, Endpoints: map[string][]string{"openai": {dead.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Do(testkit.Context(t, 10*time.Second), Request{Secret: "openai", URL: dead.URL + "/x"})
	testkit.Sentence(t, "a closed port", err, "refused the connection", ErrUnreachable)
}

// The injection table: each type and provider puts the credential in its
// header; the secrets the broker does not send are refused in words.
func TestInjectionTable(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	p := newProvider(t, nil)
	ss := newSecrets(
		apiKey("anthropic", "Anthropic", "sk-ant-0123456789"),
		apiKey("azure", "azure-openai", "azure-0123456789"),
		apiKey("gemini", "gemini", "AIza0123456789"),
		apiKey("groq", "groq", "gsk_0123456789"),
		vault.Secret{Name: "gh", Type: vault.TypeOAuthToken, Provider: "github", Value: []byte("gho_0123456789"), Refresh: []byte("ghr_refresh_0123"), Expiry: now.Add(time.Hour).Unix()},
		vault.Secret{Name: "old", Type: vault.TypeOAuthToken, Provider: "github", Value: []byte("gho_expired_0123"), Expiry: now.Add(-time.Second).Unix()},
		vault.Secret{Name: "db", Type: vault.TypePassword, Username: "alice", Value: []byte("correct horse battery")},
		vault.Secret{Name: "nouser", Type: vault.TypePassword, Value: []byte("correct horse battery")},
		vault.Secret{Name: "memo", Type: vault.TypeNote, Value: []byte("a long note, not a key")},
		apiKey("short", "", "sk-1234"),
		apiKey("spacey", "", "sk 0123456789"),
	)
	eps := map[string][]string{}
	for name := range ss.m {
		eps[name] = []string{p.srv.URL}
	}
	b, err := New(Config{Secret: ss.get, Endpoints: eps, AllowLoopbackHTTP: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := testkit.Context(t, 20*time.Second)
	for _, c := range []struct{ secret, header, value string }{
		{"anthropic", "X-Api-Key", "sk-ant-0123456789"},
		{"azure", "Api-Key", "azure-0123456789"},
		{"gemini", "X-Goog-Api-Key", "AIza0123456789"},
		{"groq", "Authorization", "Bearer gsk_0123456789"},
		{"gh", "Authorization", "Bearer gho_0123456789"},
		{"db", "Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:correct horse battery"))},
	} {
		if _, err := b.Do(ctx, Request{Secret: c.secret, Method: "GET", URL: p.srv.URL + "/x"}); err != nil {
			t.Fatalf("%s: %v", c.secret, err)
		}
		h := p.last()
		if h.Get(c.header) != c.value {
			t.Errorf("%s: %s is %q", c.secret, c.header, h.Get(c.header))
		}
		if c.secret == "gh" && strings.Contains(fmt.Sprint(h), "ghr_refresh") {
			t.Error("the refresh token was sent")
		}
	}
	for _, c := range []struct{ secret, want string }{
		{"old", `the access token in secret "old" has expired`},
		{"nouser", "without a user name"},
		{"memo", "is a note, which the broker does not send"},
		{"short", "shorter than 8 bytes"},
		{"spacey", "holds a space"},
	} {
		_, err := b.Do(ctx, Request{Secret: c.secret, Method: "GET", URL: p.srv.URL + "/x"})
		testkit.Sentence(t, c.secret, err, c.want, ErrUnusable)
	}
	// A secret the vault does not have: the vault's error is kept.
	b2, _ := New(Config{Secret: ss.get, Endpoints: map[string][]string{"gone": {p.srv.URL}}, AllowLoopbackHTTP: true})
	_, err = b2.Do(ctx, Request{Secret: "gone", URL: p.srv.URL + "/x"})
	testkit.Sentence(t, "a missing secret", err, `secret "gone" could not be read`, ErrUnusable, vault.ErrNotFound)
}

// A Basic credential echoed whole (its base64 form) is redacted as well
// as the password.
func TestAPasswordsEchoesAreRedacted(t *testing.T) {
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		u, pw, _ := r.BasicAuth()
		fmt.Fprintf(w, "auth=%s user=%s pass=%s", r.Header.Get("Authorization"), u, pw)
	})
	ss := newSecrets(vault.Secret{Name: "db", Type: vault.TypePassword, Username: "alice", Value: []byte("correct horse battery")})
	b, _ := New(Config{Secret: ss.get, Endpoints: map[string][]string{"db": {p.srv.URL}}, AllowLoopbackHTTP: true})
	resp, err := b.Do(testkit.Context(t, 10*time.Second), Request{Secret: "db", URL: p.srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "auth=Basic " + Redacted + " user=alice pass=" + Redacted; string(resp.Body) != want {
		t.Fatalf("%q, want %q", resp.Body, want)
	}
}

// The broker speaks https to a server whose certificate it trusts, and
// refuses, in words, one it does not.
func TestHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "tls ok") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusting client's failed handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ss := newSecrets(apiKey("k", "", testKey))
	eps := map[string][]string{"k": {srv.URL + "/"}}
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	b, err := New(Config{Secret: ss.get, Endpoints: eps, RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := testkit.Context(t, 10*time.Second)
	resp, err := b.Do(ctx, Request{Secret: "k", URL: srv.URL + "/x"})
	if err != nil || string(resp.Body) != "tls ok" {
		t.Fatalf("%v %v", resp, err)
	}
	untrusting, _ := New(Config{Secret: ss.get, Endpoints: eps})
	defer untrusting.Close()
	_, err = untrusting.Do(ctx, Request{Secret: "k", URL: srv.URL + "/x"})
	testkit.Sentence(t, "an untrusted certificate", err, "did not present a certificate the broker trusts", ErrUnreachable)
}

// The canary: after every kind of call (answered, echoed, refused,
// redirected, failed), neither the log nor any error holds the key in a
// form redaction knows.
func TestCanaryNeverInLogsOrErrors(t *testing.T) {
	r := newRig(t, func(w http.ResponseWriter, req *http.Request) {
		k := sentKey(req)
		switch req.URL.Path {
		case "/v1/redirect":
			http.Redirect(w, req, "https://evil.example/"+k, http.StatusFound)
		case "/v1/error":
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s"}}`, k)
		case "/v1/big":
			w.Write([]byte(strings.Repeat(k, 100)))
		default:
			fmt.Fprintf(w, "%s %s", k, base64.StdEncoding.EncodeToString([]byte(k)))
		}
	}, func(c *Config) { c.MaxResponse = 1000 })
	var seen strings.Builder
	for _, path := range []string{"/v1/ok", "/v1/redirect", "/v1/error", "/v1/big", "/v2/outside"} {
		resp, err := r.do(t, Request{URL: r.p.srv.URL + path})
		seen.WriteString(shown(resp))
		if err != nil {
			seen.WriteString(err.Error())
			seen.WriteString(fmt.Sprintf("%+v %#v", err, err))
		}
	}
	_, err := r.do(t, Request{URL: r.p.srv.URL + "/v1/x", Header: http.Header{"Authorization": {"Bearer " + "guess"}}})
	seen.WriteString(err.Error())
	seen.WriteString(r.log.String())
	if r.p.calls() != 4 {
		t.Fatalf("%d calls reached the provider", r.p.calls())
	}
	if l := leaks(seen.String(), testKey); len(l) > 0 {
		t.Fatalf("the canary leaked as %q in:\n%s", l, seen.String())
	}
	if !strings.Contains(r.log.String(), `secret "openai"`) || !strings.Contains(r.log.String(), "redacted") {
		t.Fatalf("the log says too little:\n%s", r.log.String())
	}
}

// At most MaxInFlight calls run at once; the next waits for a slot and
// gives up with its context.
func TestCallsInFlightAreBounded(t *testing.T) {
	release := make(chan struct{})
	r := newRig(t, func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}, nil)
	done := make(chan error, MaxInFlight)
	for range MaxInFlight {
		go func() {
			_, err := r.b.Do(testkit.Context(t, 20*time.Second), Request{Secret: "openai", URL: r.p.srv.URL + "/v1/x"})
			done <- err
		}()
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return r.p.calls() == MaxInFlight }, "%d calls at the provider", MaxInFlight)
	ctx, cancel := contextWithCancel(t)
	errc := make(chan error, 1)
	go func() {
		_, err := r.b.Do(ctx, Request{Secret: "openai", URL: r.p.srv.URL + "/v1/x"})
		errc <- err
	}()
	testkit.Never(t, 200*time.Millisecond, func() bool { return r.p.calls() > MaxInFlight }, "a call past MaxInFlight reached the provider")
	cancel()
	err := testkit.Within(t, 10*time.Second, errc, "the waiting call")
	testkit.Sentence(t, "a call waiting for a slot", err, "busy with 8 calls", ErrUnreachable)
	close(release)
	for range MaxInFlight {
		if err := testkit.Within(t, 10*time.Second, done, "a held call"); err != nil {
			t.Fatal(err)
		}
	}
}
