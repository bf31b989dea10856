package meshstate

import (
	"context"
	"errors"
	"fmt"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/testkit"
)

func relayAddrs(n int) []ma.Multiaddr {
	var out []ma.Multiaddr
	for i := range n {
		out = append(out, ma.StringCast(fmt.Sprintf("/ip4/10.0.0.%d/tcp/4001/p2p/12D3KooWEkvfbUCZq4BSHwcNzXWtsvxZqTWQCSQ6KGL4nDyQsK7b/p2p-circuit", i+1)))
	}
	return out
}

// TestRelaysAreKeptForThePinnedKeyOnly: the relays of a record are kept
// with the contact only when the record is for the pinned key; a pending
// key change keeps them, accepting it drops them; at most MaxRelays.
func TestRelaysAreKeptForThePinnedKeyOnly(t *testing.T) {
	ctx := context.Background()
	s, _, v := newState(t)
	bob, other := testkit.Key(t, "bob").ID(), testkit.Key(t, "bob-new").ID()
	if err := s.Remember(ctx, "bob", bob, relayAddrs(1)); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Pinned(ctx, "bob"); ok {
		t.Fatal("Remember pinned a contact never seen")
	}
	if err := s.Pin(ctx, "bob", bob); err != nil {
		t.Fatal(err)
	}
	before, _, _ := v.VerifyAudit(ctx)
	if err := s.Remember(ctx, "bob", bob, relayAddrs(MaxRelays+2)); err != nil {
		t.Fatal(err)
	}
	c, ok := s.Pinned(ctx, "bob")
	if !ok || c.Peer != bob || c.Handle != "bob" || len(c.Relays) != MaxRelays || !c.Relays[0].Equal(relayAddrs(1)[0]) {
		t.Fatalf("pinned bob = %+v, %v; want his key and %d relays", c, ok, MaxRelays)
	}
	if after, _, err := v.VerifyAudit(ctx); err != nil || len(after) != len(before) {
		t.Error("keeping relay addresses wrote an audit record; they are routing hints")
	}
	if r, ok := s.PinnedPeer(ctx, bob); !ok || r.Handle != "bob" || len(r.Relays) != MaxRelays {
		t.Fatalf("PinnedPeer(bob) = %+v, %v", r, ok)
	}

	if err := s.Remember(ctx, "bob", other, relayAddrs(1)); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Pinned(ctx, "bob"); len(c.Relays) != MaxRelays {
		t.Fatal("another key's record replaced the pinned key's relays")
	}
	if err := s.Pin(ctx, "bob", other); !errors.Is(err, ErrKeyChanged) {
		t.Fatal(err)
	}
	if c, _ := s.Pinned(ctx, "bob"); c.Peer != bob || c.Pending != other.String() || len(c.Relays) != MaxRelays {
		t.Fatalf("after a key change: %+v; want the pinned key, its relays and the pending key", c)
	}
	cs, err := s.Contacts(ctx, testkit.Key(t, "self").ID())
	if err != nil || len(cs) != 1 || cs[0].Peer != bob.String() || cs[0].Pending != other.String() {
		t.Fatalf("contacts = %+v, %v", cs, err)
	}
	if err := s.Accept(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Pinned(ctx, "bob"); c.Peer != other || c.Pending != "" || len(c.Relays) != 0 {
		t.Fatalf("after accepting the new key: %+v; want it pinned without the old key's relays", c)
	}
}
