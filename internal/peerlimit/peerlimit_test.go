package peerlimit

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestBucketsPerPeerAndBoundedMemory(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(1, 2, 3, func() time.Time { return now })
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
	now = now.Add(time.Second)
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
