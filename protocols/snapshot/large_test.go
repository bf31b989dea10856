package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

// memPeak samples the live heap every millisecond and reads the kernel's
// peak RSS (reset at the start through /proc/self/clear_refs), each above
// its level at the start.
type memPeak struct {
	heapBase, heapPeak uint64
	rssBase            int64
	stop               chan struct{}
	wg                 sync.WaitGroup
}

// procKiB reads a "Name: N kB" line of /proc/self/status; -1 if absent.
func procKiB(name string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

func startMemPeak() *memPeak {
	runtime.GC()
	m := &memPeak{heapBase: testkit.HeapBytes(), stop: make(chan struct{})}
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil {
		m.rssBase = procKiB("VmRSS")
	} else {
		m.rssBase = -1
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := testkit.HeapBytes(); v > m.heapPeak {
				m.heapPeak = v
			}
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// done returns the heap peak and the RSS peak above the start, in bytes
// (RSS −1 where the kernel does not say).
func (m *memPeak) done() (heap uint64, rss int64) {
	close(m.stop)
	m.wg.Wait()
	if m.heapPeak > m.heapBase {
		heap = m.heapPeak - m.heapBase
	}
	rss = -1
	if m.rssBase >= 0 {
		if hwm := procKiB("VmHWM"); hwm >= 0 {
			rss = max(0, hwm-m.rssBase) << 10
		}
	}
	return heap, rss
}

// 100 MiB, sealed by alice, pushed, then read by bob from the cache with
// alice gone; the read's memory is measured in this process, which runs
// the cache too.
func Test100MiBFromTheCacheWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB through a cache on loopback: skipped under -short")
	}
	const size = 100 << 20
	const budget = 32 << 20
	alice, bob := newOwner(t, "alice"), newReader(t, "bob")
	c := startCache(t, allowList{alice.k.ID(): true}, nil)
	want := sha256.New()
	s := alice.seal(t, io.TeeReader(testkit.Stream(7, size), want), "files/big", 1, bob.k.ID())
	if err := alice.push(t, c, s); err != nil {
		t.Fatal(err)
	}
	tok := alice.token(t, bob.k.ID(), "files/*", capability.Params{})
	alice.h.Close()
	testkit.Connect(t, bob.h, c.h)

	got := sha256.New()
	mp := startMemPeak()
	f, err := Fetch(testkit.Context(t, 5*time.Minute), bob.h, c.h.ID(), bob.k, alice.k.ID(), "files/big", tok.Bytes(), bob.state, got)
	heap, rss := mp.done()
	if err != nil || f.Bytes != size {
		t.Fatalf("fetch: %v", err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("the plaintext read differs from what was sealed")
	}
	t.Logf("100 MiB read from the cache: heap peak %.1f MiB above idle, RSS peak %.1f MiB above idle (reader and cache in one process)",
		float64(heap)/(1<<20), float64(rss)/(1<<20))
	// That figure holds the cache's side too (a 1 MiB block read from
	// pebble per chunk, its garbage collected late): it is logged, and the
	// budget is held on the reader alone, below.

	// The same read by bob in a process of his own: its peak RSS is the
	// reader's alone.
	out := runReader(t, c, alice.k.ID(), "files/big", tok.Bytes())
	t.Logf("100 MiB read by a reader process: %s", out)
	var r readerReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("reader process said %q: %v", out, err)
	}
	if r.Sum != hex.EncodeToString(want.Sum(nil)) || r.Bytes != size {
		t.Fatalf("the reader process read %d bytes, sum %s", r.Bytes, r.Sum)
	}
	if r.HeapAbove > budget || (r.RSSAbove >= 0 && r.RSSAbove > budget) {
		t.Errorf("the reader process: heap %d, RSS %d bytes above idle; budget %d", r.HeapAbove, r.RSSAbove, budget)
	}
}

// readerReport is what the reader process prints.
type readerReport struct {
	Bytes     int64  `json:"bytes"`
	Sum       string `json:"sum"`
	HeapAbove uint64 `json:"heap_above"`
	RSSAbove  int64  `json:"rss_above"`
	RSSIdle   int64  `json:"rss_idle"`
}

// runReader runs TestReaderProcess in a child process as bob and returns
// its report.
func runReader(t *testing.T, c *cacheNode, owner peer.ID, resource string, tok []byte) string {
	t.Helper()
	addr := c.h.Addrs()[0].String() + "/p2p/" + c.h.ID().String()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReaderProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "SNAPSHOT_READER_CACHE="+addr, "SNAPSHOT_READER_OWNER="+owner.String(),
		"SNAPSHOT_READER_RESOURCE="+resource, "SNAPSHOT_READER_TOKEN="+hex.EncodeToString(tok))
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("reader process: %v\n%s", err, b)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "REPORT "); ok {
			return v
		}
	}
	t.Fatalf("reader process printed no report:\n%s", b)
	return ""
}

// TestReaderProcess is bob reading in a process of his own; it runs only
// as runReader's child.
func TestReaderProcess(t *testing.T) {
	addr := os.Getenv("SNAPSHOT_READER_CACHE")
	if addr == "" {
		t.Skip("runs only as the child of Test100MiBFromTheCacheWithBoundedMemory")
	}
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := peer.Decode(os.Getenv("SNAPSHOT_READER_OWNER"))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := hex.DecodeString(os.Getenv("SNAPSHOT_READER_TOKEN"))
	bob := newReader(t, "bob")
	ctx := testkit.Context(t, 5*time.Minute)
	if err := bob.h.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	rssIdle := procKiB("VmRSS") << 10
	sum := sha256.New()
	mp := startMemPeak()
	f, err := Fetch(ctx, bob.h, ai.ID, bob.k, owner, os.Getenv("SNAPSHOT_READER_RESOURCE"), tok, bob.state, sum)
	heap, rss := mp.done()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(readerReport{Bytes: f.Bytes, Sum: hex.EncodeToString(sum.Sum(nil)), HeapAbove: heap, RSSAbove: rss, RSSIdle: rssIdle})
	fmt.Printf("REPORT %s\n", b)
}
