package relay

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/x/rate"
)

// Limits returns resource-manager limits for a host in the relay role,
// sized from cfg. The library defaults (go-libp2p's DefaultLimits plus
// SetDefaultServiceLimits, scaled to the machine) would otherwise cap a relay
// far below cfg: 64 relay streams per peer, 640 hop streams in all, 8
// connections per peer and 64 inbound connections in all.
//
// Sizing: a circuit costs the relay one inbound hop stream, one outbound stop
// stream and 2×BufferSize of relay-service memory, so the service memory
// MaxRelayMemory bounds concurrent circuits at MaxRelayMemory/(2×BufferSize).
// A reservation costs one connection, and over TCP one file descriptor.
// The relay is a process of its own, so the system scope may use the
// process's descriptor limit (RLIMIT_NOFILE, which Go raises to the hard
// limit at start) less fdReserve for its store, logs and listeners, or the
// library's autoscaled half of it when that is more: raise `ulimit -Hn` to
// run more TCP reservations than that (QUIC connections share one socket).
func Limits(cfg Config) (rcmgr.ConcreteLimitConfig, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return rcmgr.ConcreteLimitConfig{}, err
	}
	circuits := int(cfg.MaxRelayMemory / int64(2*cfg.BufferSize))
	perPeer := cfg.MaxCircuits + 32 // circuits plus room for reservation refreshes
	conns := cfg.MaxReservations + circuits

	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	svc := rcmgr.BaseLimit{
		StreamsInbound:  circuits + cfg.MaxReservations,
		StreamsOutbound: circuits,
		Streams:         2*circuits + cfg.MaxReservations,
		// buffers, plus the library's 4 KiB per handshake message
		Memory: cfg.MaxRelayMemory + int64(2*circuits+cfg.MaxReservations)*4096,
	}
	svcPeer := rcmgr.BaseLimit{
		StreamsInbound:  perPeer,
		StreamsOutbound: perPeer,
		Streams:         2 * perPeer,
		Memory:          int64(2*perPeer) * 4096,
	}
	scaling.AddServiceLimit(relayv2.ServiceName, svc, rcmgr.BaseLimitIncrease{})
	scaling.AddServicePeerLimit(relayv2.ServiceName, svcPeer, rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolLimit(proto.ProtoIDv2Hop, svc, rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolLimit(proto.ProtoIDv2Stop, svc, rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolPeerLimit(proto.ProtoIDv2Hop, svcPeer, rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolPeerLimit(proto.ProtoIDv2Stop, svcPeer, rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolLimit(SnapshotProtocol, snapshotLimit(snapshotStreams), rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolPeerLimit(SnapshotProtocol, snapshotLimit(snapshotStreamsPerPeer), rcmgr.BaseLimitIncrease{})
	base := scaling.AutoScale()

	streams := rcmgr.LimitVal(4*circuits + 4*cfg.MaxReservations)
	fds := rcmgr.DefaultLimit
	if n := ProcessFDs(); n-fdReserve > int(base.ToPartialLimitConfig().System.FD) {
		fds = rcmgr.LimitVal(n - fdReserve)
	}
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			FD:              fds,
			Conns:           rcmgr.LimitVal(conns + connSlack),
			ConnsInbound:    rcmgr.LimitVal(conns + connSlack),
			ConnsOutbound:   connSlack,
			Streams:         streams,
			StreamsInbound:  streams,
			StreamsOutbound: streams,
			Memory:          rcmgr.LimitVal64(svc.Memory + 512<<20),
		},
		// a reconnect storm after a relay restart arrives as transient conns,
		// and each new connection's first streams (identify, the relay
		// registration, the reservation) are transient until negotiated:
		// the library's ~128 + 128/GiB inbound reset them when a thousand
		// homes reserve at once beside a stranger flood
		Transient: rcmgr.ResourceLimits{
			Conns:          2048,
			ConnsInbound:   1024,
			Streams:        4096,
			StreamsInbound: 4096,
		},
		// a home node's peer scope carries all its circuits' stop streams
		PeerDefault: rcmgr.ResourceLimits{
			Conns:           64,
			ConnsInbound:    64,
			Streams:         rcmgr.LimitVal(4 * perPeer),
			StreamsInbound:  rcmgr.LimitVal(2 * perPeer),
			StreamsOutbound: rcmgr.LimitVal(2 * perPeer),
		},
	}
	return partial.Build(base), nil
}

// The snapshot cache's protocol (protocols/snapshot, served on the
// relay's host by node/infra; this package imports no module package, so
// its ID and sizes are repeated here). Each stream holds one block frame
// and one request frame at a time: MaxBlockFrame + MaxRequest, 1048576 +
// 10880 bytes. The stream counts are the server's own caps
// (DefaultMaxStreams, DefaultMaxStreamsPerPeer); the resource manager
// holds them again below the server, where a stream is counted before its
// handler runs.
const (
	SnapshotProtocol       = "/ocmt/snapshot/1"
	snapshotStreamMemory   = 1048576 + 10880
	snapshotStreams        = 64
	snapshotStreamsPerPeer = 4
)

// snapshotLimit is the limit of n snapshot streams.
func snapshotLimit(n int) rcmgr.BaseLimit {
	return rcmgr.BaseLimit{StreamsInbound: n, StreamsOutbound: n, Streams: n, Memory: int64(n) * snapshotStreamMemory}
}

// fdReserve is what Limits leaves of the process's file descriptors to
// the relay's store, logs, listeners and the Go runtime.
const fdReserve = 512

// connWatermarks sizes the relay's connection manager from cfg. libp2p's
// connection manager trims once the host holds more than high connections,
// closing the least valuable peers that are neither protected nor in their
// grace period until low of those remain; protected peers do not count
// toward low. The Service protects every peer holding a reservation or an
// end of a live circuit, so trimming only ever prunes the rest (DHT peers,
// bootstraps are protected by the role, peers asking for access, sources
// between circuits). high is reached only when every reservation slot and
// every circuit the relay memory admits (each with a source of its own) is
// in use, plus three quarters of the resource manager's slack, so the
// connection manager prunes strangers before the resource manager
// (Limits: the same plus connSlack) refuses new connections; low keeps
// half the slack of unprotected peers.
func connWatermarks(cfg Config) (low, high int) {
	conns := cfg.MaxReservations + int(cfg.MaxRelayMemory/int64(2*cfg.BufferSize))
	return connSlack / 2, conns + 3*connSlack/4
}

// connSlack is the room Limits gives the system scope beyond reservations
// and circuit sources.
const connSlack = 1024

// ConnManager returns the connection manager for a host in the relay
// role, sized from cfg (see connWatermarks), with a one-minute grace
// period; opts (tests) come after. Without it, libp2p's default (low 160,
// high 192) trims a relay holding more than 192 reservations back to 160
// connections, and a home whose connection is trimmed loses its
// reservation. Pass it as libp2p.ConnectionManager(cm).
func ConnManager(cfg Config, opts ...connmgr.Option) (*connmgr.BasicConnMgr, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	low, high := connWatermarks(cfg)
	return connmgr.NewConnManager(low, high, append([]connmgr.Option{connmgr.WithGracePeriod(time.Minute)}, opts...)...)
}

// ResourceManager builds the resource manager for a relay host: Limits(cfg),
// and per-IP connection caps raised to MaxReservationsPerIP so that home
// nodes sharing a CGNAT address are not cut off at the library's 8
// connections per IPv4 address. Pass it as libp2p.ResourceManager(rm).
func ResourceManager(cfg Config) (network.ResourceManager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	limits, err := Limits(cfg)
	if err != nil {
		return nil, err
	}
	perIP := cfg.MaxReservationsPerIP + 16
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits),
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: perIP}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: perIP}, {PrefixLength: 48, ConnCount: 4 * perIP}},
		),
		// new-connection rate per address: every home behind one address may
		// reconnect within a minute after a relay restart (library: 0.2/s, burst 16)
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
	)
	if err != nil {
		return nil, fmt.Errorf("relay: building resource manager: %w", err)
	}
	return rm, nil
}
