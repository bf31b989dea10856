//go:build linux

package revocation

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/sys/unix"
)

// pinTo moves every thread of this process to one CPU; threads created
// later inherit it from their creators.
func pinTo(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return err
		}
	}
	return nil
}

const floodChildEnv = "OCMT_FLOOD_CHILD_ADDRS"

// TestFloodChild is the attacker half of TestPresignedFloodFromAnotherCore:
// on its own CPU it connects to every honest node, builds 10,000 pre-signed
// forgeries in 4-message RPCs, says "ready", floods on "go", says "done".
func TestFloodChild(t *testing.T) {
	addrs := os.Getenv(floodChildEnv)
	if addrs == "" {
		t.Skip("child process of TestPresignedFloodFromAnotherCore")
	}
	if err := pinTo(1); err != nil {
		t.Fatal(err)
	}
	k, h := newHost(t)
	ctx := context.Background()
	var streams []network.Stream
	for _, a := range strings.Split(addrs, ",") {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Connect(ctx, *ai); err != nil {
			t.Fatal(err)
		}
		s, err := h.NewStream(ctx, ai.ID, pubsub.GossipSubID_v11)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
	}
	frames := presignedFlood(t, k, forgedRecords(t, k, 10_000), 4)
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	for _, f := range frames {
		for _, s := range streams {
			s.Write(f)
		}
	}
	fmt.Println("done")
	in.Scan()
}

// TestPresignedFloodFromAnotherCore measures the flood bound with the
// attacker on its own CPU, as it would be on its own machine: the honest
// nodes run on CPU 0, the attacker process on CPU 1. The real revocation
// must reach every node; its delay is logged (on loopback the attacker's
// bandwidth is unlimited, so what remains is the honest nodes decrypting its
// traffic until the disconnect lands; see docs/decisions.md).
func TestPresignedFloodFromAnotherCore(t *testing.T) {
	floodFromProcess(t, "", func(ns []*node) []string { return nodeAddrs(ns, "") })
}

// TestPresignedFloodOverALimitedLink runs the same attacker in its own
// network namespace behind a 100 Mbit/s link (tc tbf on its side of a veth
// pair), as an attacker on a real network would be, and holds the issue's
// bound: over five floods from five new attackers, the median delay of a
// real revocation is at most 2× (plus 2 ms of scheduling slack).
func TestPresignedFloodOverALimitedLink(t *testing.T) {
	if os.Getenv("OCMT_FLOOD_BOUND") == "" {
		t.Skip("a timing bound: runs alone, after the suite, with OCMT_FLOOD_BOUND=1 (.ci/run does)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
	name := fmt.Sprintf("mfl%d", os.Getpid()%100000)
	run := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	exec.Command("ip", "netns", "del", name).Run()
	if err := run("netns", "add", name); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	host, peerSide := name+"a", name+"b"
	for _, args := range [][]string{
		{"link", "add", host, "type", "veth", "peer", "name", peerSide},
		{"link", "set", peerSide, "netns", name},
		{"addr", "add", "10.214.0.1/24", "dev", host},
		{"link", "set", host, "up"},
		{"netns", "exec", name, "ip", "addr", "add", "10.214.0.2/24", "dev", peerSide},
		{"netns", "exec", name, "ip", "link", "set", peerSide, "up"},
		{"netns", "exec", name, "ip", "link", "set", "lo", "up"},
	} {
		if err := run(args...); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", peerSide, "root", "tbf",
		"rate", "100mbit", "burst", "64kb", "latency", "50ms").CombinedOutput()
	if err != nil {
		t.Skipf("cannot shape the link (tc): %v: %s", err, out)
	}
	ratio := floodFromProcess(t, name, func(ns []*node) []string {
		for _, n := range ns {
			if err := n.h.Network().Listen(ma.StringCast("/ip4/10.214.0.1/tcp/0")); err != nil {
				t.Fatal(err)
			}
		}
		return nodeAddrs(ns, "/ip4/10.214.0.1/")
	})
	if ratio > 2 {
		t.Errorf("the median flood delayed a real revocation %.1fx (bound 2x)", ratio)
	}
}

// nodeAddrs lists each node's first address starting with prefix ("" for
// any), with its /p2p/ID.
func nodeAddrs(ns []*node, prefix string) []string {
	var out []string
	for _, n := range ns {
		for _, a := range n.h.Addrs() {
			if strings.HasPrefix(a.String(), prefix) {
				out = append(out, fmt.Sprintf("%s/p2p/%s", a, n.h.ID()))
				break
			}
		}
	}
	return out
}

// floodFromProcess runs the honest nodes on CPU 0 and the attacker child on
// CPU 1 (inside network namespace netns when set), floods while a real
// revocation spreads, logs the delay and returns its ratio to the unflooded
// one (with 2 ms of scheduling slack forgiven).
func floodFromProcess(t *testing.T, netns string, listen func([]*node) []string) float64 {
	t.Helper()
	if testing.Short() {
		t.Skip("floods 10 000 messages from a second process")
	}
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs: one for the honest nodes, one for the attacker")
	}
	var all unix.CPUSet
	for i := 0; i < runtime.NumCPU(); i++ {
		all.Set(i)
	}
	if err := pinTo(0); err != nil {
		t.Skipf("cannot pin threads to a CPU here: %v", err)
	}
	defer func() { // give the rest of the test binary its CPUs back
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			if tid, err := strconv.Atoi(task.Name()); err == nil {
				unix.SchedSetaffinity(tid, &all)
			}
		}
	}()
	ns := newNodes(t, 6)
	connectRandom(t, ns, 1)
	waitMesh(t, ns, 2)
	addrs := listen(ns)
	ctx := context.Background()
	const trials = 5
	revs := revocations(t, ns[0].key, 4+trials, "isolated")
	var base []time.Duration
	for _, r := range revs[:4] {
		start := time.Now()
		if err := ns[1].g.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
		base = append(base, waitRevoked(t, ns, r.ID(), start, 5*time.Second))
	}
	baseline := percentile(base[1:], 50) // the first warms connections up
	var ratios []float64
	for i := 0; i < trials; i++ {
		ratios = append(ratios, floodOnce(t, ns, netns, addrs, revs[4+i], baseline))
	}
	slices.Sort(ratios)
	t.Logf("delay ratios over %d floods, each from a new attacker: %.1f (median %.1fx)", trials, ratios, ratios[trials/2])
	return ratios[trials/2]
}

// floodOnce starts an attacker child, floods, publishes rev meanwhile and
// returns the delay ratio to baseline (at most 2 when within 2 ms of slack).
func floodOnce(t *testing.T, ns []*node, netns string, addrs []string, rev *Revocation, baseline time.Duration) float64 {
	t.Helper()
	ctx := context.Background()
	args := []string{os.Args[0], "-test.run=^TestFloodChild$", "-test.v=false"}
	if netns != "" {
		args = append([]string{"ip", "netns", "exec", netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), floodChildEnv+"="+strings.Join(addrs, ","))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() }()
	out := bufio.NewScanner(stdout)
	expect := func(word string) {
		t.Helper()
		for out.Scan() {
			if strings.TrimSpace(out.Text()) == word {
				return
			}
		}
		t.Fatalf("the attacker never said %q", word)
	}
	expect("ready")
	before := make([]uint64, len(ns))
	for i, n := range ns {
		before[i] = n.g.Stats().Rejected.Load()
	}
	io.WriteString(stdin, "go\n")
	time.Sleep(5 * time.Millisecond) // the flood is under way
	start := time.Now()
	if err := ns[1].g.Publish(ctx, rev); err != nil {
		t.Fatal(err)
	}
	flooded := waitRevoked(t, ns, rev.ID(), start, 2*time.Second)
	expect("done")
	var verified, dropped uint64
	for i, n := range ns {
		verified += n.g.Stats().Rejected.Load() - before[i]
		dropped += n.budget.Dropped.Load()
	}
	ratio := float64(flooded) / float64(baseline)
	t.Logf("real revocation to %d nodes: %v unflooded (median of three), %v during a 10000-message pre-signed flood from another process (%.1fx); %d forgeries verified, %d RPCs dropped unread so far",
		len(ns), baseline, flooded, ratio, verified, dropped)
	if verified > uint64(len(ns)) {
		t.Errorf("%d forgeries were verified; a suspect being cut off should get none past its first", verified)
	}
	if flooded <= 2*baseline+2*time.Millisecond {
		return min(ratio, 2)
	}
	return ratio
}
