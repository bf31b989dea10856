package broker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// testKey is the canary: no byte of what the agent, the log or an error
// shows may hold it in any form redaction knows. Its '+', '/' and '='
// make its URL and JSON forms differ from it.
const testKey = "sk-test+CANARY/4f9a1c2e7b=Zq"

// provider is a local HTTP server standing in for an API provider: it
// records the credential headers it was sent and answers with handle.
type provider struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   []http.Header
	bodies []string
	handle func(w http.ResponseWriter, r *http.Request)
}

func newProvider(t testing.TB, handle func(w http.ResponseWriter, r *http.Request)) *provider {
	t.Helper()
	p := &provider{handle: handle}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.mu.Lock()
		p.seen = append(p.seen, r.Header.Clone())
		p.bodies = append(p.bodies, string(body))
		h := p.handle
		p.mu.Unlock()
		if h == nil {
			fmt.Fprint(w, `{"ok":true}`)
			return
		}
		h(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// calls is how many requests reached the provider.
func (p *provider) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seen)
}

// last is the headers of the last request.
func (p *provider) last() http.Header {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.seen) == 0 {
		return nil
	}
	return p.seen[len(p.seen)-1]
}

// secrets is the node's side: a secret store whose reads are counted, as
// the node audits them.
type secrets struct {
	mu     sync.Mutex
	m      map[string]vault.Secret
	reads  atomic.Int64
	handed [][]byte // the values given out, which the broker must wipe
}

func newSecrets(ss ...vault.Secret) *secrets {
	s := &secrets{m: map[string]vault.Secret{}}
	for _, x := range ss {
		s.m[x.Name] = x
	}
	return s
}

func (s *secrets) get(_ context.Context, name string) (vault.Secret, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.m[name]
	if !ok {
		return vault.Secret{}, fmt.Errorf("%w: no secret %q", vault.ErrNotFound, name)
	}
	// A copy, as the vault returns: the broker wipes it.
	x.Value = append([]byte(nil), x.Value...)
	x.Refresh = append([]byte(nil), x.Refresh...)
	s.handed = append(s.handed, x.Value, x.Refresh)
	return x, nil
}

// wiped reports whether every value handed out is now zeros.
func (s *secrets) wiped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.handed {
		for _, c := range v {
			if c != 0 {
				return false
			}
		}
	}
	return len(s.handed) > 0
}

func apiKey(name, provider, value string) vault.Secret {
	return vault.Secret{Name: name, Type: vault.TypeAPIKey, Provider: provider, Value: []byte(value)}
}

// rig is a broker with one secret, "openai", allowed on the provider's
// /v1 path, and a log the canary scan reads.
type rig struct {
	b   *Broker
	p   *provider
	s   *secrets
	log *testkit.Buffer
}

func newRig(t testing.TB, handle func(w http.ResponseWriter, r *http.Request), tweak func(*Config)) *rig {
	t.Helper()
	p := newProvider(t, handle)
	s := newSecrets(apiKey("openai", "openai", testKey))
	log := &testkit.Buffer{}
	cfg := Config{
		Secret:            s.get,
		Endpoints:         map[string][]string{"openai": {p.srv.URL + "/v1"}},
		AllowLoopbackHTTP: true,
		Timeout:           10 * time.Second,
		Logf:              func(f string, a ...any) { fmt.Fprintf(log, f+"\n", a...) },
	}
	if tweak != nil {
		tweak(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return &rig{b: b, p: p, s: s, log: log}
}

func (r *rig) do(t testing.TB, req Request) (*Response, error) {
	t.Helper()
	if req.Secret == "" {
		req.Secret = "openai"
	}
	if req.Method == "" {
		req.Method = http.MethodPost
	}
	return r.b.Do(testkit.Context(t, 20*time.Second), req)
}

// leaks lists the forms of value found in s.
func leaks(s string, values ...string) []string {
	var out []string
	for _, v := range values {
		for _, f := range encodings([]byte(v)) {
			if len(f) >= MinSecretBytes && strings.Contains(s, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// shown is everything an agent sees of a response.
func shown(r *Response) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n", r.Status)
	for k, vs := range r.Header {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	b.Write(r.Body)
	return b.String()
}

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(testkit.Context(t, 20*time.Second))
	t.Cleanup(cancel)
	return ctx, cancel
}
