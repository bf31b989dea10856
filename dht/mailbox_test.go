package dht

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/directory"
)

func TestMailbox(t *testing.T) {
	clock := testkit.NewClock(testkit.Epoch)
	ctx := testkit.Context(t, 10*time.Second)
	bob, carol, alice, dave := testkit.Key(t, "bob"), testkit.Key(t, "carol"), testkit.Key(t, "alice"), testkit.Key(t, "dave")
	registered := map[peer.ID]bool{bob.ID(): true, carol.ID(): true, dave.ID(): true}
	m, err := NewMailbox(ctx, memDS(), MailboxConfig{
		Now: clock.Now, TTL: time.Hour, MaxItems: 3, MaxBytes: 100, MaxTotalBytes: 250,
		Registered: func(id peer.ID) bool { return registered[id] },
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("items come back oldest first with their sender", func(t *testing.T) {
		m.Put(ctx, alice.ID(), bob.ID(), []byte("one"))
		clock.Advance(time.Second)
		m.Put(ctx, carol.ID(), bob.ID(), []byte("two"))
		items, more, err := m.Fetch(ctx, bob.ID(), 10)
		if err != nil || more || len(items) != 2 {
			t.Fatalf("%d items, more=%v, %v", len(items), more, err)
		}
		if string(items[0].Sealed) != "one" || items[0].From != alice.ID() || string(items[1].Sealed) != "two" {
			t.Fatalf("order or sender wrong: %+v", items)
		}
	})
	t.Run("another recipient's fetch sees nothing", func(t *testing.T) {
		items, _, _ := m.Fetch(ctx, carol.ID(), 10)
		if len(items) != 0 {
			t.Fatalf("carol saw %d of bob's items", len(items))
		}
		// Carol acking bob's IDs does nothing.
		bobs, _, _ := m.Fetch(ctx, bob.ID(), 10)
		m.Ack(ctx, carol.ID(), [][]byte{bobs[0].ID})
		if again, _, _ := m.Fetch(ctx, bob.ID(), 10); len(again) != 2 {
			t.Fatal("carol deleted bob's mail")
		}
	})
	t.Run("the per-recipient item cap holds", func(t *testing.T) {
		if err := m.Put(ctx, alice.ID(), bob.ID(), []byte("three")); err != nil {
			t.Fatal(err)
		}
		if err := m.Put(ctx, alice.ID(), bob.ID(), []byte("four")); !errors.Is(err, directory.ErrMailboxFull) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("fetch pages and reports more", func(t *testing.T) {
		items, more, _ := m.Fetch(ctx, bob.ID(), 2)
		if len(items) != 2 || !more {
			t.Fatalf("%d %v", len(items), more)
		}
	})
	t.Run("ack deletes and frees quota", func(t *testing.T) {
		items, _, _ := m.Fetch(ctx, bob.ID(), 10)
		ids := [][]byte{}
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		if err := m.Ack(ctx, bob.ID(), ids); err != nil {
			t.Fatal(err)
		}
		if left, _, _ := m.Fetch(ctx, bob.ID(), 10); len(left) != 0 {
			t.Fatalf("%d left", len(left))
		}
		if m.TotalBytes() != 0 {
			t.Fatalf("total %d", m.TotalBytes())
		}
		if err := m.Ack(ctx, bob.ID(), ids); err != nil {
			t.Fatalf("a repeated ack must be harmless: %v", err)
		}
	})
	t.Run("the per-recipient byte cap holds", func(t *testing.T) {
		if err := m.Put(ctx, alice.ID(), carol.ID(), bytes.Repeat([]byte("x"), 101)); !errors.Is(err, directory.ErrMailboxFull) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("the global byte cap holds", func(t *testing.T) {
		m.Put(ctx, alice.ID(), carol.ID(), bytes.Repeat([]byte("x"), 100))
		m.Put(ctx, alice.ID(), bob.ID(), bytes.Repeat([]byte("x"), 100))
		// Dave's own mailbox is empty; only the global cap can refuse this.
		if err := m.Put(ctx, carol.ID(), dave.ID(), bytes.Repeat([]byte("x"), 60)); !errors.Is(err, directory.ErrMailboxFull) {
			t.Fatalf("got %v (total %d)", err, m.TotalBytes())
		}
	})
	t.Run("unregistered recipients are refused", func(t *testing.T) {
		if err := m.Put(ctx, bob.ID(), alice.ID(), []byte("hi")); !errors.Is(err, directory.ErrUnknownPeer) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("expired items are not served and are swept", func(t *testing.T) {
		clock.Advance(2 * time.Hour)
		if items, _, _ := m.Fetch(ctx, bob.ID(), 10); len(items) != 0 {
			t.Fatal("expired item served")
		}
		n, err := m.Sweep(ctx)
		if err != nil || n != 1 { // bob's expired item went at his fetch; carol's remains
			t.Fatalf("swept %d, %v", n, err)
		}
		if m.TotalBytes() != 0 {
			t.Fatalf("total %d after sweep", m.TotalBytes())
		}
	})
	t.Run("empty and oversized blobs are refused", func(t *testing.T) {
		if err := m.Put(ctx, bob.ID(), carol.ID(), nil); err == nil {
			t.Fatal("empty accepted")
		}
		if err := m.Put(ctx, bob.ID(), carol.ID(), make([]byte, directory.MaxSealedBytes+1)); err == nil {
			t.Fatal("oversized accepted")
		}
	})
}

func TestMailboxPerSenderCap(t *testing.T) {
	ctx := testkit.Context(t, 10*time.Second)
	bob, spammer, friend := testkit.Key(t, "bob"), testkit.Key(t, "spammer"), testkit.Key(t, "friend")
	m, _ := NewMailbox(ctx, memDS(), MailboxConfig{MaxItems: 10, MaxItemsPerSender: 3})
	for i := 0; i < 3; i++ {
		if err := m.Put(ctx, spammer.ID(), bob.ID(), []byte("spam")); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Put(ctx, spammer.ID(), bob.ID(), []byte("spam")); !errors.Is(err, directory.ErrMailboxFull) {
		t.Fatalf("spammer not capped: %v", err)
	}
	if err := m.Put(ctx, friend.ID(), bob.ID(), []byte("invite")); err != nil {
		t.Fatalf("friend locked out: %v", err)
	}
}

func TestMailboxTotalSurvivesReopen(t *testing.T) {
	ctx := testkit.Context(t, 10*time.Second)
	ds := memDS()
	bob := testkit.Key(t, "bob")
	m, _ := NewMailbox(ctx, ds, MailboxConfig{})
	m.Put(ctx, bob.ID(), bob.ID(), []byte("12345"))
	m2, _ := NewMailbox(ctx, ds, MailboxConfig{})
	if m2.TotalBytes() != 5 {
		t.Fatalf("total %d", m2.TotalBytes())
	}
}

// TestMailboxDropsRevokedMail: mail naming a revoked token is refused at
// put, and mail whose token is revoked after the put is deleted at fetch
// (and by Sweep) instead of being served.
func TestMailboxDropsRevokedMail(t *testing.T) {
	clock := testkit.NewClock(testkit.Epoch)
	ctx := testkit.Context(t, 10*time.Second)
	alice, bob := testkit.Key(t, "alice"), testkit.Key(t, "bob")
	revoked := map[capability.ID]bool{}
	m, err := NewMailbox(ctx, memDS(), MailboxConfig{Now: clock.Now, Revoked: func(id capability.ID) bool { return revoked[id] }})
	if err != nil {
		t.Fatal(err)
	}
	root, leaf, other := capability.ID{1}, capability.ID{2}, capability.ID{3}
	revoked[root] = true
	if err := m.Put(ctx, alice.ID(), bob.ID(), []byte("dead on arrival"), root, leaf); !errors.Is(err, directory.ErrRevoked) {
		t.Fatalf("mail naming a revoked token: got %v, want ErrRevoked", err)
	}
	delete(revoked, root)
	if err := m.Put(ctx, alice.ID(), bob.ID(), []byte("revoked later"), root, leaf); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second) // items come back in arrival order
	if err := m.Put(ctx, alice.ID(), bob.ID(), []byte("still good"), other); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := m.Put(ctx, alice.ID(), bob.ID(), []byte("names nothing")); err != nil {
		t.Fatal(err)
	}
	items, _, err := m.Fetch(ctx, bob.ID(), 10)
	if err != nil || len(items) != 3 {
		t.Fatalf("before the revocation: %d items, %v", len(items), err)
	}
	if len(items[0].Tokens) != 2 || items[0].Tokens[0] != root || items[0].Tokens[1] != leaf {
		t.Fatalf("stored tokens: %v", items[0].Tokens)
	}
	before := m.TotalBytes()

	revoked[leaf] = true // a link of the chain is revoked while bob is away
	items, _, err = m.Fetch(ctx, bob.ID(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, string(it.Sealed))
	}
	if len(got) != 2 || got[0] != "still good" || got[1] != "names nothing" {
		t.Fatalf("after the revocation bob got %q", got)
	}
	if freed := before - m.TotalBytes(); freed != int64(len("revoked later")) {
		t.Fatalf("the revoked item was not deleted: %d bytes freed", freed)
	}

	revoked[other] = true
	if n, err := m.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep removed %d (%v), want the one newly revoked item", n, err)
	}
	if err := m.Put(ctx, alice.ID(), bob.ID(), []byte("x"), root, leaf, other, capability.ID{4}, capability.ID{5}); err == nil {
		t.Fatal("mail naming more tokens than a chain can hold was accepted")
	}
}
