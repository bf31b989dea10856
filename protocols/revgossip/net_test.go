package revgossip

import (
	"context"
	"log/slog"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// node is one in-process mesh peer on loopback TCP: gossipsub with the
// budget, a Set and the gossip, without the Service around them.
type node struct {
	key    *keys.PeerKey
	h      host.Host
	ps     *pubsub.PubSub
	set    *revocation.Set
	g      *gossip
	budget *Budget
	seen   *arrivals
	mesh   *meshTracer
	cuts   *events       // cut-offs, shared by the nodes made together
	raw    *pubsub.Topic // BenchmarkPropagationVsRaw's plain topic
}

// arrivals records when each revocation reached a node's Set (through
// Config.Admit, called just before a new record is put in force), so
// propagation is timed where it happens, not by a poller that competes
// for the CPU with the nodes it measures.
type arrivals struct {
	mu      sync.Mutex
	at      map[capability.ID]time.Time
	changed chan struct{} // closed and replaced on every arrival
}

func newArrivals() *arrivals {
	return &arrivals{at: map[capability.ID]time.Time{}, changed: make(chan struct{})}
}

func (a *arrivals) admit(r *revocation.Revocation) error {
	a.arrive(r.ID())
	return nil
}

// arrive notes that id arrived now, unless it arrived before.
func (a *arrivals) arrive(id capability.ID) {
	now := time.Now()
	a.mu.Lock()
	if _, ok := a.at[id]; !ok {
		a.at[id] = now
	}
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

// when returns when id arrived, or a channel that is closed at the next
// arrival.
func (a *arrivals) when(id capability.ID) (time.Time, bool, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.at[id]
	return at, ok, a.changed
}

// events counts something that happens on another goroutine (a cut-off)
// and wakes whoever waits for the next one.
type events struct {
	mu      sync.Mutex
	n       int
	changed chan struct{} // closed and replaced on every event
}

func newEvents() *events { return &events{changed: make(chan struct{})} }

func (e *events) add() {
	e.mu.Lock()
	e.n++
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

func (e *events) count() (int, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n, e.changed
}

// waitPast waits until more than n events happened, failing after within.
func (e *events) waitPast(t testing.TB, n int, within time.Duration, what string) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		got, changed := e.count()
		if got > n {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("still not the case after %v: %s", within, what)
		}
	}
}

// meshTracer follows a node's gossipsub meshes through its graft and
// prune events, so tests wait for a mesh to form instead of sleeping
// through heartbeats.
type meshTracer struct {
	mu   sync.Mutex
	mesh map[string]map[peer.ID]bool // topic → peers
}

func newMeshTracer() *meshTracer { return &meshTracer{mesh: map[string]map[peer.ID]bool{}} }

// size is the size of the mesh for Topic.
func (m *meshTracer) size() int { return m.sizeOf(Topic) }

func (m *meshTracer) sizeOf(topic string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mesh[topic])
}

func (m *meshTracer) set(p peer.ID, topic string, in bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if in {
		if m.mesh[topic] == nil {
			m.mesh[topic] = map[peer.ID]bool{}
		}
		m.mesh[topic][p] = true
	} else {
		delete(m.mesh[topic], p)
	}
}

func (m *meshTracer) Graft(p peer.ID, topic string) { m.set(p, topic, true) }
func (m *meshTracer) Prune(p peer.ID, topic string) { m.set(p, topic, false) }

// OnClosedOutboundStream: gossipsub drops a peer whose stream closed from
// every mesh without a prune event.
func (m *meshTracer) OnClosedOutboundStream(p peer.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, peers := range m.mesh {
		delete(peers, p)
	}
}

func (*meshTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (*meshTracer) Join(string)                                          {}
func (*meshTracer) Leave(string)                                         {}
func (*meshTracer) ValidateMessage(*pubsub.Message)                      {}
func (*meshTracer) DeliverMessage(*pubsub.Message)                       {}
func (*meshTracer) RejectMessage(*pubsub.Message, string)                {}
func (*meshTracer) DuplicateMessage(*pubsub.Message)                     {}
func (*meshTracer) ThrottlePeer(peer.ID)                                 {}
func (*meshTracer) RecvRPC(*pubsub.RPC)                                  {}
func (*meshTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (*meshTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*meshTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*meshTracer) UndeliverableMessage(*pubsub.Message)                 {}

var _ pubsub.RawTracer = (*meshTracer)(nil)

// newHost starts a loopback host with a fresh key (a returning attacker
// must not be recognised) and returns the key too, for signing.
func newHost(t testing.TB, opts ...libp2p.Option) (*keys.PeerKey, host.Host) {
	t.Helper()
	k := keys.GeneratePeerKey()
	return &k, testkit.Host(t, &k, opts...)
}

func newStore() ds.Batching { return dssync.MutexWrap(ds.NewMapDatastore()) }

// openSet opens a Set on a fresh in-memory store whose clock reads
// testNow, with no background collection.
func openSet(t testing.TB, cfg revocation.Config) *revocation.Set {
	t.Helper()
	cfg.Datastore, cfg.Clock, cfg.CollectEvery = newStore(), testkit.NewClock(testNow).Now, -1
	s, err := revocation.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newNode starts a host with gossipsub (pubsubOptions plus extra), a Set
// whose clock is testNow, and a gossip.
func newNode(t testing.TB, extra ...pubsub.Option) *node {
	t.Helper()
	k, h := newHost(t)
	return startNode(t, k, h, newEvents(), extra...)
}

// startNode runs gossipsub, a Set and a gossip on host h, with a budget
// that cuts flooders off on h and counts the cut-offs in cuts.
func startNode(t testing.TB, k *keys.PeerKey, h host.Host, cuts *events, extra ...pubsub.Option) *node {
	t.Helper()
	return startNodeWith(t, k, h, cuts, policy{}, extra...)
}

// startNodeWith is startNode with an admission policy.
func startNodeWith(t testing.TB, k *keys.PeerKey, h host.Host, cuts *events, pol policy, extra ...pubsub.Option) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	budget := NewBudget(BudgetConfig{OnAbuse: func(peer.ID) { cuts.add() }})
	if err := budget.bind(h, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	mesh := newMeshTracer()
	opts := append(pubsubOptions(budget), pubsub.WithRawTracer(mesh))
	ps, err := pubsub.NewGossipSub(ctx, h, append(opts, extra...)...)
	if err != nil {
		t.Fatalf("NewGossipSub: %v", err)
	}
	seen := newArrivals()
	set := openSet(t, revocation.Config{Admit: seen.admit})
	g, err := joinGossip(ps, h.ID(), set, gossipConfig{budget: budget, policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.close() })
	return &node{key: k, h: h, ps: ps, set: set, g: g, budget: budget, seen: seen, mesh: mesh, cuts: cuts}
}

func newNodes(t testing.TB, n int) []*node { return newNodesWith(t, n, nil) }

// newNodesWith is newNodes with extra options for each host (hostOpts is
// called once per host). The nodes share one cut-off count.
func newNodesWith(t testing.TB, n int, hostOpts func() []libp2p.Option) []*node {
	t.Helper()
	out := make([]*node, n)
	cuts := newEvents()
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			var opts []libp2p.Option
			if hostOpts != nil {
				opts = hostOpts()
			}
			k, h := newHost(t, opts...)
			out[i] = startNode(t, k, h, cuts)
		})
	}
	wg.Wait()
	return out
}

// connectRandom links node i to i+1 (so the graph is connected) and to
// extra random others: a sparse mesh like peers that each know a few.
func connectRandom(t testing.TB, ns []*node, extra int) {
	t.Helper()
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := range ns {
		if i+1 < len(ns) {
			testkit.Connect(t, ns[i].h, ns[i+1].h)
		}
		for range extra {
			if j := r.IntN(len(ns)); j != i {
				testkit.Connect(t, ns[i].h, ns[j].h)
			}
		}
	}
}

// waitMesh waits until every node sees each of its connected peers (at
// least atLeast) on the topic, then until every node's mesh for the topic
// holds its topic peers, up to gossipsub's Dlo (the heartbeat grafts no
// more than that): a message that arrives before a node has mesh peers is
// delivered to it but not forwarded (revsync covers that window in
// production).
func waitMesh(t testing.TB, ns []*node, atLeast int) {
	t.Helper()
	for _, n := range ns {
		testkit.Eventually(t, 15*time.Second, func() bool {
			got := len(n.g.topic.ListPeers())
			return got >= atLeast && got >= len(n.h.Network().Peers())
		}, "node %s sees its %d peers (at least %d) on the topic", n.h.ID(), len(n.h.Network().Peers()), atLeast)
	}
	for _, n := range ns {
		testkit.Eventually(t, 15*time.Second, func() bool {
			return n.mesh.size() >= min(pubsub.GossipSubDlo, len(n.g.topic.ListPeers()))
		}, "node %s's mesh holds %d of its %d topic peers", n.h.ID(), n.mesh.size(), len(n.g.topic.ListPeers()))
	}
}

// waitRevoked waits until every node's set holds id and returns how long
// the last arrival took from start; it fails the test after timeout.
func waitRevoked(t testing.TB, ns []*node, id capability.ID, start time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var last time.Duration
	for i, n := range ns {
		for {
			at, ok, changed := n.seen.when(id)
			if ok {
				last = max(last, at.Sub(start))
				break
			}
			select {
			case <-changed:
			case <-deadline.C:
				t.Fatalf("node %d of %d still accepts %s after %v", i, len(ns), id.Short(), timeout)
			}
		}
		for !n.set.IsRevoked(id) { // admitted, being put in force
			if time.Since(start) > timeout {
				t.Fatalf("node %d admitted %s but does not refuse it", i, id.Short())
			}
			runtime.Gosched()
		}
	}
	return last
}

// attacker is a peer with plain gossipsub and no validator: it publishes
// whatever bytes it likes on Topic.
type attacker struct {
	h     host.Host
	topic *pubsub.Topic
}

func newAttacker(t testing.TB) *attacker {
	t.Helper()
	_, h := newHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithFloodPublish(true))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(Topic, pubsub.WithTopicMessageIdFn(MessageID))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	return &attacker{h: h, topic: topic}
}

// percentile returns the p-th percentile (0–100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
