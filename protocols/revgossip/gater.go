package revgossip

import (
	"slices"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/ocmt/mesh/internal/keys"
)

// Gater returns a connection gater that refuses a peer for CutOffFor after
// the budget cut it off: without it, a flooder could reconnect at once and
// make every node pay the handshake and read its next batch again. A peer
// refused here is refused in both directions (we do not dial it either)
// and after the handshake, where its peer ID is known. Everything else is
// decided by next (nil: allow).
//
// It also refuses, in both directions, a peer whose key is small-order or
// non-canonical (keys.CheckPeerID): anyone can forge signatures for such a
// key, so the secure channel would authenticate a forger as that peer.
//
// Give it to libp2p.ConnectionGater when building the host, then give the
// budget to Start.
func (b *Budget) Gater(next connmgr.ConnectionGater) connmgr.ConnectionGater {
	return cutOffGater{b: b, next: next}
}

type cutOffGater struct {
	b    *Budget
	next connmgr.ConnectionGater
}

func (g cutOffGater) InterceptPeerDial(p peer.ID) bool {
	if g.b.IsCutOff(p) || keys.CheckPeerID(p) != nil {
		return false
	}
	return g.next == nil || g.next.InterceptPeerDial(p)
}

func (g cutOffGater) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return g.next == nil || g.next.InterceptAddrDial(p, a)
}

func (g cutOffGater) InterceptAccept(c network.ConnMultiaddrs) bool {
	return g.next == nil || g.next.InterceptAccept(c)
}

func (g cutOffGater) InterceptSecured(dir network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	if g.b.IsCutOff(p) || keys.CheckPeerID(p) != nil {
		return false
	}
	return g.next == nil || g.next.InterceptSecured(dir, p, c)
}

func (g cutOffGater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	if g.next == nil {
		return true, 0
	}
	return g.next.InterceptUpgraded(c)
}

// CutOff stops h reading from p: it resets p's gossipsub streams at once
// (a reset stream's reader fails on its next read, so no further RPC from p
// is decrypted, decoded and queued for the event loop) and closes p's
// connections in the background. It does not block; a Budget calls it on
// the host of the Service it serves.
func CutOff(h host.Host, p peer.ID) {
	for _, c := range h.Network().ConnsToPeer(p) {
		for _, s := range c.GetStreams() {
			if slices.Contains(pubsub.GossipSubDefaultProtocols, s.Protocol()) {
				s.Reset()
			}
		}
	}
	go h.Network().ClosePeer(p)
}
