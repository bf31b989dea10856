package homehost

import (
	"context"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/testkit"
)

// TestTheStrangerBudgetLetsContactsPast checks the gater alone: at its
// budget of relayed connections from strangers, a contact still gets in
// and a stranger does not.
func TestTheStrangerBudgetLetsContactsPast(t *testing.T) {
	contact, stranger := testkit.Key(t, "contact").ID(), testkit.Key(t, "stranger").ID()
	known := &knownPeers{load: func(context.Context) (map[peer.ID]bool, error) { return map[peer.ID]bool{contact: true}, nil }}
	g := newRelayRoom(nil, known)
	g.budget = 0 // full
	h := testkit.Host(t, nil)
	g.setHost(h)
	relayed := fakeAddrs{remote: ma.StringCast("/ip4/127.0.0.1/tcp/1/p2p/" + testkit.Key(t, "relay").ID().String() + "/p2p-circuit")}
	direct := fakeAddrs{remote: ma.StringCast("/ip4/127.0.0.1/tcp/1")}
	if !g.InterceptSecured(network.DirInbound, contact, relayed) {
		t.Error("a contact's relayed connection was refused")
	}
	if g.InterceptSecured(network.DirInbound, stranger, relayed) {
		t.Error("a stranger's relayed connection was let past a full budget")
	}
	if !g.InterceptSecured(network.DirInbound, stranger, direct) || !g.InterceptSecured(network.DirOutbound, stranger, relayed) {
		t.Error("the budget applies to something else than inbound relayed connections")
	}
}

type fakeAddrs struct{ remote ma.Multiaddr }

func (f fakeAddrs) LocalMultiaddr() ma.Multiaddr  { return ma.StringCast("/ip4/127.0.0.1/tcp/2") }
func (f fakeAddrs) RemoteMultiaddr() ma.Multiaddr { return f.remote }
