package peerlimit

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestBucketsPerPeerAndBoundedMemory(t *testing.T) {
	clock := testkit.NewClock(testkit.Epoch)
	l := New(1, 2, 3, clock.Now)
	a, b := peer.ID("a"), peer.ID("b")
	for i := 0; i < 2; i++ {
		if !l.Allow(a) {
			t.Fatalf("event %d of the burst was refused", i+1)
		}
	}
	if l.Allow(a) {
		t.Fatal("a third event inside the burst window was allowed")
	}
	if !l.Allow(b) {
		t.Fatal("one peer's bucket starved another")
	}
	clock.Advance(time.Second)
	if !l.Allow(a) {
		t.Fatal("the bucket did not refill")
	}
	for _, p := range []peer.ID{"c", "d", "e", "f"} {
		l.Allow(p)
	}
	if l.Len() > 3 {
		t.Fatalf("tracking %d peers, cap 3", l.Len())
	}
}
