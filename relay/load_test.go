package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/testkit"
)

// The relay capacity load generator: BenchmarkRelayCapacity.
//
// It runs, in the same run and on the same machine, two relays with the
// same limits, one after the other, each in a process of its own:
//
//   - "raw": go-libp2p's circuit relay v2 as the library ships it
//     (relayv2.New with our Resources, no ACL), on a host built like ours;
//   - "ours": this package's Service (ACL, rate limits, audit, metrics,
//     protection) on the same host.
//
// Both hosts get the relay role's resource manager and connection manager
// (ResourceManager, ConnManager; the latter without its grace period, so
// that the forced trim below sees every connection), so that the
// difference measured is the Service's. Reservations come from many identities spread over a few
// client processes (each identity is a bare libp2p host with one
// connection). Each relay process reports its live heap (after GC), its
// goroutine stacks, its RSS (after returning freed memory to the OS), its
// open file descriptors and its goroutines, before and after the
// reservations; the benchmark reports the differences per reservation.
// Then it forces a connection-manager trim, as the manager does by itself
// once past its high watermark, and reports how many reservations each
// relay still holds.
//
// Run (about 10 minutes on 2 cores; set -timeout past it):
//
//	go test ./relay -run '^$' -bench RelayCapacity -benchtime 1x -timeout 60m
//
// Knobs (environment): OCMT_RELAY_LOAD_N reservations (default 10000),
// OCMT_RELAY_LOAD_CHILDREN client processes (4), OCMT_RELAY_LOAD_TRANSPORT
// tcp or quic (tcp), OCMT_RELAY_LOAD_IMPLS which relays in which order
// (raw,ours).

const (
	loadRoleEnv      = "OCMT_RELAY_LOAD_ROLE" // relay-raw, relay-ours or clients
	loadTransportEnv = "OCMT_RELAY_LOAD_TRANSPORT"
	loadNEnv         = "OCMT_RELAY_LOAD_N"
	loadAddrEnv      = "OCMT_RELAY_LOAD_ADDR"
	loadCountEnv     = "OCMT_RELAY_LOAD_COUNT"
)

// loadConfig is the relay config under load: room for n reservations from
// one loopback address, no per-peer reservation rate (each peer reserves
// once anyway).
func loadConfig(n int) Config {
	return Config{
		Authorizer:            AuthorizerFuncs{RegisteredFunc: func(peer.ID) bool { return true }},
		AllowPrivateAddrs:     true,
		MaxReservations:       n + 256,
		MaxReservationsPerIP:  n + 256,
		MaxReservationsPerASN: n + 256,
		ReservationsPerMinute: -1,
		Audit:                 io.Discard,
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func loadListen(transport string) string {
	if transport == "quic" {
		return "/ip4/127.0.0.1/udp/0/quic-v1"
	}
	return "/ip4/127.0.0.1/tcp/0"
}

// countTracer counts reservations for the raw relay, as our metrics do.
type countTracer struct{ active atomic.Int64 }

func (*countTracer) RelayStatus(bool)                      {}
func (*countTracer) ConnectionOpened()                     {}
func (*countTracer) ConnectionClosed(time.Duration)        {}
func (*countTracer) ConnectionRequestHandled(pbv2.Status)  {}
func (*countTracer) ReservationRequestHandled(pbv2.Status) {}
func (*countTracer) BytesTransferred(int)                  {}
func (c *countTracer) ReservationClosed(n int)             { c.active.Add(-int64(n)) }
func (c *countTracer) ReservationAllowed(renewal bool) {
	if !renewal {
		c.active.Add(1)
	}
}

// TestRelayLoadChild is a process of BenchmarkRelayCapacity: a relay
// (relay-raw, relay-ours) or a client process (clients); run on its own
// it skips.
func TestRelayLoadChild(t *testing.T) {
	switch role := os.Getenv(loadRoleEnv); role {
	case "relay-raw", "relay-ours":
		loadRelayChild(t, role == "relay-ours")
	case "clients":
		loadClientsChild(t)
	default:
		t.Skip("a process of BenchmarkRelayCapacity; runs only when it starts it")
	}
}

func loadRelayChild(t *testing.T, ours bool) {
	transport := os.Getenv(loadTransportEnv)
	cfg := loadConfig(envInt(loadNEnv, 10_000))
	rm, err := ResourceManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// no grace period, so that the forced trim sees every connection
	// (production: a minute)
	cm, err := ConnManager(cfg, connmgr.WithGracePeriod(0))
	if err != nil {
		t.Fatal(err)
	}
	k := keys.GeneratePeerKey()
	h, err := p2phost.New(k.Libp2pPrivKey(), []string{loadListen(transport)}, libp2p.ResourceManager(rm), libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(), libp2p.ForceReachabilityPublic())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var active func() int64
	if ours {
		svc, err := New(h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		active = func() int64 { return int64(value(svc.metrics.reservationsActive)) }
	} else {
		c := &countTracer{}
		dcfg, err := cfg.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		r, err := relayv2.New(h, relayv2.WithResources(dcfg.resources()), relayv2.WithMetricsTracer(c),
			relayv2.WithReservationAddressFilter(dcfg.addressFilter()))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		active = c.active.Load
	}
	fmt.Printf("addr %s/p2p/%s\n", h.Addrs()[0], h.ID())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "stats":
			runtime.GC()
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("stats %d %d %d %d %d %d %d\n", ms.HeapAlloc, ms.StackInuse, rss(), openFDs(), runtime.NumGoroutine(),
				active(), len(h.Network().Conns()))
		case "trim":
			h.ConnManager().TrimOpenConns(context.Background())
			fmt.Println("trimmed")
		default:
			return
		}
	}
}

// rss is the process's resident set in bytes (Linux; 0 elsewhere).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// openFDs counts the process's open file descriptors (Linux; 0 elsewhere).
func openFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(es)
}

// loadClientsChild makes OCMT_RELAY_LOAD_COUNT identities reserve on the
// relay, reports progress, then holds the reservations until its input
// closes.
func loadClientsChild(t *testing.T) {
	transport := os.Getenv(loadTransportEnv)
	n := envInt(loadCountEnv, 1)
	info, err := peer.AddrInfoFromString(os.Getenv(loadAddrEnv))
	if err != nil {
		t.Fatal(err)
	}
	tpt := libp2p.Transport(tcp.NewTCPTransport)
	if transport == "quic" {
		tpt = libp2p.Transport(quic.NewTransport)
	}
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var hosts []io.Closer
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range work {
				k := keys.GeneratePeerKey()
				h, err := libp2p.New(libp2p.Identity(k.Libp2pPrivKey()), libp2p.NoListenAddrs, libp2p.NoTransports, tpt,
					libp2p.Security(noise.ID, noise.New), libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableMetrics())
				if err == nil {
					mu.Lock()
					hosts = append(hosts, h)
					mu.Unlock()
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					_, err = client.Reserve(ctx, h, *info)
					cancel()
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		})
	}
	progress := time.NewTicker(2 * time.Second)
	go func() {
		for range progress.C {
			fmt.Printf("progress %d %d\n", ok.Load(), failed.Load())
		}
	}()
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	progress.Stop()
	e, _ := firstErr.Load().(string)
	fmt.Printf("done %d %d %q\n", ok.Load(), failed.Load(), e)
	io.Copy(io.Discard, os.Stdin) // hold until the benchmark is done
	for _, h := range hosts {
		h.Close()
	}
}

// loadProc is a child process of the benchmark, spoken to by lines.
type loadProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan []string
}

func startLoadProc(b *testing.B, env ...string) *loadProc {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRelayLoadChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &loadProc{cmd: cmd, in: in, lines: make(chan []string, 64)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 0 {
				p.lines <- f
			}
		}
	}()
	return p
}

// next returns the fields after prefix of the next line starting with it.
func (p *loadProc) next(b *testing.B, prefix string, within time.Duration) []string {
	b.Helper()
	timeout := time.After(within)
	for {
		select {
		case f, ok := <-p.lines:
			if !ok {
				b.Fatalf("child ended before %q", prefix)
			}
			if f[0] == prefix {
				return f[1:]
			}
		case <-timeout:
			b.Fatalf("no %q from the child within %v", prefix, within)
		}
	}
}

func (p *loadProc) stop() {
	p.in.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// relayStats is what a relay child reports.
type relayStats struct {
	heap, stack, rss, fds, goroutines, reservations, conns int64
}

func (p *loadProc) stats(b *testing.B) relayStats {
	b.Helper()
	fmt.Fprintln(p.in, "stats")
	f := p.next(b, "stats", time.Minute)
	var v [7]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i], 10, 64)
	}
	return relayStats{v[0], v[1], v[2], v[3], v[4], v[5], v[6]}
}

// loadResult is one relay's run.
type loadResult struct {
	impl                  string
	reserved              int64
	elapsed               time.Duration
	heap, rss, fds, gor   float64 // per reservation
	afterTrim             int64
	clientFailures        int64
	firstClientError      string
	base, loaded, trimmed relayStats
}

// runLoad runs one relay under n reservations from children processes.
func runLoad(b *testing.B, impl, transport string, n, children int) loadResult {
	b.Helper()
	relay := startLoadProc(b, loadRoleEnv+"=relay-"+impl, loadTransportEnv+"="+transport, loadNEnv+"="+strconv.Itoa(n))
	defer relay.stop()
	addr := relay.next(b, "addr", time.Minute)[0]
	if _, err := ma.NewMultiaddr(addr); err != nil {
		b.Fatal(err)
	}
	r := loadResult{impl: impl}
	r.base = relay.stats(b)
	start := time.Now()
	var procs []*loadProc
	for c := range children {
		count := n / children
		if c < n%children {
			count++
		}
		procs = append(procs, startLoadProc(b, loadRoleEnv+"=clients", loadTransportEnv+"="+transport,
			loadAddrEnv+"="+addr, loadCountEnv+"="+strconv.Itoa(count)))
	}
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for _, p := range procs {
		f := p.next(b, "done", 30*time.Minute)
		okN, _ := strconv.ParseInt(f[0], 10, 64)
		failedN, _ := strconv.ParseInt(f[1], 10, 64)
		r.reserved += okN
		r.clientFailures += failedN
		if failedN > 0 && r.firstClientError == "" {
			r.firstClientError, _ = strconv.Unquote(strings.Join(f[2:], " "))
		}
	}
	r.elapsed = time.Since(start)
	// the relay counts a reservation once its answer is written, just before
	// the client reads it
	testkit.PollEvery(time.Minute, time.Second, func() bool { // a child process's count, polled at a human pace
		r.loaded = relay.stats(b)
		return r.loaded.reservations >= r.reserved
	})
	per := func(after, before int64) float64 {
		return float64(after-before) / float64(max(r.loaded.reservations, 1))
	}
	r.heap = per(r.loaded.heap+r.loaded.stack, r.base.heap+r.base.stack)
	r.rss = per(r.loaded.rss, r.base.rss)
	r.fds = per(r.loaded.fds, r.base.fds)
	r.gor = per(r.loaded.goroutines, r.base.goroutines)
	fmt.Fprintln(relay.in, "trim")
	relay.next(b, "trimmed", time.Minute)
	// the trim closes connections asynchronously; the library drops a
	// reservation when its holder's last connection closes: wait until
	// the count holds still for two polls
	still, polled := 0, false
	testkit.PollEvery(30*time.Second, time.Second, func() bool {
		again := relay.stats(b)
		if polled && again.reservations == r.trimmed.reservations {
			still++
		} else {
			still = 0
		}
		r.trimmed, polled = again, true
		return still >= 2
	})
	r.afterTrim = r.trimmed.reservations
	return r
}

// BenchmarkRelayCapacity: see the comment at the top of this file.
func BenchmarkRelayCapacity(b *testing.B) {
	if testing.Short() {
		b.Skip("a load run: skipped in -short")
	}
	n := envInt(loadNEnv, 10_000)
	children := envInt("OCMT_RELAY_LOAD_CHILDREN", 4)
	transport := os.Getenv(loadTransportEnv)
	if transport == "" {
		transport = "tcp"
	}
	impls := strings.Split(os.Getenv("OCMT_RELAY_LOAD_IMPLS"), ",")
	if impls[0] == "" {
		impls = []string{"raw", "ours"}
	}
	results := map[string]loadResult{}
	for range b.N {
		for _, impl := range impls {
			if impl != "raw" && impl != "ours" {
				b.Fatal(errors.New("OCMT_RELAY_LOAD_IMPLS takes raw and ours"))
			}
			r := runLoad(b, impl, transport, n, children)
			results[impl] = r
			b.Logf("%s over %s: %d of %d reservations held (%d client failures%s) in %v; per reservation: heap+stacks %.0f B, RSS %.0f B, %.2f fds, %.2f goroutines; after a forced trim %d held; relay totals loaded: heap %d MiB, RSS %d MiB, %d fds, %d conns",
				impl, transport, r.loaded.reservations, n, r.clientFailures, errNote(r.firstClientError), r.elapsed.Round(time.Second),
				r.heap, r.rss, r.fds, r.gor, r.afterTrim, (r.loaded.heap+r.loaded.stack)>>20, r.loaded.rss>>20, r.loaded.fds, r.loaded.conns)
			b.ReportMetric(float64(r.loaded.reservations), impl+"-reservations")
			b.ReportMetric(r.heap, impl+"-heap-B/rsv")
			b.ReportMetric(r.rss, impl+"-rss-B/rsv")
			b.ReportMetric(r.fds, impl+"-fds/rsv")
			b.ReportMetric(float64(r.afterTrim), impl+"-after-trim")
		}
	}
	if raw, ok := results["raw"]; ok {
		if ours, ok := results["ours"]; ok && raw.heap > 0 && raw.rss > 0 {
			b.ReportMetric(ours.heap/raw.heap, "heap-ours/raw")
			b.ReportMetric(ours.rss/raw.rss, "rss-ours/raw")
		}
	}
}

func errNote(e string) string {
	if e == "" {
		return ""
	}
	return "; first: " + e
}
