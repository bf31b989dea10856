package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testmesh"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/relayaccess"
	"github.com/ocmt/mesh/protocols/share"
	"github.com/ocmt/mesh/relay"
	"github.com/ocmt/mesh/vault"
)

// shortDir makes a folder with a short path (unix sockets cap paths at
// ~108 bytes, and t.TempDir paths can be long).
func shortDir(t *testing.T, name string) Home { return tempHome(t, name) }

func tempHome(t testing.TB, name string) Home {
	t.Helper()
	d, err := os.MkdirTemp("", "m"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return Home(d)
}

type testMesh struct {
	logs              *lockedLog // every role's logs, at debug level
	boot, relay       *Infra
	bootTap, relayTap *testmesh.TapHost
	bootHome, relHome Home
	relayAddr         string
	bootAddrs         []string
	relayAudit        lockedLog // the relay's metadata-only audit, JSON lines
}

func startInfra(t *testing.T) *testMesh {
	t.Helper()
	ctx := context.Background()
	m := &testMesh{bootHome: shortDir(t, "boot"), relHome: shortDir(t, "relay"), logs: &lockedLog{}}
	var err error
	m.boot, err = StartBootstrap(ctx, InfraConfig{Home: m.bootHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: m.logs.logger("bootstrap"),
		WrapHost: func(h host.Host) host.Host { m.bootTap = testmesh.NewTapHost(h); return m.bootTap }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.boot.Close() })
	m.bootAddrs = m.boot.Addrs()
	m.startRelay(t, "/ip4/127.0.0.1/tcp/0")
	m.relayAddr = m.relay.Addrs()[0]
	return m
}

func (m *testMesh) startRelay(t *testing.T, listen string) {
	t.Helper()
	var err error
	m.relay, err = StartRelay(context.Background(), RelayConfig{
		InfraConfig: InfraConfig{Home: m.relHome, Listen: []string{listen}, Logger: m.logs.logger("relay"),
			WrapHost: func(h host.Host) host.Host { m.relayTap = testmesh.NewTapHost(h); return m.relayTap }},
		Bootstrap: m.bootAddrs,
		Relay:     relay.Config{AllowPrivateAddrs: true, Audit: &m.relayAudit},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := m.relay
	t.Cleanup(func() { r.Close() })
}

func (m *testMesh) startNode(t *testing.T, handle, password string) *Node {
	t.Helper()
	ctx := context.Background()
	h := shortDir(t, handle)
	if _, err := Init(ctx, h, InitOptions{Password: []byte(password), KDF: vault.TestKDF(), Handle: handle}); err != nil {
		t.Fatal(err)
	}
	n, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs,
		Relays: []string{m.relayAddr}, Firewall: true, MailboxInterval: 200 * time.Millisecond, Logger: m.logs.logger(handle)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Local().Unlock(ctx, []byte(password)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, handle+" holds a relay reservation", func() bool { return n.mesh.hasReservation() })
	return n
}

// shareAndWait has from share pattern with handle `with` (actions can, for
// an hour) and waits until to holds one more received grant.
func shareAndWait(t *testing.T, from, to *Node, pattern, with, can string) localapi.ShareResult {
	t.Helper()
	ctx := context.Background()
	before, _ := to.Local().received(ctx)
	res, err := from.Local().Share(ctx, localapi.ShareRequest{Path: pattern, With: with, Can: can, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, with+" holds the grant", func() bool { g, _ := to.Local().received(ctx); return len(g) == len(before)+1 })
	return res
}

// startAliceAndBob starts the infrastructure and two unlocked, relayed
// home nodes, alice and bob.
func startAliceAndBob(t *testing.T) (*testMesh, *Node, *Node) {
	t.Helper()
	m := startInfra(t)
	return m, m.startNode(t, "alice", "pw-a"), m.startNode(t, "bob", "pw-b")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const (
	calendarCanary = "CALCANARY-dentist-thursday-4pm-7d1e"
	secretCanary   = "SECRETCANARY-sk-live-99aa"
	passwordCanary = "PWCANARY-alice-pass-1234"
)

func TestMeshShareThroughRelay(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	alice := m.startNode(t, "alice", passwordCanary)
	bob := m.startNode(t, "bob", "bob-password")
	al, bl := alice.Local(), bob.Local()

	if err := al.PutResource(ctx, "calendar/work", []byte(calendarCanary)); err != nil {
		t.Fatal(err)
	}
	if err := al.SecretSet(ctx, vault.Secret{Name: "openai", Type: vault.TypeAPIKey, Provider: "openai", Value: []byte(secretCanary)}); err != nil {
		t.Fatal(err)
	}
	res, err := al.Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read,list", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Audience != bob.ID().String() {
		t.Fatalf("shared with %s, want bob %s", res.Audience, bob.ID())
	}
	got, err := bl.Shared(ctx)
	if err != nil || len(got) != 1 || got[0].OwnerHandle != "alice" || got[0].Status != "active" {
		t.Fatalf("bob's shared = %+v, %v", got, err)
	}
	data, err := bl.Fetch(ctx, "alice/calendar/work")
	if err != nil || string(data) != calendarCanary {
		t.Fatalf("bob reads %q, %v", data, err)
	}
	names, err := bl.ListRemote(ctx, "alice")
	if err != nil || len(names) != 1 || names[0] != "calendar/work" {
		t.Fatalf("bob lists %v, %v", names, err)
	}
	for _, c := range bob.Host().Network().ConnsToPeer(alice.ID()) {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err != nil {
			t.Fatalf("bob reached alice directly (%s); the firewall should force the relay", c.RemoteMultiaddr())
		}
	}
	if len(bob.Host().Network().ConnsToPeer(alice.ID())) == 0 {
		t.Fatal("no connection between bob and alice")
	}

	t.Run("bob cannot read what was not shared", func(t *testing.T) {
		al.PutResource(ctx, "files/tax", []byte("private"))
		if _, err := bl.Fetch(ctx, "alice/files/tax"); err == nil {
			t.Fatal("bob read an unshared resource")
		}
	})
	t.Run("a token is useless to another peer", func(t *testing.T) {
		tok, _ := capability.Parse(got[0].Token)
		k := keys.GeneratePeerKey()
		mallory, err := libp2p.New(libp2p.Identity(k.Libp2pPrivKey()), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		defer mallory.Close()
		circ := ma.StringCast(m.relayAddr + "/p2p-circuit/p2p/" + alice.ID().String())
		if err := mallory.Connect(ctx, peer.AddrInfo{ID: alice.ID(), Addrs: []ma.Multiaddr{circ}}); err != nil {
			t.Fatalf("mallory cannot reach alice through the relay: %v", err)
		}
		_, err = share.Read(ctx, mallory, alice.ID(), tok, "calendar/work")
		if !errors.Is(err, wire.Forbidden) {
			t.Fatalf("mallory with bob's token: %v, want Forbidden", err)
		}
	})
	t.Run("a stranger cannot reserve on the relay", func(t *testing.T) {
		k := keys.GeneratePeerKey()
		s, _ := libp2p.New(libp2p.Identity(k.Libp2pPrivKey()), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		defer s.Close()
		ai, _ := peer.AddrInfoFromString(m.relayAddr)
		if err := s.Connect(ctx, *ai); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Reserve(ctx, s, *ai); err == nil {
			t.Fatal("an unregistered peer got a reservation")
		}
	})
	t.Run("the relay forwards only ciphertext", func(t *testing.T) {
		if m.relayTap.Rec.Streams() == 0 || len(m.relayTap.Rec.Bytes()) < len(calendarCanary) {
			t.Fatal("the tap saw no relayed traffic; the test would prove nothing")
		}
		if f := testmesh.Find(m.relayTap.Rec.Bytes(), []byte(calendarCanary), []byte(secretCanary), []byte(passwordCanary)); f != nil {
			t.Fatalf("relay saw %q", f)
		}
	})
	t.Run("the audit log records the share and the serve", func(t *testing.T) {
		rep, err := al.Audit(ctx)
		if err != nil || rep.Broken != "" {
			t.Fatal(err, rep.Broken)
		}
		var ops []string
		for _, r := range rep.Records {
			ops = append(ops, r.Op)
		}
		all := strings.Join(ops, " ")
		for _, want := range []string{OpShareIssue, OpShareServe, OpShareRefused} {
			if !strings.Contains(all, want) {
				t.Errorf("alice's audit lacks %s: %s", want, all)
			}
		}
	})

	t.Run("no log line of any role holds a secret, a password or a key", func(t *testing.T) {
		logs := m.logs.bytes()
		if len(logs) == 0 {
			t.Fatal("nothing was logged; the check would prove nothing")
		}
		seeds := [][]byte{alice.Local().peer.Seed(), bob.Local().peer.Seed()}
		if f := testmesh.Find(logs, append([][]byte{[]byte(calendarCanary), []byte(secretCanary), []byte(passwordCanary)}, seeds...)...); f != nil {
			t.Fatalf("logs hold %q", f)
		}
	})

	// Metadata only at the bootstrap: every message it received and every
	// key and value it stored.
	if m.bootTap.Rec.Streams() == 0 {
		t.Fatal("the bootstrap tap saw nothing")
	}
	seeds := [][]byte{alice.Local().peer.Seed(), bob.Local().peer.Seed()}
	canaries := append([][]byte{[]byte(calendarCanary), []byte(secretCanary), []byte(passwordCanary)}, seeds...)
	if f := testmesh.Find(m.bootTap.Rec.Bytes(), canaries...); f != nil {
		t.Fatalf("the bootstrap received %q", f)
	}
	m.boot.Close()
	store, err := vault.OpenStore(m.bootHome.StorePath())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	res2, _ := store.Query(ctx, query.Query{})
	all, _ := res2.Rest()
	if len(all) == 0 {
		t.Fatal("the bootstrap stored nothing; the scan would prove nothing")
	}
	for _, e := range all {
		if f := testmesh.Find(append([]byte(e.Key), e.Value...), canaries...); f != nil {
			t.Fatalf("the bootstrap stored %q under %s", f, e.Key)
		}
	}
	filepath.WalkDir(string(m.bootHome), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != "identity.key" {
			b, _ := os.ReadFile(p)
			if f := testmesh.Find(b, canaries...); f != nil {
				t.Errorf("%s holds %q", p, f)
			}
		}
		return nil
	})
}

func TestRelayRestartMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a relay; skipped in -short")
	}
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	alice.Local().PutResource(ctx, "calendar/work", []byte("v1"))
	if _, err := alice.Local().Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read", ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob has the grant", func() bool { g, _ := bob.Local().Shared(ctx); return len(g) == 1 })
	if _, err := bob.Local().Fetch(ctx, "alice/calendar/work"); err != nil {
		t.Fatal(err)
	}
	// Hold a stream open through the relay, then restart the relay under it.
	s, err := bob.Host().NewStream(ctx, alice.ID(), share.ID)
	if err != nil {
		t.Fatal(err)
	}
	m.relay.Close()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Read(make([]byte, 1)); err == nil {
		t.Fatal("a stream through a stopped relay still reads")
	}
	ma0, _ := ma.NewMultiaddr(m.relayAddr)
	listen := ma0.Decapsulate(ma.StringCast("/p2p/" + m.relay.Host.ID().String())).String()
	m.startRelay(t, listen)
	waitFor(t, "alice re-reserves", func() bool { return alice.mesh.hasReservation() })
	data, err := bob.Local().Fetch(ctx, "alice/calendar/work")
	if err != nil || string(data) != "v1" {
		t.Fatalf("after the relay restart: %q, %v", data, err)
	}
}

func TestShareWithOfflineRecipientGoesThroughTheMailbox(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	bobHome := bob.cfg.Home
	bob.Close() // bob is registered, then goes offline

	alice.Local().PutResource(ctx, "contacts/family", []byte("mum: 555-0100"))
	res, err := alice.Local().Share(ctx, localapi.ShareRequest{Path: "contacts/*", With: "bob", Can: "read", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != "mailbox" {
		t.Fatalf("delivered %q to an offline recipient, want mailbox", res.Delivered)
	}
	bob2, err := Start(ctx, Config{Home: bobHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs,
		Relays: []string{m.relayAddr}, Firewall: true, MailboxInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer bob2.Close()
	waitFor(t, "bob collects the grant from his mailbox", func() bool {
		g, _ := bob2.Local().received(ctx)
		return len(g) == 1 && g[0].Via == "mailbox"
	})
	if err := bob2.Local().Unlock(ctx, []byte("pw-b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob's relay reservation", func() bool { return bob2.mesh.hasReservation() })
	data, err := bob2.Local().Fetch(ctx, "alice/contacts/family")
	if err != nil || string(data) != "mum: 555-0100" {
		t.Fatalf("bob reads %q, %v", data, err)
	}
}

// TestOwnerBackFromOfflineRefusesWhatWasRevokedMeanwhile: bob revokes the
// share he delegated to carol while alice, the owner, is offline. When
// alice's node comes back, carol's very first request (sent straight to
// alice, past carol's own set) is refused: alice holds requests until her
// first revocation sync.
func TestOwnerBackFromOfflineRefusesWhatWasRevokedMeanwhile(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	carol := m.startNode(t, "carol", "pw-c")
	alice.Local().PutResource(ctx, "calendar/work", []byte("standup"))
	shareAndWait(t, alice, bob, "calendar/*", "bob", "read,share")
	res, err := bob.Local().Share(ctx, localapi.ShareRequest{Path: "calendar/work", From: "alice", With: "carol", Can: "read", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var tok *capability.Token
	waitFor(t, "carol holds the delegated grant", func() bool {
		g, _ := carol.Local().received(ctx)
		if len(g) == 1 {
			tok, _ = capability.Parse(g[0].Token)
		}
		return tok != nil
	})
	aliceHome, aliceID := alice.cfg.Home, alice.host.ID()
	alice.Close()

	id, err := bob.Local().Revoke(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := capability.ParseID(id)
	waitFor(t, "the relay and the bootstrap hold bob's revocation", func() bool { return m.relay.IsRevoked(tid) && m.boot.IsRevoked(tid) })
	waitFor(t, "carol holds bob's revocation", func() bool { return carol.IsRevoked(tid) })
	if _, err := carol.Local().Fetch(ctx, "alice/calendar/work"); !errors.Is(err, capability.ErrRevoked) || !strings.Contains(err.Error(), "bob revoked") {
		t.Fatalf("carol's read after bob revoked her share: %v, want it to name bob", err)
	}

	alice2, err := Start(ctx, Config{Home: aliceHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs,
		Relays: []string{m.relayAddr}, MailboxInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer alice2.Close()
	if err := alice2.Local().Unlock(ctx, []byte("pw-a")); err != nil {
		t.Fatal(err)
	}
	carol.host.Peerstore().AddAddrs(aliceID, alice2.host.Addrs(), time.Minute)
	_, err = share.Read(ctx, carol.host, aliceID, tok, "calendar/work")
	for errors.Is(err, wire.Unavailable) { // alice is still catching up
		time.Sleep(100 * time.Millisecond)
		_, err = share.Read(ctx, carol.host, aliceID, tok, "calendar/work")
	}
	if !errors.Is(err, wire.Revoked) {
		t.Fatalf("carol's first request to the restarted owner: %v, want Revoked", err)
	}
}

// TestListFromCoversEveryShare: mesh ls --from lists what all of the
// owner's active shares cover, and a prefix narrows it.
func TestListFromCoversEveryShare(t *testing.T) {
	ctx := context.Background()
	_, alice, bob := startAliceAndBob(t)
	for _, p := range []string{"calendar/work", "calendar/home", "files/a/b.txt", "private/diary"} {
		alice.Local().PutResource(ctx, p, []byte(p))
	}
	shareAndWait(t, alice, bob, "calendar/*", "bob", "read,list")
	shareAndWait(t, alice, bob, "files/**", "bob", "read,list")
	got, err := bob.Local().ListRemote(ctx, "alice")
	if want := []string{"calendar/home", "calendar/work", "files/a/b.txt"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("ls --from alice = %v, %v; want %v", got, err, want)
	}
	if data, err := alice.Local().Fetch(ctx, "alice/calendar/work"); err != nil || string(data) != "calendar/work" {
		t.Fatalf("alice reading her own resource by handle: %q, %v", data, err)
	}
	got, err = bob.Local().ListRemote(ctx, "alice/calendar/")
	if want := []string{"calendar/home", "calendar/work"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("ls --from alice calendar/ = %v, %v; want %v", got, err, want)
	}
}

// TestRevocationSurvivesACrashBeforeGossip: alice's node signs and keeps
// a revocation but dies before gossiping it. When it comes back, its
// outbox pushes the record to the infrastructure, and the mesh learns it.
func TestRevocationSurvivesACrashBeforeGossip(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	alice.Local().PutResource(ctx, "calendar/work", []byte("standup"))
	res := shareAndWait(t, alice, bob, "calendar/*", "bob", "read")
	tok, err := alice.local.findToken(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	// What Local.Revoke does up to the crash: posted and in force locally,
	// never gossiped nor pushed.
	rev, err := revocation.New(&alice.local.peer, tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.local.rev.post(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.local.rev.set.Add(ctx, rev); err != nil {
		t.Fatal(err)
	}
	aliceHome := alice.cfg.Home
	alice.Close()
	if m.boot.IsRevoked(rev.ID()) {
		t.Fatal("the bootstrap learned the revocation before alice came back")
	}
	alice2, err := Start(ctx, Config{Home: aliceHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs, Relays: []string{m.relayAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer alice2.Close()
	waitFor(t, "the bootstrap, the relay and bob hold the revocation", func() bool {
		return m.boot.IsRevoked(rev.ID()) && m.relay.IsRevoked(rev.ID()) && bob.IsRevoked(rev.ID())
	})
}

// TestUndeliveredShareIsRetried: when neither bob nor his mailbox takes
// a share (his mailbox is full of alice's earlier ones), the share is
// issued, shows "undelivered", and reaches bob once he is back.
func TestUndeliveredShareIsRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a mailbox; skipped in -short")
	}
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	bobHome := bob.cfg.Home
	bob.Close()
	pending := 0
	for i := range dht.DefaultMaxItemsPerSender + 1 {
		res, err := alice.Local().Share(ctx, localapi.ShareRequest{Path: fmt.Sprintf("cc/i%d", i), With: "bob", Can: "read", ValidFor: time.Hour})
		if err != nil {
			t.Fatalf("share %d: %v", i, err)
		}
		if res.Pending != "" {
			pending++ // mailbox full, or the bootstrap's rate limit
		}
	}
	undelivered := func() int {
		shares, _ := alice.Local().Shares(ctx)
		n := 0
		for _, g := range shares {
			if g.Status == "undelivered" {
				n++
			}
		}
		return n
	}
	if pending == 0 || undelivered() != pending {
		t.Fatalf("%d shares pending, %d shown undelivered; want the same, at least one", pending, undelivered())
	}
	bob2, err := Start(ctx, Config{Home: bobHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs,
		Relays: []string{m.relayAddr}, Firewall: true, MailboxInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer bob2.Close()
	// Alice's burst of shares used up her directory rate at the bootstrap,
	// so the retry can take a few rounds.
	deadline := time.Now().Add(60 * time.Second)
	for {
		g, _ := bob2.Local().received(ctx)
		if len(g) == dht.DefaultMaxItemsPerSender+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob holds %d of %d shares a minute after coming back", len(g), dht.DefaultMaxItemsPerSender+1)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, "alice sees every share delivered", func() bool { return undelivered() == 0 })
}

// TestTakenHandleShowsInStatus: a node whose handle another key holds
// says so in mesh status, not only in its log.
func TestTakenHandleShowsInStatus(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	m.startNode(t, "alice", "pw-a")
	h := shortDir(t, "mallory")
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF(), Handle: "alice"}); err != nil {
		t.Fatal(err)
	}
	n, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs, Relays: []string{m.relayAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	waitFor(t, "status says the handle is taken", func() bool {
		st, _ := n.Local().Status(ctx)
		return strings.Contains(st.HandleProblem, "taken by another key")
	})
}

// TestOfflineOwnerIsNamedAsOffline: reading from an owner whose node is
// down says so in words, not as a dial error.
func TestOfflineOwnerIsNamedAsOffline(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	alice.Local().PutResource(ctx, "calendar/work", []byte("standup"))
	shareAndWait(t, alice, bob, "calendar/*", "bob", "read")
	alice.Close()
	waitFor(t, "the relay drops alice's reservation", func() bool {
		return m.relay.Host.Network().Connectedness(alice.host.ID()) != network.Connected
	})
	_, err := bob.Local().Fetch(ctx, "alice/calendar/work")
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "alice's node is offline") {
		t.Fatalf("reading from an offline owner: %v", err)
	}
}

// TestRevokedShareLeavesTheOfflineRecipientsMailbox: a grant waiting in
// the mailbox of a recipient who is offline is deleted by the bootstrap as
// soon as the revocation reaches it; it is never served.
func TestRevokedShareLeavesTheOfflineRecipientsMailbox(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	bobID := bob.host.ID()
	bob.Close()

	alice.Local().PutResource(ctx, "contacts/family", []byte("mum: 555-0100"))
	res, err := alice.Local().Share(ctx, localapi.ShareRequest{Path: "contacts/*", With: "bob", Can: "read", ValidFor: time.Hour})
	if err != nil || res.Delivered != "mailbox" {
		t.Fatalf("share to an offline bob: %+v, %v", res, err)
	}
	if items, _, err := m.boot.mail.Fetch(ctx, bobID, 10); err != nil || len(items) != 1 || len(items[0].Tokens) != 1 {
		t.Fatalf("bob's mailbox before the revocation: %d items, %v", len(items), err)
	}
	id, err := alice.Local().Revoke(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := capability.ParseID(id)
	waitFor(t, "the bootstrap holds the revocation", func() bool { return m.boot.IsRevoked(tid) })
	if items, _, err := m.boot.mail.Fetch(ctx, bobID, 10); err != nil || len(items) != 0 {
		t.Fatalf("bob's mailbox still serves %d items after the revocation (%v)", len(items), err)
	}
}

func TestChangedKeyForKnownHandleIsRefused(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	alice := m.startNode(t, "alice", "pw-a")
	m.startNode(t, "bob", "pw-b")
	if _, err := alice.Local().Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read", ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// Pretend alice had pinned another key for bob: the directory's answer
	// now differs from the pin.
	var c localapi.Contact
	if err := getJSON(ctx, alice.local.store, contactKey("bob"), &c); err != nil {
		t.Fatal(err)
	}
	realBob := c.Peer
	other := keys.GeneratePeerKey()
	c.Peer = other.ID().String()
	b, _ := alice.local.store.Batch(ctx)
	putJSON(ctx, b, contactKey("bob"), c)
	b.Commit(ctx)

	_, err := alice.Local().Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read", ValidFor: time.Hour})
	if !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("share to a handle whose key changed: %v, want ErrKeyChanged", err)
	}
	cs, _ := alice.Local().Contacts(ctx)
	if len(cs) != 1 || cs[0].Pending != realBob || cs[0].Code == "" {
		t.Fatalf("contacts = %+v", cs)
	}
	if err := alice.Local().AcceptContact(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Local().Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read", ValidFor: time.Hour}); err != nil {
		t.Fatalf("after accepting the new key: %v", err)
	}
}

func TestSafetyCodeIsSymmetric(t *testing.T) {
	a, b := keys.GeneratePeerKey(), keys.GeneratePeerKey()
	if SafetyCode(a.ID(), b.ID()) != SafetyCode(b.ID(), a.ID()) {
		t.Fatal("the two sides compute different codes")
	}
	c := keys.GeneratePeerKey()
	if SafetyCode(a.ID(), b.ID()) == SafetyCode(a.ID(), c.ID()) {
		t.Fatal("different pairs share a code")
	}
}

func TestNodeFindsARelayInTheDHT(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	h := shortDir(t, "carol")
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF(), Handle: "carol"}); err != nil {
		t.Fatal(err)
	}
	n, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	waitFor(t, "carol reserves on a relay found in the DHT", n.mesh.hasReservation)
	if rs := n.mesh.relayList(); len(rs) != 1 || rs[0].ID != m.relay.Host.ID() {
		t.Fatalf("relays = %v, want the relay %s", rs, m.relay.Host.ID())
	}
}

func TestRevocationReachesEveryVerifier(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	carol := m.startNode(t, "carol", "pw-c")
	alice.Local().PutResource(ctx, "calendar/work", []byte("standup"))
	res, err := alice.Local().Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read,share", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob holds alice's grant", func() bool { g, _ := bob.Local().received(ctx); return len(g) == 1 })
	// bob passes it on to carol: a delegation chain alice → bob → carol.
	if _, err := bob.Local().Share(ctx, localapi.ShareRequest{Path: "calendar/work", From: "alice", With: "carol", Can: "read", ValidFor: time.Hour}); err != nil {
		t.Fatalf("bob delegates: %v", err)
	}
	// Delivered live, or through carol's mailbox if the live stream failed.
	waitFor(t, "carol holds the delegated grant", func() bool { g, _ := carol.Local().received(ctx); return len(g) == 1 })
	for _, n := range []*Node{bob, carol} {
		if data, err := n.Local().Fetch(ctx, "alice/calendar/work"); err != nil || string(data) != "standup" {
			t.Fatalf("before revocation: %q, %v", data, err)
		}
	}
	// dave is offline while alice revokes.
	daveHome := shortDir(t, "dave")
	if _, err := Init(ctx, daveHome, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF(), Handle: "dave"}); err != nil {
		t.Fatal(err)
	}

	id, err := alice.Local().Revoke(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	tid, _ := capability.ParseID(id)
	for who, n := range map[string]*Node{"bob": bob, "carol": carol} {
		_, err := n.Local().Fetch(ctx, "alice/calendar/work")
		if !errors.Is(err, capability.ErrRevoked) || !strings.Contains(err.Error(), "alice revoked") {
			t.Fatalf("%s after revocation: %v, want a refusal saying alice revoked it", who, err)
		}
	}
	waitFor(t, "the relay, the bootstrap, bob and carol hold the revocation", func() bool {
		return m.relay.IsRevoked(tid) && m.boot.IsRevoked(tid) && bob.IsRevoked(tid) && carol.IsRevoked(tid)
	})
	shares, _ := alice.Local().Shares(ctx)
	if len(shares) != 1 || shares[0].Status != "revoked" {
		t.Fatalf("alice's shares = %+v", shares)
	}
	if got, _ := carol.Local().received(ctx); len(got) != 1 || got[0].Status != "revoked" {
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

func TestRelayAccessCapability(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	// erin has no handle: she is not in the directory.
	h := shortDir(t, "erin")
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF()}); err != nil {
		t.Fatal(err)
	}
	k, _ := LoadIdentity(h)
	erinID := k.ID()
	tok, err := GrantRelayAccess(m.relHome, erinID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ai, _ := peer.AddrInfoFromString(m.relayAddr)

	t.Run("without the capability an unregistered node cannot reserve", func(t *testing.T) {
		s, _ := libp2p.New(libp2p.Identity(k.Libp2pPrivKey()), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		defer s.Close()
		s.Connect(ctx, *ai)
		if _, err := client.Reserve(ctx, s, *ai); err == nil {
			t.Fatal("reserved without being registered or granted")
		}
	})
	n, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Relays: []string{m.relayAddr}, RelayTokens: []string{tok.String()}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	waitFor(t, "erin reserves with her relay-access capability", n.mesh.hasReservation)

	t.Run("a token for another peer is refused at start", func(t *testing.T) {
		ok := keys.GeneratePeerKey()
		other, _ := GrantRelayAccess(m.relHome, ok.ID(), time.Hour)
		h2 := shortDir(t, "frank")
		Init(ctx, h2, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF()})
		if _, err := Start(ctx, Config{Home: h2, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Relays: []string{m.relayAddr}, RelayTokens: []string{other.String()}}); err == nil {
			t.Fatal("started with someone else's relay token")
		}
	})
	t.Run("a revoked capability no longer admits reservations", func(t *testing.T) {
		s, _ := libp2p.New(libp2p.Identity(k.Libp2pPrivKey()), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		defer s.Close()
		s.Connect(ctx, *ai)
		if _, err := client.Reserve(ctx, s, *ai); err != nil {
			t.Fatalf("before the revocation the capability admits: %v", err)
		}
		m.relayOperatorRevokes(t, tok)
		if _, err := client.Reserve(ctx, s, *ai); err == nil {
			t.Fatal("reserved with a revoked relay-access capability")
		}
	})
}

// TestRevokedRelayAccessCutsLiveCircuits: revoking a relay-access
// capability ends what it admitted at once (the reservation and the
// circuits through it), not when the reservation's hour runs out.
func TestRevokedRelayAccessCutsLiveCircuits(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	h := shortDir(t, "erin") // erin is not in the directory
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF()}); err != nil {
		t.Fatal(err)
	}
	k, _ := LoadIdentity(h)
	tok, err := GrantRelayAccess(m.relHome, k.ID(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	erin, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Relays: []string{m.relayAddr}, RelayTokens: []string{tok.String()}, Firewall: true})
	if err != nil {
		t.Fatal(err)
	}
	defer erin.Close()
	waitFor(t, "erin reserves with her relay-access capability", erin.mesh.hasReservation)

	// victor, also granted, reaches erin through the relay.
	vk := keys.GeneratePeerKey()
	victor, err := libp2p.New(libp2p.Identity(vk.Libp2pPrivKey()), libp2p.NoListenAddrs, libp2p.EnableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer victor.Close()
	vtok, _ := GrantRelayAccess(m.relHome, vk.ID(), time.Hour)
	ai, _ := peer.AddrInfoFromString(m.relayAddr)
	if err := victor.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	if err := relayaccess.Present(ctx, victor, ai.ID, vtok); err != nil {
		t.Fatal(err)
	}
	circuit := ma.StringCast(m.relayAddr + "/p2p-circuit")
	if err := victor.Connect(ctx, peer.AddrInfo{ID: k.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("victor reaches erin through the relay: %v", err)
	}

	relayed := func() (n int) {
		for _, c := range victor.Network().ConnsToPeer(k.ID()) {
			if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err != nil {
				t.Fatalf("victor reached erin directly (%s); the test needs a relayed connection", c.RemoteMultiaddr())
			}
			n++
		}
		return n
	}
	if relayed() == 0 {
		t.Fatal("victor holds no connection to erin")
	}
	m.relayOperatorRevokes(t, tok)
	waitFor(t, "the relayed connection to erin is cut", func() bool { return relayed() == 0 })
	waitFor(t, "the relay audits the cut", func() bool {
		return bytes.Contains(m.relayAudit.bytes(), []byte(`"event":"access-revoked","src":"`+k.ID().String()+`"`))
	})
	// Erin is behind her firewall: only the relay could bring victor to her,
	// and it no longer does. (A direct dial may look connected to victor for
	// a moment after the handshake, until erin's gater closes it, so what
	// counts is whether a stream opens.)
	victor.Peerstore().ClearAddrs(k.ID())
	victor.Peerstore().AddAddrs(k.ID(), []ma.Multiaddr{circuit}, time.Minute)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if s, err := victor.NewStream(cctx, k.ID(), share.ID); err == nil {
		s.Reset()
		t.Fatal("erin is still reachable through the relay after her access was revoked")
	}
	if len(erin.host.Network().ConnsToPeer(vk.ID())) != 0 {
		t.Fatal("erin holds a connection from victor after her relay access was revoked")
	}
}

// relayOperatorRevokes revokes tok as `mesh relay revoke` does: signed
// with the relay's key and pushed to the running relay.
func (m *testMesh) relayOperatorRevokes(t *testing.T, tok *capability.Token) {
	t.Helper()
	id, how, err := RevokeRelayAccess(context.Background(), m.relHome, tok.String())
	if err != nil {
		t.Fatal(err)
	}
	if id != tok.ID() || !strings.Contains(how, "pushed") {
		t.Fatalf("revoked %s (%s), want %s pushed to the running relay", id.Short(), how, tok.ID().Short())
	}
}

func TestSecondNodeOnTheSameHomeRefuses(t *testing.T) {
	ctx := context.Background()
	h := shortDir(t, "twice")
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF()}); err != nil {
		t.Fatal(err)
	}
	n, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second node: %v, want ErrAlreadyRunning", err)
	}
	if _, err := Start(ctx, Config{Home: shortDir(t, "empty")}); !errors.Is(err, ErrNoHome) {
		t.Fatalf("node on an empty folder: %v, want ErrNoHome", err)
	}
}

// lockedLog collects log output from every role of a test mesh.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf.Bytes())
}

func (l *lockedLog) logger(role string) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})).With("role", role)
}
