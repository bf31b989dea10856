package node

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/testmesh"
	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/revgossip"
	"github.com/ocmt/mesh/relay"
	"github.com/ocmt/mesh/vault"
)

// shortDir makes a folder with a short path (unix sockets cap paths at
// ~108 bytes, and t.TempDir paths can be long).
func shortDir(t testing.TB, name string) Home { return tempHome(t, name) }

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
	boot, relay       *infra.Peer
	bootTap, relayTap *testmesh.TapHost
	bootHome, relHome Home
	relayAddr         string
	bootAddrs         []string
	relayAudit        lockedLog // the relay's metadata-only audit, JSON lines
}

func startInfra(t testing.TB) *testMesh {
	t.Helper()
	ctx := context.Background()
	m := &testMesh{bootHome: shortDir(t, "boot"), relHome: shortDir(t, "relay"), logs: &lockedLog{}}
	var err error
	m.boot, err = infra.StartBootstrap(ctx, infra.Config{Home: m.bootHome, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logger: m.logs.logger("bootstrap"), Revocations: testTimings.Revocations,
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

func (m *testMesh) startRelay(t testing.TB, listen string) {
	t.Helper()
	var err error
	m.relay, err = infra.StartRelay(context.Background(), infra.RelayConfig{
		Config: infra.Config{Home: m.relHome, Listen: []string{listen}, Logger: m.logs.logger("relay"), Revocations: testTimings.Revocations,
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

func (m *testMesh) startNode(t testing.TB, handle, password string) *Node {
	t.Helper()
	return m.startNodeWith(t, handle, password, nil)
}

// startNodeWith starts an unlocked home node behind its firewall, with
// adjust (when set) changing its Config first, and waits for its relay
// reservation.
func (m *testMesh) startNodeWith(t testing.TB, handle, password string, adjust func(*Config)) *Node {
	t.Helper()
	ctx := context.Background()
	h := shortDir(t, handle)
	if _, err := Init(ctx, h, InitOptions{Password: []byte(password), KDF: vault.TestKDF(), Handle: handle}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs,
		Relays: []string{m.relayAddr}, Firewall: true, Timings: testTimings, Logger: m.logs.logger(handle)}
	if adjust != nil {
		adjust(&cfg)
	}
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Unlock(ctx, []byte(password)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, handle+" holds a relay reservation", func() bool { return n.net.HasReservation() })
	return n
}

// shareAndWait has from share pattern with handle `with` (actions can, for
// an hour) and waits until to holds one more received grant.
func shareAndWait(t *testing.T, from, to *Node, pattern, with, can string) localapi.ShareResult {
	t.Helper()
	ctx := context.Background()
	before, _ := to.received(ctx)
	res, err := from.Share(ctx, localapi.ShareRequest{Path: pattern, With: with, Can: can, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, with+" holds the grant", func() bool { g, _ := to.received(ctx); return len(g) == len(before)+1 })
	return res
}

// startAliceAndBob starts the infrastructure and two unlocked, relayed
// home nodes, alice and bob.
func startAliceAndBob(t *testing.T) (*testMesh, *Node, *Node) {
	t.Helper()
	m := startInfra(t)
	return m, m.startNode(t, "alice", "pw-a"), m.startNode(t, "bob", "pw-b")
}

// waitFor waits until cond holds, failing the test after waitLimit.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, waitLimit, cond, "%s", what)
}

// waitLimit bounds every wait in these tests: generous, so a loaded
// machine passes, and reached only when something is broken.
const waitLimit = 30 * time.Second

// testTimings shrink the node's waits so tests wait on events, not on
// production pauses: the mailbox and reservations are checked often, a
// failed step is retried at once, and a restarted node waits briefly for
// its first revocation sync.
var testTimings = Timings{
	Mailbox:         250 * time.Millisecond, // the bootstrap allows 5 requests a second per peer
	PublishRetryMax: 200 * time.Millisecond,
	OwnerRetry:      50 * time.Millisecond,
	Mesh: meshnet.Timings{ReservationCheck: 50 * time.Millisecond, RetryFirst: 50 * time.Millisecond,
		RetryMax: 500 * time.Millisecond, Unavailable: 50 * time.Millisecond},
	Revocations: revgossip.Timings{RetryEvery: 100 * time.Millisecond, PollEvery: 50 * time.Millisecond},
}

const (
	calendarCanary = "CALCANARY-dentist-thursday-4pm-7d1e"
	secretCanary   = "SECRETCANARY-sk-live-99aa"
	passwordCanary = "PWCANARY-alice-pass-1234"
)

// relayOperatorRevokes revokes tok as `mesh relay revoke` does: signed
// with the relay's key and pushed to the running relay.
func (m *testMesh) relayOperatorRevokes(t *testing.T, tok *capability.Token) {
	t.Helper()
	id, how, err := infra.RevokeRelayAccess(context.Background(), m.relHome, tok.String(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if id != tok.ID() || !strings.Contains(how, "pushed") {
		t.Fatalf("revoked %s (%s), want %s pushed to the running relay", id.Short(), how, tok.ID().Short())
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
