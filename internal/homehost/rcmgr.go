package homehost

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	circuit "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/protocols/share"
)

// Relayed connections. Every connection that reaches a home node through a
// relay holds one inbound stop stream from that relay for its lifetime.
// libp2p allows 128 such streams per relay peer, and any peer may open a
// circuit to a registered home, so 128 throwaway identities holding idle
// circuits used to cut a node off from everyone, contacts included. A home
// node therefore
//
//   - allows stopStreamsPerRelay stop streams per relay peer (more than a
//     relay lets one destination have: our relays allow 256);
//   - keeps at most StrangerRelayedConns relayed connections at once from
//     peers that are neither pinned contacts nor peers it holds or issued
//     grants with ("strangers" here), refusing the next before the
//     handshake (relayRoom, a connection gater);
//   - lets its contacts and grant peers past that budget, with room for
//     them in the connection limits (contactRoom).
const (
	stopStreamsPerRelay = 1024
	// StrangerRelayedConns is the budget of relayed connections from
	// strangers.
	StrangerRelayedConns = 64
	contactRoom          = 256
	// knownPeersFresh is how long the set of contacts and grant peers is
	// reused before an unknown peer makes the gater read it again.
	knownPeersFresh = 2 * time.Second
)

// resourceManager gives a home node the library's default limits plus room
// for the share protocol and for relayed connections (above): a share
// stream charges what its frames really take, up to about 8 MiB for a 4 MiB
// write or read, and the default 16 MiB per protocol and peer would let a
// grantee have only two large requests in flight. Per peer: 8 concurrent
// share streams and 80 MiB; in all: 256 MiB.
func resourceManager() (network.ResourceManager, error) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	lim := share.Limits()
	per := int64(lim.MaxRequest + lim.MaxResponse)
	id := protocol.ID(share.ID)
	scaling.AddProtocolLimit(id, rcmgr.BaseLimit{StreamsInbound: 256, StreamsOutbound: 256, Streams: 512, Memory: 32 * per}, rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolPeerLimit(id, rcmgr.BaseLimit{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 10 * per}, rcmgr.BaseLimitIncrease{})
	// a home node is a circuit destination only: inbound stop streams, from
	// a few relays
	scaling.AddProtocolLimit(proto.ProtoIDv2Stop, rcmgr.BaseLimit{StreamsInbound: 2 * stopStreamsPerRelay, StreamsOutbound: 64,
		Streams: 2*stopStreamsPerRelay + 64, Memory: 128 << 20}, rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolPeerLimit(proto.ProtoIDv2Stop, rcmgr.BaseLimit{StreamsInbound: stopStreamsPerRelay, StreamsOutbound: 16,
		Streams: stopStreamsPerRelay + 16, Memory: 64 << 20}, rcmgr.BaseLimitIncrease{})
	base := scaling.AutoScale()
	sys := base.ToPartialLimitConfig().System
	inbound := max(int(sys.ConnsInbound), StrangerRelayedConns+contactRoom)
	cfg := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			ConnsInbound: rcmgr.LimitVal(inbound),
			Conns:        rcmgr.LimitVal(max(int(sys.Conns), inbound+int(sys.ConnsOutbound))),
		},
		PeerDefault: rcmgr.ResourceLimits{
			Memory: rcmgr.LimitVal64(12 * per),
			// a relay peer carries a stop stream per relayed connection
			StreamsInbound: rcmgr.LimitVal(max(int(base.ToPartialLimitConfig().PeerDefault.StreamsInbound), stopStreamsPerRelay+256)),
			Streams:        rcmgr.LimitVal(max(int(base.ToPartialLimitConfig().PeerDefault.Streams), stopStreamsPerRelay+512)),
		},
	}
	return rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(cfg.Build(base)))
}

// relayRoom is the home node's connection gater for relayed connections
// (see the top of this file): after next (the node's other gaters) it
// refuses an inbound relayed connection from a stranger while
// StrangerRelayedConns of them are open. It decides in InterceptAccept,
// before the handshake, where the circuit client hands the gater the
// relayed connection with its source; InterceptSecured decides again with
// the authenticated peer, in case the library stops doing so.
type relayRoom struct {
	next   connmgr.ConnectionGater // nil: allow
	known  *knownPeers
	budget int
	host   atomic.Pointer[host.Host]
}

func newRelayRoom(next connmgr.ConnectionGater, known *knownPeers) *relayRoom {
	return &relayRoom{next: next, known: known, budget: StrangerRelayedConns}
}

// setHost gives the gater the host whose connections it counts.
func (g *relayRoom) setHost(h host.Host) { g.host.Store(&h) }

func (g *relayRoom) InterceptPeerDial(p peer.ID) bool {
	return g.next == nil || g.next.InterceptPeerDial(p)
}

func (g *relayRoom) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return g.next == nil || g.next.InterceptAddrDial(p, a)
}

func (g *relayRoom) InterceptAccept(a network.ConnMultiaddrs) bool {
	if g.next != nil && !g.next.InterceptAccept(a) {
		return false
	}
	src, ok := relayedSource(a)
	return !ok || g.admit(src)
}

func (g *relayRoom) InterceptSecured(d network.Direction, p peer.ID, a network.ConnMultiaddrs) bool {
	if g.next != nil && !g.next.InterceptSecured(d, p, a) {
		return false
	}
	return d != network.DirInbound || !isRelayed(a.RemoteMultiaddr()) || g.admit(p)
}

func (g *relayRoom) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	if g.next == nil {
		return true, 0
	}
	return g.next.InterceptUpgraded(c)
}

// admit reports whether an inbound relayed connection from p may open.
func (g *relayRoom) admit(p peer.ID) bool {
	hp := g.host.Load()
	if hp == nil || g.known.has(p) {
		return true
	}
	n := 0
	for _, c := range (*hp).Network().Conns() {
		if c.Stat().Direction == network.DirInbound && isRelayed(c.RemoteMultiaddr()) && !g.known.has(c.RemotePeer()) {
			n++
		}
	}
	return n < g.budget
}

func isRelayed(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// relayedSource returns the source of an inbound relayed connection that
// has not been secured yet: go-libp2p v0.51.0's circuit client hands the
// gater its own connection, whose RemoteAddr names the source.
func relayedSource(a network.ConnMultiaddrs) (peer.ID, bool) {
	if !isRelayed(a.RemoteMultiaddr()) {
		return "", false
	}
	ra, ok := a.(interface{ RemoteAddr() net.Addr })
	if !ok {
		return "", false
	}
	na, ok := ra.RemoteAddr().(*circuit.NetAddr)
	if !ok {
		return "", false
	}
	p, err := peer.Decode(na.Remote)
	return p, err == nil
}

// knownPeers is the set of peers a node has pinned as contacts or holds
// or issued grants with, read through load and reused for knownPeersFresh.
type knownPeers struct {
	load func(context.Context) (map[peer.ID]bool, error)

	mu   sync.Mutex
	set  map[peer.ID]bool
	read time.Time
}

// has reports whether p is known, reading the set again first when p is
// not in it and it is older than knownPeersFresh (a contact pinned a
// moment ago is known at its first call).
func (k *knownPeers) has(p peer.ID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.set[p] {
		return true
	}
	if time.Since(k.read) < knownPeersFresh {
		return false
	}
	k.read = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if set, err := k.load(ctx); err == nil {
		k.set = set
	}
	return k.set[p]
}
