package agent

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

// BenchmarkCallPath compares, in one run, the owner's verification of a
// read with the agent's path for the same read: policy, chain ceiling,
// the same verification and the counters (the key proof is the node's
// and costs the same for both). Goal: agent/owner ≤ 1.1.
func BenchmarkCallPath(b *testing.B) {
	ctx := context.Background()
	owner, agentKey := testkit.Key(b, "owner"), testkit.Key(b, "agent")
	clk := testkit.NewClock(testkit.Epoch)
	v := capability.NewVerifier(capability.Config{Clock: clk.Now})
	p, _ := NewPolicy("helper", agentKey.ID(), 0, []capability.Pattern{"calendar/**"})
	params, _ := p.Grant("calendar/**", capability.Read, testkit.Epoch.Add(-time.Hour), testkit.Epoch.Add(time.Hour))
	agentTok, _ := capability.Issue(owner, params)
	params.Ceiling = 0
	ownerTok, _ := capability.Issue(owner, params) // the same grant without a ceiling
	req := capability.Request{Remote: agentKey.ID(), Owner: owner.ID(), Resource: "calendar/work/today", Action: capability.Read}
	c, _ := OpenCounters(ctx, CounterConfig{Now: clk.Now, MinPerHour: 1 << 30, NewAgentCap: 1 << 30})
	b.Run("owner", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Verify(ctx, ownerTok, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("agent", func(b *testing.B) {
		id := agentTok.ID()
		for b.Loop() {
			if _, err := p.Authorize(ctx, v, agentTok, req); err != nil {
				b.Fatal(err)
			}
			if err := c.Record(ctx, "helper", id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRecord is the counters alone, the clock moving a second per
// call.
func BenchmarkRecord(b *testing.B) {
	ctx := context.Background()
	clk := testkit.NewClock(testkit.Epoch)
	c, _ := OpenCounters(ctx, CounterConfig{Now: clk.Now, MinPerHour: 1 << 30, NewAgentCap: 1 << 30})
	id := tokID(1)
	for b.Loop() {
		clk.Advance(time.Second)
		c.Record(ctx, "helper", id)
	}
}

// BenchmarkMemoryPerIdentity reports the heap one tracked agent and one
// tracked token take.
func BenchmarkMemoryPerIdentity(b *testing.B) {
	ctx := context.Background()
	const n = 1000
	for b.Loop() {
		clk := testkit.NewClock(testkit.Epoch)
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c, _ := OpenCounters(ctx, CounterConfig{Now: clk.Now, MaxAgents: n, MaxTokens: n})
		for i := range n {
			c.Record(ctx, fmt.Sprintf("agent-%d", i), tokID(i))
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "B/agent+token")
		runtime.KeepAlive(c)
	}
}
