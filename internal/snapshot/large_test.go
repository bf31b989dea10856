package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ocmt/mesh/internal/testkit"
)

// heapPeak samples the live heap every millisecond until stopped and
// returns the highest value above the level when it started (after a GC).
type heapPeak struct {
	base, peak uint64
	stop       chan struct{}
	done       sync.WaitGroup
}

func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{base: testkit.HeapBytes(), stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := testkit.HeapBytes(); v > h.peak {
				h.peak = v
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// Above stops sampling and returns the peak above the base.
func (h *heapPeak) Above() uint64 {
	close(h.stop)
	h.done.Wait()
	if h.peak < h.base {
		return 0
	}
	return h.peak - h.base
}

// 100 MiB is sealed into a pebble store on disk and read back, streaming
// both ways: the heap never holds more than a few chunks of it.
func Test100MiBStreamsWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB on disk: skipped under -short")
	}
	const size = 100 << 20
	const budget = 32 << 20
	p := cast(t)
	ctx := context.Background()
	b := &dsBlocks{d: pebbleStore(t)}

	want := sha256.New()
	hp := startHeapPeak()
	s, err := Seal(ctx, p.alice, io.TeeReader(testkit.Stream(1, size), want), opts("files/big", 1, p.bob.ID()), b)
	sealPeak := hp.Above()
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	hp = startHeapPeak()
	n, err := Read(ctx, p.bob, s.Manifest, b, got)
	readPeak := hp.Above()
	if err != nil || n != size {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("the plaintext read back differs")
	}
	// Sealing alone, into a sink that keeps nothing: the pebble store's
	// memtable above is the store's, not the seal's.
	hp = startHeapPeak()
	if _, err := Seal(ctx, p.alice, testkit.Stream(2, size), opts("files/big", 2, p.bob.ID()), discard{}); err != nil {
		t.Fatal(err)
	}
	sealOnly := hp.Above()
	t.Logf("100 MiB: %d blocks; heap above idle: seal into pebble %.1f MiB, seal alone %.1f MiB, read from pebble %.1f MiB",
		s.Blocks, mib(sealPeak), mib(sealOnly), mib(readPeak))
	if sealOnly > budget || readPeak > budget {
		t.Errorf("heap above idle: seal %d, read %d bytes; budget %d", sealOnly, readPeak, budget)
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

type discard struct{}

func (discard) PutBlock(context.Context, cid.Cid, []byte) error { return nil }
