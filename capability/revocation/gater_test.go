package revocation

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"

	"github.com/ocmt/mesh/internal/keys"
)

// TestGaterRefusesAFlooderItCutOff: a neighbour that sends a forged
// revocation is cut off, cannot reconnect (nor be dialled) for CutOffFor,
// and may come back afterwards.
func TestGaterRefusesAFlooderItCutOff(t *testing.T) {
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	budget := NewBudget(clock)

	k := keys.GeneratePeerKey()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Identity(k.Libp2pPrivKey()),
		libp2p.ConnectionGater(budget.Gater(nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	budget.OnAbuse = func(p peer.ID) { CutOff(h, p) }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ps, err := pubsub.NewGossipSub(ctx, h, PubSubOptions(budget)...)
	if err != nil {
		t.Fatal(err)
	}
	set := openSet(t, newStore(), &fakeClock{testNow}, Config{})
	g, err := JoinGossip(ps, h.ID(), set, GossipConfig{Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })

	mk, mh := newHost(t)
	target := peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
	if err := mh.Connect(ctx, target); err != nil {
		t.Fatalf("a peer not cut off is refused: %v", err)
	}
	s, err := mh.NewStream(ctx, h.ID(), pubsub.GossipSubID_v11)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range presignedFlood(t, mk, forgedRecords(t, mk, 4), 4) {
		if _, err := s.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !budget.IsCutOff(mh.ID()) || h.Network().Connectedness(mh.ID()) == network.Connected {
		if time.Now().After(deadline) {
			t.Fatalf("not cut off: suspect %v, cut off %v, %v", budget.IsSuspect(mh.ID()), budget.IsCutOff(mh.ID()), h.Network().Connectedness(mh.ID()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	mh.Peerstore().ClearAddrs(h.ID())
	// With early muxer negotiation the dialer may believe it connected
	// before our refusal after the handshake closes the connection; what
	// counts is that it gets no stream and we hold no connection.
	mh.Connect(ctx, target)
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	defer scancel()
	if _, err := mh.NewStream(sctx, h.ID(), pubsub.GossipSubID_v11); err == nil {
		t.Fatal("a peer cut off for flooding opened a new stream at once")
	}
	if c := h.Network().Connectedness(mh.ID()); c == network.Connected {
		t.Fatal("a peer cut off for flooding is connected again")
	}
	if _, err := h.Network().DialPeer(ctx, mh.ID()); err == nil {
		t.Fatal("we dialled a peer we cut off")
	}

	now.Add(int64(CutOffFor + time.Second))
	mh.Network().(*swarm.Swarm).Backoff().Clear(h.ID()) // our refusal put it in dial backoff
	if err := mh.Connect(ctx, target); err != nil {
		t.Fatalf("after %v the peer is still refused: %v", CutOffFor, err)
	}
	if !budget.IsSuspect(mh.ID()) {
		t.Fatal("a returning flooder is no longer a suspect")
	}
}
