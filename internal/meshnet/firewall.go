package meshnet

import (
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Firewall returns a connection gater that models a container behind NAT:
// inbound direct connections are refused unless they come from one of
// infra (the node's bootstrap and relay peers); connections through a
// relay circuit and outbound dials are untouched.
func Firewall(infra []peer.ID) connmgr.ConnectionGater {
	g := firewall{infra: map[peer.ID]bool{}}
	for _, id := range infra {
		g.infra[id] = true
	}
	return g
}

type firewall struct {
	infra map[peer.ID]bool
}

func (g firewall) InterceptPeerDial(peer.ID) bool                                  { return true }
func (g firewall) InterceptAddrDial(peer.ID, ma.Multiaddr) bool                    { return true }
func (g firewall) InterceptAccept(network.ConnMultiaddrs) bool                     { return true }
func (g firewall) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
func (g firewall) InterceptSecured(dir network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	if dir != network.DirInbound || g.infra[p] {
		return true
	}
	_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}
