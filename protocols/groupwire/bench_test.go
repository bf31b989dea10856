package groupwire

import (
	"context"
	"io"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
)

// fanOutAdmins is the number of admins an audit record reaches in
// BenchmarkAuditFanOutTo10Admins.
const fanOutAdmins = 10

// BenchmarkAuditFanOutTo10Admins times one audit record from the vault's
// publish until all ten admins subscribed to the group's topic have it
// (gossipsub with flood publish and strict signing, as every mesh router
// runs it, each admin connected to the vault on loopback), beside the
// baseline of one request and reply on a direct stream to one of them.
func BenchmarkAuditFanOutTo10Admins(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := []pubsub.Option{pubsub.WithMessageSignaturePolicy(pubsub.StrictSign), pubsub.WithFloodPublish(true)}
	vh := testkit.Host(b, nil)
	vps, err := pubsub.NewGossipSub(ctx, vh, opts...)
	if err != nil {
		b.Fatal(err)
	}
	topic, err := JoinAudit(vps, vh.ID(), "family")
	if err != nil {
		b.Fatal(err)
	}
	var subs []*pubsub.Subscription
	for range fanOutAdmins {
		ah := testkit.Host(b, nil)
		if err := ah.Connect(ctx, peer.AddrInfo{ID: vh.ID(), Addrs: vh.Addrs()}); err != nil {
			b.Fatal(err)
		}
		ps, err := pubsub.NewGossipSub(ctx, ah, opts...)
		if err != nil {
			b.Fatal(err)
		}
		t, err := JoinAudit(ps, vh.ID(), "family")
		if err != nil {
			b.Fatal(err)
		}
		sub, err := t.Subscribe()
		if err != nil {
			b.Fatal(err)
		}
		subs = append(subs, sub)
	}
	testkit.Eventually(b, 30*time.Second, func() bool { return len(topic.ListPeers()) == fanOutAdmins }, "the ten admins joined the topic")
	record := make([]byte, 400) // a typical record's size
	// The first records may go before every subscription is known: the
	// warm-up of PairRatios takes them; each publish below waits for all.
	publish := func() {
		if err := topic.Publish(ctx, record); err != nil {
			b.Fatal(err)
		}
		for _, s := range subs {
			wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := s.Next(wctx)
			wcancel()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	// baseline: one request and reply on a direct stream to one admin
	echo := testkit.Host(b, nil)
	echo.SetStreamHandler("/bench/echo", func(s network.Stream) {
		buf := make([]byte, len(record))
		if _, err := io.ReadFull(s, buf); err == nil {
			s.Write(buf[:1])
		}
		s.Close()
	})
	if err := vh.Connect(ctx, peer.AddrInfo{ID: echo.ID(), Addrs: echo.Addrs()}); err != nil {
		b.Fatal(err)
	}
	stream := func() {
		s, err := vh.NewStream(ctx, echo.ID(), "/bench/echo")
		if err != nil {
			b.Fatal(err)
		}
		s.Write(record)
		s.CloseWrite()
		one := make([]byte, 1)
		if _, err := io.ReadFull(s, one); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	testkit.PairRatios(b, publish, stream, 4, time.Microsecond)
}
