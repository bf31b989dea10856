//go:build linux

package revgossip

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sys/unix"

	"github.com/ocmt/mesh/internal/testkit"
)

// The hop-count model (issue 19, item 4). BenchmarkPropagationVsRaw runs
// every node in one process on the machine's cores, so what it measures
// at 10 nodes and more is mostly the nodes waiting for a CPU.
// BenchmarkPropagationPerHost runs each node as its own process in its own
// network namespace, behind a link that delays every packet, as nodes on
// their own hosts are: there the time to reach the last node follows the
// hops the record takes, not the number of nodes,
//
//	time to the last node ≈ fixed + hops × (link hop + per-hop processing)
//
// and the benchmark fits exactly that to its records (ms-per-added-hop is
// the slope, to compare with link-hop-ms).
//
// The link. A node's only interface is a TUN device (mesh0,
// 10.215.0.<i+1>/24); the benchmark process reads every packet from every
// node's TUN and writes it into the destination node's TUN perHostHop
// later: the switch of a star network whose links each delay
// perHostLinkDelay one way. A packet crosses the sender's link and the
// receiver's, so one hop between two nodes costs 2 × 2 ms = 4 ms one way
// (a round trip, 8 ms). The benchmark measures it (libp2p ping between
// two nodes, half the round trip), reports it as link-hop-ms, the timer's
// lateness and the switch's copying included, and fails if it is shorter
// than modelled.
//
// Why not veth pairs to a bridge with tc netem: the kernel this was
// written on (a Firecracker VM's) has no netem qdisc, nor fq for a BPF
// earliest-departure delay, so the benchmark would only ever skip there.
// TUN is in every kernel the project runs on, and a delay kept by the
// switch is exactly the one asked for, at the cost of two copies and a
// timer per packet in the benchmark process.
//
// Times cross processes: every node stamps arrivals with the wall clock
// (CLOCK_REALTIME), which all processes on one machine read from the same
// kernel clock, so a node's arrival minus the publisher's start is a
// duration; Go's monotonic readings are per process and are not used.
//
// Each node runs with GOMAXPROCS=1 (unless the environment sets
// GOMAXPROCS): twenty runtimes each with a P per core spin and collect
// against each other on a two-core machine, which nodes on hosts of their
// own would not; with one P each, the time a further hop adds is the
// link's (see the report in the log).
//
// Run as root (network namespaces, /dev/net/tun); it skips otherwise:
//
//	go test -run '^$' -bench PropagationPerHost -benchtime=1x ./protocols/revgossip/
const (
	perHostLinkDelay = 2 * time.Millisecond
	perHostHop       = 2 * perHostLinkDelay // a packet crosses two links
	perHostSubnet    = "10.215.0."          // node i is perHostSubnet+(i+1), /24
	perHostPort      = 4001
	perHostMsgs      = 300
	perHostWarm      = 20
	perHostTimeout   = 20 * time.Second // one record reaching every node, on a loaded machine
	perHostPings     = 20
	perHostFitMin    = 10 // records a hop count needs to be fitted
)

// BenchmarkPropagationPerHost is BenchmarkPropagationVsRaw with each node
// on its own host (see the hop-count model above): 10 and 20 nodes, the
// same topology (each node dials the next and 3 random others), the same
// paired records (300 after 20 to warm up, each published on our topic
// and on the raw one from the same random node, the order alternating),
// the same times (publish to the last node's arrival: ours in force in its
// Set, raw past its validator). It reports p50/p90/p99 of each, the median
// of the per-record ratios ours/raw with their 10th and 90th percentiles,
// the measured link hop, the hop count of each record's last arrival
// (from each node's first copy's sender: the delivery tree), time per hop,
// and the diameter of each topic's mesh. Skipped under -short.
func BenchmarkPropagationPerHost(b *testing.B) {
	for _, n := range []int{10, 20} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			if testing.Short() {
				b.Skip("starts a process and a network namespace per node")
			}
			perHostPreflight(b)
			net := startPerHostNet(b, n)
			benchPerHost(b, net)
		})
	}
}

// perHostPreflight skips, saying why, where nodes cannot have hosts of
// their own.
func perHostPreflight(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: each node runs in its own network namespace behind a TUN link (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		b.Skip("needs iproute2 (ip) for the network namespaces")
	}
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		b.Skipf("needs /dev/net/tun for the nodes' links: %v", err)
	}
	f.Close()
	sweepPerHostNamespaces()
}

// perHostNSPrefix starts every network namespace the benchmark makes,
// followed by the pid of the process that made it.
const perHostNSPrefix = "ocmt-ph"

// sweepPerHostNamespaces removes the namespaces of earlier runs whose
// process is gone (killed before its cleanup ran: a test timeout, kill
// -9); those of a live process, maybe a run beside this one, stay.
func sweepPerHostNamespaces() {
	entries, err := os.ReadDir("/var/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), perHostNSPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			exec.Command("ip", "netns", "del", e.Name()).Run()
		}
	}
}

// perHostNode is one node's process, as the benchmark sees it.
type perHostNode struct {
	i      int
	ns     string // its network namespace
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	addr   string // multiaddr with /p2p/
	id     peer.ID
	re     chan []string // answers, in order
	stderr testkit.Buffer
	mu     sync.Mutex // serialises requests
}

// ask sends a request and returns the answer's words.
func (c *perHostNode) ask(tb testing.TB, within time.Duration, req string) []string {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.stdin, req+"\n"); err != nil {
		tb.Fatalf("node %d: writing %q: %v\n%s", c.i, firstWord(req), err, tail(c.stderr.String()))
	}
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case words, ok := <-c.re:
		if !ok {
			tb.Fatalf("node %d ended before answering %q:\n%s", c.i, firstWord(req), tail(c.stderr.String()))
		}
		if len(words) > 0 && words[0] == "err" {
			tb.Fatalf("node %d: %s: %s", c.i, firstWord(req), strings.Join(words[1:], " "))
		}
		return words
	case <-timer.C:
		tb.Fatalf("node %d did not answer %q within %v:\n%s", c.i, firstWord(req), within, tail(c.stderr.String()))
		return nil
	}
}

func (c *perHostNode) send(tb testing.TB, line string) {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		tb.Fatalf("node %d: writing %q: %v\n%s", c.i, firstWord(line), err, tail(c.stderr.String()))
	}
}

func firstWord(s string) string { return strings.SplitN(s, " ", 2)[0] }

// tail is the end of a node's stderr, for a failure message.
func tail(s string) string {
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// perHostKey names one record on one topic: its ID (ours: the
// revocation's; raw: the SHA-256 of its bytes) in hex.
type perHostKey struct{ kind, id string }

// perHostLog is what the nodes said, gathered from their stdouts.
type perHostLog struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	starts  map[perHostKey]int64
	arrived map[perHostKey]map[int]int64 // node → Unix ns
	from    map[perHostKey]map[int]peer.ID
	mesh    map[string][]map[peer.ID]bool // kind → node → mesh peers
	fails   []string
	ended   []int // nodes whose stdout closed
	churn   int   // grafts, prunes and drops said so far
}

func newPerHostLog(n int) *perHostLog {
	l := &perHostLog{changed: make(chan struct{}), starts: map[perHostKey]int64{},
		arrived: map[perHostKey]map[int]int64{}, from: map[perHostKey]map[int]peer.ID{},
		mesh: map[string][]map[peer.ID]bool{}}
	for _, k := range []string{"ours", "raw"} {
		l.mesh[k] = make([]map[peer.ID]bool, n)
		for i := range n {
			l.mesh[k][i] = map[peer.ID]bool{}
		}
	}
	return l
}

// read takes node c's lines until its stdout ends.
func (l *perHostLog) read(c *perHostNode, stdout io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != perHostTag {
			continue
		}
		f = f[1:]
		switch f[0] {
		case "addr":
			if len(f) == 2 {
				addr <- f[1]
			}
			continue
		case "re":
			c.re <- f[1:]
			continue
		}
		l.mu.Lock()
		switch {
		case f[0] == "arrive" && len(f) == 4:
			k := perHostKey{f[1], f[2]}
			if l.arrived[k] == nil {
				l.arrived[k] = map[int]int64{}
			}
			l.arrived[k][c.i], _ = strconv.ParseInt(f[3], 10, 64)
		case f[0] == "start" && len(f) == 4:
			l.starts[perHostKey{f[1], f[2]}], _ = strconv.ParseInt(f[3], 10, 64)
		case f[0] == "from" && len(f) == 4:
			k := perHostKey{f[1], f[2]}
			if l.from[k] == nil {
				l.from[k] = map[int]peer.ID{}
			}
			l.from[k][c.i], _ = peer.Decode(f[3])
		case (f[0] == "graft" || f[0] == "prune") && len(f) == 3 && l.mesh[f[1]] != nil:
			l.churn++
			if p, err := peer.Decode(f[2]); err == nil {
				if f[0] == "graft" {
					l.mesh[f[1]][c.i][p] = true
				} else {
					delete(l.mesh[f[1]][c.i], p)
				}
			}
		case f[0] == "drop" && len(f) == 2:
			l.churn++
			if p, err := peer.Decode(f[1]); err == nil {
				for _, m := range l.mesh {
					delete(m[c.i], p)
				}
			}
		case f[0] == "fail":
			l.fails = append(l.fails, fmt.Sprintf("node %d: %s", c.i, strings.Join(f[1:], " ")))
		}
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
	close(c.re)
	l.mu.Lock()
	l.ended = append(l.ended, c.i)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// perHostRecord is one record's journey on one topic.
type perHostRecord struct {
	took time.Duration // publish to the last node's arrival
	next time.Duration // publish to the last but one node's arrival
	pub  int           // the node that published it
	last int           // the node that had it last
	hops int           // that node's depth in the delivery tree (0: unknown)
}

// await waits until every node has the record k, published by node pub,
// and every other node said whom its copy came from (under fromKey;
// pubsub does not trace a node's own messages), and returns the journey,
// failing after perHostTimeout.
func (l *perHostLog) await(tb testing.TB, net *perHostNet, pub int, k, fromKey perHostKey) perHostRecord {
	tb.Helper()
	deadline := time.NewTimer(perHostTimeout)
	defer deadline.Stop()
	n := len(net.nodes)
	for {
		l.mu.Lock()
		start, started := l.starts[k]
		arr, from := l.arrived[k], l.from[fromKey]
		if len(l.fails) > 0 || len(l.ended) > 0 {
			fails, ended := slices.Clone(l.fails), slices.Clone(l.ended)
			l.mu.Unlock()
			msg := strings.Join(fails, "\n")
			for _, i := range ended {
				msg += fmt.Sprintf("\nnode %d ended:\n%s", i, tail(net.nodes[i].stderr.String()))
			}
			tb.Fatalf("a node failed while %s records were propagating:\n%s", k.kind, msg)
		}
		_, self := from[pub]
		if started && len(arr) == n && len(from) == n-1 && !self {
			r := perHostRecord{pub: pub, last: -1}
			for i, at := range arr {
				d := time.Duration(at - start)
				switch {
				case r.last < 0 || d > r.took:
					r.next, r.took, r.last = r.took, d, i
				case d > r.next:
					r.next = d
				}
			}
			r.hops = depth(net, from, pub, r.last)
			l.mu.Unlock()
			return r
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			l.mu.Lock()
			var missing []int
			for i := range n {
				if _, ok := l.arrived[k][i]; !ok {
					missing = append(missing, i)
				}
			}
			got := len(l.from[fromKey])
			l.mu.Unlock()
			tb.Fatalf("%s record %s… from node %d: published: %v; after %v nodes %v still do not have it (%d of %d others said where theirs came from)",
				k.kind, k.id[:12], pub, started, perHostTimeout, missing, got, n-1)
		}
	}
}

// depth is node i's hop count from the publisher pub in the delivery
// tree from (each other node → the peer its accepted copy came from), 0
// if the tree is broken.
func depth(net *perHostNet, from map[int]peer.ID, pub, i int) int {
	for hops := 0; hops <= len(net.nodes); hops++ {
		if i == pub {
			return hops
		}
		j, ok := net.index[from[i]]
		if !ok {
			return 0
		}
		i = j
	}
	return 0
}

// perHostNet is the running network: the nodes, their links, the log.
type perHostNet struct {
	nodes []*perHostNode
	index map[peer.ID]int
	log   *perHostLog
	sw    *tunSwitch
}

// startPerHostNet makes n network namespaces, each with a TUN link to the
// switch, starts a node process in each, connects them as connectRandom
// does (node i to i+1 and to 3 random others) and waits for both topics'
// meshes to form as BenchmarkPropagationVsRaw does. Everything is undone
// when the benchmark ends, failed or not, or when the process is
// interrupted.
func startPerHostNet(b *testing.B, n int) *perHostNet {
	b.Helper()
	prefix := fmt.Sprintf("%s%d-%d-%d", perHostNSPrefix, os.Getpid(), n, time.Now().UnixNano()%1_000_000)
	net := &perHostNet{index: map[peer.ID]int{}, log: newPerHostLog(n)}
	var namespaces []string
	var once sync.Once
	cleanup := func() {
		once.Do(func() {
			for _, c := range net.nodes {
				if c.stdin != nil {
					c.stdin.Close() // a node ends when its stdin does
				}
			}
			for _, c := range net.nodes {
				if c.cmd == nil || c.cmd.Process == nil {
					continue
				}
				done := make(chan struct{})
				go func() { c.cmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					c.cmd.Process.Kill()
					<-done
				}
			}
			if net.sw != nil {
				net.sw.close()
			}
			for _, ns := range namespaces {
				if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
					fmt.Fprintf(os.Stderr, "removing network namespace %s: %v: %s\n", ns, err, out)
				}
			}
		})
	}
	b.Cleanup(cleanup)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stop := make(chan struct{})
	b.Cleanup(func() { signal.Stop(sigs); close(stop) })
	go func() {
		select {
		case s := <-sigs:
			cleanup()
			fmt.Fprintf(os.Stderr, "BenchmarkPropagationPerHost: %v; namespaces removed\n", s)
			os.Exit(2)
		case <-stop:
		}
	}()

	tuns := make([]*os.File, n)
	for i := range n {
		ns := fmt.Sprintf("%s-%d", prefix, i)
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			b.Skipf("cannot create a network namespace here: %v: %s", err, out)
		}
		namespaces = append(namespaces, ns)
		tun, err := openTunIn(ns, "mesh0")
		if err != nil {
			b.Fatalf("node %d's link: %v", i, err)
		}
		tuns[i] = tun
		for _, args := range [][]string{
			{"-n", ns, "link", "set", "lo", "up"},
			{"-n", ns, "addr", "add", fmt.Sprintf("%s%d/24", perHostSubnet, i+1), "dev", "mesh0"},
			{"-n", ns, "link", "set", "mesh0", "up"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				b.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
	}
	net.sw = newTunSwitch(tuns, perHostHop)

	addrs := make(chan string, 1)
	for i := range n {
		c := &perHostNode{i: i, ns: namespaces[i], re: make(chan []string, 16)}
		c.cmd = exec.Command("ip", "netns", "exec", c.ns, os.Args[0],
			"-test.run=^TestPerHostChild$", "-test.bench=^$", "-test.count=1", "-test.timeout=30m")
		c.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=/ip4/%s%d/tcp/%d", perHostChildEnv, perHostSubnet, i+1, perHostPort))
		if os.Getenv("GOMAXPROCS") == "" {
			// One P per node: n runtimes with a P per core each spin and
			// collect against each other on this machine's few cores,
			// which a node on a host of its own would not.
			c.cmd.Env = append(c.cmd.Env, "GOMAXPROCS=1")
		}
		c.cmd.Stderr = &c.stderr
		var err error
		if c.stdin, err = c.cmd.StdinPipe(); err != nil {
			b.Fatal(err)
		}
		stdout, err := c.cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := c.cmd.Start(); err != nil {
			b.Fatalf("starting node %d: %v", i, err)
		}
		net.nodes = append(net.nodes, c)
		go net.log.read(c, stdout, addrs)
		select {
		case c.addr = <-addrs:
		case <-time.After(60 * time.Second):
			b.Fatalf("node %d did not say its address within a minute:\n%s", i, tail(c.stderr.String()))
		}
		ai, err := peer.AddrInfoFromString(c.addr)
		if err != nil {
			b.Fatalf("node %d's address %q: %v", i, c.addr, err)
		}
		c.id = ai.ID
		net.index[c.id] = i
	}

	r := mrand.New(mrand.NewPCG(1, 2)) // connectRandom's links
	for i, c := range net.nodes {
		if i+1 < n {
			c.ask(b, 15*time.Second, "dial "+net.nodes[i+1].addr)
		}
		for range 3 {
			if j := r.IntN(n); j != i {
				c.ask(b, 15*time.Second, "dial "+net.nodes[j].addr)
			}
		}
	}
	for _, c := range net.nodes {
		var last []string
		ok := testkit.PollEvery(60*time.Second, 50*time.Millisecond, func() bool {
			last = c.ask(b, 10*time.Second, "state")
			if len(last) != 5 {
				b.Fatalf("node %d's state: %q", c.i, last)
			}
			v := make([]int, 5)
			for k, w := range last {
				v[k], _ = strconv.Atoi(w)
			}
			conns, ours, raw, oursMesh, rawMesh := v[0], v[1], v[2], v[3], v[4]
			return ours >= conns && raw >= conns && ours >= 1 &&
				oursMesh >= min(pubsub.GossipSubDlo, ours) && rawMesh >= min(pubsub.GossipSubDlo, raw)
		})
		if !ok {
			b.Fatalf("node %d's meshes did not form within a minute (connections, topic peers ours/raw, mesh ours/raw: %v)", c.i, last)
		}
	}
	return net
}

// benchPerHost publishes the paired records and reports.
func benchPerHost(b *testing.B, net *perHostNet) {
	n := len(net.nodes)
	load0 := loadavg()
	rtts := strings.Split(net.nodes[0].ask(b, 40*time.Second, fmt.Sprintf("ping %s %d", net.nodes[1].id, perHostPings))[0], ",")
	var pings []time.Duration
	for _, s := range rtts {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatalf("ping answer %q", s)
		}
		pings = append(pings, time.Duration(v))
	}
	hop := percentile(pings, 50) / 2
	if hop < perHostHop {
		b.Fatalf("a hop takes %v (ping RTT/2), less than the %v the switch should delay it: the link model is broken", hop, perHostHop)
	}
	if hop > 2*perHostHop {
		b.Logf("warning: a hop takes %v (ping RTT/2), over twice the modelled %v: the machine is too loaded for the link to set the pace", hop, perHostHop)
	}

	revs := revocations(b, testkit.Key(b, "perhost/owner"), perHostMsgs+perHostWarm, fmt.Sprint("perhost", n))
	r := mrand.New(mrand.NewPCG(9, 10))
	send := func(from *perHostNode, kind string, data []byte, k perHostKey) perHostRecord {
		from.send(b, "pub "+kind+" "+hexOf(data))
		return net.log.await(b, net, from.i, k, perHostKey{kind, sha256Hex(data)})
	}
	var ours, raw []perHostRecord
	var pairs testkit.Pairs
	net.log.mu.Lock()
	churn0 := net.log.churn
	net.log.mu.Unlock()
	cpu0, wall0 := net.cpuTime(), time.Now()
	for b.Loop() {
		pairs, ours, raw = testkit.Pairs{}, nil, nil
		for _, rev := range revs {
			from := net.nodes[r.IntN(n)]
			data := rev.Bytes()
			pairs.Run(func() time.Duration {
				rec := send(from, "ours", data, perHostKey{"ours", idHex(rev.ID())})
				ours = append(ours, rec)
				return rec.took
			}, func() time.Duration {
				rec := send(from, "raw", data, perHostKey{"raw", sha256Hex(data)})
				raw = append(raw, rec)
				return rec.took
			})
		}
	}
	load1 := loadavg()
	cpu, wall := net.cpuTime()-cpu0, time.Since(wall0)
	busy := float64(cpu) / float64(wall) / float64(runtime.NumCPU())
	oursT, rawT := pairs.Ours[perHostWarm:], pairs.Base[perHostWarm:]
	ours, raw = ours[perHostWarm:], raw[perHostWarm:]
	ratios := make([]float64, len(oursT))
	for i := range oursT {
		ratios[i] = float64(oursT[i]) / float64(max(rawT[i], time.Microsecond))
	}
	for _, p := range []float64{50, 90, 99} {
		b.ReportMetric(ms(percentile(oursT, p)), fmt.Sprintf("ours-p%.0f-ms", p))
		b.ReportMetric(ms(percentile(rawT, p)), fmt.Sprintf("raw-p%.0f-ms", p))
	}
	b.ReportMetric(testkit.Quantile(ratios, 0.5), "ratio-p50")
	b.ReportMetric(testkit.Quantile(ratios, 0.1), "ratio-p10")
	b.ReportMetric(testkit.Quantile(ratios, 0.9), "ratio-p90")
	b.ReportMetric(ms(hop), "link-hop-ms")
	oursHops, rawHops := hopsOf(ours), hopsOf(raw)
	b.ReportMetric(testkit.Quantile(oursHops, 0.5), "ours-hops-p50")
	b.ReportMetric(testkit.Quantile(rawHops, 0.5), "raw-hops-p50")
	b.ReportMetric(slices.Max(append(slices.Clone(oursHops), rawHops...)), "hops-max")
	b.ReportMetric(perHop(ours), "ours-ms-per-hop")
	b.ReportMetric(perHop(raw), "raw-ms-per-hop")
	oursSlope, oursFixed := fitHops(ours)
	rawSlope, rawFixed := fitHops(raw)
	b.ReportMetric(oursSlope, "ours-ms-per-added-hop")
	b.ReportMetric(rawSlope, "raw-ms-per-added-hop")
	net.log.mu.Lock()
	oursDiam, rawDiam := meshDiameter(net, net.log.mesh["ours"]), meshDiameter(net, net.log.mesh["raw"])
	churn := net.log.churn - churn0
	net.log.mu.Unlock()
	b.ReportMetric(float64(oursDiam), "ours-mesh-diameter")
	b.ReportMetric(float64(rawDiam), "raw-mesh-diameter")
	b.ReportMetric(busy, "cpu-busy")

	// Go keeps ten lines of a benchmark's log without -v: the hop table,
	// the longest part, comes last.
	b.Logf("%d nodes, one process and network namespace each; link hop %v measured (ping RTT/2, %d pings; modelled %v = 2 links × %v); load %s before, %s after; %d CPUs",
		n, hop.Round(10*time.Microsecond), len(pings), perHostHop, perHostLinkDelay, load0, load1, runtime.NumCPU())
	b.Logf("the nodes used %v of CPU over the %d pairs (%.1f ms a pair), %.0f%% of the machine's %d CPUs over the %v they took; mesh changes (grafts, prunes, dropped streams) while the records went out: %d",
		cpu.Round(time.Millisecond), len(revs), ms(cpu)/float64(len(revs)), 100*busy, runtime.NumCPU(), wall.Round(time.Millisecond), churn)
	b.Logf("fit of time = fixed + slope × hops (to each hop count's median, weighted by its records, hop counts of %d records or more): ours %.2f + %.2f × hops ms, raw %.2f + %.2f × hops ms (the slope is what one more hop costs; the link alone, %.2f ms)",
		perHostFitMin, oursFixed, oursSlope, rawFixed, rawSlope, ms(hop))
	if broken := countBroken(ours) + countBroken(raw); broken > 0 {
		b.Logf("%d records' delivery trees did not reach their publisher (hop count unknown, left out of the hop figures)", broken)
	}
	if d := net.sw.dropped.Load(); d > 0 {
		b.Logf("the switch dropped %d packets (a destination's queue was full)", d)
	}
	b.Logf("slowest: ours %s; raw %s", slowest(ours), slowest(raw))
	b.Logf("%5s %8s %10s %8s %10s %9s %9s  (time to the last node by its hop count: median ms, and that / hops)", "hops", "ours n", "ours ms", "raw n", "raw ms", "ours/hop", "raw/hop")
	for h := 1; h <= int(slices.Max(append(slices.Clone(oursHops), rawHops...))); h++ {
		o, w := byHops(ours, h), byHops(raw, h)
		if len(o)+len(w) == 0 {
			continue
		}
		b.Logf("%5d %8d %10.2f %8d %10.2f %9.2f %9.2f", h, len(o), medianMs(o), len(w), medianMs(w),
			medianMs(o)/float64(h), medianMs(w)/float64(h))
	}
}

// slowest describes the slowest of recs: whether the last node alone was
// late (a stall on that node) or every node was.
func slowest(recs []perHostRecord) string {
	r := slices.MaxFunc(recs, func(a, b perHostRecord) int { return int(a.took - b.took) })
	return fmt.Sprintf("%.1f ms to node %d, hop %d from node %d (the last but one node: %.1f ms)",
		ms(r.took), r.last, r.hops, r.pub, ms(r.next))
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }

func sha256Hex(data []byte) string {
	return idHex(sha256.Sum256(data))
}

// hopsOf lists the known hop counts of recs.
func hopsOf(recs []perHostRecord) []float64 {
	var hs []float64
	for _, r := range recs {
		if r.hops > 0 {
			hs = append(hs, float64(r.hops))
		}
	}
	if len(hs) == 0 {
		return []float64{0}
	}
	return hs
}

func countBroken(recs []perHostRecord) int {
	n := 0
	for _, r := range recs {
		if r.hops == 0 {
			n++
		}
	}
	return n
}

// perHop is the median over recs of time / hops, in ms.
func perHop(recs []perHostRecord) float64 {
	var xs []float64
	for _, r := range recs {
		if r.hops > 0 {
			xs = append(xs, ms(r.took)/float64(r.hops))
		}
	}
	return testkit.Quantile(xs, 0.5)
}

// fitHops fits time = fixed + slope × hops (ms) to the records whose hop
// count is known: least squares over each hop count's median time,
// weighted by how many records have that count, over the hop counts that
// at least perHostFitMin records have. A few records slowed by the
// machine, which then also take odd paths (a 3 s stall gave one record a
// hop count of its own), would otherwise tilt the line. 0, 0 when fewer
// than two hop counts are left.
func fitHops(recs []perHostRecord) (slope, fixed float64) {
	groups := map[int][]time.Duration{}
	for _, r := range recs {
		if r.hops > 0 {
			groups[r.hops] = append(groups[r.hops], r.took)
		}
	}
	var n, sx, sy, sxx, sxy float64
	for h, ds := range groups {
		if len(ds) < perHostFitMin {
			delete(groups, h)
			continue
		}
		w, x, y := float64(len(ds)), float64(h), medianMs(ds)
		n, sx, sy, sxx, sxy = n+w, sx+w*x, sy+w*y, sxx+w*x*x, sxy+w*x*y
	}
	den := n*sxx - sx*sx
	if len(groups) < 2 || den == 0 {
		return 0, 0
	}
	slope = (n*sxy - sx*sy) / den
	return slope, (sy - slope*sx) / n
}

func byHops(recs []perHostRecord, h int) []time.Duration {
	var ds []time.Duration
	for _, r := range recs {
		if r.hops == h {
			ds = append(ds, r.took)
		}
	}
	return ds
}

func medianMs(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	return ms(percentile(ds, 50))
}

// meshDiameter is the largest hop count between two nodes over the mesh
// edges (a node forwards to its mesh peers), or -1 if some node cannot
// reach another.
func meshDiameter(net *perHostNet, mesh []map[peer.ID]bool) int {
	diam := 0
	for s := range net.nodes {
		dist := map[int]int{s: 0}
		queue := []int{s}
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			for p := range mesh[u] {
				if v, ok := net.index[p]; ok {
					if _, seen := dist[v]; !seen {
						dist[v] = dist[u] + 1
						queue = append(queue, v)
					}
				}
			}
		}
		if len(dist) < len(net.nodes) {
			return -1
		}
		for _, d := range dist {
			diam = max(diam, d)
		}
	}
	return diam
}

// cpuTime is the CPU time (user and system) the node processes have used
// so far, from /proc/<pid>/stat in USER_HZ ticks (100 a second on Linux).
func (net *perHostNet) cpuTime() time.Duration {
	var total time.Duration
	for _, c := range net.nodes {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
		if err != nil {
			continue
		}
		// The fields after the command name, which is in parentheses and
		// may hold spaces: state is the first, utime the 12th, stime the 13th.
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(u+k) * 10 * time.Millisecond
	}
	return total
}

// loadavg is /proc/loadavg's first three figures.
func loadavg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// openTunIn creates TUN device dev (IP packets, no header) inside network
// namespace ns and returns its file, which reads the packets the
// namespace sends out of dev and writes packets into it. The device lives
// as long as the file is open.
func openTunIn(ns, dev string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	res := make(chan result, 1)
	go func() {
		// The thread enters ns and is never given back: a goroutine that
		// ends locked takes its thread with it.
		runtime.LockOSThread()
		nsf, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer nsf.Close()
		if err := unix.Setns(int(nsf.Fd()), unix.CLONE_NEWNET); err != nil {
			res <- result{err: fmt.Errorf("entering %s: %w", ns, err)}
			return
		}
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			res <- result{err: fmt.Errorf("opening /dev/net/tun: %w", err)}
			return
		}
		ifr, err := unix.NewIfreq(dev)
		if err == nil {
			ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
			err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
		}
		if err != nil {
			unix.Close(fd)
			res <- result{err: fmt.Errorf("creating TUN %s: %w", dev, err)}
			return
		}
		res <- result{f: os.NewFile(uintptr(fd), dev)} // non-blocking: Go's poller serves it
	}()
	r := <-res
	return r.f, r.err
}

// tunSwitch is the star network's switch: it reads IPv4 packets from each
// node's TUN and writes each into its destination's TUN hop after it was
// read. Packets for one destination keep their order (one queue each, the
// same delay for all); a queue that is full drops, as a link would.
type tunSwitch struct {
	tuns    []*os.File
	hop     time.Duration
	queues  []chan tunPacket
	done    chan struct{}
	wg      sync.WaitGroup
	dropped atomic.Uint64
}

type tunPacket struct {
	due  time.Time
	data []byte
}

func newTunSwitch(tuns []*os.File, hop time.Duration) *tunSwitch {
	s := &tunSwitch{tuns: tuns, hop: hop, done: make(chan struct{})}
	for range tuns {
		s.queues = append(s.queues, make(chan tunPacket, 4096))
	}
	for i := range tuns {
		s.wg.Go(func() { s.readFrom(i) })
		s.wg.Go(func() { s.deliverTo(i) })
	}
	return s
}

func (s *tunSwitch) readFrom(i int) {
	buf := make([]byte, 1<<16)
	for {
		n, err := s.tuns[i].Read(buf)
		if err != nil {
			return // closed
		}
		pkt := buf[:n]
		if n < 20 || pkt[0]>>4 != 4 {
			continue // IPv4 only: the nodes speak nothing else
		}
		dst, _ := netip.AddrFromSlice(pkt[16:20])
		j, ok := perHostIndex(dst)
		if !ok || j >= len(s.queues) {
			continue
		}
		select {
		case s.queues[j] <- tunPacket{due: time.Now().Add(s.hop), data: slices.Clone(pkt)}:
		default:
			s.dropped.Add(1)
		}
	}
}

func (s *tunSwitch) deliverTo(j int) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var p tunPacket
		select {
		case p = <-s.queues[j]:
		case <-s.done:
			return
		}
		if d := time.Until(p.due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-s.done:
				return
			}
		}
		if _, err := s.tuns[j].Write(p.data); err != nil && errors.Is(err, os.ErrClosed) {
			return
		}
	}
}

func (s *tunSwitch) close() {
	close(s.done)
	for _, f := range s.tuns {
		f.Close()
	}
	s.wg.Wait()
}

// perHostIndex is the node an address of perHostSubnet belongs to.
func perHostIndex(a netip.Addr) (int, bool) {
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	if b[0] != 10 || b[1] != 215 || b[2] != 0 || b[3] == 0 {
		return 0, false
	}
	return int(b[3]) - 1, true
}

// TestPerHostAnalysis checks the benchmark's arithmetic: the delivery
// tree's depth, the mesh diameter, the hop fit, the address plan.
func TestPerHostAnalysis(t *testing.T) {
	net := &perHostNet{index: map[peer.ID]int{}}
	for i := range 4 {
		id := testkit.Key(t, fmt.Sprint("perhost/analysis", i)).ID()
		net.nodes = append(net.nodes, &perHostNode{i: i, id: id})
		net.index[id] = i
	}
	id := func(i int) peer.ID { return net.nodes[i].id }
	chain := map[int]peer.ID{1: id(0), 2: id(1), 3: id(2)}
	for i, want := range []int{0, 1, 2, 3} {
		if got := depth(net, chain, 0, i); got != want {
			t.Errorf("depth of node %d in a chain from node 0: %d, want %d", i, got, want)
		}
	}
	if got := depth(net, map[int]peer.ID{1: id(2), 2: id(1), 3: id(2)}, 0, 3); got != 0 {
		t.Errorf("a tree with a cycle gave depth %d, want 0 (unknown)", got)
	}
	if got := depth(net, map[int]peer.ID{1: id(0), 2: testkit.Key(t, "perhost/stranger").ID(), 3: id(2)}, 0, 3); got != 0 {
		t.Errorf("a tree through a stranger gave depth %d, want 0 (unknown)", got)
	}

	mesh := make([]map[peer.ID]bool, 4)
	for i := range mesh {
		mesh[i] = map[peer.ID]bool{}
	}
	for i := range 3 { // a line 0 – 1 – 2 – 3
		mesh[i][id(i+1)], mesh[i+1][id(i)] = true, true
	}
	if got := meshDiameter(net, mesh); got != 3 {
		t.Errorf("the diameter of a line of 4: %d, want 3", got)
	}
	mesh[0][id(3)], mesh[3][id(0)] = true, true // a ring
	if got := meshDiameter(net, mesh); got != 2 {
		t.Errorf("the diameter of a ring of 4: %d, want 2", got)
	}
	delete(mesh[2], id(3))
	delete(mesh[0], id(3))
	if got := meshDiameter(net, mesh); got != -1 {
		t.Errorf("a mesh where node 3 cannot be reached: diameter %d, want -1", got)
	}

	var recs []perHostRecord
	for _, h := range []int{1, 2, 2, 3, 4, 0} { // 0: unknown, left out
		took := 3*time.Millisecond + time.Duration(h)*4*time.Millisecond
		if h == 0 {
			took = time.Hour
		}
		recs = append(recs, perHostRecord{took: took, hops: h})
	}
	var many []perHostRecord // each record 10 times: enough to be fitted
	for range perHostFitMin {
		many = append(many, recs...)
	}
	if slope, fixed := fitHops(many); math.Abs(slope-4) > 1e-9 || math.Abs(fixed-3) > 1e-9 {
		t.Errorf("fit of 3 ms + 4 ms × hops: %.3f + %.3f × hops", fixed, slope)
	}
	if slope, fixed := fitHops(recs); slope != 0 || fixed != 0 {
		t.Errorf("fit of too few records: %v, %v; want 0, 0", slope, fixed)
	}
	slow := append(slices.Clone(many), perHostRecord{took: time.Second, hops: 4}, perHostRecord{took: 3 * time.Second, hops: 5})
	if slope, fixed := fitHops(slow); math.Abs(slope-4) > 1e-9 || math.Abs(fixed-3) > 1e-9 {
		t.Errorf("two slow records tilted the fit: %.3f + %.3f × hops, want 3 + 4 × hops", fixed, slope)
	}
	twos := slices.DeleteFunc(slices.Clone(many), func(r perHostRecord) bool { return r.hops != 2 })
	if slope, fixed := fitHops(twos); slope != 0 || fixed != 0 {
		t.Errorf("fit with one hop count: %v, %v; want 0, 0", slope, fixed)
	}
	if got := countBroken(recs); got != 1 {
		t.Errorf("%d records without a hop count, want 1", got)
	}

	for addr, want := range map[string]int{"10.215.0.1": 0, "10.215.0.20": 19, "10.215.0.0": -1, "10.215.1.1": -1, "10.0.0.1": -1, "::1": -1} {
		i, ok := perHostIndex(netip.MustParseAddr(addr))
		if (want >= 0) != ok || (ok && i != want) {
			t.Errorf("perHostIndex(%s) = %d, %v; want %d", addr, i, ok, want)
		}
	}
}

// TestTunSwitchDelaysEachPacket runs the switch over socket pairs
// (packets, like a TUN): a packet from node 0 to node 1 arrives intact
// and not before the hop, packets to one node keep their order, and what
// is not IPv4 to a node of the plan goes nowhere.
func TestTunSwitchDelaysEachPacket(t *testing.T) {
	const hop = 30 * time.Millisecond
	var ends, far []*os.File
	for i := range 2 {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Skipf("no socket pairs here: %v", err)
		}
		unix.SetNonblock(fds[0], true)
		unix.SetNonblock(fds[1], true)
		ends = append(ends, os.NewFile(uintptr(fds[0]), fmt.Sprint("switch", i)))
		far = append(far, os.NewFile(uintptr(fds[1]), fmt.Sprint("node", i)))
	}
	sw := newTunSwitch(ends, hop)
	t.Cleanup(func() {
		sw.close()
		for _, f := range far {
			f.Close()
		}
	})
	packet := func(dst string, seq byte) []byte {
		p := make([]byte, 28)
		p[0] = 0x45
		copy(p[12:16], netip.MustParseAddr("10.215.0.1").AsSlice())
		copy(p[16:20], netip.MustParseAddr(dst).AsSlice())
		p[27] = seq
		return p
	}
	got := make(chan []byte, 8)
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, err := far[1].Read(buf)
			if err != nil {
				return
			}
			got <- slices.Clone(buf[:n])
		}
	}()
	ipv6 := make([]byte, 40)
	ipv6[0] = 0x60
	start := time.Now()
	for _, p := range [][]byte{ipv6, packet("10.215.0.9", 1), packet("10.0.0.2", 2), packet("10.215.0.2", 3), packet("10.215.0.2", 4)} {
		if _, err := far[0].Write(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, seq := range []byte{3, 4} {
		p := testkit.Within(t, 5*time.Second, got, "packet %d reaches node 1", seq)
		if took := time.Since(start); took < hop {
			t.Errorf("packet %d arrived after %v, before the %v hop", seq, took, hop)
		}
		if !slices.Equal(p, packet("10.215.0.2", seq)) {
			t.Errorf("node 1 got %x, want packet %d intact", p, seq)
		}
	}
	testkit.Never(t, 3*hop, func() bool { return len(got) > 0 }, "a packet not for node 1 reaches it")
}
