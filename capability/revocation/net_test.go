package revocation

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// node is one in-process mesh peer on loopback TCP.
type node struct {
	key    *keys.PeerKey
	h      host.Host
	ps     *pubsub.PubSub
	set    *Set
	g      *Gossip
	budget *Budget
	seen   *arrivals
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

func (a *arrivals) admit(r *Revocation) error {
	now := time.Now()
	a.mu.Lock()
	if _, ok := a.at[r.ID()]; !ok {
		a.at[r.ID()] = now
	}
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
	return nil
}

// when returns when id arrived, or a channel that is closed at the next
// arrival.
func (a *arrivals) when(id capability.ID) (time.Time, bool, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.at[id]
	return at, ok, a.changed
}

// newHost starts a libp2p host on 127.0.0.1 with a fresh key.
func newHost(t testing.TB, opts ...libp2p.Option) (*keys.PeerKey, host.Host) {
	t.Helper()
	k := keys.GeneratePeerKey()
	h, err := libp2p.New(append([]libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Identity(k.Libp2pPrivKey())}, opts...)...)
	if err != nil {
		t.Fatalf("libp2p.New: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return &k, h
}

// newNode starts a host with gossipsub (PubSubOptions plus extra), a Set
// whose clock is testNow, and a Gossip.
func newNode(t testing.TB, extra ...pubsub.Option) *node {
	t.Helper()
	k, h := newHost(t)
	return startNode(t, k, h, extra...)
}

// startNode runs gossipsub, a Set and a Gossip on host h.
func startNode(t testing.TB, k *keys.PeerKey, h host.Host, extra ...pubsub.Option) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	budget := NewBudget(nil)
	budget.OnAbuse = func(p peer.ID) { CutOff(h, p) }
	ps, err := pubsub.NewGossipSub(ctx, h, append(PubSubOptions(budget), extra...)...)
	if err != nil {
		t.Fatalf("NewGossipSub: %v", err)
	}
	seen := newArrivals()
	set := openSet(t, newStore(), &fakeClock{testNow}, Config{Admit: seen.admit})
	g, err := JoinGossip(ps, h.ID(), set, GossipConfig{Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return &node{key: k, h: h, ps: ps, set: set, g: g, budget: budget, seen: seen}
}

func newNodes(t testing.TB, n int) []*node { return newNodesWith(t, n, nil) }

// newNodesWith is newNodes with extra options for each host (hostOpts is
// called once per host).
func newNodesWith(t testing.TB, n int, hostOpts func() []libp2p.Option) []*node {
	t.Helper()
	out := make([]*node, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			var opts []libp2p.Option
			if hostOpts != nil {
				opts = hostOpts()
			}
			k, h := newHost(t, opts...)
			out[i] = startNode(t, k, h)
		})
	}
	wg.Wait()
	return out
}

func connect(t testing.TB, a, b host.Host) {
	t.Helper()
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

// connectRandom links node i to i+1 (so the graph is connected) and to
// extra random others: a sparse mesh like peers that each know a few.
func connectRandom(t testing.TB, ns []*node, extra int) {
	t.Helper()
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := range ns {
		if i+1 < len(ns) {
			connect(t, ns[i].h, ns[i+1].h)
		}
		for range extra {
			if j := r.IntN(len(ns)); j != i {
				connect(t, ns[i].h, ns[j].h)
			}
		}
	}
}

// waitMesh waits until every node sees each of its connected peers (at
// least min) on the topic, then one gossipsub heartbeat so the meshes
// form: a message that arrives before a node has mesh peers is delivered
// to it but not forwarded (revsync covers that window in production).
func waitMesh(t testing.TB, ns []*node, min int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, n := range ns {
		for {
			got := len(n.g.Topic().ListPeers())
			if got >= min && got >= len(n.h.Network().Peers()) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s sees %d topic peers, want %d", n.h.ID(), got, min)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(1200 * time.Millisecond)
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

// revocations pre-signs n revocations of distinct owner tokens.
func revocations(t testing.TB, owner *keys.PeerKey, n int, seed string) []*Revocation {
	t.Helper()
	out := make([]*Revocation, n)
	for i := range out {
		tok := issueTo(t, owner, owner.ID(), nil, time.Hour, fmt.Sprint(seed, i))
		out[i] = mustNew(t, owner, tok)
	}
	return out
}

// forgedRecords makes n distinct records that decode (the owner has
// standing) but carry a random signature: the costly kind to reject.
func forgedRecords(t testing.TB, owner *keys.PeerKey, n int) [][]byte {
	t.Helper()
	tok := issueTo(t, owner, owner.ID(), nil, time.Hour, "forged-proof")
	out := make([][]byte, n)
	for i := range out {
		p := rawPayload(tok, owner.ID())
		p.Time += int64(i)
		pb, err := wire.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		rand.Read(sig)
		if out[i], err = wire.Marshal(envelope{Payload: pb, Signature: sig}); err != nil {
			t.Fatal(err)
		}
	}
	return out
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
