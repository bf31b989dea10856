package uigateway

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ProtocolID is the stream protocol the gateway opens to a node: the
// stream carries one client's TLS connection, from its ClientHello on,
// and nothing else.
const ProtocolID protocol.ID = "/ocmt/ui/1"

// Opener returns the Config.Open of a gateway running on h: a stream
// ProtocolID to the node over a connection h already has, never a new
// dial, so the relay reaches a node only through the connection the node
// made to reserve.
func Opener(h host.Host) func(ctx context.Context, node peer.ID) (io.ReadWriteCloser, error) {
	return func(ctx context.Context, node peer.ID) (io.ReadWriteCloser, error) {
		ctx = network.WithNoDial(ctx, "the UI gateway reaches a node over its reservation only")
		s, err := h.NewStream(ctx, node, ProtocolID)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// ListenerConfig configures a Listener. Allow is required.
type ListenerConfig struct {
	// Protocol is the stream protocol served. Default ProtocolID.
	Protocol protocol.ID
	// Allow says whether a peer may open streams: the node's relays. A
	// stream from any other peer is reset.
	Allow func(peer.ID) bool
	// MaxConns bounds the streams held at once, queued or accepted and
	// not yet closed; one more is reset. Default DefaultListenerMaxConns.
	MaxConns int
	// Backlog bounds the streams waiting for Accept; one more is reset.
	// Default DefaultBacklog.
	Backlog int
}

// Listener is the node's side of the gateway: a net.Listener whose
// connections are the streams the gateway opens, each carrying one
// client's TLS connection. Wrap it with tls.NewListener and serve it as a
// TCP listener. Safe for concurrent use.
type Listener struct {
	h     host.Host
	cfg   ListenerConfig
	queue chan network.Stream
	done  chan struct{}

	mu     sync.Mutex
	live   int
	closed bool
}

// Listen serves cfg.Protocol on h until Close.
func Listen(h host.Host, cfg ListenerConfig) (*Listener, error) {
	if cfg.Allow == nil {
		return nil, errors.New("the UI listener needs to know which peers (the node's relays) may open streams")
	}
	if cfg.Protocol == "" {
		cfg.Protocol = ProtocolID
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultListenerMaxConns
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = DefaultBacklog
	}
	l := &Listener{h: h, cfg: cfg, queue: make(chan network.Stream, cfg.Backlog), done: make(chan struct{})}
	h.SetStreamHandler(cfg.Protocol, l.handle)
	return l, nil
}

// handle queues an incoming stream, or resets it.
func (l *Listener) handle(s network.Stream) {
	if !l.cfg.Allow(s.Conn().RemotePeer()) {
		s.Reset()
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.live >= l.cfg.MaxConns {
		s.Reset()
		return
	}
	select {
	case l.queue <- s:
		l.live++
	default:
		s.Reset()
	}
}

// Accept returns the next stream as a net.Conn, or net.ErrClosed once the
// listener is closed.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case s := <-l.queue:
		return &streamConn{Stream: s, l: l,
			local:  Addr{Peer: l.h.ID()},
			remote: Addr{Peer: s.Conn().RemotePeer()}}, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops serving the protocol and resets the streams not accepted.
// Accepted connections stay open until closed.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	l.h.RemoveStreamHandler(l.cfg.Protocol)
	for {
		select {
		case s := <-l.queue:
			s.Reset()
			l.released()
		default:
			return nil
		}
	}
}

// Addr is the node's own address: its peer ID.
func (l *Listener) Addr() net.Addr { return Addr{Peer: l.h.ID()} }

// Live is the number of streams held now, queued or accepted.
func (l *Listener) Live() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live
}

func (l *Listener) released() {
	l.mu.Lock()
	l.live--
	l.mu.Unlock()
}

// Addr is a peer as a net.Addr: the node (a Listener's own address) or
// the relay that opened a stream (its connections' remote address).
type Addr struct {
	Peer peer.ID
}

// Network is "libp2p".
func (Addr) Network() string { return "libp2p" }

// String is the peer ID.
func (a Addr) String() string { return a.Peer.String() }

// streamConn is a stream as a net.Conn; its deadlines are the stream's.
type streamConn struct {
	network.Stream
	l             *Listener
	local, remote Addr
	once          sync.Once
}

func (c *streamConn) LocalAddr() net.Addr  { return c.local }
func (c *streamConn) RemoteAddr() net.Addr { return c.remote }

// Close closes the stream and frees its place in the listener's bound.
func (c *streamConn) Close() error {
	c.once.Do(c.l.released)
	return c.Stream.Close()
}
