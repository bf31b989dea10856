package revgossip

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/testkit"
)

// BenchmarkPropagation: time from publish to the moment every node's Set
// says revoked, p50 and p99 over 100 revocations from random publishers.
// Each node links to the next and to 3 random others. Run with
// -benchtime=1x; 50 and 100 nodes are skipped under -short.
func BenchmarkPropagation(b *testing.B) {
	for _, n := range []int{10, 50, 100} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			if n > 10 && testing.Short() {
				b.Skip("large mesh")
			}
			benchPropagation(b, newNodes(b, n))
		})
	}
}

// BenchmarkPropagationHomeNodes is BenchmarkPropagation with every node
// configured as a home node (RelevantTo, no trusted peer) for which the
// records' owner is a contact: every hop walks the chain and asks the
// contact list, the longest relevance check.
func BenchmarkPropagationHomeNodes(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			if n > 10 && testing.Short() {
				b.Skip("large mesh")
			}
			ns := make([]*node, n)
			cuts := newEvents()
			var owner peer.ID
			var once sync.Once
			ready := make(chan struct{})
			var wg sync.WaitGroup
			for i := range ns {
				wg.Go(func() {
					k, h := newHost(b)
					if i == 0 {
						owner = k.ID()
						once.Do(func() { close(ready) })
					}
					<-ready
					contacts := map[peer.ID]bool{owner: true}
					pol := policy{relevant: RelevantTo(h.ID(), func(p peer.ID) bool { return contacts[p] }),
						trusted: func(peer.ID) bool { return false }}
					ns[i] = startNodeWith(b, k, h, cuts, pol)
				})
			}
			wg.Wait()
			benchPropagation(b, ns)
		})
	}
}

// benchPropagation measures propagation over ns, whose first node's key
// owns the revoked tokens.
func benchPropagation(b *testing.B, ns []*node) {
	n := len(ns)
	connectRandom(b, ns, 3)
	waitMesh(b, ns, 1) // every mesh formed, up to Dlo peers
	owner := ns[0].key
	revs := revocations(b, owner, 110, fmt.Sprint("prop", n))
	r := mrand.New(mrand.NewPCG(5, 6))
	for _, rev := range revs[100:] { // warm up: connections, buffers
		if err := ns[r.IntN(n)].g.publish(context.Background(), rev); err != nil {
			b.Fatal(err)
		}
		waitRevoked(b, ns, rev.ID(), time.Now(), 5*time.Second)
	}
	revs = revs[:100]
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		took = took[:0]
		for _, rev := range revs {
			from := ns[r.IntN(n)]
			start := time.Now()
			if err := from.g.publish(context.Background(), rev); err != nil {
				b.Fatal(err)
			}
			took = append(took, waitRevoked(b, ns, rev.ID(), start, 5*time.Second))
		}
	}
	b.ReportMetric(float64(percentile(took, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(took, 99).Microseconds())/1000, "p99-ms")
}

// BenchmarkValidate: the topic validator's cost for one new, valid record
// that verified as its RPC arrived (so the signature check is a cache
// hit), from the set's Add included: as an infrastructure peer runs it (no
// admission policy), and as a home node does with the record relevant
// through a contact (the longest check: the whole chain, then the
// contacts), from a trusted neighbour, and not relevant from an untrusted
// one (ignored before Add).
func BenchmarkValidate(b *testing.B) {
	const pool = 2048 // within the budget's verify cache
	ctx := context.Background()
	self, owner := testkit.Key(b, "bench/self"), testkit.Key(b, "bench/owner")
	neighbour, infra := testkit.Key(b, "bench/neighbour").ID(), testkit.Key(b, "bench/infra").ID()
	revs := revocations(b, owner, pool, "bench/validate")
	budget := NewBudget(BudgetConfig{})
	data := make([][]byte, pool)
	for i, r := range revs {
		data[i] = r.Bytes()
		if !budget.precheck(data[i]) {
			b.Fatal("a record does not verify")
		}
	}
	contacts := map[peer.ID]bool{owner.ID(): true}
	for range 100 {
		k := keys.GeneratePeerKey()
		contacts[k.ID()] = true
	}
	infraIDs := []peer.ID{infra, testkit.Key(b, "bench/relay1").ID(), testkit.Key(b, "bench/relay2").ID()}
	home := policy{relevant: RelevantTo(self.ID(), func(p peer.ID) bool { return contacts[p] }),
		trusted: func(p peer.ID) bool { return slices.Contains(infraIDs, p) }}
	stranger := policy{relevant: RelevantTo(self.ID(), func(peer.ID) bool { return false }), trusted: home.trusted}
	for _, tc := range []struct {
		name string
		pol  policy
		from peer.ID
		want pubsub.ValidationResult
	}{
		{"policy=none", policy{}, neighbour, pubsub.ValidationAccept},
		{"policy=home/relevant", home, neighbour, pubsub.ValidationAccept},
		{"policy=home/trusted", stranger, infra, pubsub.ValidationAccept},
		{"policy=home/not-relevant", stranger, neighbour, pubsub.ValidationIgnore},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var set *revocation.Set
			fresh := func() *gossip {
				if set != nil {
					set.Close()
				}
				var err error
				set, err = revocation.Open(ctx, revocation.Config{Clock: func() time.Time { return testNow }, CollectEvery: -1})
				if err != nil {
					b.Fatal(err)
				}
				return &gossip{set: set, self: self.ID(), budget: budget, policy: tc.pol,
					limiter: peerlimit.New(1e12, 1<<30, 0, nil), alarm: &alarm{}}
			}
			g := fresh()
			defer func() { set.Close() }()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%pool == 0 && i > 0 {
					b.StopTimer()
					g = fresh()
					b.StartTimer()
				}
				if res, err := g.judge(ctx, tc.from, false, data[i%pool]); res != tc.want {
					b.Fatalf("got %v (%v), want %v", res, err, tc.want)
				}
			}
		})
	}
}

// BenchmarkAdmissionRule: the admission rule alone, what the validator
// adds per record it did not hold: nothing without a policy; for a home
// node, the trusted-peer check (three infrastructure IDs), then the chain
// walk and a contact lookup among 100 for a record relevant through a
// contact (the longest path) or not relevant at all.
func BenchmarkAdmissionRule(b *testing.B) {
	self, owner := testkit.Key(b, "bench/self"), testkit.Key(b, "bench/owner")
	neighbour, infra := testkit.Key(b, "bench/neighbour").ID(), testkit.Key(b, "bench/infra").ID()
	root := issueTo(b, owner, testkit.Key(b, "bench/a").ID(), nil, time.Hour, "bench/rule/root")
	mid := issueTo(b, testkit.Key(b, "bench/a"), testkit.Key(b, "bench/b").ID(), root, time.Hour, "bench/rule/mid")
	rev := mustNew(b, owner, mid) // a two-link chain
	ownerID := owner.ID()
	contacts := map[peer.ID]bool{ownerID: true}
	for range 99 {
		k := keys.GeneratePeerKey()
		contacts[k.ID()] = true
	}
	infraIDs := []peer.ID{infra, testkit.Key(b, "bench/relay1").ID(), testkit.Key(b, "bench/relay2").ID()}
	trusted := func(p peer.ID) bool { return slices.Contains(infraIDs, p) }
	for _, tc := range []struct {
		name string
		pol  policy
		from peer.ID
		want bool
	}{
		{"policy=none", policy{}, neighbour, true},
		{"policy=home/relevant", policy{relevant: RelevantTo(self.ID(), func(p peer.ID) bool { return contacts[p] }), trusted: trusted}, neighbour, true},
		{"policy=home/trusted", policy{relevant: RelevantTo(self.ID(), nil), trusted: trusted}, infra, true},
		{"policy=home/not-relevant", policy{relevant: RelevantTo(self.ID(), func(p peer.ID) bool { return contacts[p] && p != ownerID }), trusted: trusted}, neighbour, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tc.pol.keeps(tc.from, rev) != tc.want {
					b.Fatal("wrong verdict")
				}
			}
		})
	}
}
