package testkit

import (
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
)

func TestEventuallySeesALateChange(t *testing.T) {
	var v atomic.Bool
	time.AfterFunc(20*time.Millisecond, func() { v.Store(true) })
	Eventually(t, 5*time.Second, v.Load, "the flag is set")
}

func TestPollGivesUpAtItsDeadline(t *testing.T) {
	start := time.Now()
	if Poll(30*time.Millisecond, func() bool { return false }) {
		t.Fatal("a false condition held")
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("gave up before the deadline")
	}
}

func TestKeysAreFixedPerName(t *testing.T) {
	a, b := Key(t, "alice"), Key(t, "alice")
	if a.ID() != b.ID() || a.ID() == Key(t, "bob").ID() {
		t.Fatal("keys are not one per name")
	}
}

func TestRandIsDeterministic(t *testing.T) {
	x, y := make([]byte, 70), make([]byte, 70)
	NewRand("s").Read(x)
	NewRand("s").Read(y)
	if string(x) != string(y) {
		t.Fatal("two reads of one seed differ")
	}
}

func TestClock(t *testing.T) {
	c := NewClock(Epoch)
	c.Advance(time.Hour)
	if !c.Now().Equal(Epoch.Add(time.Hour)) {
		t.Fatal(c.Now())
	}
}

func TestVectorsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "testdata", "v.json")
	build := func() []int { return []int{1, 2, 3} }
	if got := Vectors(t, path, true, build); len(got) != 3 || got[2] != 3 {
		t.Fatal(got)
	}
}

func TestHostsConnect(t *testing.T) {
	a, b := Host(t, Key(t, "a")), Host(t, nil)
	Connect(t, a, b)
	if len(a.Network().ConnsToPeer(b.ID())) == 0 {
		t.Fatal("not connected")
	}
}

func TestHostListenAddrsReplaceTheDefault(t *testing.T) {
	h := Host(t, nil, libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"))
	if len(h.Addrs()) == 0 {
		t.Fatal("listening nowhere")
	}
	for _, a := range h.Addrs() {
		if !strings.Contains(a.String(), "/quic-v1") {
			t.Fatalf("listening on %v besides the address asked for", a)
		}
	}
}

func TestGoroutinesSettleAndDrop(t *testing.T) {
	base := SettledGoroutines(t, 5*time.Second)
	stop := make(chan struct{})
	for range 3 {
		go func() { <-stop }()
	}
	time.AfterFunc(20*time.Millisecond, func() { close(stop) })
	GoroutinesDropTo(t, 5*time.Second, base)
}

func TestEachRunsEveryItemOnce(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	Each(t, 3, 100, func(i int) error {
		mu.Lock()
		seen[i]++
		mu.Unlock()
		return nil
	})
	if len(seen) != 100 {
		t.Fatalf("%d items ran, want 100", len(seen))
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("item %d ran %d times", i, n)
		}
	}
}
