package dht

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

// TestEnumDecoyRelaysFollowTheRecords: decoys name the relays most records
// name, and a change of those reaches a decoy only when it is
// (notionally) republished, never one already handed out.
func TestEnumDecoyRelaysFollowTheRecords(t *testing.T) {
	ctx := testkit.Context(t, 10*time.Second)
	clock := testkit.NewClock(testkit.Epoch)
	ds := memDS()
	d, err := NewDirectory(ctx, ds, DirectoryConfig{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	relayA := ma.StringCast("/ip4/192.0.2.1/tcp/4001/p2p/" + testkit.Key(t, "relay-a").ID().String() + "/p2p-circuit")
	relayB := ma.StringCast("/ip4/192.0.2.2/tcp/4001/p2p/" + testkit.Key(t, "relay-b").ID().String() + "/p2p-circuit")
	users := make([]*keys.PeerKey, 5)
	publish := func(i int, relay ma.Multiaddr) {
		t.Helper()
		now := clock.Now()
		h := directory.Handle(fmt.Sprintf("user-%d", i))
		sr, err := directory.SignRecord(users[i], directory.Record{Handle: h, Relays: []ma.Multiaddr{relay}, Name: string(h), Seq: directory.SeqAt(now), Issued: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Publish(ctx, sr); err != nil {
			t.Fatal(err)
		}
	}
	relaysOf := func(h directory.Handle) ([]ma.Multiaddr, []byte) {
		t.Helper()
		sr, err := d.Lookup(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := sr.Verify()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := sr.Marshal()
		return rec.Relays, b
	}
	for i := range users {
		users[i] = testkit.Key(t, fmt.Sprintf("user-%d", i))
		publish(i, relayA)
	}
	if r, _ := relaysOf("ghost"); len(r) != 1 || !r[0].Equal(relayA) {
		t.Fatalf("a decoy names %v, the records %v", r, relayA)
	}
	_, before := relaysOf("ghost")

	// Most users move to relay B; an hour and more later the decoys'
	// relays follow, for decoys republished from then on.
	clock.Advance(time.Minute)
	for i := range 3 {
		publish(i, relayB)
	}
	clock.Advance(2 * decoyRelaysEvery)
	moved := clock.Now()
	if d.maker.Issued("ghost", moved).Equal(d.maker.Issued("ghost", testkit.Epoch)) {
		if _, again := relaysOf("ghost"); !bytes.Equal(again, before) {
			t.Fatal("a decoy handed out changed without a republish")
		}
	}
	for range 400 {
		clock.Advance(3 * time.Hour)
		if d.maker.Issued("ghost", clock.Now()).After(moved) {
			if r, _ := relaysOf("ghost"); len(r) != 1 || !r[0].Equal(relayB) {
				t.Fatalf("a decoy republished after the move names %v", r)
			}
			// And a restart keeps to the snapshots taken.
			d2, err := NewDirectory(ctx, ds, DirectoryConfig{Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			a, _ := d.Lookup(ctx, "ghost")
			b, _ := d2.Lookup(ctx, "ghost")
			if !bytes.Equal(a.Payload, b.Payload) {
				t.Fatal("the decoy changed across a restart")
			}
			return
		}
	}
	t.Fatal("the decoy never republished in 50 days")
}

// TestEnumDecoyMemoryIsBounded: the decoys remembered for lookup-peer and
// mail fit MaxDecoys slots; an older one may be forgotten (then lookup-peer
// answers NotFound, doc.go "What an enumerating caller still learns").
func TestEnumDecoyMemoryIsBounded(t *testing.T) {
	ctx := testkit.Context(t, 10*time.Second)
	d, err := NewDirectory(ctx, memDS(), DirectoryConfig{MaxDecoys: 8})
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for i := range 100 {
		sr, err := d.Lookup(ctx, directory.Handle(fmt.Sprintf("ghost-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := sr.Verify()
		peers = append(peers, string(rec.Peer))
	}
	if len(d.kept.index) > 8 {
		t.Fatalf("%d decoys remembered, cap 8", len(d.kept.index))
	}
	last, _ := d.LookupPeer(ctx, peer.ID(peers[99]))
	if last == nil {
		t.Fatal("the latest decoy is forgotten at once")
	}
}

// FuzzDecodeRelaySnap: a stored decoy relay list decodes only in its one
// canonical form, within the record rules, and never panics.
func FuzzDecodeRelaySnap(f *testing.F) {
	relay := ma.StringCast("/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWFZGU4MNZuuq8Ex6v6uCzqJSmjSj8Bc9wZ5GY473BXYJb/p2p-circuit")
	good, _ := encodeRelaySnap([]ma.Multiaddr{relay})
	empty, _ := encodeRelaySnap(nil)
	f.Add("/decoy/relays/00000000000000000001", good)
	f.Add("/decoy/relays/01772167448766046748", empty)
	f.Add("/decoy/relays/x", []byte{0x80})
	f.Fuzz(func(t *testing.T, key string, v []byte) {
		at, relays, err := decodeRelaySnap(key, v)
		if err != nil {
			return
		}
		if err := directory.CheckRelays(relays); err != nil {
			t.Fatalf("decoded relays break the record rules: %v", err)
		}
		again, err := encodeRelaySnap(relays)
		if err != nil || !bytes.Equal(again, v) {
			t.Fatalf("re-encoding differs: %x / %x", again, v)
		}
		if at.UnixNano() <= 0 || fmt.Sprintf("%020d", at.UnixNano()) != datastore.NewKey(key).Name() {
			t.Fatalf("time %v from key %q", at, key)
		}
		var raw [][]byte
		if wire.UnmarshalCanonical(v, &raw) != nil {
			t.Fatal("not canonical")
		}
	})
}

// TestEnumDecoysOutliveARestart: the decoys handed out and saved are
// answered for by a restarted directory (lookup-peer, mail); unsaved ones
// are not (doc.go, "What an enumerating caller still learns").
func TestEnumDecoysOutliveARestart(t *testing.T) {
	ctx := testkit.Context(t, 10*time.Second)
	ds := memDS()
	d, err := NewDirectory(ctx, ds, DirectoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	peerOf := func(h directory.Handle) peer.ID {
		sr, err := d.Lookup(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := sr.Verify()
		return rec.Peer
	}
	saved, gone := peerOf("saved"), peerOf("claimed")
	if err := d.SaveDecoys(ctx); err != nil {
		t.Fatal(err)
	}
	// "claimed" is claimed after its decoy was handed out: its decoy goes.
	k := testkit.Key(t, "claimer")
	sr, _ := directory.SignRecord(k, directory.Record{Handle: "claimed", Seq: 1, Issued: time.Now()})
	if err := d.Publish(ctx, sr); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LookupPeer(ctx, gone); err != directory.ErrNotFound {
		t.Fatalf("the decoy of a claimed handle: %v", err)
	}
	second := peerOf("second")
	if err := d.SaveDecoys(ctx); err != nil {
		t.Fatal(err)
	}
	later := peerOf("later") // not saved
	d2, err := NewDirectory(ctx, ds, DirectoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []peer.ID{saved, second} {
		if _, err := d2.LookupPeer(ctx, p); err != nil || !d2.Registered(p) {
			t.Fatalf("a saved decoy is forgotten: %v", err)
		}
	}
	for _, p := range []peer.ID{gone, later} {
		if _, err := d2.LookupPeer(ctx, p); err != directory.ErrNotFound {
			t.Fatalf("got %v", err)
		}
	}
}

// FuzzDecodeKept: a stored remembered decoy decodes only canonically,
// with a valid peer ID and handle, and never panics.
func FuzzDecodeKept(f *testing.F) {
	k := keys.GeneratePeerKey()
	good, _ := wire.Marshal(keptEntry{Peer: []byte(k.ID()), Handle: "ghost", Slot: 42})
	f.Add(good)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, v []byte) {
		e, err := decodeKept(v)
		if err != nil {
			return
		}
		if e.handle.Validate() != nil || keys.CheckPeerID(e.peer) != nil {
			t.Fatalf("accepted %+v", e)
		}
		again, err := wire.Marshal(keptEntry{Peer: []byte(e.peer), Handle: string(e.handle), Slot: e.slot})
		if err != nil || !bytes.Equal(again, v) {
			t.Fatalf("re-encoding differs: %x / %x", again, v)
		}
	})
}
