package agentsock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/internal/testkit"
)

// canary stands for a secret value: a test fails if it reaches an agent,
// an error or a log.
const canary = "sk-CANARY-7f3a9c"

// fakeBackend records every call with the agent it ran as.
type fakeBackend struct {
	mu     sync.Mutex
	agents map[peer.ID]string
	calls  []string // "agent tool arg"
	notes  []string
	fail   error // returned by every tool when set
}

func newFake() *fakeBackend { return &fakeBackend{agents: map[peer.ID]string{}} }

func (f *fakeBackend) add(id peer.ID, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.agents[id] = name
}

func (f *fakeBackend) record(agentName, tool, arg string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, agentName+" "+tool+" "+arg)
	return f.fail
}

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeBackend) Agent(_ context.Context, key peer.ID) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.agents[key]
	if !ok {
		return "", Refuse("this key belongs to no agent of this node (was the agent removed?)")
	}
	return n, nil
}

func (f *fakeBackend) ReadResource(_ context.Context, a, path string) ([]byte, error) {
	if err := f.record(a, ToolReadResource, path); err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(path, "secrets/"):
		return nil, fmt.Errorf("%w: agent %q may not read %s: agents never read secrets", agent.ErrScope, a, path)
	case path == "blob":
		return []byte{0xff, 0x00, 0xfe}, nil
	}
	return []byte("content of " + path), nil
}

func (f *fakeBackend) WriteResource(_ context.Context, a, path string, data []byte) error {
	return f.record(a, ToolWriteResource, path+" "+string(data))
}

func (f *fakeBackend) DeleteResource(_ context.Context, a, path string) error {
	if err := f.record(a, ToolDeleteResource, path); err != nil {
		return err
	}
	return fmt.Errorf("%w: agent %q may not delete: its ceiling allows read,list only", agent.ErrCeiling, a)
}

func (f *fakeBackend) ListResources(_ context.Context, a, prefix string) ([]string, error) {
	if err := f.record(a, ToolListResources, prefix); err != nil {
		return nil, err
	}
	return []string{prefix + "/a", prefix + "/b"}, nil
}

func (f *fakeBackend) MemorySearch(_ context.Context, a, q string, k int) ([]Memory, error) {
	if err := f.record(a, ToolMemorySearch, fmt.Sprintf("%s k=%d", q, k)); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Memory
	for i, n := range f.notes {
		if strings.Contains(n, q) {
			out = append(out, Memory{Path: fmt.Sprintf("memory/%d", i), Text: n, Score: 1})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func (f *fakeBackend) MemoryAdd(_ context.Context, a, text string) (string, error) {
	if err := f.record(a, ToolMemoryAdd, text); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notes = append(f.notes, text)
	return fmt.Sprintf("memory/%d", len(f.notes)-1), nil
}

func (f *fakeBackend) UseSecret(_ context.Context, a string, c SecretCall) (SecretReply, error) {
	if err := f.record(a, ToolUseSecret, c.Method+" "+c.URL+" "+string(c.Body)); err != nil {
		return SecretReply{}, err
	}
	if c.Name == "ask" {
		return SecretReply{Pending: &Pending{ID: "00112233aabbccdd", Intent: "use secrets/ask with api.example", Expires: testkit.Epoch.Add(15 * time.Minute)}}, nil
	}
	if c.Name == "broken" {
		// An internal failure whose text holds the secret: the agent
		// must never read it.
		return SecretReply{}, errors.New("provider said: bad key " + canary)
	}
	return SecretReply{Status: 200, Body: []byte(`{"ok":true}`)}, nil
}

func (f *fakeBackend) RequestShare(_ context.Context, a string, r ShareRequest) (Pending, error) {
	if err := f.record(a, ToolRequestShare, fmt.Sprintf("%s %s %s %s", r.Path, r.With, r.Can, r.For)); err != nil {
		return Pending{}, err
	}
	return Pending{ID: "0123456789abcdef", Intent: fmt.Sprintf("share %s with %s: %s", r.Path, r.With, r.Can), Expires: testkit.Epoch.Add(15 * time.Minute)}, nil
}

// sockDir is a short folder for sockets (a unix socket path is at most
// 107 bytes).
func sockDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "as")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

type fixture struct {
	srv  *Server
	be   *fakeBackend
	path string
	dir  string
	log  *testkit.Buffer
}

// start serves a fake backend; edit adjusts the config first.
func start(t testing.TB, edit func(*Config)) *fixture {
	t.Helper()
	dir := sockDir(t)
	f := &fixture{be: newFake(), path: filepath.Join(dir, "agent.sock"), dir: dir, log: &testkit.Buffer{}}
	cfg := Config{Path: f.path, Backend: f.be, Logger: slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if edit != nil {
		edit(&cfg)
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = s
	t.Cleanup(func() { s.Close() })
	return f
}

// agentKey writes a key file for name, registers it with the fake
// backend when register, and loads it.
func (f *fixture) agentKey(t testing.TB, name string, register bool) (*Key, string) {
	t.Helper()
	p := filepath.Join(f.dir, name+".key")
	id, err := CreateKeyFile(p, name)
	if err != nil {
		t.Fatal(err)
	}
	if register {
		f.be.add(id, name)
	}
	k, err := LoadKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID() != id || k.Agent() != name {
		t.Fatalf("the key file gives %s %s, want %s %s", k.Agent(), k.ID(), name, id)
	}
	return k, p
}
