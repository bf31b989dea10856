package infra

import (
	"context"
	"testing"

	"github.com/libp2p/go-libp2p/p2p/net/connmgr"

	"github.com/ocmt/mesh/relay"
)

// TestTheRelayHostIsSizedForItsReservations: mesh relay's host gets a
// connection manager sized from its limits. With libp2p's default one
// (high watermark 192) a relay trimmed its reservations back to 160
// connections; the relay service protects its reservation holders, and
// the watermarks keep the trim for strangers, far above the slots.
func TestTheRelayHostIsSizedForItsReservations(t *testing.T) {
	boot, err := StartBootstrap(context.Background(), Config{Home: tempHome(t, "boot"), Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	rel, err := StartRelay(context.Background(), RelayConfig{Config: Config{Home: tempHome(t, "relay"), Listen: loopback},
		Bootstrap: boot.Addrs(), Relay: relay.Config{AllowPrivateAddrs: true, MaxReservations: 10_000}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rel.Close() })
	cm, ok := rel.Host.ConnManager().(*connmgr.BasicConnMgr)
	if !ok {
		t.Fatalf("the relay's connection manager is a %T", rel.Host.ConnManager())
	}
	if info := cm.GetInfo(); info.HighWater < 10_000 {
		t.Fatalf("high watermark %d: the connection manager would trim a relay holding 10,000 reservations", info.HighWater)
	}
}
