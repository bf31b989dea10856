package node

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// BenchmarkFetch measures `mesh get` (resolve, pick the grant, share
// request, verify, audited vault read) directly and through the relay, in
// one mesh: two pairs of home nodes, one reachable directly and one behind
// its firewall, fetched from alternately (the order swapped every pair).
// It reports p50 and p99 of each path over all its fetches (use
// -benchtime 1000x, so p99 rests on 10 samples), and the median of the
// per-pair ratios relayed/direct as "x" with its 10th–90th percentiles.
func BenchmarkFetch(b *testing.B) {
	ctx := context.Background()
	m := startInfra(b)
	pair := func(owner, grantee string, firewall bool) func() time.Duration {
		fast := func(c *Config) { c.Firewall, c.ShareRate = firewall, 1e6 }
		alice := m.startNodeWith(b, owner, "pw", fast)
		bob := m.startNodeWith(b, grantee, "pw", fast)
		alice.PutResource(ctx, "calendar/work", make([]byte, 1024))
		if _, err := alice.Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: grantee, Can: "read", ValidFor: time.Hour}); err != nil {
			b.Fatal(err)
		}
		waitFor(b, grantee+" holds the grant", func() bool { g, _ := bob.Shared(ctx); return len(g) == 1 })
		path := owner + "/calendar/work"
		if _, err := bob.Fetch(ctx, path); err != nil {
			b.Fatal(err)
		}
		relayed := false
		for _, c := range bob.Host().Network().ConnsToPeer(alice.ID()) {
			_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
			relayed = relayed || err == nil
		}
		if relayed != firewall {
			b.Fatalf("%s fetches from %s relayed = %v, want %v", grantee, owner, relayed, firewall)
		}
		return func() time.Duration {
			t0 := time.Now()
			if _, err := bob.Fetch(ctx, path); err != nil {
				b.Fatal(err)
			}
			return time.Since(t0)
		}
	}
	direct := pair("alice", "bob", false)
	relayed := pair("carol", "dave", true)
	// Ten warm pairs: connections, caches.
	p := testkit.Pair(b, 10, relayed, direct)
	b.StopTimer()
	testkit.ReportQuantiles(b, "direct", p.Base, time.Microsecond, 0.50, 0.99)
	testkit.ReportQuantiles(b, "relayed", p.Ours, time.Microsecond, 0.50, 0.99)
	p.ReportX(b)
}

// BenchmarkHomeNodeMemory measures what a running home node holds, per
// node, in an in-process mesh of MESH_BENCH_NODES home nodes (default 100;
// 10 under -short), against as many bare libp2p hosts with the same
// transports (TCP and QUIC on loopback, Noise, the relay client, hole
// punching, AutoNAT v2), each connected to the same bootstrap and relay.
// Each iteration is one pair: the home nodes (restarted from their homes,
// unlocked, holding a relay reservation) and the bare hosts are started,
// measured and closed in turn, the order alternating every pair. Per node:
// live heap after GC ("heap"), heap plus goroutine stacks ("heap+stacks")
// and resident memory (RSS, which also holds what pebble allocates outside
// Go's heap when built with cgo). Reports the median of the pair ratios
// ours/baseline ("x") with min–max, and the median KiB per node of each
// side. Goal: x ≤ 1.2. MESH_BENCH_HEAP_PROFILE=PREFIX writes the heap
// profiles of the last pair, to compare with go tool pprof -diff_base.
// Run: go test ./node -run '^$' -bench HomeNodeMemory -benchtime 5x
func BenchmarkHomeNodeMemory(b *testing.B) {
	n := 100
	if testing.Short() {
		n = 10
	}
	if s := os.Getenv("MESH_BENCH_NODES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("MESH_BENCH_NODES=%q: want a count of nodes", s)
		}
	}
	ctx := context.Background()
	m := startInfra(b)
	homes := make([]Home, n)
	for i := range homes {
		homes[i] = shortDir(b, fmt.Sprint("mem", i))
		if _, err := Init(ctx, homes[i], InitOptions{Password: []byte("pw"), KDF: vault.TestKDF(), Handle: fmt.Sprintf("mem%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	relay, err := peer.AddrInfoFromString(m.relayAddr)
	if err != nil {
		b.Fatal(err)
	}
	boot, err := peer.AddrInfoFromString(m.bootAddrs[0])
	if err != nil {
		b.Fatal(err)
	}
	ours := func(tb testing.TB) (stop func()) {
		nodes := make([]*Node, n)
		for i, h := range homes {
			cfg := Config{Home: h, Listen: p2phost.DefaultListen(), Bootstrap: m.bootAddrs, Relays: []string{m.relayAddr}, Firewall: true}
			nd, err := Start(ctx, cfg)
			if err != nil {
				tb.Fatal(err)
			}
			nodes[i] = nd
			if err := nd.Unlock(ctx, []byte("pw")); err != nil {
				tb.Fatal(err)
			}
		}
		for i, nd := range nodes {
			waitFor(tb, fmt.Sprintf("home node %d holds a relay reservation", i), func() bool { return nd.net.HasReservation() })
		}
		return func() {
			for _, nd := range nodes {
				nd.Close()
			}
		}
	}
	bare := func(tb testing.TB) (stop func()) {
		hosts := make([]host.Host, n)
		for i := range hosts {
			k := keys.GeneratePeerKey()
			h, err := p2phost.New(k.Libp2pPrivKey(), p2phost.DefaultListen(),
				libp2p.EnableRelay(), libp2p.EnableHolePunching(), libp2p.EnableAutoNATv2())
			if err != nil {
				tb.Fatal(err)
			}
			hosts[i] = h
			for _, ai := range []*peer.AddrInfo{boot, relay} {
				cctx, cancel := context.WithTimeout(ctx, waitLimit)
				err := h.Connect(cctx, *ai)
				cancel()
				if err != nil {
					tb.Fatal(err)
				}
			}
		}
		return func() {
			for _, h := range hosts {
				h.Close()
			}
		}
	}
	pairMemory(b, n, ours, bare)
}

// pairMemory measures ours and base, n nodes each, one pair per iteration
// with the order alternating, and reports per node the median of the pair
// ratios with min–max, and the median KiB of each side.
func pairMemory(b *testing.B, n int, ours, base func(testing.TB) func()) {
	profile := os.Getenv("MESH_BENCH_HEAP_PROFILE") // a prefix: writes PREFIX-ours.pprof and PREFIX-base.pprof
	if profile != "" {
		runtime.MemProfileRate = 512
	}
	measure := func(start func(testing.TB) func(), name string) memPerNode {
		before := memNow()
		stop := start(b)
		after := memNow()
		if profile != "" {
			writeHeapProfile(b, profile+"-"+name+".pprof")
		}
		stop()
		return after.sub(before).per(n)
	}
	measure(ours, "ours") // warm up: first starts, first connections
	measure(base, "base")
	var heapX, stackX, rssX []float64
	var oursM, baseM []memPerNode
	swap := false
	for b.Loop() {
		var o, s memPerNode
		if swap {
			s, o = measure(base, "base"), measure(ours, "ours")
		} else {
			o, s = measure(ours, "ours"), measure(base, "base")
		}
		swap = !swap
		oursM, baseM = append(oursM, o), append(baseM, s)
		heapX = append(heapX, o.heap/s.heap)
		stackX = append(stackX, (o.heap+o.stacks)/(s.heap+s.stacks))
		rssX = append(rssX, o.rss/s.rss)
		b.Logf("pair %d: heap %.0f / %.0f KiB per node (%.3f×), heap+stacks %.3f×, RSS %.0f / %.0f KiB (%.3f×)",
			len(heapX), o.heap/1024, s.heap/1024, heapX[len(heapX)-1], stackX[len(stackX)-1], o.rss/1024, s.rss/1024, rssX[len(rssX)-1])
	}
	b.StopTimer()
	kib := func(ms []memPerNode, f func(memPerNode) float64) float64 {
		var out []float64
		for _, m := range ms {
			out = append(out, f(m)/1024)
		}
		return testkit.Quantile(out, 0.5)
	}
	heap := func(m memPerNode) float64 { return m.heap }
	rss := func(m memPerNode) float64 { return m.rss }
	reportSpread(b, heapX, "heap-x")
	reportSpread(b, stackX, "heap+stacks-x")
	reportSpread(b, rssX, "rss-x")
	b.ReportMetric(kib(oursM, heap), "ours-heap-KiB")
	b.ReportMetric(kib(baseM, heap), "base-heap-KiB")
	b.ReportMetric(kib(oursM, rss), "ours-rss-KiB")
	b.ReportMetric(kib(baseM, rss), "base-rss-KiB")
}

// writeHeapProfile writes the live heap to path (compare two with
// go tool pprof -diff_base).
func writeHeapProfile(b testing.TB, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// memSample is the process's memory at one moment, after a full GC with
// freed memory returned to the OS.
type memSample struct{ heap, stacks, rss float64 }

// memPerNode is a difference of samples, per node.
type memPerNode memSample

func memNow() memSample {
	runtime.GC()
	debug.FreeOSMemory() // also a GC: the heap is live objects only, RSS without freed spans
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var rss float64
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseFloat(f[1], 64)
			rss = pages * float64(os.Getpagesize())
		}
	}
	return memSample{heap: float64(ms.HeapAlloc), stacks: float64(ms.StackInuse), rss: rss}
}

func (a memSample) sub(b memSample) memSample {
	return memSample{a.heap - b.heap, a.stacks - b.stacks, a.rss - b.rss}
}

func (a memSample) per(n int) memPerNode {
	return memPerNode{a.heap / float64(n), a.stacks / float64(n), a.rss / float64(n)}
}

// reportSpread reports the median of xs as unit, and its min and max.
func reportSpread(b *testing.B, xs []float64, unit string) {
	b.ReportMetric(testkit.Quantile(xs, 0.5), unit)
	b.ReportMetric(slices.Min(xs), unit+"-min")
	b.ReportMetric(slices.Max(xs), unit+"-max")
}
