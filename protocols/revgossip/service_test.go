package revgossip

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/revsync"
)

// fast are the timings of a service under test: the gate and the sync
// loop in milliseconds instead of seconds.
var fast = Timings{MaxSyncWait: 200 * time.Millisecond, RetryEvery: 20 * time.Millisecond, PollEvery: 10 * time.Millisecond}

// startService starts a Service on h and closes it when the test ends.
func startService(t testing.TB, cfg Config) *Service {
	t.Helper()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// outboxLen counts the records waiting in store's outbox.
func outboxLen(t testing.TB, store ds.Batching) int {
	t.Helper()
	res, err := outboxStore(store).Query(context.Background(), query.Query{KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestReadyWaitsForTheFirstSync: a service whose infrastructure peer has
// not answered its first revsync yet holds Ready (refusing as Unavailable
// after MaxSyncWait), retries the sync soon after a failure, and is ready
// as soon as one succeeds.
func TestReadyWaitsForTheFirstSync(t *testing.T) {
	ctx := context.Background()
	h, infra := testkit.Host(t, nil), testkit.Host(t, nil)
	// The infrastructure peer is slow: it answers nothing until release,
	// then fails the request; after that it serves revsync for real.
	infraSet := openSet(t, revocation.Config{})
	release := make(chan struct{})
	var serve sync.Once
	infra.SetStreamHandler(revsync.ID, func(s network.Stream) {
		<-release
		s.Reset()
		serve.Do(func() {
			if _, err := revsync.NewServer(infra, infraSet, revsync.ServerConfig{}); err != nil {
				t.Error(err)
			}
		})
	})
	testkit.Connect(t, h, infra)
	s := startService(t, Config{Host: h, Store: newStore(), Timings: fast,
		SyncFrom: func() []peer.ID { return []peer.ID{infra.ID()} }})

	start := time.Now()
	err := s.Ready(ctx)
	if took := time.Since(start); !errors.Is(err, wire.Unavailable) || took < fast.MaxSyncWait {
		t.Fatalf("before the first sync: %v after %v, want Unavailable after %v", err, took, fast.MaxSyncWait)
	}
	close(release) // the first attempt fails; a retry succeeds
	testkit.Eventually(t, 10*time.Second, func() bool { return s.Ready(ctx) == nil },
		"ready once the infrastructure peer answers")
}

// TestTheGateOpensAtTheFirstSyncDeadline: with no infrastructure peer
// answering, Ready refuses after MaxSyncWait until FirstSyncDeadline, and
// passes at once from then on; it passes at once without infrastructure.
func TestTheGateOpensAtTheFirstSyncDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tm Timings
		tm.fill()
		ctx := context.Background()
		g := newGate(tm, false)
		defer g.stop()
		start := time.Now()
		if err := g.ready(ctx); !errors.Is(err, wire.Unavailable) || time.Since(start) != MaxSyncWait {
			t.Fatalf("before the deadline: %v after %v, want Unavailable after %v", err, time.Since(start), MaxSyncWait)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := g.ready(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled wait: %v", err)
		}
		time.Sleep(FirstSyncDeadline - time.Since(start))
		synctest.Wait()
		at := time.Now()
		if err := g.ready(ctx); err != nil || time.Since(at) != 0 {
			t.Fatalf("at the deadline: %v after %v", err, time.Since(at))
		}
		if err := newGate(tm, true).ready(ctx); err != nil || time.Since(at) != 0 {
			t.Fatalf("without infrastructure: %v", err)
		}
	})
}

// TestTheOutboxSurvivesARestart: a revocation made while no
// infrastructure peer is reachable stays in the outbox across a restart,
// and is pushed to the infrastructure peer once it is reachable.
func TestTheOutboxSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(testNow)
	infraHost := testkit.Host(t, nil)
	infra := startService(t, Config{Host: infraHost, Store: newStore(), Now: clock.Now})
	key, store := testkit.Key(t, "home"), newStore()
	toInfra := func() []peer.ID { return []peer.ID{infraHost.ID()} }

	// First life: the infrastructure peer's addresses are unknown, so
	// neither a sync nor a push can reach it.
	h1 := testkit.Host(t, key)
	home, err := Start(ctx, Config{Host: h1, Store: store, Now: clock.Now, Timings: fast, SyncFrom: toInfra})
	if err != nil {
		t.Fatal(err)
	}
	rev := mustNew(t, key, issueTo(t, key, testkit.Key(t, "friend").ID(), nil, time.Hour, "outbox"))
	if err := home.Revoke(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := home.Close(); err != nil { // waits for the background push to give up
		t.Fatal(err)
	}
	h1.Close()
	if n := outboxLen(t, store); n != 1 || infra.Set().IsRevoked(rev.ID()) {
		t.Fatalf("after the first life: %d records in the outbox, infrastructure holds it: %v", n, infra.Set().IsRevoked(rev.ID()))
	}

	// Second life, same store: the revocation is in force from the start
	// and reaches the infrastructure peer once it is connected.
	h2 := testkit.Host(t, key)
	home = startService(t, Config{Host: h2, Store: store, Now: clock.Now, Timings: fast, SyncFrom: toInfra})
	if !home.Set().IsRevoked(rev.ID()) {
		t.Fatal("the restart forgot the revocation")
	}
	testkit.Connect(t, h2, infraHost)
	testkit.Eventually(t, 10*time.Second, func() bool { return infra.Set().IsRevoked(rev.ID()) },
		"the infrastructure peer holds the revocation")
	testkit.Eventually(t, 10*time.Second, func() bool { return outboxLen(t, store) == 0 },
		"the outbox is empty once the infrastructure took the revocation")
}

// waitTopicPeer waits until s sees p on the topic.
func waitTopicPeer(t testing.TB, s *Service, p peer.ID) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, func() bool {
		for _, q := range s.gossip.topic.ListPeers() {
			if q == p {
				return true
			}
		}
		return false
	}, "%s sees %s on the topic", s.h.ID(), p)
}

// TestRevokeIsInForceAtOnceAndReachesAPeer: Revoke puts the record in
// force locally before it returns, and gossip carries it to a connected
// peer, which can name the revoker.
func TestRevokeIsInForceAtOnceAndReachesAPeer(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(testNow)
	alice := testkit.Key(t, "alice")
	ha, hb := testkit.Host(t, alice), testkit.Host(t, nil)
	a := startService(t, Config{Host: ha, Store: newStore(), Now: clock.Now})
	b := startService(t, Config{Host: hb, Store: newStore(), Now: clock.Now})
	testkit.Connect(t, ha, hb)
	waitTopicPeer(t, a, hb.ID())
	waitTopicPeer(t, b, ha.ID())

	tok := issueTo(t, alice, hb.ID(), nil, time.Hour, "revoke")
	rev := mustNew(t, alice, tok)
	if err := a.Revoke(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if !a.Set().IsRevoked(tok.ID()) {
		t.Fatal("Revoke returned before the revocation was in force here")
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return b.Set().IsRevoked(tok.ID()) },
		"the connected peer holds the revocation")
	if by, at, ok := b.RevokedBy(tok.ID()); !ok || by != alice.ID() || !at.Equal(testNow) {
		t.Fatalf("RevokedBy = %s, %v, %v; want alice at %v", by, at, ok, testNow)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, rev); !errors.Is(err, revocation.ErrClosed) {
		t.Fatalf("Revoke after Close: %v, want ErrClosed", err)
	}
}

// TestAServiceCutsOffAFlooderThroughItsBudget: the budget made before the
// host (whose gater the host was built with) is wired by Start to cut a
// flooder off on that host; it serves one service at a time.
func TestAServiceCutsOffAFlooderThroughItsBudget(t *testing.T) {
	budget := NewBudget(BudgetConfig{})
	_, h := newHost(t, libp2p.ConnectionGater(budget.Gater(nil)))
	store := newStore()
	s := startService(t, Config{Host: h, Store: store, Budget: budget})
	if _, err := Start(context.Background(), Config{Host: testkit.Host(t, nil), Store: newStore(), Budget: budget}); !errors.Is(err, errBudgetInUse) {
		t.Fatalf("a second service on the same budget: %v", err)
	}

	mk, mh := newHost(t)
	testkit.Connect(t, mh, h)
	st, err := mh.NewStream(context.Background(), h.ID(), pubsub.GossipSubID_v11)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range presignedFlood(t, mk, forgedRecords(t, mk, 4), 4) {
		if _, err := st.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		return budget.IsCutOff(mh.ID()) && h.Network().Connectedness(mh.ID()) != network.Connected
	}, "the flooder is cut off and disconnected")
	if budget.Dropped() == 0 || s.gossip.stats.rejected.Load() != 0 {
		t.Fatalf("dropped %d RPCs, rejected %d messages: want the forgeries dropped unread", budget.Dropped(), s.gossip.stats.rejected.Load())
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again := startService(t, Config{Host: h, Store: store, Budget: budget})
	if again.Set() == nil {
		t.Fatal("no set")
	}
}
