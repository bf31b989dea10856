package infra

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/relay"
)

// tempHome makes a role folder with a short path.
func tempHome(t *testing.T, name string) home.Home {
	t.Helper()
	d, err := os.MkdirTemp("", "i"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return home.Home(d)
}

var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

func startBoth(t *testing.T, relayHome home.Home) (*Peer, *Peer) {
	t.Helper()
	ctx := context.Background()
	boot, err := StartBootstrap(ctx, Config{Home: tempHome(t, "boot"), Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	rel, err := StartRelay(ctx, RelayConfig{Config: Config{Home: relayHome, Listen: loopback}, Bootstrap: boot.Addrs(),
		Relay: relay.Config{AllowPrivateAddrs: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rel.Close() })
	return boot, rel
}

// TestRelayAccessRevokedWhileTheRelayIsDownIsInForceAtItsStart: mesh relay
// revoke on a stopped relay stores the revocation, and the relay refuses
// the capability from its next start.
func TestRelayAccessRevokedWhileTheRelayIsDownIsInForceAtItsStart(t *testing.T) {
	ctx := context.Background()
	relHome := tempHome(t, "relay")
	_, rel := startBoth(t, relHome)
	erin := testkit.Key(t, "erin")
	tok, err := GrantRelayAccess(relHome, erin.ID(), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rel.Close()
	if _, err := os.Stat(relHome.AddrsPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a stopped relay left its addrs file: %v", err)
	}
	id, how, err := RevokeRelayAccess(ctx, relHome, tok.String(), time.Now())
	if err != nil || !strings.Contains(how, "stored") {
		t.Fatalf("revoking on a stopped relay: %s, %q, %v", id.Short(), how, err)
	}
	_, rel = startBoth(t, relHome)
	if !rel.IsRevoked(tok.ID()) {
		t.Fatal("the restarted relay does not hold the stored revocation")
	}
}

// TestRelayAccessIsCheckedBeforeSigning: a grant with a lifetime out of
// bounds, or a revocation of something that is not a token, is refused.
func TestRelayAccessIsCheckedBeforeSigning(t *testing.T) {
	relHome := tempHome(t, "relay")
	if _, err := home.LoadOrCreateIdentity(relHome); err != nil {
		t.Fatal(err)
	}
	erin := testkit.Key(t, "erin")
	if _, err := GrantRelayAccess(relHome, erin.ID(), 0, time.Now()); err == nil {
		t.Fatal("a zero lifetime was granted")
	}
	if _, _, err := RevokeRelayAccess(context.Background(), relHome, "not a token", time.Now()); err == nil {
		t.Fatal("revoked a non-token")
	}
}

// TestARelaysOldLayoutIsMoved: a relay store from before the current
// layout (kad-dht provider records at the root) is moved under /kad at
// start.
func TestARelaysOldLayoutIsMoved(t *testing.T) {
	ctx := context.Background()
	relHome := tempHome(t, "relay")
	st, err := store.Open(relHome.StorePath())
	if err != nil {
		t.Fatal(err)
	}
	st.Put(ctx, ds.NewKey("/providers/abc/def"), []byte("p"))
	st.Close()
	_, rel := startBoth(t, relHome)
	rel.Close()
	st, err = store.Open(relHome.StorePath())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, err := st.Get(ctx, ds.NewKey("/kad/providers/abc/def")); err != nil || string(v) != "p" {
		t.Fatalf("moved record: %q, %v", v, err)
	}
	if ok, _ := st.Has(ctx, ds.NewKey("/providers/abc/def")); ok {
		t.Fatal("the old key is still there")
	}
}

// TestASecondRelayOnTheSameFolderRefuses: the home lock keeps two
// processes off one store.
func TestASecondRelayOnTheSameFolderRefuses(t *testing.T) {
	relHome := tempHome(t, "relay")
	startBoth(t, relHome)
	_, err := StartRelay(context.Background(), RelayConfig{Config: Config{Home: relHome, Listen: loopback}})
	if !errors.Is(err, home.ErrAlreadyRunning) {
		t.Fatalf("second relay: %v, want ErrAlreadyRunning", err)
	}
}
