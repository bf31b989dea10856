package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/hibernate"
	"github.com/ocmt/mesh/internal/idlelock"
	"github.com/ocmt/mesh/internal/resume"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// TestANodeThatHibernatesUnlockedComesBackUnlocked: a node that
// hibernates while unlocked comes back unlocked (the relay hands back its
// half, the home's file is used up); hibernating again does not extend
// the window, which ends the session: the node locks itself at its end.
// A node locked before it hibernates, or with no window, comes back locked.
func TestANodeThatHibernatesUnlockedComesBackUnlocked(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a home node five times; skipped in -short")
	}
	ctx := context.Background()
	m := startInfra(t)
	alice := m.startNode(t, "alice", "pw-a")
	h := alice.cfg.Home
	hibernateAndClose := func(n *Node) {
		t.Helper()
		if took, err := n.Hibernate(ctx); err != nil || took != 1 {
			t.Fatalf("hibernate: %d relays, %v", took, err)
		}
		select {
		case <-n.Hibernated():
		default:
			t.Fatal("Hibernated is not closed after a relay took the hibernation")
		}
		n.Close()
	}
	locked := func(n *Node) bool { st, _ := n.Status(ctx); return st.Locked }
	window := func(c *Config) { c.ResumeWindow = 10 * time.Second; c.Timings.LockCheck = 50 * time.Millisecond }

	alice.Close()
	alice = startAgain(t, m, h, "alice", window)
	if err := alice.Unlock(ctx, []byte("pw-a")); err != nil {
		t.Fatal(err)
	}
	hibernateAndClose(alice)
	until, ok := resume.Pending(h.ResumePath())
	if !ok {
		t.Fatal("no resume file after an unlocked hibernation")
	}
	back := startAgain(t, m, h, "alice", window)
	if locked(back) || !back.vault.ResumedUntil().Equal(until) {
		t.Fatalf("a node woken within its window: locked %v, session until %v, want unlocked until %v", locked(back), back.vault.ResumedUntil(), until)
	}
	if _, ok := resume.Pending(h.ResumePath()); ok {
		t.Fatal("the resume file outlived its use")
	}
	// Sleeping again keeps the window it came back with.
	hibernateAndClose(back)
	if again, ok := resume.Pending(h.ResumePath()); !ok || again.After(until) {
		t.Fatalf("a second hibernation's window ends at %v (%v), after the first's %v", again, ok, until)
	}
	back = startAgain(t, m, h, "alice", window)
	if locked(back) {
		t.Fatal("woken again within the window, it came back locked")
	}
	waitFor(t, "the node to lock itself when the window ends", func() bool { return locked(back) })
	rep, _ := back.Audit(ctx)
	if last := rep.Records[len(rep.Records)-1]; last.Op != vault.OpLock || last.Actor != idlelock.ActorWindow {
		t.Fatalf("the last audit record is %s by %q, want the window's lock", last.Op, last.Actor)
	}

	// Locked before it hibernates: it comes back locked.
	if err := back.Unlock(ctx, []byte("pw-a")); err != nil {
		t.Fatal(err)
	}
	if err := back.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	hibernateAndClose(back)
	if _, ok := resume.Pending(h.ResumePath()); ok {
		t.Fatal("a locked node left a resume file")
	}
	n := startAgain(t, m, h, "alice", nil)
	if !locked(n) {
		t.Fatal("a node locked before it hibernated came back unlocked")
	}
	// No window: it hibernates unlocked but comes back locked.
	n.Close()
	n = startAgain(t, m, h, "alice", func(c *Config) { c.ResumeWindow = -1 })
	if err := n.Unlock(ctx, []byte("pw-a")); err != nil {
		t.Fatal(err)
	}
	hibernateAndClose(n)
	if n := startAgain(t, m, h, "alice", nil); !locked(n) {
		t.Fatal("a node with no resume window came back unlocked")
	}
}

// TestANodeHibernatesWhenIdle: --hibernate-after hibernates a node that
// nothing used for that long, and the relays remember where it slept.
func TestANodeHibernatesWhenIdle(t *testing.T) {
	m := startInfra(t)
	alice := m.startNodeWith(t, "alice", "pw-a", func(c *Config) { c.HibernateAfter = 500 * time.Millisecond })
	select {
	case <-alice.Hibernated():
	case <-time.After(waitLimit):
		t.Fatal("an idle node did not hibernate")
	}
	if relays := hibernate.SleptAt(alice.cfg.Home.SleptAtPath()); len(relays) != 1 || relays[0].ID != m.relay.Host.ID() {
		t.Fatalf("the node noted it slept at %v, want the relay", relays)
	}
}

// TestHibernatingNeedsARelay: a node with no relay reservation refuses to
// hibernate (nobody could wake it) and keeps running.
func TestHibernatingNeedsARelay(t *testing.T) {
	ctx := context.Background()
	h := shortDir(t, "solo")
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF(), Handle: "solo"}); err != nil {
		t.Fatal(err)
	}
	n, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Hibernate(ctx); !errors.Is(err, hibernate.ErrNoRelay) {
		t.Fatalf("hibernating with no relay: %v", err)
	}
	if _, err := n.Get(ctx, localapi.FetchRequest{Remote: "solo/x"}); errors.Is(err, ErrNeedsNode) {
		t.Fatal("the node stopped")
	}
}

// startAgain starts the node of home h with no relay configured (it
// returns to the relays it slept at), waiting for its reservation.
func startAgain(t *testing.T, m *testMesh, h Home, handle string, adjust func(*Config)) *Node {
	t.Helper()
	cfg := Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs, Firewall: true, Timings: testTimings, Logger: m.logs.logger(handle)}
	if adjust != nil {
		adjust(&cfg)
	}
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	waitFor(t, handle+" holds a reservation at the relay it slept at", func() bool { return n.net.HasReservation() })
	return n
}
