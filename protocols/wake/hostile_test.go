package wake

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wakehook"
	"github.com/ocmt/mesh/internal/wire"
)

// asleep hibernates owner at the rig through the handler.
func (r *rig) asleep(owner *keys.PeerKey, handle string) {
	r.t.Helper()
	r.admit(owner.ID())
	if _, err := r.srv.serveAs(owner.ID(), Request{Op: OpHibernate, Handle: handle}); err != nil {
		r.t.Fatal(err)
	}
}

func TestTokensThatDoNotProveAGrantWakeNoOneAndAreRefusedInWords(t *testing.T) {
	r := newRig(t, nil)
	r.srv.lim = peerlimit.New(1000, 1000, 0, nil)
	alice, bob, mallory := testkit.Key(t, "alice"), testkit.Key(t, "bob"), testkit.Key(t, "mallory")
	r.asleep(alice, "alice")
	good := grant(t, alice, bob.ID(), nil)
	revokedTok := grant(t, alice, bob.ID(), nil)
	r.revs.revoke(revokedTok.ID())
	parent := grant(t, alice, mallory.ID(), func(p *capability.Params) { p.Actions = capability.Read | capability.Share })
	child, err := capability.Issue(mallory, capability.Params{Audience: bob.ID(), Resource: "notes/x", Actions: capability.Read,
		NotBefore: testkit.Epoch.Add(-time.Minute), Expiry: testkit.Epoch.Add(time.Hour), Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	r.revs.revoke(parent.ID())
	badSig := good.Bytes()
	badSig[len(badSig)-1] ^= 1
	for _, c := range []struct {
		name string
		tok  []byte
		st   wire.Status
		want string
	}{
		{"a token for someone else", grant(t, alice, mallory.ID(), nil).Bytes(), wire.Forbidden, "granted to another peer, not to you"},
		{"a token of another owner", grant(t, mallory, bob.ID(), nil).Bytes(), wire.Forbidden, "not granted by this owner"},
		{"a revoked token", revokedTok.Bytes(), wire.Revoked, "it has been revoked"},
		{"a delegation under a revoked parent", child.Bytes(), wire.Revoked, "it has been revoked"},
		{"an expired token", grant(t, alice, bob.ID(), func(p *capability.Params) {
			p.Expiry = testkit.Epoch.Add(-time.Hour)
			p.NotBefore = testkit.Epoch.Add(-2 * time.Hour)
		}).Bytes(), wire.Expired, "it has expired"},
		{"a token not valid yet", grant(t, alice, bob.ID(), func(p *capability.Params) { p.NotBefore = testkit.Epoch.Add(time.Hour) }).Bytes(), wire.Expired, "not valid yet"},
		{"a forged signature", badSig, wire.Forbidden, "does not verify"},
		{"garbage", []byte("not a token at all"), wire.BadRequest, "not a well-formed token"},
	} {
		_, err := r.srv.serveAs(bob.ID(), Request{Op: OpWake, Owner: []byte(alice.ID()), Token: c.tok})
		refused(t, c.name, err, c.st, c.want)
	}
	if n := r.hook.n.Load(); n != 0 || r.srv.waitingNow() != 0 {
		t.Fatalf("refused tokens fired the hook %d times and left %d waiting", n, r.srv.waitingNow())
	}
	// Any grant of the owner's will do: another resource, another action.
	r.setReserved(alice.ID(), true)
	r.srv.Reserved(alice.ID()) // back: wakes are answered at once
	other := grant(t, alice, bob.ID(), func(p *capability.Params) { p.Resource = "photos/2026"; p.Actions = capability.Write })
	if _, err := r.srv.serveAs(bob.ID(), Request{Op: OpWake, Owner: []byte(alice.ID()), Token: other.Bytes()}); err != nil {
		t.Fatalf("a grant of another resource and action: %v", err)
	}
	// A use budget is the owner's to count: the relay spends none of it.
	once := grant(t, alice, bob.ID(), func(p *capability.Params) { p.MaxUses = 1 })
	for i := range 3 {
		if _, err := r.srv.serveAs(bob.ID(), Request{Op: OpWake, Owner: []byte(alice.ID()), Token: once.Bytes()}); err != nil {
			t.Fatalf("a single-use token, wake %d: %v", i, err)
		}
	}
}

// TestAFloodOfForgedTokensWakesNothing: 200 identities, each with tokens
// that fail one way or another, wake no one and queue nothing.
func TestAFloodOfForgedTokensWakesNothing(t *testing.T) {
	r := newRig(t, nil)
	alice, mallory := testkit.Key(t, "alice"), testkit.Key(t, "mallory")
	r.asleep(alice, "alice")
	stolen := grant(t, alice, testkit.Key(t, "bob").ID(), nil).Bytes()
	const n = 200
	testkit.Each(t, 8, n, func(i int) error {
		k := testkit.Key(t, fmt.Sprintf("flood %d", i))
		self := grant(t, k, k.ID(), nil).Bytes()          // its own grant, not alice's
		foreign := grant(t, mallory, k.ID(), nil).Bytes() // another owner's
		forged := grant(t, alice, k.ID(), nil).Bytes()    // alice's, signature broken below
		forged[len(forged)-1] ^= 0xff
		for _, tok := range [][]byte{self, foreign, forged, stolen} {
			_, err := r.srv.serveAs(k.ID(), Request{Op: OpWake, Owner: []byte(alice.ID()), Token: tok})
			if st := statusOf(err); st != wire.Forbidden && st != wire.RateLimited {
				return fmt.Errorf("a forged wake: %v", err)
			}
		}
		return nil
	})
	if c := r.hook.n.Load(); c != 0 {
		t.Fatalf("forged tokens fired the hook %d times", c)
	}
	if w := r.srv.waitingNow(); w != 0 {
		t.Fatalf("%d forged wakes wait", w)
	}
	if s := r.srv.chains.Stats(); s.Entries != 0 {
		t.Fatalf("forged tokens took %d places in the chain cache", s.Entries)
	}
}

// TestQueueCapsHold: per requester, per owner and in all, a full queue
// refuses in words and what waits is answered when the owner is back.
func TestQueueCapsHold(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.MaxWaitsPerRequester, c.MaxWaitersPerOwner, c.MaxWaiters = 3, 4, 6
	})
	r.srv.lim = peerlimit.New(1000, 1000, 0, nil)
	owners := []*keys.PeerKey{testkit.Key(t, "alice"), testkit.Key(t, "dave")}
	r.asleep(owners[0], "alice")
	r.asleep(owners[1], "dave")
	var wg sync.WaitGroup
	answers := make(chan error, 64)
	start := func(who *keys.PeerKey, owner *keys.PeerKey) {
		tok := grant(t, owner, who.ID(), nil).Bytes()
		wg.Go(func() {
			_, err := r.srv.serveAs(who.ID(), Request{Op: OpWake, Owner: []byte(owner.ID()), Token: tok})
			answers <- err
		})
	}
	try := func(who *keys.PeerKey, owner *keys.PeerKey) error {
		_, err := r.srv.serveAs(who.ID(), Request{Op: OpWake, Owner: []byte(owner.ID()), Token: grant(t, owner, who.ID(), nil).Bytes()})
		return err
	}
	bob := testkit.Key(t, "bob")
	for i := range 3 {
		start(bob, owners[i%2])
		testkit.Eventually(t, wait, func() bool { return r.srv.waitingNow() == i+1 }, "bob's wake %d to wait", i)
	}
	refused(t, "bob's fourth wake", try(bob, owners[0]), wire.RateLimited, "you already wait for 3 wakes at this relay")
	// alice has 2 waiting (bob's); two strangers fill her queue to 4.
	for i := range 2 {
		start(testkit.Key(t, fmt.Sprintf("stranger %d", i)), owners[0])
		testkit.Eventually(t, wait, func() bool { return r.srv.waitingNow() == 4+i }, "stranger %d to wait", i)
	}
	refused(t, "a fifth wake for alice", try(testkit.Key(t, "stranger 9"), owners[0]), wire.Unavailable, "too many requests already wait for alice")
	start(testkit.Key(t, "stranger 2"), owners[1])
	testkit.Eventually(t, wait, func() bool { return r.srv.waitingNow() == 6 }, "six to wait")
	refused(t, "a wake over the relay's total", try(testkit.Key(t, "stranger 3"), owners[1]), wire.Unavailable, "holds all the wake requests it can")
	if c := r.hook.n.Load(); c != 2 {
		t.Fatalf("two owners' bursts fired %d hooks", c)
	}
	for _, o := range owners {
		r.srv.Reserved(o.ID())
	}
	wg.Wait()
	close(answers)
	for err := range answers {
		if err != nil {
			t.Errorf("a queued wake: %v", err)
		}
	}
	if r.srv.waitingNow() != 0 || len(r.srv.perRequester) != 0 || len(r.srv.bursts) != 0 {
		t.Fatal("the queue was not emptied")
	}
}

func TestOnlyTheOwnerGetsItsHalfAndOnlyUntilUntil(t *testing.T) {
	r := newRig(t, nil)
	alice, mallory := r.node("alice"), r.node("mallory")
	r.admit(alice.id(), mallory.id())
	half := []byte("sealed-half-for-alice")
	if err := Hibernate(ctx(t), alice.h, r.relay.ID(), Hibernation{Handle: "alice", Half: half, Until: testkit.Epoch.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, _, err := Resume(ctx(t), mallory.h, r.relay.ID())
	refused(t, "a resume by another peer", err, wire.NotFound, "holds no resume key for you")
	// Mallory's own hibernation does not touch alice's.
	if err := Hibernate(ctx(t), mallory.h, r.relay.ID(), Hibernation{Handle: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resume(ctx(t), mallory.h, r.relay.ID()); statusOf(err) != wire.NotFound {
		t.Fatalf("mallory resumed: %v", err)
	}
	// Past until the half is gone, from memory and from the store.
	r.clock.Advance(time.Hour)
	_, _, err = Resume(ctx(t), alice.h, r.relay.ID())
	refused(t, "a resume past until", err, wire.NotFound, "holds no resume key")
	if storeHolds(t, r.store, half) {
		t.Fatal("the store still holds the lapsed half")
	}
}

func TestTheSweepDeletesLapsedHalvesAndAsleepStates(t *testing.T) {
	r := newRig(t, func(c *Config) { c.AsleepFor = 2 * time.Hour })
	alice, carol := testkit.Key(t, "alice"), testkit.Key(t, "carol")
	r.admit(alice.ID(), carol.ID())
	half := []byte("sweep-me-half")
	if _, err := r.srv.serveAs(alice.ID(), Request{Op: OpHibernate, Handle: "alice", Half: half, Until: testkit.Epoch.Add(time.Hour).Unix()}); err != nil {
		t.Fatal(err)
	}
	r.asleep(carol, "carol")
	r.clock.Advance(time.Hour)
	r.srv.mu.Lock()
	r.srv.sweepLocked()
	r.srv.mu.Unlock()
	if storeHolds(t, r.store, half) || len(r.srv.entries) != 2 {
		t.Fatalf("after the half's until: %d entries, half stored %v", len(r.srv.entries), storeHolds(t, r.store, half))
	}
	r.clock.Advance(time.Hour)
	r.srv.mu.Lock()
	r.srv.sweepLocked()
	r.srv.mu.Unlock()
	if len(r.srv.entries) != 0 || storeCount(t, r.store) != 0 {
		t.Fatal("asleep states past AsleepFor were kept")
	}
}

func TestStateSurvivesARestartAndForgetDeletesIt(t *testing.T) {
	r := newRig(t, nil)
	alice, bob := r.node("alice"), r.node("bob")
	r.admit(alice.id())
	half := []byte("restart-half")
	if err := Hibernate(ctx(t), alice.h, r.relay.ID(), Hibernation{Handle: "alice", Half: half, Until: testkit.Epoch.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r.srv.Close()
	// A stored entry that does not parse is dropped, not served.
	if err := r.store.Put(context.Background(), ds.NewKey("/not-a-peer"), []byte{0xff}); err != nil {
		t.Fatal(err)
	}
	r.start()
	if storeCount(t, r.store) != 1 {
		t.Fatal("the bad entry was kept")
	}
	tok := grant(t, alice.k, bob.id(), nil).Bytes()
	pending := wakeAsync(t, bob, r.relay.ID(), alice.id(), tok)
	testkit.Within(t, wait, r.hook.calls, "the restarted relay to fire the hook")
	r.srv.Reserved(alice.id())
	if err := testkit.Within(t, wait, pending, "the wake"); err != nil {
		t.Fatal(err)
	}
	if err := Forget(ctx(t), alice.h, r.relay.ID()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resume(ctx(t), alice.h, r.relay.ID()); statusOf(err) != wire.NotFound {
		t.Fatalf("a resume after forget: %v", err)
	}
	if storeCount(t, r.store) != 0 {
		t.Fatal("forget left the entry stored")
	}
	if err := Forget(ctx(t), alice.h, r.relay.ID()); err != nil {
		t.Fatalf("a second forget: %v", err)
	}
	// Hibernated and forgotten: a wake finds no one asleep.
	if err := Hibernate(ctx(t), alice.h, r.relay.ID(), Hibernation{Handle: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := Forget(ctx(t), alice.h, r.relay.ID()); err != nil {
		t.Fatal(err)
	}
	err := Wake(ctx(t), bob.h, r.relay.ID(), alice.id(), tok)
	refused(t, "a wake after forget", err, wire.NotFound, "not asleep at this relay")
}

func TestTheRelayRemembersABoundedNumberOfNodes(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxAsleep = 3 })
	var ids []peer.ID
	for i := range 4 {
		k := testkit.Key(t, fmt.Sprintf("sleeper %d", i))
		r.admit(k.ID())
		ids = append(ids, k.ID())
		_, err := r.srv.serveAs(k.ID(), Request{Op: OpHibernate, Handle: fmt.Sprintf("sleeper-%d", i)})
		if i < 3 && err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			refused(t, "a fourth sleeper", err, wire.Unavailable, "remembers all the hibernating nodes it can")
		}
	}
	// One already held may hibernate again; one that woke frees a place.
	if _, err := r.srv.serveAs(ids[0], Request{Op: OpHibernate, Handle: "sleeper-0"}); err != nil {
		t.Fatal(err)
	}
	r.srv.Reserved(ids[1])
	if _, err := r.srv.serveAs(ids[3], Request{Op: OpHibernate, Handle: "sleeper-3"}); err != nil {
		t.Fatal(err)
	}
}

// TestTheSealedHalfNeverReachesALogOrAnError is the canary: a half with a
// recognisable pattern goes through every op and failure, and no log line
// or error text holds it in any usual encoding.
func TestTheSealedHalfNeverReachesALogOrAnError(t *testing.T) {
	r := newRig(t, func(c *Config) { c.TTL = 200 * time.Millisecond })
	r.hook.fail = fmt.Errorf("hook down")
	alice, bob := r.node("alice"), r.node("bob")
	r.admit(alice.id())
	canary := []byte("CANARY-half-7f3e9a1c-do-not-log")
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	note(Hibernate(ctx(t), alice.h, r.relay.ID(), Hibernation{Handle: "alice", Half: canary, Until: testkit.Epoch.Add(time.Hour)}))
	note(Hibernate(ctx(t), bob.h, r.relay.ID(), Hibernation{Handle: "bob", Half: canary, Until: testkit.Epoch.Add(time.Hour)}))
	_, e := r.srv.serveAs(alice.id(), Request{Op: OpHibernate, Handle: "alice", Half: append(bytes.Repeat(canary, 9), canary...), Until: testkit.Epoch.Add(time.Hour).Unix()})
	note(e)
	_, e = r.srv.serveAs(alice.id(), Request{Op: OpHibernate, Handle: "alice", Half: canary, Until: 1})
	note(e)
	note(Wake(ctx(t), bob.h, r.relay.ID(), alice.id(), grant(t, alice.k, bob.id(), nil).Bytes()))
	_, _, e = Resume(ctx(t), bob.h, r.relay.ID())
	note(e)
	r.srv.Close()
	r.start()
	got, _, e := Resume(ctx(t), alice.h, r.relay.ID())
	note(e)
	if !bytes.Equal(got, canary) {
		t.Fatalf("the half did not come back: %v", e)
	}
	_, _, e = Resume(ctx(t), alice.h, r.relay.ID())
	note(e)
	note(Forget(ctx(t), alice.h, r.relay.ID()))
	logs := r.logs.String()
	if !strings.Contains(logs, "resume key handed back") || len(errs) < 5 {
		t.Fatalf("the canary run did not run (%d errors):\n%s", len(errs), logs)
	}
	forms := []string{string(canary), hex.EncodeToString(canary), base64.StdEncoding.EncodeToString(canary),
		base64.RawURLEncoding.EncodeToString(canary), fmt.Sprintf("%v", canary), "CANARY"}
	for _, f := range forms {
		if strings.Contains(logs, f) {
			t.Errorf("the log holds the half as %q", f)
		}
		for _, err := range errs {
			if strings.Contains(err.Error(), f) {
				t.Errorf("an error holds the half: %v", err)
			}
		}
	}
}

func storeHolds(t *testing.T, store ds.Datastore, b []byte) bool {
	t.Helper()
	res, err := store.Query(context.Background(), query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	for e := range res.Next() {
		if bytes.Contains(e.Value, b) {
			return true
		}
	}
	return false
}

func storeCount(t *testing.T, store ds.Datastore) int {
	t.Helper()
	res, err := store.Query(context.Background(), query.Query{KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	all, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

// TestForgedWakesOverTheNetworkWakeNothing is the flood over real
// streams: many hosts at once, each with tokens that prove nothing.
func TestForgedWakesOverTheNetworkWakeNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 24 hosts")
	}
	r := newRig(t, nil)
	alice, mallory := testkit.Key(t, "alice"), testkit.Key(t, "mallory")
	r.asleep(alice, "alice")
	stolen := grant(t, alice, testkit.Key(t, "bob").ID(), nil).Bytes()
	testkit.Each(t, 8, 24, func(i int) error {
		n := r.node(fmt.Sprintf("net flood %d", i))
		forged := grant(t, alice, n.id(), nil).Bytes()
		forged[len(forged)-1] ^= 0xff
		for _, tok := range [][]byte{stolen, forged, grant(t, mallory, n.id(), nil).Bytes()} {
			err := Wake(ctx(t), n.h, r.relay.ID(), alice.ID(), tok)
			if statusOf(err) != wire.Forbidden {
				return fmt.Errorf("a forged wake over the network: %v", err)
			}
		}
		return nil
	})
	if c, w := r.hook.n.Load(), r.srv.waitingNow(); c != 0 || w != 0 {
		t.Fatalf("forged wakes fired %d hooks and left %d waiting", c, w)
	}
}

func TestAPanickingHookIsAFailedHook(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.Hook = wakehook.HookFunc(func(context.Context, wakehook.Target) error { panic("boom") })
	})
	alice, bob := testkit.Key(t, "alice"), testkit.Key(t, "bob")
	r.asleep(alice, "alice")
	_, err := r.srv.serveAs(bob.ID(), Request{Op: OpWake, Owner: []byte(alice.ID()), Token: grant(t, alice, bob.ID(), nil).Bytes()})
	refused(t, "a panicking hook", err, wire.Unavailable, "its wake hook failed")
	r.srv.mu.Lock()
	busy, hooks := len(r.srv.hookBusy), r.srv.hooks
	r.srv.mu.Unlock()
	if busy != 0 || hooks != 0 {
		t.Fatalf("a panicked hook is still counted: %d busy, %d running", busy, hooks)
	}
}
