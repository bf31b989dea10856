package agenthost

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/agentsock"
	"github.com/ocmt/mesh/internal/broker"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// The benchmarks of issue 13 ("Measure"). The paired ones run ours and
// the baseline in the same run, one batch of each per pair, the one that
// goes first alternating (testkit.Pairs), and report the median of the
// pair ratios ours/baseline as "x" with its 10th and 90th percentiles.
// Run: go test ./internal/agenthost -run '^$' -bench . -benchtime 200x

// quietCounters lifts the anomaly detector's thresholds out of a
// benchmark's reach: on the fixture's still clock every call falls in one
// hour, and a new agent's 201st call there would lock it.
func quietCounters(c *Config) {
	c.Counters = agent.CounterConfig{MinPerHour: 1 << 30, NewAgentCap: 1 << 30}
}

// onPebble puts the service and its vault on pebble in a directory of its
// own (internal/store, as the node opens its home): every write, so every
// audit record of a read, is fsynced. The fixture's vault and store are
// replaced by these once newFixture returns (pebbleFixture).
func onPebble(tb testing.TB, st *store.Store, v **vault.Vault) func(*Config) {
	return func(c *Config) {
		pv, err := vault.Create(context.Background(), vault.Config{Store: st, Now: c.Now}, []byte("pw"), vault.TestKDF(), "test")
		if err != nil {
			tb.Fatal(err)
		}
		c.Store, c.Vault, *v = st, pv, pv
	}
}

// pebbleFixture is newFixture with the service's store and vault on
// pebble on disk.
func pebbleFixture(tb testing.TB, opts ...func(*Config)) *fixture {
	tb.Helper()
	st, err := store.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() }) // after the service's Stop, registered later
	var v *vault.Vault
	f := newFixture(tb, append(opts, onPebble(tb, st, &v))...)
	f.store, f.vault = st, v
	return f
}

// BenchmarkAgentPath compares, in one run, an agent's read of a resource
// with the owner's read of the same resource. The agent's is the backend
// of read_resource without the MCP transport: the counters, the policy's
// ceiling and scope, the token's verification and the vault read with its
// audit record. The owner's is the vault read with its audit record, as
// the node's GetResource does it. Goal: x ≤ 1.1.
//
//   - read/store=mem: the fixture's in-memory datastore.
//   - read/store=pebble: pebble on disk, the node's store, where each
//     audit record is fsynced.
//   - checks: the agent's checks alone (counters, policy, token), against
//     one bare ed25519 signature check over a token's bytes, to show their
//     cost in ns.
//
// Each reports "ours-ns" and "base-ns", the median time of one call of
// each; ns/op is one pair of batches and means little on its own.
func BenchmarkAgentPath(b *testing.B) {
	const path = "calendar/work"
	text := strings.Repeat("standup at 9; ", 73) // about 1 KiB, as node's BenchmarkFetch
	setup := func(f *fixture) (agentRead, ownerRead func()) {
		f.put(path, text)
		f.addAgent("helper", helperReq)
		c := &calls{f.svc}
		agentRead = func() {
			if _, err := c.ReadResource(f.ctx, "helper", path); err != nil {
				b.Fatal(err)
			}
		}
		ownerRead = func() {
			if _, err := f.vault.Get(f.ctx, vault.NSResources, path, vault.AuditEntry{Actor: "local-api", Op: "resource.read", Target: path}); err != nil {
				b.Fatal(err)
			}
		}
		return agentRead, ownerRead
	}
	b.Run("read/store=mem", func(b *testing.B) {
		ours, base := setup(newFixture(b, quietCounters))
		testkit.PairRatios(b, ours, base, 64, time.Nanosecond)
	})
	b.Run("read/store=pebble", func(b *testing.B) {
		ours, base := setup(pebbleFixture(b, quietCounters))
		testkit.PairRatios(b, ours, base, 4, time.Nanosecond)
	})
	b.Run("checks", func(b *testing.B) {
		f := newFixture(b, quietCounters)
		f.addAgent("helper", helperReq)
		c := &calls{f.svc}
		ours := func() {
			e, tok, err := c.begin(f.ctx, "helper", capability.Read, path)
			if err == nil {
				err = c.authorize(f.ctx, e, tok, capability.Read, path)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		e, err := f.svc.entryOf("helper")
		if err != nil {
			b.Fatal(err)
		}
		msg := e.tokenFor(capability.Read, path).Bytes()
		priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
		pub, sig := priv.Public().(ed25519.PublicKey), ed25519.Sign(priv, msg)
		base := func() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("the signature does not verify")
			}
		}
		testkit.PairRatios(b, ours, base, 64, time.Nanosecond)
	})
}

// BenchmarkMemoryPerAgent reports the live heap an agent.Counters holds
// per tracked agent ("B/agent": 1000 agents, each called once without a
// token) and per tracked token ("B/token": then 4000 tokens, four per
// agent), and what the service's counters hold when full at their default
// bounds ("KiB-at-bounds": DefaultMaxAgents agents and DefaultMaxTokens
// tokens). The agents' names are made beforehand: the node holds them
// anyway, and the counters' map shares their bytes.
func BenchmarkMemoryPerAgent(b *testing.B) {
	const agents, tokens = 1000, 4000
	ctx := context.Background()
	names := make([]string, agents)
	for i := range names {
		names[i] = fmt.Sprintf("agent-%04d", i)
	}
	ids := make([]capability.ID, tokens)
	for i := range ids {
		copy(ids[i][:], fmt.Sprintf("token-%08d", i))
	}
	clk := testkit.NewClock(testkit.Epoch)
	heap := func() float64 {
		runtime.GC()
		return float64(testkit.HeapBytes())
	}
	var perAgent, perToken []float64
	for b.Loop() {
		c, err := agent.OpenCounters(ctx, agent.CounterConfig{Now: clk.Now})
		if err != nil {
			b.Fatal(err)
		}
		h0 := heap()
		for _, n := range names {
			if err := c.Record(ctx, n, capability.ID{}); err != nil {
				b.Fatal(err)
			}
		}
		h1 := heap()
		for i, id := range ids {
			if err := c.Record(ctx, names[i%agents], id); err != nil {
				b.Fatal(err)
			}
		}
		h2 := heap()
		if a, t := c.Tracked(); a != agents || t != tokens {
			b.Fatalf("the counters track %d agents and %d tokens, want %d and %d", a, t, agents, tokens)
		}
		runtime.KeepAlive(c)
		perAgent = append(perAgent, (h1-h0)/agents)
		perToken = append(perToken, (h2-h1)/tokens)
	}
	a, t := testkit.Quantile(perAgent, 0.5), testkit.Quantile(perToken, 0.5)
	b.ReportMetric(a, "B/agent")
	b.ReportMetric(t, "B/token")
	b.ReportMetric((a*agent.DefaultMaxAgents+t*agent.DefaultMaxTokens)/1024, "KiB-at-bounds")
}

// searchVec is memory_search as calls.MemorySearch runs it (the counters,
// the policy's check of the memory root, then memory.prepare and
// memory.nearest, the real code), but with the query's vector given
// instead of asked of the embeddings provider.
// TestSearchVecFindsWhatMemorySearchFinds keeps it in step.
func searchVec(ctx context.Context, c *calls, name string, vec []float32, k int) ([]agentsock.Memory, error) {
	e, _, err := c.begin(ctx, name, capability.Read, memoryRoot)
	if err != nil {
		return nil, err
	}
	if err := e.policy.CheckPattern(capability.Read, memoryRoot+"/**"); err != nil {
		return nil, err
	}
	m := c.s.mem
	_, idx, err := m.prepare(ctx, c, e)
	if err != nil || idx == nil {
		return []agentsock.Memory{}, err
	}
	return m.nearest(ctx, c, e, idx, vec, k)
}

// searchReads counts the audit records of memory_search's reads.
func searchReads(f *fixture) int {
	n := 0
	for _, r := range f.audit() {
		if r.Op == "resource.read" && r.Detail == "memory_search" {
			n++
		}
	}
	return n
}

func TestSearchVecFindsWhatMemorySearchFinds(t *testing.T) {
	f := newFixture(t, quietCounters)
	f.setupMemory()
	req := helperReq
	req.Can = "read,list,write"
	f.addAgent("helper", req)
	c := &calls{f.svc}
	for _, text := range []string{"Bob likes green tea in the morning", "the car needs new tyres", "Alice drinks black coffee",
		"green paint for the fence", "tea with Bob on Sunday", "the dentist is on Tuesday"} {
		if _, err := c.MemoryAdd(f.ctx, "helper", text); err != nil {
			t.Fatal(err)
		}
	}
	paths := func(ms []agentsock.Memory) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.Path+"="+m.Text)
		}
		return strings.Join(s, ", ")
	}
	for _, q := range []string{"what tea does Bob like", "green", "coffee or tea"} {
		before := searchReads(f)
		want, err := c.MemorySearch(f.ctx, "helper", q, 3)
		if err != nil {
			t.Fatal(err)
		}
		mid := searchReads(f)
		got, err := searchVec(f.ctx, c, "helper", bagOfWords(q), 3)
		if err != nil {
			t.Fatal(err)
		}
		if paths(got) != paths(want) || len(got) == 0 {
			t.Errorf("%q: searchVec finds %s; MemorySearch finds %s", q, paths(got), paths(want))
		}
		if r1, r2 := mid-before, searchReads(f)-mid; r1 != r2 || r1 != len(want) {
			t.Errorf("%q: searchVec wrote %d audited reads, MemorySearch %d, for %d notes", q, r2, r1, len(want))
		}
	}
}

// noteWords are the words synthetic notes are made of.
var noteWords = strings.Fields(`tea coffee bob alice carol dentist car tyres garden fence paint green black red
	monday tuesday wednesday thursday friday saturday sunday morning evening meeting standup lunch dinner
	train flight hotel invoice rent bank doctor school homework piano football birthday gift cake flowers
	project deadline report budget review release bug fix deploy server backup password router printer`)

// note is a synthetic note of 6 to 12 words.
func note(r *rand.Rand) string {
	w := make([]string, 6+r.IntN(7))
	for i := range w {
		w[i] = noteWords[r.IntN(len(noteWords))]
	}
	return strings.Join(w, " ")
}

// randUnit is a random vector of dimension dim (the index normalizes).
func randUnit(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// BenchmarkMemorySearch10k measures memory_search over 10,000 notes,
// the provider excluded: the query's vector is given (searchVec) and the
// index holds the notes' vectors already. Ours is the whole path past
// the provider (counters, policy and token checks, the index search, and
// the k = 10 hits read from the vault, each with its audit record); the
// baseline is the bare broker.Index.Search over the same 10,000 vectors,
// asked for as many hits as memory_search asks (k×4, room for notes the
// agent may not read), paired in the same run with the same query. It
// reports p50 and p90 per query of each ("search-p50-µs",
// "index-p50-µs"), and x. Two sub-benchmarks: dim=64, the fake
// provider's bag of words; dim=1536, random vectors of a common
// provider's size. "provider-p50-µs" is a whole MemorySearch through the
// fake provider on loopback, for scale (dim=64 only; not paired).
func BenchmarkMemorySearch10k(b *testing.B) {
	const notes, k = 10000, 10
	f := newFixture(b, quietCounters)
	f.setupMemory()
	f.addAgent("helper", helperReq)
	c := &calls{f.svc}
	r := rand.New(rand.NewPCG(13, 10000))
	ids := make([]string, notes)
	texts := make([]string, notes)
	for i := range ids {
		ids[i], texts[i] = fmt.Sprintf("%s/%016x", memoryRoot, i), note(r)
		f.put(ids[i], texts[i])
	}
	for _, dim := range []int{64, 1536} {
		b.Run(fmt.Sprintf("dim=%d", dim), func(b *testing.B) {
			idx, err := broker.NewIndex(dim)
			if err != nil {
				b.Fatal(err)
			}
			queries := make([][]float32, 64)
			for i := range ids {
				v := bagOfWords(texts[i])
				if dim != 64 {
					v = randUnit(r, dim)
				}
				if err := idx.Add(ids[i], v); err != nil {
					b.Fatal(err)
				}
			}
			for i := range queries {
				queries[i] = bagOfWords(note(r))
				if dim != 64 {
					queries[i] = randUnit(r, dim)
				}
			}
			f.svc.mem.mu.Lock()
			f.svc.mem.idx = idx // not dirty: Stop does not seal it
			f.svc.mem.mu.Unlock()
			// Each side walks the queries on its own count, so the two of
			// a pair answer the same query whichever goes first.
			var oi, bi int
			ours := func() {
				got, err := searchVec(f.ctx, c, "helper", queries[oi%len(queries)], k)
				oi++
				if err != nil || len(got) != k {
					b.Fatalf("memory_search found %d notes (%v), want %d", len(got), err, k)
				}
			}
			base := func() {
				_, err := idx.Search(queries[bi%len(queries)], min(k*4, MaxMemoryHits))
				bi++
				if err != nil {
					b.Fatal(err)
				}
			}
			p := testkit.Pair(b, 3, testkit.Timed(1, ours), testkit.Timed(1, base))
			b.StopTimer()
			p.ReportX(b)
			testkit.ReportQuantiles(b, "search", p.Ours, time.Microsecond, 0.5, 0.9)
			testkit.ReportQuantiles(b, "index", p.Base, time.Microsecond, 0.5, 0.9)
			if dim != 64 {
				return
			}
			var full []time.Duration
			for i := range 20 {
				t0 := time.Now()
				got, err := c.MemorySearch(f.ctx, "helper", note(r), k)
				full = append(full, time.Since(t0))
				if err != nil || len(got) != k {
					b.Fatalf("MemorySearch %d found %d notes (%v), want %d", i, len(got), err, k)
				}
			}
			testkit.ReportQuantiles(b, "provider", full, time.Microsecond, 0.5)
		})
	}
}
