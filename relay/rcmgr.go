package relay

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/host/resource-manager"
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
// A reservation costs one connection. File descriptors keep the library's
// autoscaled value (half the process limit): raise `ulimit -n` to run
// thousands of reservations.
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
	base := scaling.AutoScale()

	streams := rcmgr.LimitVal(4*circuits + 4*cfg.MaxReservations)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns:           rcmgr.LimitVal(conns + 1024),
			ConnsInbound:    rcmgr.LimitVal(conns + 1024),
			ConnsOutbound:   1024,
			Streams:         streams,
			StreamsInbound:  streams,
			StreamsOutbound: streams,
			Memory:          rcmgr.LimitVal64(svc.Memory + 512<<20),
		},
		// a reconnect storm after a relay restart arrives as transient conns
		Transient: rcmgr.ResourceLimits{
			Conns:        2048,
			ConnsInbound: 1024,
			Streams:      4096,
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
