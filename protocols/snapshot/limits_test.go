package snapshot

import (
	"bufio"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// stall opens a stream to the cache and sends the start of a request
// that never ends: the server holds a slot for it until FrameTimeout.
func stall(t testing.TB, h host.Host, c *cacheNode) network.Stream {
	t.Helper()
	st, err := h.NewStream(testkit.Context(t, 10*time.Second), c.h.ID(), ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte{100, 0xa1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Reset() })
	return st
}

// ask sends a whole (bad-token) fetch and returns the server's answer.
func ask(t testing.TB, h host.Host, c *cacheNode) error {
	t.Helper()
	st, err := h.NewStream(testkit.Context(t, 10*time.Second), c.h.ID(), ID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	req, _ := wire.Marshal(Request{Op: OpFetch, Owner: []byte(testkit.Key(t, "alice").ID()), Resource: "a", Token: []byte{1}})
	cn := &conn{st: st, r: bufio.NewReader(st), w: bufio.NewWriter(st)}
	if err := cn.writeFrame(req, MaxRequest); err != nil {
		t.Fatal(err)
	}
	st.CloseWrite()
	_, err = readReply(cn.r)
	return err
}

// Many identities, each within its own limits, cannot hold more than
// MaxStreams streams at once; one identity cannot hold more than
// MaxStreamsPerPeer; the slots come back when the streams end.
func TestStreamsAreBoundedPerPeerAndInTotal(t *testing.T) {
	const total, perPeer = 6, 2
	c := startCache(t, allowList{}, func(cfg *Config) { cfg.MaxStreams, cfg.MaxStreamsPerPeer = total, perPeer })
	var hosts []host.Host
	for range 12 {
		h := testkit.Host(t, nil)
		testkit.Connect(t, h, c.h)
		hosts = append(hosts, h)
	}
	// One peer: two stalls, then its third is refused while others get in.
	stall(t, hosts[0], c)
	stall(t, hosts[0], c)
	testkit.Eventually(t, 10*time.Second, func() bool { return c.srv.Streams() == 2 }, "two streams held")
	if err := ask(t, hosts[0], c); !errors.Is(err, wire.RateLimited) {
		t.Fatalf("a third stream of one peer: %v", err)
	}
	if err := ask(t, hosts[1], c); !errors.Is(err, wire.BadRequest) {
		t.Fatalf("another peer's request: %v", err)
	}
	// Eleven more identities stall one stream each: only four get a slot.
	for _, h := range hosts[1:] {
		stall(t, h, c)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return c.srv.Streams() == total }, "the total held")
	refused := 0
	for _, h := range hosts[1:] {
		if err := ask(t, h, c); errors.Is(err, wire.Unavailable) || errors.Is(err, wire.RateLimited) {
			refused++
		} else {
			t.Fatalf("a request past the total: %v", err)
		}
	}
	if refused != len(hosts)-1 || c.srv.Streams() != total {
		t.Fatalf("%d refused, %d held", refused, c.srv.Streams())
	}
	// The stalled peers go: every slot comes back.
	for _, h := range hosts {
		for _, cn := range h.Network().ConnsToPeer(c.h.ID()) {
			cn.Close()
		}
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return c.srv.Streams() == 0 }, "slots released")
	testkit.Connect(t, hosts[3], c.h)
	if err := ask(t, hosts[3], c); !errors.Is(err, wire.BadRequest) {
		t.Fatalf("after the stalls: %v", err)
	}
}

// Close resets the streams in flight instead of waiting out their
// deadlines, and leaks no goroutine.
func TestCloseResetsStreamsInFlight(t *testing.T) {
	c := startCache(t, allowList{}, nil)
	h := testkit.Host(t, nil)
	testkit.Connect(t, h, c.h)
	st := stall(t, h, c)
	testkit.Eventually(t, 10*time.Second, func() bool { return c.srv.Streams() == 1 }, "the stalled stream held")
	done := make(chan struct{})
	go func() { c.srv.Close(); close(done) }()
	testkit.Within(t, 10*time.Second, done, "Close with a stream in flight")
	if _, err := st.Read(make([]byte, 1)); err == nil {
		t.Fatal("the stalled stream is still open after Close")
	}
}

// One peer's flood of requests meets its rate; other peers do not.
func TestRequestsAreRateLimitedPerPeer(t *testing.T) {
	// A clock that stands still: the bucket does not refill during the
	// flood, however slow the machine.
	clock := testkit.NewClock(time.Now())
	c := startCache(t, allowList{}, func(cfg *Config) { cfg.Clock = clock.Now })
	flooder, other := testkit.Host(t, nil), testkit.Host(t, nil)
	testkit.Connect(t, flooder, c.h)
	testkit.Connect(t, other, c.h)
	limited := 0
	for range peerBurst + 20 {
		if errors.Is(ask(t, flooder, c), wire.RateLimited) {
			limited++
		}
	}
	if limited != 20 {
		t.Fatalf("%d of %d requests limited with a burst of %d", limited, peerBurst+20, peerBurst)
	}
	if err := ask(t, other, c); !errors.Is(err, wire.BadRequest) {
		t.Fatalf("another peer during the flood: %v", err)
	}
}
