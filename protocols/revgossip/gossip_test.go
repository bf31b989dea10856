package revgossip

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/testkit"
)

func TestGossipReachesEveryNodeOfALine(t *testing.T) {
	ns := newNodes(t, 8)
	for i := range len(ns) - 1 {
		testkit.Connect(t, ns[i].h, ns[i+1].h)
	}
	waitMesh(t, ns, 1)
	owner := ns[0].key
	rev := revocations(t, owner, 1, "line")[0]
	start := time.Now()
	if err := ns[0].g.publish(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	took := waitRevoked(t, ns, rev.ID(), start, 5*time.Second)
	t.Logf("a revocation crossed a line of %d nodes (%d hops) in %v", len(ns), len(ns)-1, took)
	for i, n := range ns[1:] {
		// The validator counts its verdict just after the set took the record.
		testkit.Eventually(t, 5*time.Second, func() bool { return n.g.stats.accepted.Load() > 0 }, "node %d counts its accept", i+1)
		if got := n.g.stats.accepted.Load(); got != 1 {
			t.Fatalf("node %d accepted %d messages, want 1", i+1, got)
		}
	}
}

func TestGossipPublishRefusesAnExpiredToken(t *testing.T) {
	n := newNode(t)
	old := issueTo(t, n.key, n.key.ID(), nil, -10*time.Minute, "expired")
	err := n.g.publish(context.Background(), mustNew(t, n.key, old))
	if !errors.Is(err, revocation.ErrExpired) {
		t.Fatalf("err = %v, want ErrExpired", err)
	}
}

// scoreWatch records the latest gossipsub score of every peer a node sees.
type scoreWatch struct {
	mu     sync.Mutex
	scores map[peer.ID]float64
}

func (w *scoreWatch) option() pubsub.Option {
	w.scores = map[peer.ID]float64{}
	return pubsub.WithPeerScoreInspect(func(m map[peer.ID]float64) {
		w.mu.Lock()
		defer w.mu.Unlock()
		for p, s := range m {
			w.scores[p] = s
		}
	}, 50*time.Millisecond)
}

func (w *scoreWatch) of(p peer.ID) (float64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.scores[p]
	return s, ok
}

// TestForgedRevocationsPenaliseTheSender: a peer publishing forged and
// malformed records is caught by every honest peer (its RPCs dropped on
// arrival, or its records rejected), becomes a suspect everywhere, scores
// below zero at the watcher (SuspectPenalty, kept after it is cut off),
// and honest revocations still converge.
func TestForgedRevocationsPenaliseTheSender(t *testing.T) {
	var scores scoreWatch
	watcher := newNode(t, scores.option())
	ns := append(newNodes(t, 4), watcher)
	connectRandom(t, ns, 1)
	mallory := newAttacker(t)
	for _, n := range ns {
		testkit.Connect(t, mallory.h, n.h)
	}
	waitMesh(t, ns, 2)
	testkit.Eventually(t, 15*time.Second, func() bool { return len(mallory.topic.ListPeers()) >= len(ns) },
		"mallory sees every honest node on the topic")
	ctx := context.Background()
	owner := ns[0].key
	for _, b := range append(forgedRecords(t, owner, 10), []byte("not a record"), make([]byte, revocation.MaxRecordBytes+1)) {
		if err := mallory.topic.Publish(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	rev := revocations(t, owner, 1, "honest")[0]
	start := time.Now()
	if err := ns[0].g.publish(ctx, rev); err != nil {
		t.Fatal(err)
	}
	t.Logf("honest revocation converged in %v despite the forgeries", waitRevoked(t, ns, rev.ID(), start, 5*time.Second))

	// Every honest node cut mallory off: forgeries dropped on arrival (and
	// mallory suspected and disconnected), or rejected by the validator
	// with its score falling under the graylist threshold.
	for i, n := range ns {
		testkit.Eventually(t, 5*time.Second, func() bool { return n.budget.Dropped() > 0 || n.g.stats.rejected.Load() > 0 },
			"node %d drops or rejects a forgery", i)
		if !n.budget.IsSuspect(mallory.h.ID()) {
			t.Fatalf("node %d does not suspect mallory", i)
		}
		if n.set.Len() != 1 {
			t.Fatalf("node %d holds %d entries, want only the honest one", i, n.set.Len())
		}
	}
	// The watcher inspects scores every 50 ms: wait for the reading after
	// the suspicion. Mallory's forgeries were dropped unread there, so P4
	// never saw them; the suspect penalty is what makes its score negative
	// (time in the watcher's mesh alone would leave it at +0.01 a second,
	// and pubsub would forget a positive score at the disconnection).
	negative := func() bool { s, ok := scores.of(mallory.h.ID()); return ok && s < 0 }
	if !testkit.Poll(5*time.Second, negative) {
		s, ok := scores.of(mallory.h.ID())
		t.Fatalf("mallory's score at the watcher is %.3g (seen %v), want below 0 (a suspect scores %g)", s, ok, SuspectPenalty)
	}
	s, _ := scores.of(mallory.h.ID())
	t.Logf("mallory's score at the watcher: %.3g (suspect penalty %g, graylist %g); suspected and cut off everywhere", s, SuspectPenalty, GraylistThreshold)
}

// TestASuspectThatComesBackIsGraylisted: a forger that reconnects after
// being cut off gets its small budget, its forgeries are rejected by the
// validator and its score falls under the graylist threshold.
func TestASuspectThatComesBackIsGraylisted(t *testing.T) {
	var scores scoreWatch
	watcher := newNode(t, scores.option())
	mallory := newAttacker(t)
	watcher.budget.suspect(mallory.h.ID()) // as after a first forgery
	testkit.Connect(t, mallory.h, watcher.h)
	testkit.Eventually(t, 10*time.Second, func() bool { return len(mallory.topic.ListPeers()) >= 1 },
		"mallory sees the watcher on the topic")
	ctx := context.Background()
	for _, b := range forgedRecords(t, watcher.key, 6) {
		if err := mallory.topic.Publish(ctx, b); err != nil {
			t.Fatal(err)
		}
		// Pacing, not a wait: one forgery per RPC, inside the budget.
		time.Sleep(30 * time.Millisecond)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		s, ok := scores.of(mallory.h.ID())
		return ok && s < GraylistThreshold
	}, "mallory's score falls under %.0f", GraylistThreshold)
	s, _ := scores.of(mallory.h.ID())
	t.Logf("mallory's score: %.3g (graylist %g)", s, GraylistThreshold)
}

// TestFloodDoesNotStopARealRevocation: while one peer floods 10 000 forged
// revocations, a real one still reaches every honest node within a second.
func TestFloodDoesNotStopARealRevocation(t *testing.T) {
	if testing.Short() {
		t.Skip("floods 10 000 messages")
	}
	ns := newNodes(t, 6)
	connectRandom(t, ns, 1)
	mallory := newAttacker(t)
	for _, n := range ns {
		testkit.Connect(t, mallory.h, n.h)
	}
	waitMesh(t, ns, 2)
	testkit.Eventually(t, 15*time.Second, func() bool { return len(mallory.topic.ListPeers()) >= len(ns) },
		"mallory sees every honest node on the topic")
	ctx := context.Background()
	owner := ns[0].key
	revs := revocations(t, owner, 2, "flood")

	start := time.Now()
	if err := ns[1].g.publish(ctx, revs[0]); err != nil {
		t.Fatal(err)
	}
	baseline := waitRevoked(t, ns, revs[0].ID(), start, 5*time.Second)

	forged := forgedRecords(t, owner, 10_000)
	cuts, _ := ns[0].cuts.count()
	floodDone := make(chan time.Duration)
	go func() {
		t0 := time.Now()
		for _, b := range forged {
			mallory.topic.Publish(ctx, b)
		}
		floodDone <- time.Since(t0)
	}()
	ns[0].cuts.waitPast(t, cuts, 5*time.Second, "the flood reaches an honest node")
	start = time.Now()
	if err := ns[1].g.publish(ctx, revs[1]); err != nil {
		t.Fatal(err)
	}
	flooded := waitRevoked(t, ns, revs[1].ID(), start, time.Second)
	floodTook := <-floodDone
	var rejected, limited uint64
	for _, n := range ns {
		rejected += n.g.stats.rejected.Load()
		limited += n.g.stats.rateLimited.Load()
	}
	t.Logf("real revocation to %d nodes: %v unflooded, %v during a 10000-message flood (%.1fx); flood published in %v; %d rejected, %d rate-limited across nodes",
		len(ns), baseline, flooded, float64(flooded)/float64(baseline), floodTook, rejected, limited)
	for i, n := range ns {
		if n.set.Len() != 2 {
			t.Fatalf("node %d holds %d entries", i, n.set.Len())
		}
	}
}

// TestValidatorOutcomes checks each verdict of the topic validator without
// a network: reject what no honest peer forwards, ignore what one might.
func TestValidatorOutcomes(t *testing.T) {
	owner, alice, bob, mallory := testkit.Key(t, "owner"), testkit.Key(t, "alice"), testkit.Key(t, "bob"), testkit.Key(t, "mallory")
	ctx := context.Background()
	set := openSet(t, revocation.Config{})
	g := &gossip{set: set, self: owner.ID(), clock: time.Now, // a burst of six: the messages after the oversized one
		limiter: peerlimit.New(1e-9, 6, 0, nil), log: slog.New(slog.DiscardHandler)}
	root := issueTo(t, owner, alice.ID(), nil, time.Hour, "validator/root")
	mid := issueTo(t, alice, bob.ID(), root, time.Hour, "validator/mid")
	valid := mustNew(t, owner, root).Bytes()
	old := issueTo(t, owner, alice.ID(), nil, -10*time.Minute, "validator/old")
	forged := mustNew(t, owner, mid).Bytes()
	forged[len(forged)-1] ^= 1
	stranger := sealRecord(t, mallory, rawPayload(mid, mallory.ID()), nil)
	from := alice.ID()
	for _, tc := range []struct {
		name string
		data []byte
		want pubsub.ValidationResult
	}{
		{"an oversized message is rejected", make([]byte, revocation.MaxRecordBytes+1), pubsub.ValidationReject},
		{"garbage is rejected", []byte("garbage"), pubsub.ValidationReject},
		{"a forged signature is rejected", forged, pubsub.ValidationReject},
		{"a stranger's revocation is rejected", stranger, pubsub.ValidationReject},
		{"an expired token's revocation is ignored", mustNew(t, owner, old).Bytes(), pubsub.ValidationIgnore},
		{"a valid new revocation is accepted and in force", valid, pubsub.ValidationAccept},
		{"the same revocation again is ignored", valid, pubsub.ValidationIgnore},
		{"past the neighbour's burst everything is ignored", []byte("garbage"), pubsub.ValidationIgnore},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := g.judge(ctx, from, false, tc.data)
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if !set.IsRevoked(root.ID()) || set.Len() != 1 {
		t.Fatal("only the valid revocation may be in the set")
	}
	if g.stats.rateLimited.Load() != 1 {
		t.Fatalf("rate-limited %d, want 1", g.stats.rateLimited.Load())
	}
}
