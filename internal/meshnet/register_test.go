package meshnet

import (
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/relayaccess"
	"github.com/ocmt/mesh/relay"
)

// TestPublishThenReserveWithTheVoucher: a node that publishes its record
// gets a voucher from the bootstrap and presents it before reserving, so
// a relay that knows registered peers only from vouchers (it has no way to
// ask the directory here) lets it reserve; a node that never published
// is refused by the same relay.
func TestPublishThenReserveWithTheVoucher(t *testing.T) {
	ctx := testkit.Context(t, time.Minute)
	bk := testkit.Key(t, "bootstrap")
	bh := testkit.Host(t, bk)
	boot, err := dht.NewBootstrap(ctx, bh, dssync.MutexWrap(datastore.NewMapDatastore()), dht.BootstrapConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	vs, err := relayaccess.NewVoucherServer(bh, relayaccess.VoucherConfig{Lookup: boot.Directory().LookupPeer, Sign: bk.Libp2pPrivKey().Sign})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })

	rh := testkit.Host(t, testkit.Key(t, "relay"), libp2p.DisableRelay())
	reg := relayaccess.NewRegistrar(rh, relayaccess.RegistrarConfig{Bootstraps: []peer.ID{bh.ID()}})
	t.Cleanup(func() { reg.Close() })
	svc, err := relay.New(rh, relay.Config{AllowPrivateAddrs: true, Authorizer: relay.AuthorizerFuncs{RegisteredFunc: reg.Registered}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	infra := func() Config {
		return Config{Bootstrap: []peer.AddrInfo{{ID: bh.ID(), Addrs: bh.Addrs()}}, Relays: []peer.AddrInfo{{ID: rh.ID(), Addrs: rh.Addrs()}},
			Timings: Timings{RetryFirst: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}}
	}

	nk := testkit.Key(t, "node")
	cfg := infra()
	cfg.Host = testkit.Host(t, nk)
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	sr, err := directory.SignRecord(nk, directory.Record{Handle: "node", Seq: 1, Issued: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Publish(ctx, sr); err != nil {
		t.Fatal(err)
	}
	n.KeepReservations()
	testkit.Eventually(t, 30*time.Second, n.HasReservation, "the registered node reserving")
	if !reg.Registered(nk.ID()) {
		t.Fatal("the relay does not count the node as registered")
	}

	cfg = infra()
	cfg.Host = testkit.Host(t, testkit.Key(t, "unpublished"))
	m, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if _, _, err := m.reserve(ctx, cfg.Relays[0]); err == nil {
		t.Fatal("a node that never published reserved")
	}
}

// TestTheVoucherIsRenewedAtHalfLife: the keeper keeps presenting the
// voucher it has while more than half its life is left, and asks the
// bootstrap for a new one after that.
func TestTheVoucherIsRenewedAtHalfLife(t *testing.T) {
	ctx := testkit.Context(t, time.Minute)
	bk := testkit.Key(t, "bootstrap")
	bh := testkit.Host(t, bk)
	boot, err := dht.NewBootstrap(ctx, bh, dssync.MutexWrap(datastore.NewMapDatastore()), dht.BootstrapConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	vs, err := relayaccess.NewVoucherServer(bh, relayaccess.VoucherConfig{Lookup: boot.Directory().LookupPeer, Sign: bk.Libp2pPrivKey().Sign})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	clock := testkit.NewClock(time.Now())
	nk := testkit.Key(t, "node")
	n, err := Start(ctx, Config{Host: testkit.Host(t, nk), Bootstrap: []peer.AddrInfo{{ID: bh.ID(), Addrs: bh.Addrs()}}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	if n.registration(ctx) != nil {
		t.Fatal("a voucher before any record was published")
	}
	sr, err := directory.SignRecord(nk, directory.Record{Handle: "node", Seq: 1, Issued: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Publish(ctx, sr); err != nil {
		t.Fatal(err)
	}
	first := n.registration(ctx)
	if first == nil {
		t.Fatal("no voucher after publishing")
	}
	clock.Advance(relayaccess.VoucherTTL/2 - time.Minute)
	if n.registration(ctx) != first {
		t.Fatal("renewed with more than half its life left")
	}
	clock.Advance(2 * time.Minute)
	if again := n.registration(ctx); again == first || again == nil {
		t.Fatal("not renewed past half its life")
	}
}
