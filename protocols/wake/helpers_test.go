package wake

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wakehook"
	"github.com/ocmt/mesh/internal/wire"
)

// revoked is a revocation set for tests.
type revoked struct {
	mu  sync.Mutex
	ids map[capability.ID]bool
}

func (r *revoked) IsRevoked(id capability.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id]
}

func (r *revoked) revoke(id capability.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[capability.ID]bool{}
	}
	r.ids[id] = true
}

// hook records its calls and does what the test sets: return at once,
// fail, or hang until released.
type hook struct {
	calls   chan wakehook.Target
	n       atomic.Int64
	fail    error
	hang    map[string]chan struct{} // handle → released when closed
	ignores bool                     // a hang ignores the context
}

func newHook() *hook {
	return &hook{calls: make(chan wakehook.Target, 1024), hang: map[string]chan struct{}{}}
}

func (h *hook) Wake(ctx context.Context, t wakehook.Target) error {
	h.n.Add(1)
	h.calls <- t
	if ch := h.hang[t.Handle]; ch != nil {
		if h.ignores {
			<-ch
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return h.fail
}

// rig is a relay running the server, with its switches.
type rig struct {
	t        testing.TB
	relay    host.Host
	srv      *Server
	store    ds.Datastore
	revs     *revoked
	hook     *hook
	clock    *testkit.Clock
	logs     *logBuffer
	mu       sync.Mutex
	reserved map[peer.ID]bool
	members  map[peer.ID]bool // may hibernate
	cfg      Config
}

func (r *rig) setReserved(id peer.ID, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reserved[id] = on
}

func (r *rig) admit(ids ...peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.members[id] = true
	}
}

// newRig starts a relay; edit adjusts the config first.
func newRig(t testing.TB, edit func(*Config)) *rig {
	t.Helper()
	r := &rig{t: t, store: dssync.MutexWrap(ds.NewMapDatastore()), revs: &revoked{}, hook: newHook(),
		clock: testkit.NewClock(testkit.Epoch), logs: &logBuffer{}, reserved: map[peer.ID]bool{}, members: map[peer.ID]bool{}}
	r.relay = testkit.Host(t, testkit.Key(t, "relay"))
	r.cfg = Config{Store: r.store, Revocations: r.revs, Hook: r.hook, Now: r.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Authorizer: func(id peer.ID) bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.members[id]
		},
		IsReserved: func(id peer.ID) bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.reserved[id]
		}}
	if edit != nil {
		edit(&r.cfg)
	}
	r.start()
	return r
}

// start (re)starts the server on the rig's store.
func (r *rig) start() {
	r.t.Helper()
	srv, err := NewServer(context.Background(), r.relay, r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.srv = srv
	r.t.Cleanup(func() { srv.Close() })
}

// node is a peer with a host connected to the relay.
type node struct {
	k *keys.PeerKey
	h host.Host
}

func (r *rig) node(name string) *node {
	r.t.Helper()
	k := testkit.Key(r.t, name)
	h := testkit.Host(r.t, k)
	testkit.Connect(r.t, h, r.relay)
	return &node{k: k, h: h}
}

func (n *node) id() peer.ID { return n.k.ID() }

// grant is a token owner issues to audience.
func grant(t testing.TB, owner *keys.PeerKey, audience peer.ID, edit func(*capability.Params)) *capability.Token {
	t.Helper()
	p := capability.Params{Audience: audience, Resource: "notes/**", Actions: capability.Read,
		NotBefore: testkit.Epoch.Add(-time.Hour), Expiry: testkit.Epoch.Add(24 * time.Hour)}
	if edit != nil {
		edit(&p)
	}
	tok, err := capability.Issue(owner, p)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ctx(t *testing.T) context.Context { return testkit.Context(t, 2*time.Minute) }

// wakeAsync runs Wake on a goroutine; the channel yields its result.
func wakeAsync(t *testing.T, from *node, relay, owner peer.ID, tok []byte) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- Wake(ctx(t), from.h, relay, owner, tok) }()
	return ch
}

// waiting is how many wakes wait at the server.
func (s *Server) waitingNow() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

func statusOf(err error) wire.Status {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Status
	}
	return wire.Internal
}

// serveAs runs one request through the server's handler as remote, as a
// stream from remote would (no network: for floods of many identities).
func (s *Server) serveAs(remote peer.ID, req Request) (any, error) {
	b, err := wire.Marshal(req)
	if err != nil {
		return nil, err
	}
	c, cancel := context.WithTimeout(context.Background(), s.cfg.TTL+WakeSlack)
	defer cancel()
	return s.serve(c, remote, b)
}

// refused checks that err is a refusal with status st whose message, the
// words the requester reads, says want and shows nothing internal.
func refused(t testing.TB, what string, err error, st wire.Status, want string) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Errorf("%s: %v, want a %s refusal", what, err, st.Name())
		return
	}
	if we.Status != st {
		t.Errorf("%s: %s (%q), want %s", what, we.Status.Name(), we.Message, st.Name())
	}
	testkit.Sentence(t, what, errors.New(we.Message), want)
}

// logBuffer is a log sink safe for concurrent use.
type logBuffer = testkit.Buffer
