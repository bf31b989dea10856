package dht_test

import (
	"context"
	"log/slog"
	"time"

	pebbleds "github.com/ipfs/go-ds-pebble"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerseal"
	"github.com/ocmt/mesh/protocols/directory"
)

// The wiring `mesh bootstrap` and a home node need, end to end. (Compiled,
// not run: the tests exercise the same calls on loopback hosts.)
func Example() {
	ctx := context.Background()
	log := slog.Default()

	// mesh bootstrap: a host, a pebble store, the services.
	bootKey := keys.GeneratePeerKey()
	bh, _ := libp2p.New(libp2p.Identity(bootKey.Libp2pPrivKey()), libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/4001"))
	ds, _ := pebbleds.NewDatastore("/var/lib/mesh/bootstrap")
	boot, _ := dht.NewBootstrap(ctx, bh, ds, dht.BootstrapConfig{Logger: log})
	defer func() { boot.Close(); ds.Close(); bh.Close() }()
	// The relay's ACL can ask boot.Directory().Registered(peerID).

	// Home node: join the DHT as a client and publish its record.
	k := keys.GeneratePeerKey()
	h, _ := libp2p.New(libp2p.Identity(k.Libp2pPrivKey()))
	bootInfo := peer.AddrInfo{ID: bh.ID(), Addrs: bh.Addrs()}
	d, _ := dht.New(h, ds /* the node's own store in real code */, dht.Config{Mode: dht.ModeClient, BootstrapPeers: []peer.AddrInfo{bootInfo}, Logger: log})
	defer d.Close()
	_ = d.Bootstrap(ctx) // connects to the bootstrap, so directory calls can dial it

	relay := ma.StringCast("/ip4/203.0.113.7/tcp/4001/p2p/" + bh.ID().String() + "/p2p-circuit")
	now := time.Now()
	sr, _ := directory.SignRecord(&k, directory.Record{Handle: "alice", Name: "Alice", Relays: []ma.Multiaddr{relay}, Seq: directory.SeqAt(now), Issued: now})
	_ = directory.Publish(ctx, h, bh.ID(), sr)

	// Resolve a handle, seal an invite to that peer, leave it in its mailbox.
	bob, _ := directory.Lookup(ctx, h, bh.ID(), "bob")
	sealed, _ := peerseal.Seal([]peer.ID{bob.Peer}, []byte("invite"))
	_ = directory.MailboxPut(ctx, h, bh.ID(), bob.Peer, sealed)

	// Collect and open one's own mail.
	mail, _ := directory.MailboxFetch(ctx, h, bh.ID())
	for _, m := range mail {
		_, _ = peerseal.Open(&k, m.Sealed)
	}
}
