package node

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/share"
	"github.com/ocmt/mesh/vault"
)

// TestOwnerBackFromOfflineRefusesWhatWasRevokedMeanwhile: bob revokes the
// share he delegated to carol while alice, the owner, is offline. When
// alice's node comes back, carol's very first request (sent straight to
// alice, past carol's own set) is refused: alice holds requests until her
// first revocation sync.
func TestOwnerBackFromOfflineRefusesWhatWasRevokedMeanwhile(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	carol := m.startNode(t, "carol", "pw-c")
	alice.PutResource(ctx, "calendar/work", []byte("standup"))
	shareAndWait(t, alice, bob, "calendar/*", "bob", "read,share")
	res, err := bob.Share(ctx, localapi.ShareRequest{Path: "calendar/work", From: "alice", With: "carol", Can: "read", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var tok *capability.Token
	waitFor(t, "carol holds the delegated grant", func() bool {
		g, _ := carol.received(ctx)
		if len(g) == 1 {
			tok, _ = capability.Parse(g[0].Token)
		}
		return tok != nil
	})
	aliceHome, aliceID := alice.cfg.Home, alice.host.ID()
	alice.Close()

	id, err := bob.Revoke(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := capability.ParseID(id)
	waitFor(t, "the relay and the bootstrap hold bob's revocation", func() bool { return m.relay.IsRevoked(tid) && m.boot.IsRevoked(tid) })
	waitFor(t, "carol holds bob's revocation", func() bool { return carol.IsRevoked(tid) })
	if _, err := carol.Fetch(ctx, "alice/calendar/work"); !errors.Is(err, capability.ErrRevoked) || !strings.Contains(err.Error(), "bob revoked") {
		t.Fatalf("carol's read after bob revoked her share: %v, want it to name bob", err)
	}

	alice2, err := Start(ctx, Config{Home: aliceHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs,
		Relays: []string{m.relayAddr}, Timings: testTimings})
	if err != nil {
		t.Fatal(err)
	}
	defer alice2.Close()
	if err := alice2.Unlock(ctx, []byte("pw-a")); err != nil {
		t.Fatal(err)
	}
	carol.host.Peerstore().AddAddrs(aliceID, alice2.host.Addrs(), time.Minute)
	waitFor(t, "alice has caught up and answers", func() bool { // Unavailable: still catching up
		_, err = share.Read(ctx, carol.host, aliceID, tok, "calendar/work")
		return !errors.Is(err, wire.Unavailable)
	})
	if !errors.Is(err, wire.Revoked) {
		t.Fatalf("carol's first request to the restarted owner: %v, want Revoked", err)
	}
}

// TestRevocationSurvivesACrashBeforeGossip: alice's node signs and keeps
// a revocation but dies before gossiping it. When it comes back, its
// outbox pushes the record to the infrastructure, and the mesh learns it.
func TestRevocationSurvivesACrashBeforeGossip(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	alice.PutResource(ctx, "calendar/work", []byte("standup"))
	res := shareAndWait(t, alice, bob, "calendar/*", "bob", "read")
	tok, err := alice.findToken(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	// What Node.Revoke does up to the crash: the record is in the outbox
	// (at its place in the store's layout) and in force locally, never
	// gossiped nor pushed.
	rev, err := alice.signer.Revoke(tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id := rev.ID()
	if err := alice.store.Put(ctx, store.RevocationOutbox.ChildString(hex.EncodeToString(id[:])), rev.Bytes()); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.rev.Set().Add(ctx, rev); err != nil {
		t.Fatal(err)
	}
	aliceHome := alice.cfg.Home
	alice.Close()
	if m.boot.IsRevoked(rev.ID()) {
		t.Fatal("the bootstrap learned the revocation before alice came back")
	}
	alice2, err := Start(ctx, Config{Home: aliceHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs, Relays: []string{m.relayAddr}, Timings: testTimings})
	if err != nil {
		t.Fatal(err)
	}
	defer alice2.Close()
	waitFor(t, "the bootstrap, the relay and bob hold the revocation", func() bool {
		return m.boot.IsRevoked(rev.ID()) && m.relay.IsRevoked(rev.ID()) && bob.IsRevoked(rev.ID())
	})
}

// TestRevokedShareLeavesTheOfflineRecipientsMailbox: a grant waiting in
// the mailbox of a recipient who is offline is deleted by the bootstrap as
// soon as the revocation reaches it; it is never served.
func TestRevokedShareLeavesTheOfflineRecipientsMailbox(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	bobID := bob.host.ID()
	bob.Close()

	alice.PutResource(ctx, "contacts/family", []byte("mum: 555-0100"))
	res, err := alice.Share(ctx, localapi.ShareRequest{Path: "contacts/*", With: "bob", Can: "read", ValidFor: time.Hour})
	if err != nil || res.Delivered != "mailbox" {
		t.Fatalf("share to an offline bob: %+v, %v", res, err)
	}
	if items, _, err := m.boot.Mailbox().Fetch(ctx, bobID, 10); err != nil || len(items) != 1 || len(items[0].Tokens) != 1 {
		t.Fatalf("bob's mailbox before the revocation: %d items, %v", len(items), err)
	}
	id, err := alice.Revoke(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := capability.ParseID(id)
	waitFor(t, "the bootstrap holds the revocation", func() bool { return m.boot.IsRevoked(tid) })
	if items, _, err := m.boot.Mailbox().Fetch(ctx, bobID, 10); err != nil || len(items) != 0 {
		t.Fatalf("bob's mailbox still serves %d items after the revocation (%v)", len(items), err)
	}
}

func TestRevocationReachesEveryVerifier(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	carol := m.startNode(t, "carol", "pw-c")
	alice.PutResource(ctx, "calendar/work", []byte("standup"))
	res, err := alice.Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read,share", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob holds alice's grant", func() bool { g, _ := bob.received(ctx); return len(g) == 1 })
	// bob passes it on to carol: a delegation chain alice → bob → carol.
	if _, err := bob.Share(ctx, localapi.ShareRequest{Path: "calendar/work", From: "alice", With: "carol", Can: "read", ValidFor: time.Hour}); err != nil {
		t.Fatalf("bob delegates: %v", err)
	}
	// Delivered live, or through carol's mailbox if the live stream failed.
	waitFor(t, "carol holds the delegated grant", func() bool { g, _ := carol.received(ctx); return len(g) == 1 })
	for _, n := range []*Node{bob, carol} {
		if data, err := n.Fetch(ctx, "alice/calendar/work"); err != nil || string(data) != "standup" {
			t.Fatalf("before revocation: %q, %v", data, err)
		}
	}
	// dave is offline while alice revokes.
	daveHome := shortDir(t, "dave")
	if _, err := Init(ctx, daveHome, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF(), Handle: "dave"}); err != nil {
		t.Fatal(err)
	}

	id, err := alice.Revoke(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := capability.ParseID(id)
	for who, n := range map[string]*Node{"bob": bob, "carol": carol} {
		_, err := n.Fetch(ctx, "alice/calendar/work")
		if !errors.Is(err, capability.ErrRevoked) || !strings.Contains(err.Error(), "alice revoked") {
			t.Fatalf("%s after revocation: %v, want a refusal saying alice revoked it", who, err)
		}
	}
	waitFor(t, "the relay, the bootstrap, bob and carol hold the revocation", func() bool {
		return m.relay.IsRevoked(tid) && m.boot.IsRevoked(tid) && bob.IsRevoked(tid) && carol.IsRevoked(tid)
	})
	shares, _ := alice.Shares(ctx)
	if len(shares) != 1 || shares[0].Status != "revoked" {
		t.Fatalf("alice's shares = %+v", shares)
	}
	if got, _ := carol.received(ctx); len(got) != 1 || got[0].Status != "revoked" {
		t.Fatalf("carol's delegated grant shows %+v; revoking bob's share revokes it too", got)
	}

	// A node that was offline during the revocation syncs before serving.
	dave, err := Start(ctx, Config{Home: daveHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs, Relays: []string{m.relayAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer dave.Close()
	waitFor(t, "dave learns of the revocation by revsync", func() bool { return dave.IsRevoked(tid) })

	// A restart does not resurrect it.
	bobHome := bob.cfg.Home
	bob.Close()
	bob2, err := Start(ctx, Config{Home: bobHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer bob2.Close()
	if !bob2.IsRevoked(tid) {
		t.Fatal("bob's restart forgot the revocation")
	}
}
