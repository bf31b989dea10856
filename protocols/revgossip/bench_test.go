package revgossip

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/revsync"
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

// rawTopic is the plain gossipsub topic BenchmarkPropagationVsRaw sends
// the same records on: a validator that only notes the arrival, no check.
const rawTopic = "/ocmt/bench/raw/1"

// BenchmarkPropagationVsRaw pairs our topic with plain gossipsub on the
// same hosts, connections and mesh shape, with the same messages: each
// of 300 records (after 20 to warm up) is published on the raw topic,
// whose validator only notes the arrival, and on ours, from the same
// random node, the order alternating record to record; each time is from
// publish to the moment the last node has it (ours: in force in its set;
// raw: past its validator). It reports p50/p90/p99 of each, the median of
// the per-record ratios (ours/raw) and their 10th and 90th percentiles.
// Run with -benchtime=1x; 50 nodes are skipped under -short.
func BenchmarkPropagationVsRaw(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			if n > 10 && testing.Short() {
				b.Skip("large mesh")
			}
			const msgs, warm = 300, 20
			ns := newNodes(b, n)
			raws := make([]*arrivals, n)
			for i, nd := range ns {
				raws[i] = newArrivals()
				seen := raws[i]
				err := nd.ps.RegisterTopicValidator(rawTopic, func(_ context.Context, _ peer.ID, m *pubsub.Message) bool {
					seen.arrive(capability.ID(sha256.Sum256(m.GetData())))
					return true
				}, pubsub.WithValidatorInline(true))
				if err != nil {
					b.Fatal(err)
				}
				// The default message ID (publisher, sequence number): the
				// same bytes under MessageID would be duplicates of ours,
				// pubsub's seen cache being shared by its topics.
				topic, err := nd.ps.Join(rawTopic)
				if err != nil {
					b.Fatal(err)
				}
				sub, err := topic.Subscribe()
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(sub.Cancel)
				go func() {
					for {
						if _, err := sub.Next(context.Background()); err != nil {
							return
						}
					}
				}()
				nd.raw = topic
			}
			connectRandom(b, ns, 3)
			waitMesh(b, ns, 1)
			for _, nd := range ns {
				testkit.Eventually(b, 15*time.Second, func() bool {
					peers := len(nd.raw.ListPeers())
					return peers >= len(nd.h.Network().Peers()) && nd.mesh.sizeOf(rawTopic) >= min(pubsub.GossipSubDlo, peers)
				}, "node %s's mesh on the raw topic forms", nd.h.ID())
			}
			revs := revocations(b, ns[0].key, msgs+warm, fmt.Sprint("vsraw", n))
			r := mrand.New(mrand.NewPCG(9, 10))
			ctx := context.Background()
			sendRaw := func(from *node, data []byte) time.Duration {
				start := time.Now()
				if err := from.raw.Publish(ctx, data); err != nil {
					b.Fatal(err)
				}
				return waitArrived(b, raws, capability.ID(sha256.Sum256(data)), start, 5*time.Second)
			}
			sendOurs := func(from *node, rev *revocation.Revocation) time.Duration {
				start := time.Now()
				if err := from.g.publish(ctx, rev); err != nil {
					b.Fatal(err)
				}
				return waitRevoked(b, ns, rev.ID(), start, 5*time.Second)
			}
			var pairs testkit.Pairs
			for b.Loop() {
				pairs = testkit.Pairs{}
				for _, rev := range revs {
					from := ns[r.IntN(n)]
					pairs.Run(func() time.Duration { return sendOurs(from, rev) }, func() time.Duration { return sendRaw(from, rev.Bytes()) })
				}
			}
			ours, raw := pairs.Ours[warm:], pairs.Base[warm:]
			ratios := make([]float64, len(ours))
			for i := range ours {
				ratios[i] = float64(ours[i]) / float64(max(raw[i], time.Microsecond))
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			for _, p := range []float64{50, 90, 99} {
				b.ReportMetric(ms(percentile(ours, p)), fmt.Sprintf("ours-p%.0f-ms", p))
				b.ReportMetric(ms(percentile(raw, p)), fmt.Sprintf("raw-p%.0f-ms", p))
			}
			b.ReportMetric(testkit.Quantile(ratios, 0.5), "ratio-p50")
			b.ReportMetric(testkit.Quantile(ratios, 0.1), "ratio-p10")
			b.ReportMetric(testkit.Quantile(ratios, 0.9), "ratio-p90")
		})
	}
}

// waitArrived is waitRevoked for the raw topic: how long until the last
// node's validator saw id.
func waitArrived(t testing.TB, seen []*arrivals, id capability.ID, start time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var last time.Duration
	for i, a := range seen {
		for {
			at, ok, changed := a.when(id)
			if ok {
				last = max(last, at.Sub(start))
				break
			}
			select {
			case <-changed:
			case <-deadline.C:
				t.Fatalf("node %d of %d has not seen raw message %s after %v", i, len(seen), id.Short(), timeout)
			}
		}
	}
	return last
}

// BenchmarkDigestBandwidth: what anti-entropy costs a node an hour, at
// 10 000 and 1 M live records, against a full revsync of the same set
// and against a digest of every ID. The window holds the records added
// over its span (three periods and the current one, DigestEvery ×
// (digestWindow − 1) on average, here counted as digestWindow periods,
// the most) at the set's steady churn, its size over a 30-day token
// lifetime; "idle" is an empty window. Each digest is encoded as this node
// encodes it (random IDs, fresh salt) inside the gossipsub RPC that
// carries it (publisher, sequence number, topic, 64-byte signature). A
// node sends one to each of its connected peers on the topic every period
// and receives one from each: reported per peer link and per node with 8
// peers, both directions. The full revsync is the records (their size
// measured on real ones, a root token's revocation) plus each page's
// framing.
func BenchmarkDigestBandwidth(b *testing.B) {
	const lifetime, links = 30 * 24 * time.Hour, 8
	k := testkit.Key(b, "bench/digest")
	sample := revocations(b, k, 16, "bench/digest/size")
	recBytes := 0
	for _, r := range sample {
		recBytes += r.Size()
	}
	recBytes /= len(sample)
	perHour := float64(time.Hour / DigestEvery)
	frame := func(data []byte) int {
		topic, seq, sig := DigestTopic, make([]byte, 8), make([]byte, 64)
		m := &pb.Message{From: []byte(k.ID()), Data: data, Seqno: seq, Topic: &topic, Signature: sig}
		rpc := &pb.RPC{Publish: []*pb.Message{m}}
		n := proto.Size(rpc)
		return n + len(binary.AppendUvarint(nil, uint64(n)))
	}
	digestBytes := func(entries, window int) (data, wire int) {
		ids := make([]capability.ID, window)
		for i := range ids {
			rand.Read(ids[i][:])
		}
		d, err := newDigest([8]byte{1}, uint64(entries)+1000, uint64(entries), uint64(entries)+1000-uint64(window), ids, nil)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := d.marshal()
		if err != nil {
			b.Fatal(err)
		}
		return len(raw), frame(raw)
	}
	for _, entries := range []int{10_000, 1 << 20} {
		churn := float64(entries) / lifetime.Seconds() // records a second
		window := int(math.Ceil(churn * (digestWindow * DigestEvery).Seconds()))
		b.Run(fmt.Sprintf("entries=%d", entries), func(b *testing.B) {
			var idleData, idleWire, data, wire, allWire int
			for b.Loop() {
				idleData, idleWire = digestBytes(entries, 0)
				data, wire = digestBytes(entries, window)
				_, allWire = digestBytes(entries, min(entries, MaxDigestIDs))
			}
			pages := (entries + revsync.MaxRecordsPerReply - 1) / revsync.MaxRecordsPerReply
			full := float64(entries*(recBytes+3) + pages*64)
			everyID := float64(allWire-idleWire) / float64(min(entries, MaxDigestIDs)) * float64(entries) // bytes of a filter of every ID
			b.ReportMetric(float64(window), "window-ids")
			b.ReportMetric(float64(idleData), "idle-data-B")
			b.ReportMetric(float64(idleWire), "idle-msg-B")
			b.ReportMetric(float64(data), "data-B")
			b.ReportMetric(float64(wire), "msg-B")
			b.ReportMetric(2*float64(wire)*perHour, "B/link/h")
			b.ReportMetric(2*float64(wire)*perHour*links/1e3, "kB/node/h")
			b.ReportMetric(2*float64(idleWire)*perHour*links/1e3, "idle-kB/node/h")
			b.ReportMetric(full/1e6, "full-revsync-MB")
			b.ReportMetric(2*everyID*perHour*links/1e6, "every-ID-MB/node/h")
			b.ReportMetric(float64(recBytes), "record-B")
		})
	}
}
