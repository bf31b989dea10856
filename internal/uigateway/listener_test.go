package uigateway

import (
	"errors"
	"io"
	"net"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
)

// openStream opens a stream from a to b's listener and sends a byte, which is
// when b's side learns of it.
func openStream(t *testing.T, a, b host.Host) network.Stream {
	t.Helper()
	s, err := a.NewStream(testkit.Context(t, wait), b.ID(), ProtocolID)
	if err != nil {
		t.Fatalf("opening a stream: %v", err)
	}
	t.Cleanup(func() { s.Reset() })
	if _, err := s.Write([]byte{1}); err != nil {
		t.Fatalf("writing to the stream: %v", err)
	}
	return s
}

// refusedSoon checks that b resets a stream a opens to its listener,
// when it is opened (b's protocols known) or at its first byte.
func refusedSoon(t *testing.T, a, b host.Host, what string) {
	t.Helper()
	s, err := a.NewStream(testkit.Context(t, wait), b.ID(), ProtocolID)
	if err != nil {
		return // refused as it opened
	}
	defer s.Reset()
	done := make(chan error, 1)
	go func() {
		s.Write([]byte{1})
		_, err := io.Copy(io.Discard, s)
		done <- err
	}()
	if err := testkit.Within(t, wait, done, "%s reset", what); err == nil {
		t.Fatalf("%s: closed cleanly, not reset", what)
	}
}

func TestListenerAcceptsItsRelaysOnly(t *testing.T) {
	node, relay, stranger := testkit.Host(t, nil), testkit.Host(t, nil), testkit.Host(t, nil)
	testkit.Connect(t, node, relay)
	testkit.Connect(t, stranger, node)
	ln, err := Listen(node, ListenerConfig{Allow: func(p peer.ID) bool { return p == relay.ID() }})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	refusedSoon(t, stranger, node, "a stranger's stream")
	if ln.Live() != 0 {
		t.Fatal("a stranger's stream was queued")
	}

	s := openStream(t, relay, node)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	c := testkit.Within(t, wait, accepted, "the relay's stream accepted")
	if c.LocalAddr().String() != node.ID().String() || c.RemoteAddr().String() != relay.ID().String() ||
		c.RemoteAddr().Network() != "libp2p" || ln.Addr().String() != node.ID().String() {
		t.Fatalf("addresses: local %v, remote %v, listener %v", c.LocalAddr(), c.RemoteAddr(), ln.Addr())
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil || buf[0] != 1 {
		t.Fatalf("read %v, %v", buf, err)
	}
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2)
	if _, err := io.ReadFull(s, got); err != nil || string(got) != "hi" {
		t.Fatalf("the relay read %q, %v", got, err)
	}
	if ln.Live() != 1 {
		t.Fatalf("%d streams held, want 1", ln.Live())
	}
	c.Close()
	c.Close()
	if ln.Live() != 0 {
		t.Fatalf("%d streams held after the close, want 0", ln.Live())
	}
}

func TestListenerBoundsAndClose(t *testing.T) {
	node, relay := testkit.Host(t, nil), testkit.Host(t, nil)
	testkit.Connect(t, relay, node)
	ln, err := Listen(node, ListenerConfig{Allow: func(p peer.ID) bool { return p == relay.ID() }, MaxConns: 3, Backlog: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing accepted: the backlog holds two, the third is reset.
	openStream(t, relay, node)
	openStream(t, relay, node)
	testkit.Eventually(t, wait, func() bool { return ln.Live() == 2 }, "two streams queued (%d)", ln.Live())
	refusedSoon(t, relay, node, "a stream past the backlog")
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	openStream(t, relay, node)
	testkit.Eventually(t, wait, func() bool { return ln.Live() == 3 }, "three streams held (%d)", ln.Live())
	refusedSoon(t, relay, node, "a stream past MaxConns")
	if ln.Live() != 3 {
		t.Fatalf("%d streams held, bound 3", ln.Live())
	}
	// Close resets what was queued; Accept then says closed.
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if ln.Live() != 1 {
		t.Fatalf("%d streams held after Close, want the accepted one", ln.Live())
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	refusedSoon(t, relay, node, "a stream after Close")
	if _, err := Listen(node, ListenerConfig{}); err == nil {
		t.Fatal("a listener without Allow")
	}
}
