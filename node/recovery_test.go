package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/testmesh"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/protocols/directory"
)

// How the mesh recovers when its infrastructure restarts: a bootstrap that
// comes back with an empty store gets every node's record again as soon as
// the node's connection to it is back, and a relay's return ends the
// reservation backoff however it is noticed.

// TestHandleResolvesSoonAfterTheBootstrapLosesItsStore: the bootstrap
// restarts on the same address with the same key and an empty store (a
// lost disk). The node's handle resolves again within seconds, not at the
// next 30-minute republish.
func TestHandleResolvesSoonAfterTheBootstrapLosesItsStore(t *testing.T) {
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	m.restartBootstrap(t, true)
	back := time.Now()
	obs := m.directoryObserver(t)
	waitEvery(t, 200*time.Millisecond, "alice's handle resolves at the restarted bootstrap", func() bool {
		return obs.resolves(ctx, "alice", alice.ID())
	})
	took := time.Since(back)
	t.Logf("alice's handle resolves %v after the bootstrap came back with an empty store", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("alice's handle took %v to resolve again; it should be republished as soon as the connection is back", took)
	}
	waitFor(t, "bob resolves alice too", func() bool {
		bob.net.Forget("alice")
		rec, err := bob.net.Lookup(ctx, "alice")
		return err == nil && rec.Peer == alice.ID()
	})
	if st, _ := alice.Status(ctx); st.HandleProblem != "" {
		t.Errorf("alice's status after the republish: %q", st.HandleProblem)
	}
}

// TestStatusSaysWhenTheBootstrapLacksOurRecord: a bootstrap that holds
// nothing and takes nothing for now (its store lost, its audit failing)
// shows in mesh status; once a working bootstrap is back, the record is
// published and the status is clear again.
func TestStatusSaysWhenTheBootstrapLacksOurRecord(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	alice := m.startNodeWith(t, "alice", "pw-a", func(c *Config) {
		c.Timings.SelfCheck, c.Timings.Mailbox = 300*time.Millisecond, time.Second // within the bootstrap's 5 requests a second
	})
	m.boot.Close()
	amnesiac := m.startAmnesiacBootstrap(t)
	waitFor(t, "alice's status says the bootstrap lacks her record", func() bool {
		st, _ := alice.Status(ctx)
		return strings.Contains(st.HandleProblem, "missing from the bootstrap's directory") &&
			strings.Contains(st.HandleProblem, "publishing it again failed: the bootstrap cannot take it right now")
	})
	amnesiac.Close()
	m.startBootstrap(t, true)
	obs := m.directoryObserver(t)
	waitEvery(t, 200*time.Millisecond, "alice's handle resolves at the working bootstrap", func() bool {
		return obs.resolves(ctx, "alice", alice.ID())
	})
	waitFor(t, "alice's status is clear again", func() bool { st, _ := alice.Status(ctx); return st.HandleProblem == "" })
}

// TestRelayReturnEndsTheReservationBackoff: alice's reservation loop has
// production-like pauses stretched to a minute, so after the relay stops
// her next attempt is a minute away. When the relay is back, alice's own
// traffic through it (a share delivered to bob over a circuit) connects
// her to it, and that connection ends the pause: she holds a reservation
// again within seconds.
func TestRelayReturnEndsTheReservationBackoff(t *testing.T) {
	m := startInfra(t)
	alice := m.startNodeWith(t, "alice", "pw-a", func(c *Config) {
		c.Timings.Mesh.RetryFirst, c.Timings.Mesh.RetryMax = time.Minute, time.Hour
	})
	bob := m.startNode(t, "bob", "pw-b")
	listen := m.relayListen(t)
	m.relay.Close()
	waitFor(t, "alice's reservation is gone", func() bool { return !alice.net.HasReservation() })
	waitFor(t, "alice's reservation loop failed to dial the stopped relay and pauses", func() bool {
		return m.logged("alice", "relay unreachable; dialling it again")
	})
	m.startRelay(t, listen)
	// bob's loop has the test timings: his reservation says the relay is
	// back and answering (its directory lookups work again).
	waitFor(t, "bob re-reserves", bob.net.HasReservation)
	if alice.net.HasReservation() {
		t.Fatal("alice re-reserved before anything connected her to the relay; the test would prove nothing")
	}
	back := time.Now()
	shareAndWait(t, alice, bob, "calendar/*", "bob", "read")
	waitFor(t, "alice re-reserves", alice.net.HasReservation)
	took := time.Since(back)
	t.Logf("alice re-reserved %v after her traffic reached the returned relay (her pause was a minute)", took.Round(time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("alice took %v to re-reserve; the connection to the returned relay should end her pause", took)
	}
}

// TestRecoveryTimesWithProductionTimings measures, with the default
// timings, how long the mesh takes to recover from a bootstrap restarted
// on an empty store and from a relay restart. BenchmarkRecoveryAfterAnOutage
// measures longer outages.
func TestRecoveryTimesWithProductionTimings(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the infrastructure; skipped in -short")
	}
	m := startInfra(t)
	alice := m.startNodeWith(t, "alice", "pw-a", func(c *Config) { c.Timings = Timings{} })
	store := m.recoverFromStoreLoss(t, alice, 0)
	relay := m.recoverFromRelayOutage(t, alice, 0)
	t.Logf("production timings: the handle resolves %v after the bootstrap came back with an empty store; the reservation is back %v after the relay restarted",
		store.Round(time.Millisecond), relay.Round(time.Millisecond))
	for what, d := range map[string]time.Duration{"the handle": store, "the reservation": relay} {
		// A dial a second while the peer is away, plus the relay's own
		// 10-second memory of a failed directory check right after it
		// starts (node/infra), on a loaded machine.
		if d > 20*time.Second {
			t.Errorf("%s took %v to recover", what, d)
		}
	}
}

// BenchmarkRecoveryAfterAnOutage measures, with the default timings, how
// long after an outage the node's handle resolves again (the bootstrap
// came back with an empty store) and its relay reservation is back (the
// relay restarted). The outage lasts until the node has failed to redial
// the peer 10 times: about 10 s at the production pace of one redial a
// second. Run with -benchtime 1x.
func BenchmarkRecoveryAfterAnOutage(b *testing.B) {
	const outage = 10 // failed redials
	b.Run("bootstrap-store-lost", func(b *testing.B) {
		for range b.N {
			m := startInfra(b)
			alice := m.startNodeWith(b, "alice", "pw-a", func(c *Config) { c.Timings = Timings{} })
			b.ReportMetric(m.recoverFromStoreLoss(b, alice, outage).Seconds(), "s-to-resolve")
		}
	})
	b.Run("relay-restarted", func(b *testing.B) {
		for range b.N {
			m := startInfra(b)
			alice := m.startNodeWith(b, "alice", "pw-a", func(c *Config) { c.Timings = Timings{} })
			b.ReportMetric(m.recoverFromRelayOutage(b, alice, outage).Seconds(), "s-to-reserve")
		}
	})
}

// recoverFromStoreLoss stops the bootstrap until alice has failed to
// redial it outage times, starts it again on an empty store, and returns
// how long after that alice's handle resolves.
func (m *testMesh) recoverFromStoreLoss(t testing.TB, alice *Node, outage int) time.Duration {
	t.Helper()
	since := m.redialFailures("alice", bootstrapRedialFailed...)
	m.boot.Close()
	m.awaitRedialFailures(t, "alice", since, outage, bootstrapRedialFailed...)
	back := time.Now() // from the restart, its own start included
	m.startBootstrap(t, true)
	obs := m.directoryObserver(t)
	waitEvery(t, 100*time.Millisecond, "alice's handle resolves at the restarted bootstrap", func() bool {
		return obs.resolves(context.Background(), "alice", alice.ID())
	})
	return time.Since(back)
}

// recoverFromRelayOutage stops the relay until alice has failed to redial
// it outage times, starts it again, and returns how long after that alice
// holds a reservation again.
func (m *testMesh) recoverFromRelayOutage(t testing.TB, alice *Node, outage int) time.Duration {
	t.Helper()
	listen := m.relayListen(t)
	since := m.redialFailures("alice", relayRedialFailed...)
	m.relay.Close()
	waitFor(t, "alice's reservation is gone", func() bool { return !alice.net.HasReservation() })
	m.awaitRedialFailures(t, "alice", since, outage, relayRedialFailed...)
	// from the restart, the relay's own start included: it listens before
	// StartRelay returns, and alice may be back by then
	back := time.Now()
	m.startRelay(t, listen)
	testkit.Eventually(t, time.Minute, alice.net.HasReservation, "alice re-reserves")
	return time.Since(back)
}

// What a node logs (internal/meshnet) each time a redial of its bootstrap
// or of its relay fails.
var (
	bootstrapRedialFailed = []string{"bootstrap peer unreachable; dialling it again", "bootstrap peer still unreachable"}
	relayRedialFailed     = []string{"relay unreachable; dialling it again"}
)

// redialFailures counts the lines of role's log that report one of msgs.
func (m *testMesh) redialFailures(role string, msgs ...string) int {
	n := 0
	for _, line := range strings.Split(string(m.logs.bytes()), "\n") {
		if !strings.Contains(line, " role="+role) {
			continue
		}
		for _, msg := range msgs {
			if strings.Contains(line, `msg="`+msg+`"`) {
				n++
				break
			}
		}
	}
	return n
}

// awaitRedialFailures waits until role's log reports n more failed
// redials than since: an outage measured in the node's own attempts.
func (m *testMesh) awaitRedialFailures(t testing.TB, role string, since, n int, msgs ...string) {
	t.Helper()
	if n <= 0 {
		return
	}
	waitEvery(t, 100*time.Millisecond, fmt.Sprintf("%s fails to redial %d times", role, n), func() bool {
		return m.redialFailures(role, msgs...)-since >= n
	})
}

// restartBootstrap stops the bootstrap and starts it again (see
// startBootstrap).
func (m *testMesh) restartBootstrap(t testing.TB, fresh bool) {
	t.Helper()
	m.boot.Close()
	m.startBootstrap(t, fresh)
}

// startBootstrap starts the bootstrap again on the address and with the
// key it had; fresh gives it an empty store (a new folder holding only its
// identity), as after a lost disk.
func (m *testMesh) startBootstrap(t testing.TB, fresh bool) {
	t.Helper()
	if fresh {
		h := shortDir(t, "boot")
		key, err := os.ReadFile(m.bootHome.IdentityPath())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(h.IdentityPath(), key, 0o600); err != nil {
			t.Fatal(err)
		}
		m.bootHome = h
	}
	m.startBootstrapOn(t, m.bootListen(t))
}

// startBootstrapOn starts the bootstrap in m.bootHome on listen.
func (m *testMesh) startBootstrapOn(t testing.TB, listen string) {
	t.Helper()
	var err error
	m.boot, err = infra.StartBootstrap(context.Background(), infra.Config{Home: m.bootHome, Listen: []string{listen},
		Logger: m.logs.logger("bootstrap"), Revocations: testTimings.Revocations,
		WrapHost: func(h host.Host) host.Host { m.bootTap = testmesh.NewTapHost(h); return m.bootTap }})
	if err != nil {
		t.Fatal(err)
	}
	b := m.boot
	t.Cleanup(func() { b.Close() })
	m.bootAddrs = b.Addrs()
}

// startAmnesiacBootstrap starts, on the bootstrap's address and with its
// key, a directory that holds no record and refuses every publish as
// unavailable (a bootstrap whose store was lost and whose audit fails).
func (m *testMesh) startAmnesiacBootstrap(t testing.TB) host.Host {
	t.Helper()
	k, err := home.LoadIdentity(m.bootHome)
	if err != nil {
		t.Fatal(err)
	}
	h := testkit.Host(t, &k, libp2p.ListenAddrStrings(m.bootListen(t)))
	if _, err := directory.NewServer(h, directory.ServerConfig{Records: amnesia{}}); err != nil {
		t.Fatal(err)
	}
	return h
}

type amnesia struct{}

func (amnesia) Publish(context.Context, *directory.SignedRecord) error {
	return wire.Errorf(wire.Unavailable, "the audit log cannot be written")
}
func (amnesia) Lookup(context.Context, directory.Handle) (*directory.SignedRecord, error) {
	return nil, directory.ErrNotFound
}
func (amnesia) LookupPeer(context.Context, peer.ID) (*directory.SignedRecord, error) {
	return nil, directory.ErrNotFound
}

// bootListen is the bootstrap's listen address, without its peer ID.
func (m *testMesh) bootListen(t testing.TB) string { return listenOf(t, m.bootAddrs[0]) }

// relayListen is the relay's listen address, without its peer ID.
func (m *testMesh) relayListen(t testing.TB) string { return listenOf(t, m.relayAddr) }

func listenOf(t testing.TB, full string) string {
	t.Helper()
	ai, err := peer.AddrInfoFromString(full)
	if err != nil || len(ai.Addrs) != 1 {
		t.Fatalf("%q is not one peer address: %v", full, err)
	}
	return ai.Addrs[0].String()
}

// logged reports whether role logged a line containing msg.
func (m *testMesh) logged(role, msg string) bool {
	for _, l := range bytes.Split(m.logs.bytes(), []byte("\n")) {
		if bytes.Contains(l, []byte("role="+role)) && bytes.Contains(l, []byte(msg)) {
			return true
		}
	}
	return false
}

// observer is a bare peer that asks the bootstrap's directory, as any
// other node would, with a fresh connection each time.
type observer struct {
	h    host.Host
	boot peer.AddrInfo
}

func (m *testMesh) directoryObserver(t testing.TB) observer {
	t.Helper()
	ai, err := peer.AddrInfoFromString(m.bootAddrs[0])
	if err != nil {
		t.Fatal(err)
	}
	return observer{h: testkit.Host(t, nil, libp2p.NoListenAddrs), boot: *ai}
}

// resolves reports whether handle resolves to id at the bootstrap.
func (o observer) resolves(ctx context.Context, handle string, id peer.ID) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := o.h.Connect(ctx, o.boot); err != nil {
		return false
	}
	rec, err := directory.Lookup(ctx, o.h, o.boot.ID, directory.Handle(handle))
	if err != nil && !errors.Is(err, wire.NotFound) && !errors.Is(err, wire.RateLimited) {
		return false
	}
	return err == nil && rec.Peer == id
}

// waitEvery is waitFor for a condition that costs a request: it is
// checked every `every`, within waitLimit.
func waitEvery(t testing.TB, every time.Duration, what string, cond func() bool) {
	t.Helper()
	if !testkit.PollEvery(waitLimit, every, cond) {
		t.Fatalf("still not the case after %v: %s", waitLimit, what)
	}
}
