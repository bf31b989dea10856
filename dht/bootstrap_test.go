package dht

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerseal"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

type testMesh struct {
	boot   host.Host
	b      *Bootstrap
	ds     datastore.Batching
	clock  *testkit.Clock
	client map[string]node
	// revoked is the one capability ID the mailboxes treat as revoked
	// (nil: none).
	revoked atomic.Pointer[capability.ID]
}

type node struct {
	k *keys.PeerKey
	h host.Host
}

func startMesh(t *testing.T, ds datastore.Batching, cfg BootstrapConfig, names ...string) *testMesh {
	t.Helper()
	m := &testMesh{ds: ds, clock: testkit.NewClock(testkit.Epoch), client: map[string]node{}}
	if cfg.Now == nil {
		cfg.Now = m.clock.Now
	}
	m.boot = testkit.Host(t, testkit.Key(t, "bootstrap"))
	if cfg.Mailbox.Revoked == nil {
		cfg.Mailbox.Revoked = func(id capability.ID) bool { r := m.revoked.Load(); return r != nil && *r == id }
	}
	b, err := NewBootstrap(testkit.Context(t, 10*time.Second), m.boot, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	m.b = b
	for _, n := range names {
		k := testkit.Key(t, n)
		h := testkit.Host(t, k)
		h.Peerstore().AddAddrs(m.boot.ID(), m.boot.Addrs(), peerstore.PermanentAddrTTL)
		m.client[n] = node{k, h}
	}
	return m
}

func (m *testMesh) publish(t *testing.T, name, handle string, seq uint64) error {
	t.Helper()
	n := m.client[name]
	relay := ma.StringCast("/ip4/127.0.0.1/tcp/4001/p2p/" + m.boot.ID().String() + "/p2p-circuit")
	sr, err := directory.SignRecord(n.k, directory.Record{Handle: directory.Handle(handle), Relays: []ma.Multiaddr{relay}, Seq: seq, Issued: m.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return directory.Publish(testkit.Context(t, 10*time.Second), n.h, m.boot.ID(), sr)
}

func TestBootstrapDirectoryAndMailbox(t *testing.T) {
	// The fake clock stands still, so buckets never refill: a burst
	// large enough for the whole test keeps the limiter out of the way.
	m := startMesh(t, memDS(), BootstrapConfig{Burst: 1000, Mailbox: MailboxConfig{MaxItemsPerSender: 100}}, "alice", "bob", "mallory")
	alice, bob, mallory := m.client["alice"], m.client["bob"], m.client["mallory"]
	ctx := testkit.Context(t, 10*time.Second)

	if err := m.publish(t, "alice", "alice", 1); err != nil {
		t.Fatal(err)
	}
	if err := m.publish(t, "bob", "bob", 1); err != nil {
		t.Fatal(err)
	}
	t.Run("a handle resolves to a verified record", func(t *testing.T) {
		rec, err := directory.Lookup(ctx, bob.h, m.boot.ID(), "alice")
		if err != nil || rec.Peer != alice.k.ID() || len(rec.Relays) != 1 {
			t.Fatalf("%+v %v", rec, err)
		}
		rec, err = directory.LookupPeer(ctx, bob.h, m.boot.ID(), alice.k.ID())
		if err != nil || rec.Handle != "alice" {
			t.Fatalf("%+v %v", rec, err)
		}
		// A handle nobody holds answers its decoy (directory doc.go,
		// "Decoys"), which names nobody who is registered.
		dec, err := directory.Lookup(ctx, bob.h, m.boot.ID(), "nobody")
		if err != nil || dec.Handle != "nobody" || m.b.Directory().Owns(dec.Peer) {
			t.Fatalf("got %+v %v", dec, err)
		}
		if !m.b.Directory().Owns(alice.k.ID()) || m.b.Directory().Owns(mallory.k.ID()) {
			t.Fatal("Owns")
		}
		if !m.b.Directory().Registered(alice.k.ID()) || m.b.Directory().Registered(mallory.k.ID()) {
			t.Fatal("Registered")
		}
	})
	t.Run("squatting a handle over the wire is refused", func(t *testing.T) {
		if err := m.publish(t, "mallory", "alice", 5); !errors.Is(err, wire.Conflict) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a replayed older sequence is refused", func(t *testing.T) {
		if err := m.publish(t, "alice", "alice", 2); err != nil {
			t.Fatal(err)
		}
		old := signed(t, alice.k, "alice", 1, m.clock.Now())
		if err := directory.Publish(ctx, alice.h, m.boot.ID(), old); !errors.Is(err, wire.Conflict) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("publishing someone else's record is refused", func(t *testing.T) {
		// Mallory relays a record genuinely signed by carol: valid signature,
		// but not for the authenticated peer.
		carol := testkit.Key(t, "carol")
		sr := signed(t, carol, "carol", 1, m.clock.Now())
		if err := directory.Publish(ctx, mallory.h, m.boot.ID(), sr); !errors.Is(err, wire.Forbidden) {
			t.Fatalf("got %v", err)
		}
		if m.b.Directory().Registered(carol.ID()) {
			t.Fatal("carol registered by mallory")
		}
	})
	t.Run("a forged signature is refused", func(t *testing.T) {
		sr := signed(t, mallory.k, "mallory", 1, m.clock.Now())
		sr.Sig[10] ^= 0x40
		if err := directory.Publish(ctx, mallory.h, m.boot.ID(), sr); !errors.Is(err, wire.BadRequest) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("sealed mail reaches only its recipient", func(t *testing.T) {
		sealed, err := peerseal.Seal([]peer.ID{bob.k.ID()}, []byte("invite for bob"))
		if err != nil {
			t.Fatal(err)
		}
		if err := directory.MailboxPut(ctx, alice.h, m.boot.ID(), bob.k.ID(), sealed); err != nil {
			t.Fatal(err)
		}
		if got, err := directory.MailboxFetch(ctx, mallory.h, m.boot.ID()); err != nil || len(got) != 0 {
			t.Fatalf("mallory fetched %d items (%v)", len(got), err)
		}
		got, err := directory.MailboxFetch(ctx, bob.h, m.boot.ID())
		if err != nil || len(got) != 1 {
			t.Fatalf("bob got %d items (%v)", len(got), err)
		}
		if got[0].From != alice.k.ID() {
			t.Fatalf("sender %s", got[0].From)
		}
		plain, err := peerseal.Open(bob.k, got[0].Sealed)
		if err != nil || string(plain) != "invite for bob" {
			t.Fatalf("%q %v", plain, err)
		}
		if again, _ := directory.MailboxFetch(ctx, bob.h, m.boot.ID()); len(again) != 0 {
			t.Fatal("acked mail delivered twice")
		}
	})
	t.Run("mail carrying a revoked token is refused over the wire", func(t *testing.T) {
		revoked := capability.ID{0xde, 0xad}
		m.revoked.Store(&revoked)
		defer m.revoked.Store(nil)
		err := directory.MailboxPut(ctx, alice.h, m.boot.ID(), bob.k.ID(), []byte("x"), capability.ID{1}, revoked)
		if !errors.Is(err, wire.Revoked) {
			t.Fatalf("got %v, want a Revoked status", err)
		}
	})
	t.Run("mail for an unregistered peer is refused", func(t *testing.T) {
		err := directory.MailboxPut(ctx, alice.h, m.boot.ID(), mallory.k.ID(), []byte("x"))
		if !errors.Is(err, wire.NotFound) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("more mail than one batch is fetched in rounds", func(t *testing.T) {
		for i := 0; i < directory.MaxFetchItems+3; i++ {
			if err := directory.MailboxPut(ctx, alice.h, m.boot.ID(), bob.k.ID(), []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := directory.MailboxFetch(ctx, bob.h, m.boot.ID())
		if err != nil || len(got) != directory.MaxFetchItems+3 {
			t.Fatalf("got %d, %v", len(got), err)
		}
	})
}

func TestBootstrapRejectsMalformedFrames(t *testing.T) {
	m := startMesh(t, memDS(), BootstrapConfig{}, "eve")
	eve := m.client["eve"]
	ctx := testkit.Context(t, 10*time.Second)
	raw := func(t *testing.T, frame []byte) (exchange.Reply, error) {
		s, err := eve.h.NewStream(ctx, m.boot.ID(), directory.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.Write(frame)
		s.CloseWrite()
		var rep exchange.Reply
		err = wire.ReadMsg(s, directory.MaxResponse, &rep)
		return rep, err
	}
	cases := []struct {
		name  string
		frame []byte
		want  wire.Status
	}{
		{"an oversized frame is refused before it is read", []byte{0xff, 0xff, 0xff, 0x7f}, wire.TooLarge},
		{"garbage CBOR is refused", []byte{0x03, 0xff, 0xff, 0xff}, wire.BadRequest},
		{"an unknown op is refused", frameOf(t, map[int]int{1: 99}), wire.BadRequest},
		{"a lookup with stray fields is refused", frameOf(t, map[int]any{1: 2, 3: "alice", 5: []byte{1}}), wire.BadRequest},
		{"a lookup of an invalid handle is refused", frameOf(t, map[int]any{1: 2, 3: "ALICE"}), wire.BadRequest},
		{"an unknown field is refused", frameOf(t, map[int]any{1: 2, 3: "alice", 9: 1}), wire.BadRequest},
		{"a fetch naming another mailbox is refused", frameOf(t, map[int]any{1: 5, 4: []byte(m.boot.ID())}), wire.BadRequest},
		{"an ack with malformed ids is refused", frameOf(t, map[int]any{1: 6, 6: [][]byte{{1, 2}}}), wire.BadRequest},
		{"mail naming a malformed token id is refused", frameOf(t, map[int]any{1: 4, 4: []byte(eve.k.ID()), 5: []byte("x"), 7: [][]byte{{1, 2}}}), wire.BadRequest},
		{"mail naming more tokens than a chain holds is refused", frameOf(t, map[int]any{1: 4, 4: []byte(eve.k.ID()), 5: []byte("x"), 7: [][]byte{make([]byte, 32), make([]byte, 32), make([]byte, 32), make([]byte, 32), make([]byte, 32)}}), wire.BadRequest},
		{"a fetch naming tokens is refused", frameOf(t, map[int]any{1: 5, 7: [][]byte{make([]byte, 32)}}), wire.BadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := raw(t, c.frame)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Status != c.want {
				t.Fatalf("status %v (%s), want %v", rep.Status, rep.Message, c.want)
			}
		})
	}
	t.Run("the server still answers afterwards", func(t *testing.T) {
		if rec, err := directory.Lookup(ctx, eve.h, m.boot.ID(), "nobody"); err != nil || rec.Handle != "nobody" {
			t.Fatalf("got %v", err)
		}
	})
}

func frameOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	wire.WriteFrame(&buf, b, 1<<20)
	return buf.Bytes()
}

func TestBootstrapRateLimit(t *testing.T) {
	m := startMesh(t, memDS(), BootstrapConfig{Rate: 1, Burst: 3}, "eve", "bob")
	ctx := testkit.Context(t, 10*time.Second)
	limited := 0
	for i := 0; i < 6; i++ {
		_, err := directory.Lookup(ctx, m.client["eve"].h, m.boot.ID(), "nobody")
		if errors.Is(err, wire.RateLimited) {
			limited++
		}
	}
	if limited < 3 {
		t.Fatalf("only %d of 6 rapid requests limited", limited)
	}
	// The bucket is per peer: bob is unaffected. (The fake clock does not
	// move, so eve's bucket never refills during the test.)
	if _, err := directory.Lookup(ctx, m.client["bob"].h, m.boot.ID(), "nobody"); err != nil {
		t.Fatalf("bob: %v", err)
	}
}

// TestBootstrapHoldsNoPlaintext is trust boundary 1: after records and sealed
// mail carrying canaries pass through, no key or value in the bootstrap's
// datastore contains a canary in raw, hex or base64 form.
func TestBootstrapHoldsNoPlaintext(t *testing.T) {
	ds := memDS()
	m := startMesh(t, ds, BootstrapConfig{}, "alice", "bob")
	alice, bob := m.client["alice"], m.client["bob"]
	ctx := testkit.Context(t, 10*time.Second)
	m.publish(t, "alice", "alice", 1)
	m.publish(t, "bob", "bob", 1)
	canaries := [][]byte{[]byte("CANARY-secret-7f3a9c"), []byte("hunter2-password-canary"), bob.k.Seed(), alice.k.Seed()}
	for _, c := range canaries[:2] {
		sealed, _ := peerseal.Seal([]peer.ID{bob.k.ID()}, c)
		if err := directory.MailboxPut(ctx, alice.h, m.boot.ID(), bob.k.ID(), sealed); err != nil {
			t.Fatal(err)
		}
		m.clock.Advance(time.Second) // keep delivery order deterministic
	}
	res, err := ds.Query(ctx, query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := res.Rest()
	if len(entries) < 4 {
		t.Fatalf("only %d entries: the scan would prove nothing", len(entries))
	}
	for _, e := range entries {
		blob := append([]byte(e.Key), e.Value...)
		for _, c := range canaries {
			for _, form := range [][]byte{c, []byte(hex.EncodeToString(c)), []byte(base64.StdEncoding.EncodeToString(c)), []byte(base64.RawURLEncoding.EncodeToString(c))} {
				if bytes.Contains(blob, form) {
					t.Fatalf("canary found under %s", e.Key)
				}
			}
		}
	}
	// And the mail is still deliverable: the scan did not pass by accident.
	got, _ := directory.MailboxFetch(ctx, bob.h, m.boot.ID())
	if len(got) != 2 {
		t.Fatalf("bob got %d", len(got))
	}
	if p, err := peerseal.Open(bob.k, got[0].Sealed); err != nil || !bytes.Equal(p, canaries[0]) {
		t.Fatal("canary did not round-trip")
	}
}

func TestBootstrapOnPebblePersists(t *testing.T) {
	dir := t.TempDir()
	ds, err := pebbleds.NewDatastore(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := startMesh(t, ds, BootstrapConfig{}, "alice")
	if err := m.publish(t, "alice", "alice", 1); err != nil {
		t.Fatal(err)
	}
	if err := m.b.Mailbox().Put(testkit.Context(t, 10*time.Second), m.client["alice"].k.ID(), m.client["alice"].k.ID(), []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	m.b.Close()
	ds.Close()

	ds2, err := pebbleds.NewDatastore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ds2.Close()
	h := testkit.Host(t, testkit.Key(t, "restarted bootstrap"))
	b, err := NewBootstrap(testkit.Context(t, 10*time.Second), h, ds2, BootstrapConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec, err := b.Directory().Resolve(testkit.Context(t, 10*time.Second), "alice")
	if err != nil || rec.Peer != m.client["alice"].k.ID() {
		t.Fatalf("record lost across restart: %v", err)
	}
	if b.Mailbox().TotalBytes() != 6 || b.Directory().Len() != 1 {
		t.Fatalf("counts lost: %d bytes, %d records", b.Mailbox().TotalBytes(), b.Directory().Len())
	}
}

func TestDHTServersFindEachOther(t *testing.T) {
	ctx := testkit.Context(t, 10*time.Second)
	ha, hb, hc := testkit.Host(t, testkit.Key(t, "a")), testkit.Host(t, testkit.Key(t, "b")), testkit.Host(t, testkit.Key(t, "c"))
	a, err := New(ha, memDS(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	info := func(h host.Host) peer.AddrInfo { return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()} }
	b, err := New(hb, memDS(), Config{BootstrapPeers: []peer.AddrInfo{info(ha)}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		return contains(a.RoutingTablePeers(), hb.ID()) && contains(b.RoutingTablePeers(), ha.ID())
	}, "the two servers are in each other's routing table")
	for _, p := range ha.Mux().Protocols() {
		if p == "/ipfs/kad/1.0.0" {
			t.Fatal("speaking the public IPFS DHT protocol")
		}
	}
	// A client that knows only a finds b through the DHT.
	c, err := New(hc, memDS(), Config{Mode: ModeClient, BootstrapPeers: []peer.AddrInfo{info(ha)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return contains(c.RoutingTablePeers(), ha.ID()) }, "the client has a in its routing table")
	ai, err := c.FindPeer(ctx, hb.ID())
	if err != nil || len(ai.Addrs) == 0 {
		t.Fatalf("FindPeer: %v %v", ai, err)
	}
	if contains(a.RoutingTablePeers(), hc.ID()) {
		t.Fatal("a client-mode node entered a server's routing table")
	}
}

func TestDHTBootstrapFailsWithNoReachablePeer(t *testing.T) {
	h := testkit.Host(t, testkit.Key(t, "lonely"))
	ghost := testkit.Key(t, "ghost").ID()
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/1")
	d, _ := New(h, memDS(), Config{BootstrapPeers: []peer.AddrInfo{{ID: ghost, Addrs: []ma.Multiaddr{addr}}}})
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := d.Bootstrap(ctx); err == nil {
		t.Fatal("bootstrap succeeded with nobody to talk to")
	}
}

func contains(ids []peer.ID, id peer.ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestBootstrapCloseStopsService(t *testing.T) {
	m := startMesh(t, memDS(), BootstrapConfig{}, "alice")
	if err := m.b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := directory.Lookup(ctx, m.client["alice"].h, m.boot.ID(), "alice"); err == nil {
		t.Fatal("directory still served after Close")
	}
}

func TestBootstrapCloseLeaksNoGoroutines(t *testing.T) {
	h := testkit.Host(t, testkit.Key(t, "bootstrap"))
	clock := testkit.NewClock(testkit.Epoch)
	ctx := testkit.Context(t, 10*time.Second)
	before := testkit.SettledGoroutines(t, 10*time.Second)
	b, err := NewBootstrap(ctx, h, memDS(), BootstrapConfig{Now: clock.Now, SweepInterval: time.Millisecond, Mailbox: MailboxConfig{TTL: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	// The sweeper runs while the bootstrap does: twice, mail that expires
	// goes without a fetch.
	alice := testkit.Key(t, "alice")
	if err := b.Directory().Publish(ctx, signed(t, alice, "alice", 1, clock.Now())); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if err := b.Mailbox().Put(ctx, alice.ID(), alice.ID(), []byte("expires")); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Hour)
		testkit.Eventually(t, 10*time.Second, func() bool { return b.Mailbox().TotalBytes() == 0 }, "the sweeper removes expired mail (round %d)", round+1)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	testkit.GoroutinesDropTo(t, 10*time.Second, before)
}
