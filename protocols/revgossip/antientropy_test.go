package revgossip

import (
	"context"
	"crypto/sha256"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// dropsOneIn20 drops the gossiped records whose SHA-256 starts with a
// byte divisible by 20: about 5% of them, the same ones on every run.
func dropsOneIn20(data []byte) bool {
	h := sha256.Sum256(data)
	return h[0]%20 == 0
}

// startMeshServices starts n services on fresh hosts, the first dropping
// gossip as drop says, links them (i to i+1 and to two random others) and
// waits until each sees its connected peers on both topics. Digests are
// published only when a test calls round (DigestEvery is an hour).
func startMeshServices(t *testing.T, n int, drop func([]byte) bool) []*Service {
	t.Helper()
	ss := make([]*Service, n)
	meshes := make([]*meshTracer, n)
	var wg sync.WaitGroup
	for i := range ss {
		wg.Go(func() {
			cfg := Config{Host: testkit.Host(t, nil), Store: newStore(), Now: func() time.Time { return testNow },
				Timings: Timings{DigestEvery: time.Hour}}
			meshes[i] = newMeshTracer()
			cfg.pubsubExtra = []pubsub.Option{pubsub.WithRawTracer(meshes[i])}
			if i == 0 {
				cfg.dropGossip = drop
			}
			ss[i] = startService(t, cfg)
		})
	}
	wg.Wait()
	r := mrand.New(mrand.NewPCG(7, 8))
	for i := range ss {
		if i+1 < n {
			testkit.Connect(t, ss[i].h, ss[i+1].h)
		}
		for range 2 {
			if j := r.IntN(n); j != i {
				testkit.Connect(t, ss[i].h, ss[j].h)
			}
		}
	}
	for _, s := range ss {
		testkit.Eventually(t, 15*time.Second, func() bool {
			want := len(s.h.Network().Peers())
			return len(s.gossip.topic.ListPeers()) >= want && len(s.ae.topic.ListPeers()) >= want
		}, "service %s sees its peers on both topics", s.h.ID())
	}
	for i, s := range ss { // a record that arrives before a mesh forms is not forwarded
		testkit.Eventually(t, 15*time.Second, func() bool {
			return meshes[i].size() >= min(pubsub.GossipSubDlo, len(s.gossip.topic.ListPeers()))
		}, "service %d's mesh forms", i)
	}
	return ss
}

// publishAll publishes revs from random services other than the first
// and waits until every other service holds them all and the first has
// judged each once (kept it or dropped it); it returns those it dropped.
func publishAll(t *testing.T, ss []*Service, revs []*revocation.Revocation, seed uint64) []*revocation.Revocation {
	t.Helper()
	ctx := context.Background()
	r := mrand.New(mrand.NewPCG(seed, seed))
	judged := ss[0].gossip.stats.accepted.Load() + ss[0].gossip.stats.dropped.Load()
	// In batches, each spread before the next: what is under test is the
	// dropping node's healing, not gossipsub under a burst on a machine
	// other test packages load (a burst of 100 lost a record for another
	// node once in CI).
	const batch = 20
	for i := 0; i < len(revs); i += batch {
		part := revs[i:min(i+batch, len(revs))]
		for _, rev := range part {
			if err := ss[1+r.IntN(len(ss)-1)].Publish(ctx, rev); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range ss[1:] {
			testkit.Eventually(t, 20*time.Second, func() bool {
				return !slices.ContainsFunc(part, func(r *revocation.Revocation) bool { return !s.Set().IsRevoked(r.ID()) })
			}, "service %s holds every published record", s.h.ID())
		}
	}
	want := judged + uint64(len(revs))
	testkit.Eventually(t, 20*time.Second, func() bool {
		return ss[0].gossip.stats.accepted.Load()+ss[0].gossip.stats.dropped.Load() >= want
	}, "the dropping service judges every record once")
	var lost []*revocation.Revocation
	for _, rev := range revs {
		if dropsOneIn20(rev.Bytes()) {
			lost = append(lost, rev)
		}
	}
	if len(lost) == 0 {
		t.Fatal("no record falls in the dropped 5%: the test shows nothing")
	}
	for _, rev := range revs {
		if ss[0].Set().IsRevoked(rev.ID()) == slices.Contains(lost, rev) {
			t.Fatalf("after gossip the dropping service holds %s: %v", rev, ss[0].Set().IsRevoked(rev.ID()))
		}
	}
	return lost
}

// TestADigestRoundHealsANodeThatDropsGossip: on a gossipsub mesh of eight
// real hosts, one node drops 5% of the gossiped records at its validator
// (and, as gossipsub marks them seen, never gets them by gossip). One
// digest round heals it, either way:
//
//   - the node announces its digest: its neighbours push what its filter
//     lacks;
//   - its neighbours announce theirs: it sees their windows hold records
//     it lacks and pulls them.
//
// No other round runs (DigestEvery is an hour, and there is no
// infrastructure, so no sync loop): the node converges within one digest
// period.
func TestADigestRoundHealsANodeThatDropsGossip(t *testing.T) {
	ctx := context.Background()
	ss := startMeshServices(t, 8, dropsOneIn20)
	owner := testkit.Key(t, "ae/owner")
	revs := revocations(t, owner, 200, "ae/heal")

	t.Run("the node's own digest gets the missing records pushed", func(t *testing.T) {
		lost := publishAll(t, ss, revs[:100], 1)
		if err := ss[0].ae.round(ctx); err != nil {
			t.Fatal(err)
		}
		for _, rev := range lost {
			testkit.Eventually(t, 20*time.Second, func() bool { return ss[0].Set().IsRevoked(rev.ID()) },
				"a neighbour pushes %s", rev)
		}
		pushed := func() (n uint64) {
			for _, s := range ss[1:] {
				n += s.ae.stats.pushedRecords.Load()
			}
			return n
		}
		testkit.Eventually(t, 20*time.Second, func() bool { return pushed() >= uint64(len(lost)) },
			"the neighbours count %d records pushed (have %d)", len(lost), pushed())
		if ss[0].ae.stats.pulled.Load() != 0 {
			t.Fatalf("%d records pulled: the node's own digest should have healed it by push alone", ss[0].ae.stats.pulled.Load())
		}
		t.Logf("%d of 100 records dropped; %d pushed back after one digest", len(lost), pushed())
	})

	t.Run("the neighbours' digests make it pull the missing records", func(t *testing.T) {
		lost := publishAll(t, ss, revs[100:], 2)
		for _, s := range ss[1:] {
			if err := s.ae.round(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, rev := range lost {
			testkit.Eventually(t, 20*time.Second, func() bool { return ss[0].Set().IsRevoked(rev.ID()) },
				"the node pulls %s", rev)
		}
		testkit.Eventually(t, 20*time.Second, func() bool { return ss[0].ae.stats.pulled.Load() >= uint64(len(lost)) },
			"the node counts %d records pulled (has %d)", len(lost), ss[0].ae.stats.pulled.Load())
		t.Logf("%d of 100 records dropped; pulled back after one round of the neighbours' digests", len(lost))
	})

	for i, s := range ss {
		if got := s.ae.stats.published.Load(); got != 1 {
			t.Fatalf("service %d published %d digests, want 1: healing took more than one round", i, got)
		}
	}
}

// digestMessage wraps a digest as a pubsub message published by from.
func digestMessage(t testing.TB, from peer.ID, d *Digest) *pubsub.Message {
	t.Helper()
	b, err := d.marshal()
	if err != nil {
		t.Fatal(err)
	}
	topic := DigestTopic
	return &pubsub.Message{Message: &pb.Message{From: []byte(from), Data: b, Topic: &topic}, ReceivedFrom: from}
}

// TestDigestsFromStrangersAreBounded: 500 identities each announce five
// digests claiming records the node lacks. The node acts on at most
// digestsPerPeriod of each peer's per period and at most DigestBurst
// plus DigestRate a second in all; the pulls they cause stay within
// DigestPullBurst plus DigestPullRate a second; a relayed digest (the
// neighbour is not its publisher) and a malformed one are not acted on.
func TestDigestsFromStrangersAreBounded(t *testing.T) {
	const strangers, each = 500, 5
	s := startService(t, Config{Host: testkit.Host(t, nil), Store: newStore(), Now: func() time.Time { return testNow },
		Timings: Timings{DigestEvery: time.Hour}})
	epoch := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	ids := make([]peer.ID, strangers)
	for i := range ids {
		k := keys.GeneratePeerKey()
		ids[i] = k.ID()
	}
	claim, err := newDigest(epoch, 1_000_000, 1_000_000, 999_000, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	claim.IDs = 1 // a window holding one record the node lacks
	claim.Hashes, claim.Salt, claim.Filter = 1, make([]byte, digestSaltLen), make([]byte, 8)

	t.Run("relayed and malformed digests are not acted on", func(t *testing.T) {
		m := digestMessage(t, ids[0], claim)
		m.ReceivedFrom = ids[1]
		if res := s.ae.validate(context.Background(), ids[1], m); res != pubsub.ValidationIgnore {
			t.Fatalf("a relayed digest: %v", res)
		}
		bad := *claim
		bad.From = bad.Head + 1
		b, _ := (&bad).marshal()
		topic := DigestTopic
		m = &pubsub.Message{Message: &pb.Message{From: []byte(ids[2]), Data: b, Topic: &topic}, ReceivedFrom: ids[2]}
		if res := s.ae.validate(context.Background(), ids[2], m); res != pubsub.ValidationReject {
			t.Fatalf("a malformed digest: %v", res)
		}
		if s.ae.stats.acted.Load() != 0 || len(s.ae.jobs) != 0 {
			t.Fatal("a relayed or malformed digest was queued")
		}
	})

	t.Run("many identities get a bounded share", func(t *testing.T) {
		start := time.Now()
		perPeer := map[peer.ID]int{}
		queued := 0
		for range each {
			for _, id := range ids {
				before := s.ae.stats.dropped.Load()
				if res := s.ae.validate(context.Background(), id, digestMessage(t, id, claim)); res != pubsub.ValidationIgnore {
					t.Fatalf("a stranger's digest: %v, want ignored (never forwarded)", res)
				}
				if s.ae.stats.dropped.Load() == before {
					perPeer[id]++
					queued++
				}
			}
		}
		elapsed := time.Since(start).Seconds()
		for id, n := range perPeer {
			if n > digestsPerPeriod {
				t.Fatalf("peer %s got %d digests acted on, max %d a period", id, n, digestsPerPeriod)
			}
		}
		if limit := DigestBurst + int(DigestRate*elapsed) + 1; queued > limit {
			t.Fatalf("%d digests queued in %.1fs from %d identities, over %d", queued, elapsed, strangers, limit)
		}
		testkit.Eventually(t, 30*time.Second, func() bool { return s.ae.stats.acted.Load() == uint64(queued) },
			"the worker acts on the %d queued digests", queued)
		elapsed = time.Since(start).Seconds()
		if limit := DigestPullBurst + int(DigestPullRate*elapsed) + 1; int(s.ae.stats.pulls.Load()) > limit {
			t.Fatalf("%d pulls in %.1fs, over %d", s.ae.stats.pulls.Load(), elapsed, limit)
		}
		t.Logf("%d digests from %d identities: %d acted on, %d pulls started in %.1fs",
			strangers*each, strangers, s.ae.stats.acted.Load(), s.ae.stats.pulls.Load(), elapsed)
	})
}

// TestAnInfrastructureDigestTriggersTheSync: a home node that lost a
// record its relay gossiped gets it at the relay's next digest, through
// its sync loop's cursor, not SyncEvery later.
func TestAnInfrastructureDigestTriggersTheSync(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return testNow }
	infraHost, homeHost := testkit.Host(t, nil), testkit.Host(t, nil)
	// Connected before the services start, so the home node's sync loop
	// sees the relay connected on its first round and syncs once, not
	// again when the connection comes up.
	testkit.Connect(t, homeHost, infraHost)
	infra := startService(t, Config{Host: infraHost, Store: newStore(), Now: now, Timings: Timings{DigestEvery: time.Hour}})
	lose := map[string]bool{}
	var mu sync.Mutex
	home := startService(t, Config{Host: homeHost, Store: newStore(), Now: now,
		SyncFrom: func() []peer.ID { return []peer.ID{infraHost.ID()} },
		Trusted:  func(p peer.ID) bool { return p == infraHost.ID() },
		Relevant: RelevantTo(homeHost.ID(), nil),
		Timings:  Timings{DigestEvery: time.Hour, MaxSyncWait: fast.MaxSyncWait, RetryEvery: fast.RetryEvery, PollEvery: fast.PollEvery},
		dropGossip: func(data []byte) bool {
			mu.Lock()
			defer mu.Unlock()
			return lose[string(data)]
		}})
	if err := home.Ready(testkit.Context(t, 10*time.Second)); err != nil {
		t.Fatalf("the first sync: %v", err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		return slices.Contains(home.gossip.topic.ListPeers(), infraHost.ID()) && slices.Contains(home.ae.topic.ListPeers(), infraHost.ID()) &&
			slices.Contains(infra.ae.topic.ListPeers(), homeHost.ID())
	}, "the two see each other on both topics")

	rev := revocations(t, testkit.Key(t, "ae/infra/owner"), 1, "ae/infra")[0]
	mu.Lock()
	lose[string(rev.Bytes())] = true
	mu.Unlock()
	if err := infra.Publish(ctx, rev); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return home.gossip.stats.dropped.Load() == 1 },
		"the home node loses the gossiped record")
	if home.Set().IsRevoked(rev.ID()) {
		t.Fatalf("the home node holds the record it lost (gossip accepted %d, ae acted %d pulls %d, cursor %+v)",
			home.gossip.stats.accepted.Load(), home.ae.stats.acted.Load(), home.ae.stats.pulls.Load(), home.cursors)
	}
	if err := infra.ae.round(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return home.Set().IsRevoked(rev.ID()) },
		"the relay's digest makes the home node pull the record")
	if home.ae.stats.pulls.Load() == 0 {
		t.Fatal("the record came, but not through a pull a digest started")
	}
}

// dupTracer counts the messages gossipsub dropped as already seen.
type dupTracer struct {
	*meshTracer
	dups atomic.Int64
}

func (d *dupTracer) DuplicateMessage(*pubsub.Message) { d.dups.Add(1) }

// TestARecordIgnoredFromAStrangerComesWithTheRelaysDigest: a home node
// ignores a record that is not relevant to it from an untrusted
// neighbour; gossipsub has marked it seen, so when its relay forwards the
// same record it is dropped as a duplicate, unjudged. The relay's next
// digest brings it.
func TestARecordIgnoredFromAStrangerComesWithTheRelaysDigest(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return testNow }
	homeHost, strangerHost, relayHost := testkit.Host(t, nil), testkit.Host(t, nil), testkit.Host(t, nil)
	testkit.Connect(t, homeHost, strangerHost)
	testkit.Connect(t, homeHost, relayHost)
	tracer := &dupTracer{meshTracer: newMeshTracer()}
	relay := startService(t, Config{Host: relayHost, Store: newStore(), Now: now, Timings: Timings{DigestEvery: time.Hour}})
	stranger := startService(t, Config{Host: strangerHost, Store: newStore(), Now: now, Timings: Timings{DigestEvery: time.Hour}})
	home := startService(t, Config{Host: homeHost, Store: newStore(), Now: now,
		SyncFrom:    func() []peer.ID { return []peer.ID{relayHost.ID()} },
		Trusted:     func(p peer.ID) bool { return p == relayHost.ID() },
		Relevant:    RelevantTo(homeHost.ID(), nil),
		Timings:     Timings{DigestEvery: time.Hour, MaxSyncWait: fast.MaxSyncWait, RetryEvery: fast.RetryEvery, PollEvery: fast.PollEvery},
		pubsubExtra: []pubsub.Option{pubsub.WithRawTracer(tracer)}})
	if err := home.Ready(testkit.Context(t, 10*time.Second)); err != nil {
		t.Fatalf("the first sync: %v", err)
	}
	for _, s := range []*Service{relay, stranger} {
		testkit.Eventually(t, 10*time.Second, func() bool {
			return slices.Contains(s.gossip.topic.ListPeers(), homeHost.ID()) && slices.Contains(s.ae.topic.ListPeers(), homeHost.ID()) &&
				slices.Contains(home.gossip.topic.ListPeers(), s.h.ID()) && slices.Contains(home.ae.topic.ListPeers(), s.h.ID())
		}, "the home node and %s see each other on both topics", s.h.ID())
	}

	rev := revocations(t, testkit.Key(t, "ae/stranger/owner"), 1, "ae/stranger")[0] // nothing to do with the home node
	if err := stranger.Publish(ctx, rev); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return home.gossip.stats.notKept.Load() == 1 },
		"the home node ignores the stranger's record")
	dups := tracer.dups.Load()
	if err := relay.Publish(ctx, rev); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return tracer.dups.Load() > dups },
		"gossipsub drops the relay's copy as already seen")
	if home.Set().IsRevoked(rev.ID()) || home.gossip.stats.accepted.Load() != 0 {
		t.Fatal("the relay's copy was judged: gossipsub no longer marks ignored messages seen, and doc.go's Admission section is wrong")
	}
	if err := relay.ae.round(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return home.Set().IsRevoked(rev.ID()) },
		"the relay's digest brings the record")
}
