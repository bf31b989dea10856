package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/dht"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/testmesh"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/share"
	"github.com/ocmt/mesh/vault"
)

func TestMeshShareThroughRelay(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	alice := m.startNode(t, "alice", passwordCanary)
	bob := m.startNode(t, "bob", "bob-password")
	al, bl := alice, bob

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
		seeds := [][]byte{alice.signer.key.Seed(), bob.signer.key.Seed()}
		if f := testmesh.Find(logs, append([][]byte{[]byte(calendarCanary), []byte(secretCanary), []byte(passwordCanary)}, seeds...)...); f != nil {
			t.Fatalf("logs hold %q", f)
		}
	})

	// Metadata only at the bootstrap: every message it received and every
	// key and value it stored.
	if m.bootTap.Rec.Streams() == 0 {
		t.Fatal("the bootstrap tap saw nothing")
	}
	seeds := [][]byte{alice.signer.key.Seed(), bob.signer.key.Seed()}
	canaries := append([][]byte{[]byte(calendarCanary), []byte(secretCanary), []byte(passwordCanary)}, seeds...)
	if f := testmesh.Find(m.bootTap.Rec.Bytes(), canaries...); f != nil {
		t.Fatalf("the bootstrap received %q", f)
	}
	m.boot.Close()
	store, err := store.Open(m.bootHome.StorePath())
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

func TestShareWithOfflineRecipientGoesThroughTheMailbox(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	bobHome := bob.cfg.Home
	bob.Close() // bob is registered, then goes offline

	alice.PutResource(ctx, "contacts/family", []byte("mum: 555-0100"))
	res, err := alice.Share(ctx, localapi.ShareRequest{Path: "contacts/*", With: "bob", Can: "read", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != "mailbox" {
		t.Fatalf("delivered %q to an offline recipient, want mailbox", res.Delivered)
	}
	bob2, err := Start(ctx, Config{Home: bobHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs,
		Relays: []string{m.relayAddr}, Firewall: true, Timings: testTimings})
	if err != nil {
		t.Fatal(err)
	}
	defer bob2.Close()
	waitFor(t, "bob collects the grant from his mailbox", func() bool {
		g, _ := bob2.received(ctx)
		return len(g) == 1 && g[0].Via == "mailbox"
	})
	if err := bob2.Unlock(ctx, []byte("pw-b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob's relay reservation", func() bool { return bob2.net.HasReservation() })
	data, err := bob2.Fetch(ctx, "alice/contacts/family")
	if err != nil || string(data) != "mum: 555-0100" {
		t.Fatalf("bob reads %q, %v", data, err)
	}
}

// TestListFromCoversEveryShare: mesh ls --from lists what all of the
// owner's active shares cover, and a prefix narrows it.
func TestListFromCoversEveryShare(t *testing.T) {
	ctx := context.Background()
	_, alice, bob := startAliceAndBob(t)
	for _, p := range []string{"calendar/work", "calendar/home", "files/a/b.txt", "private/diary"} {
		alice.PutResource(ctx, p, []byte(p))
	}
	shareAndWait(t, alice, bob, "calendar/*", "bob", "read,list")
	shareAndWait(t, alice, bob, "files/**", "bob", "read,list")
	got, err := bob.ListRemote(ctx, "alice")
	if want := []string{"calendar/home", "calendar/work", "files/a/b.txt"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("ls --from alice = %v, %v; want %v", got, err, want)
	}
	if data, err := alice.Fetch(ctx, "alice/calendar/work"); err != nil || string(data) != "calendar/work" {
		t.Fatalf("alice reading her own resource by handle: %q, %v", data, err)
	}
	got, err = bob.ListRemote(ctx, "alice/calendar/")
	if want := []string{"calendar/home", "calendar/work"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("ls --from alice calendar/ = %v, %v; want %v", got, err, want)
	}
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
		res, err := alice.Share(ctx, localapi.ShareRequest{Path: fmt.Sprintf("cc/i%d", i), With: "bob", Can: "read", ValidFor: time.Hour})
		if err != nil {
			t.Fatalf("share %d: %v", i, err)
		}
		if res.Pending != "" {
			pending++ // mailbox full, or the bootstrap's rate limit
		}
	}
	undelivered := func() int {
		shares, _ := alice.Shares(ctx)
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
		Relays: []string{m.relayAddr}, Firewall: true, Timings: testTimings})
	if err != nil {
		t.Fatal(err)
	}
	defer bob2.Close()
	// Alice's burst of shares used up her directory rate at the bootstrap,
	// so the retry can take a few rounds.
	want := dht.DefaultMaxItemsPerSender + 1
	testkit.Eventually(t, time.Minute, func() bool { g, _ := bob2.received(ctx); return len(g) == want },
		"bob holds all %d shares after coming back", want)
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
		st, _ := n.Status(ctx)
		return strings.Contains(st.HandleProblem, "taken by another key")
	})
}

// TestOfflineOwnerIsNamedAsOffline: reading live (mesh get --live) from
// an owner whose node is down says so in words, not as a dial error.
func TestOfflineOwnerIsNamedAsOffline(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	alice.PutResource(ctx, "calendar/work", []byte("standup"))
	shareAndWait(t, alice, bob, "calendar/*", "bob", "read")
	alice.Close()
	waitFor(t, "the relay drops alice's reservation", func() bool {
		return m.relay.Host.Network().Connectedness(alice.host.ID()) != network.Connected
	})
	_, err := bob.Get(ctx, localapi.FetchRequest{Remote: "alice/calendar/work", Live: true})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "alice's node is offline") {
		t.Fatalf("reading from an offline owner: %v", err)
	}
}

func TestChangedKeyForKnownHandleIsRefused(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	alice := m.startNode(t, "alice", "pw-a")
	bob := m.startNode(t, "bob", "pw-b")
	// Alice pinned another key for "bob" before: the directory's answer
	// now differs from the pin.
	other := keys.GeneratePeerKey()
	if err := alice.state.Pin(ctx, "bob", other.ID()); err != nil {
		t.Fatal(err)
	}
	_, err := alice.Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read", ValidFor: time.Hour})
	if !errors.Is(err, meshstate.ErrKeyChanged) {
		t.Fatalf("share to a handle whose key changed: %v, want ErrKeyChanged", err)
	}
	cs, _ := alice.Contacts(ctx)
	if len(cs) != 1 || cs[0].Peer != other.ID().String() || cs[0].Pending != bob.ID().String() || cs[0].Code == "" {
		t.Fatalf("contacts = %+v", cs)
	}
	if err := alice.AcceptContact(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read", ValidFor: time.Hour}); err != nil {
		t.Fatalf("after accepting the new key: %v", err)
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
