package node

import (
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/ocmt/mesh/protocols/share"
)

// resourceManager gives a home node the library's default limits plus room
// for the share protocol: a share stream charges what its frames really
// take, up to about 8 MiB for a 4 MiB write or read, and the default 16 MiB
// per protocol and peer would let a grantee have only two large requests in
// flight. Per peer: 8 concurrent share streams and 80 MiB; in all: 256 MiB.
func resourceManager() (network.ResourceManager, error) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	lim := share.Limits()
	per := int64(lim.MaxRequest + lim.MaxResponse)
	id := protocol.ID(share.ID)
	scaling.AddProtocolLimit(id, rcmgr.BaseLimit{StreamsInbound: 256, StreamsOutbound: 256, Streams: 512, Memory: 32 * per}, rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolPeerLimit(id, rcmgr.BaseLimit{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 10 * per}, rcmgr.BaseLimitIncrease{})
	base := scaling.AutoScale()
	cfg := rcmgr.PartialLimitConfig{
		PeerDefault: rcmgr.ResourceLimits{Memory: rcmgr.LimitVal64(12 * per)},
	}
	return rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(cfg.Build(base)))
}
