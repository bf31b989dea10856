package revgossip

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"

	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/testkit"
)

// TestGaterRefusesAFlooderItCutOff: a neighbour that sends a forged
// revocation is cut off, cannot reconnect (nor be dialled) for CutOffFor,
// and may come back afterwards.
func TestGaterRefusesAFlooderItCutOff(t *testing.T) {
	clock := testkit.NewClock(testNow)
	budget := NewBudget(BudgetConfig{Now: clock.Now})
	_, h := newHost(t, libp2p.ConnectionGater(budget.Gater(nil)))
	if err := budget.bind(h, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ps, err := pubsub.NewGossipSub(ctx, h, pubsubOptions(budget)...)
	if err != nil {
		t.Fatal(err)
	}
	set := openSet(t, revocation.Config{})
	g, err := joinGossip(ps, h.ID(), set, gossipConfig{budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.close() })

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
	if !testkit.Poll(5*time.Second, func() bool {
		return budget.IsCutOff(mh.ID()) && h.Network().Connectedness(mh.ID()) != network.Connected
	}) {
		t.Fatalf("not cut off: suspect %v, cut off %v, %v", budget.IsSuspect(mh.ID()), budget.IsCutOff(mh.ID()), h.Network().Connectedness(mh.ID()))
	}
	mh.Peerstore().ClearAddrs(h.ID())
	// With early muxer negotiation the dialer may believe it connected
	// before our refusal after the handshake closes the connection; what
	// counts is that it gets no stream and we hold no connection. The
	// dialer must also forget that we speak gossipsub: a protocol it knows
	// is opened lazily, with no round trip, so NewStream would return a
	// stream we never accepted.
	if err := mh.Peerstore().SetProtocols(h.ID()); err != nil {
		t.Fatal(err)
	}
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

	clock.Advance(CutOffFor + time.Second)
	mh.Network().(*swarm.Swarm).Backoff().Clear(h.ID()) // our refusal put it in dial backoff
	if err := mh.Connect(ctx, target); err != nil {
		t.Fatalf("after %v the peer is still refused: %v", CutOffFor, err)
	}
	if !budget.IsSuspect(mh.ID()) {
		t.Fatal("a returning flooder is no longer a suspect")
	}
}

// TestGaterRefusesASmallOrderPeer: a peer ID whose Ed25519 key is
// small-order (anyone can sign for it) is refused both ways.
func TestGaterRefusesASmallOrderPeer(t *testing.T) {
	identity := make([]byte, 32)
	identity[0] = 1 // the neutral point: y = 1
	pub, err := crypto.UnmarshalEd25519PublicKey(identity)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	g := NewBudget(BudgetConfig{}).Gater(nil)
	if g.InterceptPeerDial(bad) || g.InterceptSecured(network.DirInbound, bad, nil) {
		t.Fatal("a small-order peer was let through")
	}
	good := testkit.Key(t, "good").ID()
	if !g.InterceptPeerDial(good) || !g.InterceptSecured(network.DirInbound, good, nil) {
		t.Fatal("an ordinary peer was refused")
	}
}
