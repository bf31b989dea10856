package infra

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/relayaccess"
	"github.com/ocmt/mesh/relay"
)

// BenchmarkRelayAdmission: OCMT_ADMISSION_N (default 1000) registered
// nodes start reserving on one relay at the same moment, each as
// internal/meshnet's keeper does (a refused reservation is tried again
// after meshnet.DefaultRetryFirst, doubling to DefaultRetryMax), and the
// benchmark reports how long each took to hold a reservation (p50, p95,
// p99), how many attempts the relay refused, and how many nodes had none
// by OCMT_ADMISSION_DEADLINE (default 150 s).
//
// It runs four ways in the same process, one after another (a fresh
// bootstrap and relay each time, on pebble stores in temporary folders,
// the directory filled beforehand with the nodes' pre-signed records):
//
//   - "old": the relay as it was, asking the bootstrap about every
//     reserving peer (no lookup budget), the bootstrap holding the relay
//     to the per-peer limit of 5 requests a second, burst 20, like any
//     peer; the nodes present nothing;
//   - "new": the bootstrap names the relay as infrastructure, each node
//     holds the voucher it got when it registered (fetched before the
//     clock starts, see fetchVouchers) and presents it with its record
//     before reserving;
//   - "old+flood" and "new+flood": the same while OCMT_ADMISSION_FLOODERS
//     (default 32) loops reserve from fresh unregistered identities as
//     fast as they can, each a new bare host that dials, asks for a
//     reservation and closes.
//
// The flood makes floodWarmup reservation attempts before the nodes
// start, so it is in full swing when they do.
//
// The order alternates (old, new, new+flood, old+flood), so a trend in
// the machine's load falls on both. Every node is a bare libp2p host
// (TCP, Noise, no resource manager) built before the clock starts.
//
//	go test ./node/infra -run '^$' -bench RelayAdmission -benchtime 1x -timeout 30m
//
// OCMT_ADMISSION_RUNS (comma-separated names) runs only some of the four.
func BenchmarkRelayAdmission(b *testing.B) {
	if testing.Short() {
		b.Skip("a load run: skipped in -short")
	}
	n := admissionEnv("OCMT_ADMISSION_N", 1000)
	flooders := admissionEnv("OCMT_ADMISSION_FLOODERS", 32)
	deadline := time.Duration(admissionEnv("OCMT_ADMISSION_DEADLINE", 150)) * time.Second
	b.Logf("pre-signing %d records", n)
	nodes := signedNodes(b, n)
	type variant struct {
		name         string
		vouch, flood bool
	}
	order := []variant{{"old", false, false}, {"new", true, false}, {"new+flood", true, true}, {"old+flood", false, true}}
	if only := os.Getenv("OCMT_ADMISSION_RUNS"); only != "" {
		order = slices.DeleteFunc(order, func(o variant) bool { return !slices.Contains(strings.Split(only, ","), o.name) })
	}
	p95 := map[string][]float64{} // per variant, per iteration
	for i := range b.N {
		run := slices.Clone(order)
		if i%2 == 1 {
			slices.Reverse(run) // alternate the order, so a drift in load falls on both sides
		}
		for _, o := range run {
			r := runAdmission(b, nodes, o.vouch, o.flood, flooders, deadline)
			fmt.Printf("%-9s %d nodes: p50 %v, p95 %v, p99 %v, max %v; %d refusals; %d with no reservation after %v; flood %.0f attempts/s before the nodes started, %.0f/s while they reserved; relay asked the bootstrap %d times; refusals: %s",
				o.name, n, r.p(0.50), r.p(0.95), r.p(0.99), r.p(1), r.refusals, r.missing, deadline, r.floodWarm, r.floodRate, r.asked, r.errs)
			fmt.Println()
			tag := strings.ReplaceAll(o.name, "+", "-")
			b.ReportMetric(r.p(0.50).Seconds(), tag+"-p50-s")
			b.ReportMetric(r.p(0.95).Seconds(), tag+"-p95-s")
			b.ReportMetric(r.p(0.99).Seconds(), tag+"-p99-s")
			b.ReportMetric(float64(r.refusals), tag+"-refusals")
			b.ReportMetric(float64(r.missing), tag+"-missing")
			p95[o.name] = append(p95[o.name], r.p(0.95).Seconds())
		}
	}
	// The flood's cost: p95 with the flood over p95 without, per iteration
	// (a pair measured back to back), median and spread.
	for _, side := range []string{"new", "old"} {
		with, without := p95[side+"+flood"], p95[side]
		if len(with) == 0 || len(with) != len(without) {
			continue
		}
		ratios := make([]float64, len(with))
		for i := range with {
			ratios[i] = with[i] / without[i]
		}
		slices.Sort(ratios)
		fmt.Printf("%s: p95 with the flood / without, median of %d pairs %.2f (%.2f–%.2f)", side, len(ratios), ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1])
		fmt.Println()
		b.ReportMetric(ratios[len(ratios)/2], side+"-flood/no-flood-p95")
	}
}

// floodWarmup is how many attempts the flood makes before the nodes
// start (about 5 s of it at the 170–230 a second measured here).
const floodWarmup = 1000

func admissionEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

type admissionNode struct {
	key    keys.PeerKey
	record *directory.SignedRecord
}

type admissionResult struct {
	took      []time.Duration // sorted; a node with no reservation counts as the deadline
	refusals  int64
	missing   int
	floodRate float64 // flood attempts a second while the nodes reserved
	floodWarm float64 // and before they started
	asked     int64
	errs      string // the commonest refusals
}

// errCounts counts refusals by their text, peer IDs aside.
type errCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (e *errCounts) note(err error) {
	msg := err.Error()
	if i := strings.Index(msg, "\n"); i >= 0 { // a dial's list of addresses: keep the first one's reason
		msg = msg[:strings.Index(msg, ":")] + ":" + msg[i:]
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 160 {
		msg = msg[:160]
	}
	e.mu.Lock()
	e.m[msg]++
	e.mu.Unlock()
}

func (e *errCounts) top(k int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	type kv struct {
		msg string
		n   int
	}
	var all []kv
	for m, n := range e.m {
		all = append(all, kv{m, n})
	}
	slices.SortFunc(all, func(a, b kv) int { return b.n - a.n })
	var out []string
	for _, x := range all[:min(k, len(all))] {
		out = append(out, fmt.Sprintf("%d× %q", x.n, x.msg))
	}
	return strings.Join(out, ", ")
}

// p is the q-quantile of the times (nearest rank).
func (r admissionResult) p(q float64) time.Duration {
	if len(r.took) == 0 {
		return 0
	}
	i := int(q*float64(len(r.took))+0.999999) - 1
	return r.took[min(max(i, 0), len(r.took)-1)].Round(10 * time.Millisecond)
}

// bareHost is one node or flooder (bootstrapload_test.go's newBareHost),
// closed by its caller: a flood makes thousands.
func bareHost(b *testing.B, k *keys.PeerKey) host.Host {
	h, err := newBareHost(k)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func benchHome(b *testing.B, name string) home.Home {
	d, err := os.MkdirTemp("", "a"+name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return home.Home(d)
}

func runAdmission(b *testing.B, nodes []admissionNode, vouch, flood bool, flooders int, deadline time.Duration) admissionResult {
	ctx := context.Background()
	bootHome, relHome := benchHome(b, "boot"), benchHome(b, "relay")
	fillDirectoryOf(b, bootHome, nodes)
	rk, err := home.LoadOrCreateIdentity(relHome)
	if err != nil {
		b.Fatal(err)
	}
	relayID := rk.ID()
	rk.Wipe()
	var asked atomic.Int64
	bcfg := Config{Home: bootHome, Listen: loopback, WrapHost: func(h host.Host) host.Host { return askCounter{Host: h, from: relayID, n: &asked} }}
	lookupRate := -1.0 // old: ask about everyone
	if vouch {
		bcfg.Infrastructure, lookupRate = []peer.ID{relayID}, 0
	}
	boot, err := StartBootstrap(ctx, bcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer boot.Close()
	n := len(nodes)
	rel, err := StartRelay(ctx, RelayConfig{Config: Config{Home: relHome, Listen: loopback}, Bootstrap: boot.Addrs(), DirectoryLookupRate: lookupRate,
		Relay: relay.Config{AllowPrivateAddrs: true, MaxReservations: n + 256, MaxReservationsPerIP: n + 256, MaxReservationsPerASN: n + 256}})
	if err != nil {
		b.Fatal(err)
	}
	defer rel.Close()
	bootInfo, relInfo := p2phost.Merge(mustInfos(boot.Addrs())), p2phost.Merge(mustInfos(rel.Addrs()))

	hosts := make([]host.Host, n)
	for i := range nodes {
		hosts[i] = bareHost(b, &nodes[i].key)
	}
	defer func() {
		for _, h := range hosts {
			h.Close()
		}
	}()
	regs := make([]*relayaccess.Registration, n)
	if vouch {
		fetchVouchers(b, hosts, regs, bootInfo)
	}

	stop := make(chan struct{})
	var floodN atomic.Int64
	var fwg sync.WaitGroup
	if flood {
		for range flooders {
			fwg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					k := keys.GeneratePeerKey()
					h := bareHost(b, &k)
					fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					client.Reserve(fctx, h, relInfo)
					cancel()
					h.Close()
					floodN.Add(1)
				}
			})
		}
	}

	var warm int64
	var warmFor time.Duration
	if flood { // the flood is in full swing before the nodes start
		began := time.Now()
		if !testkit.Poll(2*time.Minute, func() bool { return floodN.Load() >= floodWarmup }) {
			b.Fatalf("the flood made %d attempts in 2 minutes, want %d before the nodes start", floodN.Load(), floodWarmup)
		}
		warm, warmFor = floodN.Load(), time.Since(began)
	}
	start := time.Now()
	end := start.Add(deadline)
	took := make([]time.Duration, n)
	var refusals atomic.Int64
	errs := &errCounts{m: map[string]int{}}
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			took[i] = deadline
			reg := regs[i]
			wait := meshnet.DefaultRetryFirst
			for time.Now().Before(end) {
				actx, cancel := context.WithTimeout(ctx, 15*time.Second)
				err := admit(actx, h, bootInfo, relInfo, vouch, &reg)
				cancel()
				if err == nil {
					took[i] = time.Since(start)
					return
				}
				refusals.Add(1)
				errs.note(err)
				select {
				case <-time.After(wait): // the keeper's backoff, as meshnet paces it
				case <-time.After(time.Until(end)):
				}
				wait = min(2*wait, meshnet.DefaultRetryMax)
			}
		})
	}
	wg.Wait()
	close(stop)
	fwg.Wait()
	floodSecs := time.Since(start).Seconds()
	r := admissionResult{took: took, refusals: refusals.Load(), asked: asked.Load(), errs: errs.top(3)}
	slices.Sort(r.took)
	for _, d := range took {
		if d >= deadline {
			r.missing++
		}
	}
	if flood {
		r.floodWarm = float64(warm) / warmFor.Seconds()
		r.floodRate = float64(floodN.Load()-warm) / floodSecs
	}
	return r
}

// fetchVouchers gets each node its voucher before the clock starts, 8 at a
// time, each over a connection it then closes: a node asks for its
// voucher when it publishes its record, long before a relay restart sends
// every node to reserve at once (and the bootstrap, on libp2p's default
// resource limits, takes only so many connections at once).
func fetchVouchers(b *testing.B, hosts []host.Host, regs []*relayaccess.Registration, boot peer.AddrInfo) {
	var wg sync.WaitGroup
	work := make(chan int)
	var failed atomic.Int64
	for range 8 {
		wg.Go(func() {
			for i := range work {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := hosts[i].Connect(ctx, boot)
				if err == nil {
					regs[i], err = relayaccess.FetchVoucher(ctx, hosts[i], boot.ID)
				}
				cancel()
				hosts[i].Network().ClosePeer(boot.ID)
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	for i := range hosts {
		work <- i
	}
	close(work)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Logf("%d nodes got no voucher beforehand; they ask during the run", f)
	}
}

// admit is one attempt of a node: with vouch, a voucher from the
// bootstrap (kept once it has one) presented to the relay; then the
// reservation.
func admit(ctx context.Context, h host.Host, boot, rel peer.AddrInfo, vouch bool, reg **relayaccess.Registration) error {
	if sw, ok := h.Network().(*swarm.Swarm); ok { // the keeper paces its own dials (meshnet's clearDialBackoff)
		sw.Backoff().Clear(rel.ID)
		sw.Backoff().Clear(boot.ID)
	}
	if vouch && *reg == nil {
		if err := h.Connect(ctx, boot); err != nil {
			return fmt.Errorf("bootstrap dial: %w", err)
		}
		v, err := relayaccess.FetchVoucher(ctx, h, boot.ID)
		if err != nil {
			return fmt.Errorf("voucher: %w", err)
		}
		*reg = v
	}
	if err := h.Connect(ctx, rel); err != nil {
		return fmt.Errorf("relay dial: %w", err)
	}
	if vouch {
		if err := relayaccess.Register(ctx, h, rel.ID, *reg); err != nil {
			return fmt.Errorf("register: %w", err)
		}
	}
	if _, err := client.Reserve(ctx, h, rel); err != nil {
		return fmt.Errorf("reserve: %w", err)
	}
	return nil
}
