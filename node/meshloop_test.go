package node

import (
	"context"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/vault"
)

// TestNoRelayYetHoldsNothingUp: a node whose bootstrap knows no relay yet
// publishes its record at once (the search for relays goes on beside the
// loop instead of holding it for a minute), and still finds a relay
// announced later, reserves on it and publishes a record naming it.
func TestNoRelayYetHoldsNothingUp(t *testing.T) {
	ctx := context.Background()
	m := &testMesh{bootHome: shortDir(t, "boot"), relHome: shortDir(t, "relay"), logs: &lockedLog{}}
	m.startBootstrapOn(t, "/ip4/127.0.0.1/tcp/0") // and no relay yet
	h := shortDir(t, "carol")
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF(), Handle: "carol"}); err != nil {
		t.Fatal(err)
	}
	carol, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs,
		Timings: testTimings, Logger: m.logs.logger("carol")})
	if err != nil {
		t.Fatal(err)
	}
	defer carol.Close()
	obs := m.directoryObserver(t)
	waitEvery(t, 200*time.Millisecond, "carol's record is published while no relay is known", func() bool {
		return obs.resolves(ctx, "carol", carol.ID())
	})
	m.startRelay(t, "/ip4/127.0.0.1/tcp/0")
	waitFor(t, "carol reserves on the relay announced later", carol.net.HasReservation)
	waitEvery(t, 200*time.Millisecond, "carol's record names the relay", func() bool {
		rec, err := carol.net.LookupNow(ctx, "carol")
		return err == nil && len(rec.Relays) == 1 && rec.Relays[0].String() == m.relay.Addrs()[0]+"/p2p-circuit"
	})
}

// TestRelayTokenReservesWhileTheBootstrapIsDown: a node started while its
// bootstrap is down cannot publish its record, but a relay-access
// capability admits it without the directory, so it reserves at once.
func TestRelayTokenReservesWhileTheBootstrapIsDown(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	h := shortDir(t, "erin")
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF(), Handle: "erin"}); err != nil {
		t.Fatal(err)
	}
	k, _ := home.LoadIdentity(h)
	tok, err := infra.GrantRelayAccess(m.relHome, k.ID(), time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m.boot.Close()
	erin, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs, Relays: []string{m.relayAddr},
		RelayTokens: []string{tok.String()}, Firewall: true, Timings: testTimings, Logger: m.logs.logger("erin")})
	if err != nil {
		t.Fatal(err)
	}
	defer erin.Close()
	waitFor(t, "erin reserves with her relay-access capability while the bootstrap is down", erin.net.HasReservation)
	if st, _ := erin.Status(ctx); st.HandleProblem == "" {
		t.Error("erin's status says nothing while her record could not be published")
	}
}
