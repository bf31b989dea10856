package relay

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

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// The relay's memory is measured in a child process (this test binary
// re-run as TestRelayMemoryHelper), so that the 1000 client hosts in the
// parent do not count.
const memHelperEnv = "OCMT_RELAY_MEMORY_HELPER"

// TestRelayMemoryHelper is the relay process for BenchmarkRelayMemory; run
// on its own it skips.
func TestRelayMemoryHelper(t *testing.T) {
	if os.Getenv(memHelperEnv) != "1" {
		t.Skip("helper process for BenchmarkRelayMemory")
	}
	cfg := Config{
		Authorizer:            AuthorizerFuncs{RegisteredFunc: func(peer.ID) bool { return true }},
		AllowPrivateAddrs:     true,
		ReservationsPerMinute: -1,
		CircuitsPerMinute:     -1,
	}
	rm, err := ResourceManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := testkit.Host(t, nil, libp2p.ResourceManager(rm))
	svc, err := New(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	fmt.Printf("addr %s/p2p/%s\n", h.Addrs()[0], h.ID())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() != "mem" {
			return
		}
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("mem %d %d %d\n", ms.HeapAlloc, ms.StackInuse, runtime.NumGoroutine())
	}
}

// memChild drives the helper process.
type memChild struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func (c *memChild) line(b *testing.B, prefix string) []string {
	b.Helper()
	for c.out.Scan() {
		if f := strings.Fields(c.out.Text()); len(f) > 0 && f[0] == prefix {
			return f[1:]
		}
	}
	b.Fatalf("helper ended before %q: %v", prefix, c.out.Err())
	return nil
}

// mem returns the child's live heap plus goroutine stacks, and goroutines.
func (c *memChild) mem(b *testing.B) (bytes, goroutines int64) {
	b.Helper()
	fmt.Fprintln(c.in, "mem")
	f := c.line(b, "mem")
	var v [3]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i], 10, 64)
	}
	return v[0] + v[1], v[2]
}

// BenchmarkRelayMemory reports the relay's memory per idle reservation at
// 1000 reservations, and per open (idle) circuit on top of them.
// Run: go test ./relay -run '^$' -bench RelayMemory -benchtime 1x
func BenchmarkRelayMemory(b *testing.B) {
	if testing.Short() {
		b.Skip("1000 hosts are skipped in -short")
	}
	const reservations, circuits = 1000, 500
	cmd := exec.Command(os.Args[0], "-test.run=^TestRelayMemoryHelper$")
	cmd.Env = append(os.Environ(), memHelperEnv+"=1")
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	child := &memChild{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	defer func() { in.Close(); cmd.Wait() }()
	relayAddr := ma.StringCast(child.line(b, "addr")[0])
	info, err := peer.AddrInfoFromP2pAddr(relayAddr)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	base, g0 := child.mem(b)
	clients := make([]host.Host, reservations)
	testkit.Each(b, 8, reservations, func(i int) error {
		k := keys.GeneratePeerKey()
		h, err := libp2p.New(libp2p.Identity(k.Libp2pPrivKey()), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableMetrics())
		if err != nil {
			return err
		}
		clients[i] = h
		_, err = client.Reserve(ctx, h, *info)
		return err
	})
	withRsvp, g1 := child.mem(b)
	testkit.Each(b, 8, circuits, func(i int) error {
		dialer, dst := clients[i], clients[reservations-1-i]
		circ := ma.StringCast("/p2p/" + info.ID.String() + "/p2p-circuit/p2p/" + dst.ID().String())
		return dialer.Connect(ctx, peer.AddrInfo{ID: dst.ID(), Addrs: []ma.Multiaddr{circ}})
	})
	// Measure idle circuits: identify over them, both ways, has finished.
	for i := range circuits {
		dialer, dst := clients[i], clients[reservations-1-i]
		waitIdentified(b, dialer, dst.ID())
		waitIdentified(b, dst, dialer.ID())
	}
	withCirc, g2 := child.mem(b)
	for _, h := range clients {
		h.Close()
	}

	b.ReportMetric(float64(withRsvp-base)/reservations, "B/reservation")
	b.ReportMetric(float64(withCirc-withRsvp)/circuits, "B/circuit")
	b.ReportMetric(float64(g1-g0)/reservations, "goroutines/reservation")
	b.ReportMetric(float64(g2-g1)/circuits, "goroutines/circuit")
}

// waitIdentified waits until h has run identify on each of its
// connections to p.
func waitIdentified(b *testing.B, h host.Host, p peer.ID) {
	b.Helper()
	ids, ok := h.(interface{ IDService() identify.IDService })
	if !ok {
		b.Fatalf("host %T has no identify service", h)
	}
	conns := h.Network().ConnsToPeer(p)
	if len(conns) == 0 {
		b.Fatalf("%s has no connection to %s", h.ID(), p)
	}
	for _, c := range conns {
		testkit.Within(b, 30*time.Second, ids.IDService().IdentifyWait(c), "identify of %s by %s", p, h.ID())
	}
}
