package node

import (
	"context"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/node/localapi"
)

// TestShareWithAPinnedContactWhileTheBootstrapIsDown: alice shared with
// bob before, so bob is pinned and his relay is kept with the contact.
// With the bootstrap down (and alice restarted meanwhile, so nothing is
// cached in memory), a new share is issued and reaches bob live through
// his relay; with bob offline too, it is recorded undelivered and reaches
// his mailbox once the bootstrap is back.
func TestShareWithAPinnedContactWhileTheBootstrapIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the bootstrap; skipped in -short")
	}
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	shareAndWait(t, alice, bob, "calendar/*", "bob", "read")
	if c, ok := alice.state.Pinned(ctx, "bob"); !ok || c.Peer != bob.ID() || len(c.Relays) == 0 {
		t.Fatalf("bob's contact at alice: %+v, %v; want his key and relay", c, ok)
	}

	m.boot.Close()
	aliceHome := alice.cfg.Home
	alice.Close()
	alice, err := Start(ctx, Config{Home: aliceHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs,
		Relays: []string{m.relayAddr}, Firewall: true, Timings: testTimings, Logger: m.logs.logger("alice")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	if err := alice.Unlock(ctx, []byte("pw-a")); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.net.Lookup(ctx, "bob"); err == nil {
		t.Fatal("the directory answers; the test would prove nothing")
	}

	res, err := alice.Share(ctx, localapi.ShareRequest{Path: "notes/*", With: "bob", Can: "read", ValidFor: time.Hour})
	if err != nil {
		t.Fatalf("sharing with pinned bob while the bootstrap is down: %v", err)
	}
	if res.Delivered != meshstate.ViaLive || res.Audience != bob.ID().String() {
		t.Fatalf("share while the bootstrap is down: %+v; want it delivered live to bob", res)
	}
	waitFor(t, "bob holds the second grant", func() bool { g, _ := bob.received(ctx); return len(g) == 2 })

	t.Run("a share for a handle never pinned still needs the directory", func(t *testing.T) {
		_, err := alice.Share(ctx, localapi.ShareRequest{Path: "notes/*", With: "carol", Can: "read", ValidFor: time.Hour})
		if err == nil {
			t.Fatal("shared with carol, never looked up, while the bootstrap is down")
		}
	})

	bobHome := bob.cfg.Home
	bob.Close()
	res, err = alice.Share(ctx, localapi.ShareRequest{Path: "files/*", With: "bob", Can: "read", ValidFor: time.Hour})
	if err != nil {
		t.Fatalf("sharing with offline bob while the bootstrap is down: %v", err)
	}
	if res.Delivered != "" || res.Pending == "" {
		t.Fatalf("share with bob and the bootstrap both down: %+v; want it pending", res)
	}
	undelivered := func() int {
		shares, _ := alice.Shares(ctx)
		n := 0
		for _, g := range shares {
			if g.Status == meshstate.Undelivered {
				n++
			}
		}
		return n
	}
	if undelivered() != 1 {
		t.Fatalf("%d shares undelivered, want 1", undelivered())
	}
	m.restartBootstrap(t, false)
	waitFor(t, "alice leaves the share in bob's mailbox once the bootstrap is back", func() bool { return undelivered() == 0 })
	bob2, err := Start(ctx, Config{Home: bobHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs,
		Relays: []string{m.relayAddr}, Firewall: true, Timings: testTimings})
	if err != nil {
		t.Fatal(err)
	}
	defer bob2.Close()
	waitFor(t, "bob collects the third grant from his mailbox", func() bool {
		g, _ := bob2.received(ctx)
		return len(g) == 3 && g[2].Via == meshstate.ViaMailbox && g[2].Resource == "files/*"
	})
}

// TestRelaysKeptWithAContactSurviveARestart: the relay addresses of a
// contact's record are in the store, not only in the lookup cache.
func TestRelaysKeptWithAContactSurviveARestart(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	if _, err := alice.resolver.Resolve(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	h := alice.cfg.Home
	alice.Close()
	o, err := Open(ctx, h, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	c, ok := o.state.Pinned(ctx, "bob")
	if !ok || c.Peer != bob.ID() || len(c.Relays) != 1 || c.Relays[0].String() != m.relayAddr+"/p2p-circuit" {
		t.Fatalf("bob's contact after alice's restart: %+v, %v; want his key and %s/p2p-circuit", c, ok, m.relayAddr)
	}
	cs, err := o.Contacts(ctx)
	if err != nil || len(cs) != 1 || cs[0].Handle != "bob" || cs[0].Peer != bob.ID().String() {
		t.Fatalf("mesh contacts = %+v, %v", cs, err)
	}
}
