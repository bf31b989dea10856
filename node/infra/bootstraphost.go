package infra

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/x/rate"
	"github.com/ocmt/mesh/relay"
)

// BootstrapLimits size the bootstrap's host. A bootstrap serves every home
// node (directory, DHT, mailboxes, vouchers, revocation gossip), so
// libp2p's defaults — scaled to the machine, about 64 + 64/GiB inbound
// connections, 32 + 16/GiB of them mid-handshake, 8 per IP address, and a
// connection manager trimming past 192 — reset most dials when many homes
// reach it at once (after a restart, or behind one CGNAT address). Zero
// takes the default.
type BootstrapLimits struct {
	// MaxConns bounds inbound connections in all. Over TCP each is a file
	// descriptor: the host may use the process's descriptors less
	// FDMargin. Default DefaultBootstrapMaxConns.
	MaxConns int
	// MaxConnsPerIP bounds inbound connections from one IPv4 address or
	// IPv6 /56 (four times as many from a /48), and new connections from
	// one a minute (homes behind one CGNAT address share it).
	// Default DefaultBootstrapMaxConnsPerIP.
	MaxConnsPerIP int
	// MaxHandshakes bounds connections in flight: accepted but not yet
	// through the security handshake and the muxer. Default
	// DefaultBootstrapMaxHandshakes.
	MaxHandshakes int
	// MaxStreams bounds open streams in all; MaxStreamsPerPeer those of
	// one peer (a relay named as infrastructure gets four times as many).
	// Defaults DefaultBootstrapMaxStreams and
	// DefaultBootstrapMaxStreamsPerPeer.
	MaxStreams        int
	MaxStreamsPerPeer int
	// MaxMemory bounds the memory the resource manager hands out (stream
	// and muxer buffers), in bytes. Default DefaultBootstrapMaxMemory.
	MaxMemory int64
	// FDMargin is the file descriptors left, of the process's limit, to
	// the store, the logs, the listeners and the runtime. Default
	// DefaultBootstrapFDMargin.
	FDMargin int
}

// The bootstrap's default limits (docs/scaling.md, "Bootstraps").
const (
	DefaultBootstrapMaxConns          = 8192
	DefaultBootstrapMaxConnsPerIP     = 1024
	DefaultBootstrapMaxHandshakes     = 1024
	DefaultBootstrapMaxStreams        = 32768
	DefaultBootstrapMaxStreamsPerPeer = 128
	DefaultBootstrapMaxMemory         = 1 << 30
	DefaultBootstrapFDMargin          = 512
)

func (l BootstrapLimits) withDefaults() (BootstrapLimits, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxConns, DefaultBootstrapMaxConns)
	def(&l.MaxConnsPerIP, DefaultBootstrapMaxConnsPerIP)
	def(&l.MaxHandshakes, DefaultBootstrapMaxHandshakes)
	def(&l.MaxStreams, DefaultBootstrapMaxStreams)
	def(&l.MaxStreamsPerPeer, DefaultBootstrapMaxStreamsPerPeer)
	def(&l.FDMargin, DefaultBootstrapFDMargin)
	if l.MaxMemory == 0 {
		l.MaxMemory = DefaultBootstrapMaxMemory
	}
	for _, v := range []struct {
		key string
		n   int64
	}{{"max_conns", int64(l.MaxConns)}, {"max_conns_per_ip", int64(l.MaxConnsPerIP)}, {"max_handshakes", int64(l.MaxHandshakes)},
		{"max_streams", int64(l.MaxStreams)}, {"max_streams_per_peer", int64(l.MaxStreamsPerPeer)}, {"max_memory", l.MaxMemory},
		{"fd_margin", int64(l.FDMargin)}} {
		if v.n < 0 {
			return l, fmt.Errorf("bootstrap limit %s is %d: want a positive number, or 0 for the default", v.key, v.n)
		}
	}
	return l, nil
}

// outboundSlack is the bootstrap's own dials (DHT routing table refresh,
// revocation gossip), beside the inbound connections it serves.
const outboundSlack = 256

// bootstrapLimitConfig is the resource-manager limits for l, with four
// times the per-peer streams and connections for the infrastructure
// peers (relays asking the directory on behalf of every home).
func bootstrapLimitConfig(l BootstrapLimits, infra []peer.ID) rcmgr.ConcreteLimitConfig {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	base := scaling.AutoScale()

	fds := rcmgr.DefaultLimit
	if n := relay.ProcessFDs() - l.FDMargin; n > int(base.ToPartialLimitConfig().System.FD) {
		fds = rcmgr.LimitVal(n)
	}
	streams := rcmgr.LimitVal(l.MaxStreams)
	perPeer := rcmgr.LimitVal(l.MaxStreamsPerPeer)
	// a protocol or service may take every stream the system allows: the
	// per-peer limits, not the library's per-protocol 512 + 256/GiB, keep
	// one protocol's users from the others
	everyStream := rcmgr.ResourceLimits{Streams: streams, StreamsInbound: streams, StreamsOutbound: streams}
	peerStreams := rcmgr.ResourceLimits{Streams: 2 * perPeer, StreamsInbound: perPeer, StreamsOutbound: perPeer}
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			FD:              fds,
			Conns:           rcmgr.LimitVal(l.MaxConns + outboundSlack),
			ConnsInbound:    rcmgr.LimitVal(l.MaxConns),
			ConnsOutbound:   outboundSlack,
			Streams:         streams,
			StreamsInbound:  streams,
			StreamsOutbound: streams,
			Memory:          rcmgr.LimitVal64(l.MaxMemory),
		},
		// a connection is transient until its peer is known, and a stream
		// until its protocol is: so MaxHandshakes bounds the handshakes in
		// flight, and each new connection's first streams (identify, the
		// first request) fit beside them
		Transient: rcmgr.ResourceLimits{
			Conns:           rcmgr.LimitVal(l.MaxHandshakes + outboundSlack),
			ConnsInbound:    rcmgr.LimitVal(l.MaxHandshakes),
			ConnsOutbound:   outboundSlack,
			Streams:         rcmgr.LimitVal(4 * l.MaxHandshakes),
			StreamsInbound:  rcmgr.LimitVal(4 * l.MaxHandshakes),
			StreamsOutbound: rcmgr.LimitVal(4 * l.MaxHandshakes),
			Memory:          rcmgr.LimitVal64(l.MaxMemory / 4),
		},
		ServiceDefault:      everyStream,
		ProtocolDefault:     everyStream,
		ServicePeerDefault:  peerStreams,
		ProtocolPeerDefault: peerStreams,
		PeerDefault:         peerStreams,
	}
	if len(infra) > 0 {
		partial.Peer = make(map[peer.ID]rcmgr.ResourceLimits, len(infra))
		for _, id := range infra {
			partial.Peer[id] = rcmgr.ResourceLimits{Conns: 32, ConnsInbound: 32, ConnsOutbound: 32,
				Streams: 8 * perPeer, StreamsInbound: 4 * perPeer, StreamsOutbound: 4 * perPeer}
		}
	}
	return partial.Build(base)
}

// bootstrapResourceManager builds the resource manager for a bootstrap
// host: bootstrapLimitConfig, connections per address capped at
// MaxConnsPerIP and new ones at MaxConnsPerIP a minute (burst as many:
// every home behind one address may reconnect within a minute after a
// restart; the library allows 8 and 0.2 a second). Loopback is exempt
// from both, as in the library; opts (tests) come after.
func bootstrapResourceManager(l BootstrapLimits, infra []peer.ID, opts ...rcmgr.Option) (network.ResourceManager, error) {
	perIP := l.MaxConnsPerIP
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(bootstrapLimitConfig(l, infra)), append([]rcmgr.Option{
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: perIP}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: perIP}, {PrefixLength: 48, ConnCount: 4 * perIP}},
		),
		rcmgr.WithConnRateLimiters(&rate.Limiter{
			NetworkPrefixLimits: []rate.PrefixLimit{
				{Prefix: netip.MustParsePrefix("127.0.0.0/8")},
				{Prefix: netip.MustParsePrefix("::1/128")},
			},
			SubnetRateLimiter: rate.SubnetLimiter{
				IPv4SubnetLimits: []rate.SubnetLimit{{PrefixLength: 32, Limit: rate.Limit{RPS: float64(perIP) / 60, Burst: perIP}}},
				IPv6SubnetLimits: []rate.SubnetLimit{{PrefixLength: 56, Limit: rate.Limit{RPS: float64(perIP) / 60, Burst: perIP}}},
				GracePeriod:      time.Minute,
			},
		}),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: building resource manager: %w", err)
	}
	return rm, nil
}

// bootstrapWatermarks: the connection manager starts trimming at seven
// eighths of MaxConns, so that idle peers make room before the resource
// manager refuses new ones, and trims back to three quarters. Protected
// peers (see workHost) and peers in their first minute are never trimmed.
func bootstrapWatermarks(l BootstrapLimits) (low, high int) {
	return l.MaxConns * 3 / 4, l.MaxConns * 7 / 8
}

// bootstrapHostOptions are the resource manager and connection manager of
// a bootstrap host sized from l (defaults filled in), and what closes them
// should the host not start. The infrastructure relays are protected from
// trimming once the host exists (startBootstrap).
func bootstrapHostOptions(l BootstrapLimits, infra []peer.ID, rmOpts ...rcmgr.Option) ([]libp2p.Option, func(), error) {
	rm, err := bootstrapResourceManager(l, infra, rmOpts...)
	if err != nil {
		return nil, nil, err
	}
	low, high := bootstrapWatermarks(l)
	cm, err := connmgr.NewConnManager(low, high, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		rm.Close()
		return nil, nil, fmt.Errorf("bootstrap: building connection manager: %w", err)
	}
	release := func() {
		cm.Close()
		rm.Close()
	}
	return []libp2p.Option{libp2p.ResourceManager(rm), libp2p.ConnectionManager(cm)}, release, nil
}

// Connection-manager protection on a bootstrap. The relays named as
// infrastructure are protected for as long as the bootstrap runs: every
// home's reservation without a voucher waits on their questions. Any other
// peer is protected while one of its requests is being served (a
// directory request, a DHT stream, a mailbox fetch, a voucher), so that a
// trim never cuts a peer mid-answer. The revocation gossip's streams are
// not counted: every gossiping home holds one for as long as it stays
// connected, and protecting them all would leave nothing to trim.
const (
	protectInfrastructure = "ocmt-bootstrap-infrastructure"
	protectWork           = "ocmt-bootstrap-request"
)

// workHost wraps the host handed to the bootstrap's request services: each
// stream handler protects the remote peer while it runs.
type workHost struct {
	host.Host
	mu      sync.Mutex
	serving map[peer.ID]int // handlers running per peer
}

func newWorkHost(h host.Host) *workHost {
	return &workHost{Host: h, serving: make(map[peer.ID]int)}
}

func (w *workHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	w.Host.SetStreamHandler(pid, w.protecting(handler))
}

func (w *workHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	w.Host.SetStreamHandlerMatch(pid, match, w.protecting(handler))
}

func (w *workHost) protecting(handler network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		p := s.Conn().RemotePeer()
		w.begin(p)
		defer w.end(p)
		handler(s)
	}
}

func (w *workHost) begin(p peer.ID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.serving[p]++
	if w.serving[p] == 1 {
		w.ConnManager().Protect(p, protectWork)
	}
}

func (w *workHost) end(p peer.ID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.serving[p]--
	if w.serving[p] == 0 {
		delete(w.serving, p)
		w.ConnManager().Unprotect(p, protectWork)
	}
}
