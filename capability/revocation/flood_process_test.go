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
	"strconv"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
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
	ctx := context.Background()
	revs := revocations(t, ns[0].key, 4, "isolated")
	var base []time.Duration
	for _, r := range revs[:2] {
		start := time.Now()
		if err := ns[1].g.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
		base = append(base, waitRevoked(t, ns, r.ID(), start, 5*time.Second))
	}
	baseline := max(base[0], base[1])

	var addrs []string
	for _, n := range ns {
		addrs = append(addrs, fmt.Sprintf("%s/p2p/%s", n.h.Addrs()[0], n.h.ID()))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFloodChild$", "-test.v=false")
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
	io.WriteString(stdin, "go\n")
	time.Sleep(5 * time.Millisecond) // the flood is under way
	start := time.Now()
	if err := ns[1].g.Publish(ctx, revs[2]); err != nil {
		t.Fatal(err)
	}
	flooded := waitRevoked(t, ns, revs[2].ID(), start, 2*time.Second)
	expect("done")
	var verified, dropped uint64
	for _, n := range ns {
		verified += n.g.Stats().Rejected.Load()
		dropped += n.budget.Dropped.Load()
	}
	t.Logf("real revocation to %d nodes: %v unflooded (worst of two), %v during a 10000-message pre-signed flood from another core (%.1fx); %d forgeries verified, %d RPCs dropped unread",
		len(ns), baseline, flooded, float64(flooded)/float64(baseline), verified, dropped)
	if verified > uint64(len(ns)) {
		t.Errorf("%d forgeries were verified; a suspect being cut off should get none past its first", verified)
	}
}
