package agenthost

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/agentsock"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// canary stands for the embeddings key: it must reach the provider and
// nothing else.
const canary = "sk-CANARY-agenthost-5d1e"

// fixture is a service on an in-memory store with a real vault, the
// owner's key, an injected clock and a fake embeddings provider.
type fixture struct {
	t       testing.TB
	ctx     context.Context
	clock   *testkit.Clock
	store   ds.Batching
	vault   *vault.Vault
	owner   *keys.PeerKey
	revs    *capability.MemoryRevocations
	svc     *Service
	dir     string
	shares  []localapi.ShareRequest
	mu      sync.Mutex
	emb     *fakeEmbeddings
	revoked atomic.Int32
}

func newFixture(t testing.TB, opts ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: testkit.Context(t, 60*time.Second), clock: testkit.NewClock(testkit.Epoch),
		store: dssync.MutexWrap(ds.NewMapDatastore()), owner: testkit.Key(t, "owner"), revs: capability.NewMemoryRevocations()}
	d, err := os.MkdirTemp("", "ah")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	f.dir = d
	if f.vault, err = vault.Create(f.ctx, vault.Config{Store: f.store, Now: f.clock.Now}, []byte("pw"), vault.TestKDF(), "test"); err != nil {
		t.Fatal(err)
	}
	f.emb = newFakeEmbeddings(t)
	cfg := Config{Store: f.store, Vault: f.vault, Self: f.owner.ID(),
		Issue: func(p capability.Params) (*capability.Token, error) { return capability.Issue(f.owner, p) },
		Revoke: func(_ context.Context, tok *capability.Token) error {
			f.revs.Revoke(tok.ID())
			f.revoked.Add(1)
			return nil
		},
		Share: func(_ context.Context, r localapi.ShareRequest) (localapi.ShareResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.shares = append(f.shares, r)
			return localapi.ShareResult{ID: "0123456789ab", Delivered: "live"}, nil
		},
		Verifier: capability.NewVerifier(capability.Config{Revocations: f.revs, Clock: f.clock.Now}),
		Socket:   filepath.Join(d, "agent.sock"), Actor: "local-api", Now: f.clock.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if f.svc, err = Start(f.ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.svc.Stop)
	return f
}

// addAgent adds an agent and returns its key.
func (f *fixture) addAgent(name string, req localapi.AgentAddRequest) *agentsock.Key {
	f.t.Helper()
	path := filepath.Join(f.dir, name+".key")
	id, err := agentsock.CreateKeyFile(path, name)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Name, req.Key = name, id.String()
	if _, err := f.svc.AgentAdd(f.ctx, req); err != nil {
		f.t.Fatal(err)
	}
	k, err := agentsock.LoadKey(path)
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

func (f *fixture) put(path, text string) {
	f.t.Helper()
	if err := f.vault.Put(f.ctx, vault.NSResources, path, []byte(text), vault.AuditEntry{Actor: "test", Op: "resource.write", Target: path}); err != nil {
		f.t.Fatal(err)
	}
}

// session connects an MCP client as k.
func (f *fixture) session(k *agentsock.Key) *mcp.ClientSession {
	f.t.Helper()
	cs, err := agentsock.Connect(f.ctx, f.svc.SocketPath(), k)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { cs.Close() })
	return cs
}

// call runs a tool and returns its structured result as JSON text, or the
// refusal's words with ok false.
func call(t testing.TB, cs *mcp.ClientSession, tool string, args map[string]any) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), !res.IsError
}

// auditOps returns the audit log's records as "op actor target outcome".
func (f *fixture) audit() []vault.AuditRecord {
	f.t.Helper()
	recs, err := vault.ReadAudit(f.ctx, f.store)
	if err != nil {
		f.t.Fatal(err)
	}
	return recs
}

// fakeEmbeddings is an OpenAI-compatible /v1/embeddings server: a text's
// vector is a bag of its words hashed into 64 dimensions, so texts that
// share words are near. It records the keys it was sent, and echoes the
// key in a header and the body of a /v1/echo call.
type fakeEmbeddings struct {
	srv   *httptest.Server
	calls atomic.Int32
	mu    sync.Mutex
	keys  []string
}

func newFakeEmbeddings(t testing.TB) *fakeEmbeddings {
	e := &fakeEmbeddings{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		e.mu.Lock()
		e.keys = append(e.keys, key)
		e.mu.Unlock()
		switch r.URL.Path {
		case "/v1/echo":
			w.Header().Set("X-Echo", key)
			io.WriteString(w, `{"you_sent":"`+key+`"}`)
			return
		case "/v1/embeddings":
		default:
			http.NotFound(w, r)
			return
		}
		e.calls.Add(1)
		var req struct {
			Input []string `json:"input"`
			Model string   `json:"model"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		out := struct {
			Object string `json:"object"`
			Data   []item `json:"data"`
			Model  string `json:"model"`
		}{Object: "list", Model: req.Model}
		for i, in := range req.Input {
			out.Data = append(out.Data, item{Object: "embedding", Index: i, Embedding: bagOfWords(in)})
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func bagOfWords(s string) []float32 {
	v := make([]float32, 64)
	for _, w := range strings.Fields(strings.ToLower(s)) {
		h := fnv.New32a()
		h.Write([]byte(strings.Trim(w, ".,!?")))
		v[h.Sum32()%64]++
	}
	var n float64
	for _, x := range v {
		n += float64(x * x)
	}
	if n == 0 {
		v[0] = 1
		return v
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

// setupMemory stores the embeddings key and points memory at the fake.
func (f *fixture) setupMemory() {
	f.t.Helper()
	if err := f.vault.PutSecret(f.ctx, vault.Secret{Name: "embeddings", Type: vault.TypeAPIKey, Value: []byte(canary)}, "test"); err != nil {
		f.t.Fatal(err)
	}
	if err := f.svc.SecretAllow(f.ctx, localapi.SecretAllowRequest{Name: "embeddings", Endpoints: []string{f.emb.srv.URL + "/v1"},
		EmbeddingsModel: "fake-embed"}); err != nil {
		f.t.Fatal(err)
	}
}
