package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
)

// TestBobReadsFromTheCacheWhileAliceSleeps: alice shares her calendar and
// stops; bob reads it from the relay's cache (told where it came from),
// --live refuses, a later version is what the cache serves, and a revoked
// bob is refused by the cache. The relay's store holds no plaintext.
func TestBobReadsFromTheCacheWhileAliceSleeps(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and restarts a home node; skipped in -short")
	}
	ctx := context.Background()
	m, alice, bob := startAliceAndBob(t)
	canary := []byte("standup at nine, canary-7f3a9c")
	if err := alice.PutResource(ctx, "calendar/work", canary); err != nil {
		t.Fatal(err)
	}
	if err := alice.PutResource(ctx, "notes/private", []byte("not shared")); err != nil {
		t.Fatal(err)
	}
	shareAndWait(t, alice, bob, "calendar/*", "bob", "read")
	waitFor(t, "alice pushed calendar/work to the relay", func() bool { return pushedTo(alice, "calendar/work") })
	st, err := alice.Snapshots(ctx)
	if err != nil || len(st) != 1 || st[0].Readers != 2 || len(st[0].Caches) != 1 || st[0].Caches[0].Relay != m.relay.Host.ID().String() {
		t.Fatalf("alice's snapshots: %+v, %v (want calendar/work only, 2 readers, at the relay)", st, err)
	}
	v1 := st[0].Version

	// Alice's node goes away.
	aliceHome := alice.cfg.Home
	alice.Close()
	f, err := bob.Get(ctx, localapi.FetchRequest{Remote: "alice/calendar/work"})
	if err != nil || !bytes.Equal(f.Data, canary) || f.Source != localapi.SourceCache || f.Version != v1 || f.Relay != m.relay.Host.ID().String() {
		t.Fatalf("bob's read with alice offline: %q from %+v, %v", f.Data, f, err)
	}
	if _, err := bob.Get(ctx, localapi.FetchRequest{Remote: "alice/calendar/work", Live: true}); err == nil || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("--live with alice offline: %v, want unreachable", err)
	}
	if _, err := bob.Get(ctx, localapi.FetchRequest{Remote: "alice/notes/private"}); err == nil {
		t.Fatal("bob read a resource nothing shared with him")
	}

	// Alice comes back, changes the calendar, revokes bob, sleeps again.
	alice = restartNode(t, m, aliceHome, "alice", "pw-a")
	if err := alice.PutResource(ctx, "calendar/work", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice pushed version 2", func() bool {
		st, _ := alice.Snapshots(ctx)
		return len(st) == 1 && st[0].Version > v1 && pushedTo(alice, "calendar/work")
	})
	f, err = bob.Get(ctx, localapi.FetchRequest{Remote: "alice/calendar/work"})
	if err != nil || string(f.Data) != "v2" || f.Source != localapi.SourceOwner {
		t.Fatalf("bob's live read of version 2: %q %+v %v", f.Data, f, err)
	}
	shares, _ := alice.Shares(ctx)
	revoked, err := alice.Revoke(ctx, shares[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	rid, _ := capability.ParseID(revoked)
	waitFor(t, "alice resealed calendar/work to herself alone", func() bool {
		st, _ := alice.Snapshots(ctx)
		return len(st) == 1 && st[0].Readers == 1 && pushedTo(alice, "calendar/work")
	})
	waitFor(t, "the relay holds the revocation", func() bool { return m.relay.IsRevoked(rid) })
	alice.Close()
	_, err = bob.Get(ctx, localapi.FetchRequest{Remote: "alice/calendar/work"})
	if !errors.Is(err, capability.ErrRevoked) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("a revoked bob reading from the cache: %v, want revoked", err)
	}
	m.relay.Close()
	scanForPlaintext(t, m, canary)
}

// restartNode starts the node of an existing home again, unlocked, and
// waits for its relay reservation.
func restartNode(t *testing.T, m *testMesh, h Home, handle, password string) *Node {
	t.Helper()
	ctx := context.Background()
	n, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: m.bootAddrs,
		Relays: []string{m.relayAddr}, Firewall: true, Timings: testTimings, Logger: m.logs.logger(handle)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Unlock(ctx, []byte(password)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, handle+" holds a relay reservation again", func() bool { return n.net.HasReservation() })
	return n
}

// pushedTo reports whether n's last push of res reached a relay.
func pushedTo(n *Node, res string) bool {
	st, _ := n.Snapshots(context.Background())
	for _, s := range st {
		if s.Resource == res {
			for _, c := range s.Caches {
				if c.Error == "" {
					return true
				}
			}
		}
	}
	return false
}

// scanForPlaintext fails if any value in the relay's store holds canary.
func scanForPlaintext(t *testing.T, m *testMesh, canary []byte) {
	t.Helper()
	st, err := store.Open(m.relHome.StorePath())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := st.Query(context.Background(), query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for e := range res.Next() {
		n++
		if bytes.Contains(e.Value, canary) || strings.Contains(e.Key, string(canary)) {
			t.Fatalf("the relay's store holds plaintext at %s", e.Key)
		}
	}
	if n == 0 {
		t.Fatal("the relay's store is empty: nothing was scanned")
	}
}

// TestALargeResourceReachesItsGranteeThroughTheCache: a resource larger
// than a live share moves (share.MaxData) is read from the relay's cache
// even while its owner runs; --live says it is too large.
func TestALargeResourceReachesItsGranteeThroughTheCache(t *testing.T) {
	if testing.Short() {
		t.Skip("seals and moves 10 MiB; skipped in -short")
	}
	ctx := context.Background()
	_, alice, bob := startAliceAndBob(t)
	big, err := io.ReadAll(testkit.Stream(7, 10<<20))
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.PutResource(ctx, "files/video", big); err != nil {
		t.Fatal(err)
	}
	shareAndWait(t, alice, bob, "files/*", "bob", "read")
	waitFor(t, "alice pushed files/video", func() bool { return pushedTo(alice, "files/video") })
	// Live first (with its retries, so a loaded machine's slow dial does
	// not read as "offline"): alice refuses it as too large.
	if _, err := bob.Get(ctx, localapi.FetchRequest{Remote: "alice/files/video", Live: true}); wire.StatusOf(err) != wire.TooLarge || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a live read of 10 MiB: %v, want too large in words", err)
	}
	f, err := bob.Get(ctx, localapi.FetchRequest{Remote: "alice/files/video"})
	if err != nil || f.Source != localapi.SourceCache || f.Why != "too large" || !bytes.Equal(f.Data, big) {
		t.Fatalf("bob's read of 10 MiB: %d bytes from %s (%s), %v", len(f.Data), f.Source, f.Why, err)
	}
}
