package infra

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wakehook"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/wake"
	"github.com/ocmt/mesh/relay"
)

// TestARelayWakesAHomeThroughASignedWebhook: a relay configured with
// --wake-webhook posts a wake for a hibernating home to the orchestrator,
// signed with the relay's key (the orchestrator checks it with
// wakehook.VerifyWebhook), once for a burst of wakes, and answers them
// when the home reserves again.
func TestARelayWakesAHomeThroughASignedWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("a bootstrap, a relay, an orchestrator and a wake: skipped in -short")
	}
	ctx := testkit.Context(t, 2*time.Minute)
	relHome := tempHome(t, "relay")
	rk, err := home.LoadOrCreateIdentity(relHome)
	if err != nil {
		t.Fatal(err)
	}
	relayID := rk.ID()
	rk.Wipe()
	posts := make(chan wakehook.WebhookBody, 8)
	orchestrator := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wakehook.VerifyWebhook(relayID, body, r.Header.Get(wakehook.SignatureHeader)); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			t.Errorf("the orchestrator got a wake it cannot verify: %v", err)
			return
		}
		var b wakehook.WebhookBody
		if err := json.Unmarshal(body, &b); err != nil {
			t.Errorf("the wake body: %v", err)
		}
		posts <- b
	}))
	t.Cleanup(orchestrator.Close)
	relInfo, aliceKey, bob, tok := startWakeMesh(t, ctx, relHome, WakeConfig{Webhook: orchestrator.URL})
	answered := make(chan error, 2)
	for range 2 { // one burst: one post
		go func() { answered <- wake.Wake(ctx, bob, relInfo.ID, aliceKey.ID(), tok) }()
	}
	b := testkit.Within(t, 30*time.Second, posts, "the relay's signed post")
	if b.Handle != "alice" || b.Peer != aliceKey.ID().String() || b.Relay != relayID.String() {
		t.Fatalf("the wake posted %+v, want alice's handle and peer and this relay", b)
	}
	// Alice's container starts: she reserves again, and both wakes are answered.
	h := testkit.Host(t, aliceKey)
	if err := h.Connect(ctx, relInfo); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, h, relInfo); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := testkit.Within(t, 30*time.Second, answered, "wake %d to be answered", i); err != nil {
			t.Fatalf("wake %d once alice is back: %v", i, err)
		}
	}
	select {
	case extra := <-posts:
		t.Fatalf("a second post for one burst: %+v", extra)
	default:
	}
}

// startWakeMesh starts a bootstrap and a relay in relHome waking homes
// with w, a home "alice" hibernated there, and bob connected to the relay
// with a token alice gave him: what a wake test needs.
func startWakeMesh(t *testing.T, ctx context.Context, relHome home.Home, w WakeConfig) (relInfo peer.AddrInfo, alice *keys.PeerKey, bob host.Host, tok []byte) {
	t.Helper()
	boot, err := StartBootstrap(ctx, Config{Home: tempHome(t, "boot"), Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	rel, err := StartRelay(ctx, RelayConfig{Config: Config{Home: relHome, Listen: loopback}, Bootstrap: boot.Addrs(),
		Relay: relay.Config{AllowPrivateAddrs: true}, Wake: w})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rel.Close() })
	bootInfo := mustInfos(boot.Addrs())[0]
	relInfo = mustInfos(rel.Addrs())[0]
	alice = hibernatedHome(t, ctx, bootInfo, relInfo, "alice")
	bobKey := testkit.Key(t, "bob")
	bob = testkit.Host(t, bobKey)
	if err := bob.Connect(ctx, relInfo); err != nil {
		t.Fatal(err)
	}
	return relInfo, alice, bob, grantFrom(t, alice, bobKey.ID())
}

// hibernatedHome makes a home named handle: its record in the bootstrap's
// directory, a reservation at the relay, then a hibernation there and its
// host gone (as a container that stopped). It returns the home's key.
func hibernatedHome(t *testing.T, ctx context.Context, bootInfo, relInfo peer.AddrInfo, handle string) *keys.PeerKey {
	t.Helper()
	k := testkit.Key(t, handle)
	ah := testkit.Host(t, k)
	if err := ah.Connect(ctx, bootInfo); err != nil {
		t.Fatal(err)
	}
	sr, err := directory.SignRecord(k, directory.Record{Handle: directory.Handle(handle), Seq: 1, Issued: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := directory.Publish(ctx, ah, bootInfo.ID, sr); err != nil {
		t.Fatal(err)
	}
	ah.Close()
	h := testkit.Host(t, k)
	if err := h.Connect(ctx, relInfo); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, h, relInfo); err != nil {
		t.Fatal(err)
	}
	if err := wake.Hibernate(ctx, h, relInfo.ID, wake.Hibernation{Handle: handle}); err != nil {
		t.Fatal(err)
	}
	h.Close()
	return k
}
