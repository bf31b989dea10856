package wake

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wakehook"
	"github.com/ocmt/mesh/internal/wire"
)

const wait = 30 * time.Second

func TestWakeQueuesFiresOnceAndAnswersWhenTheOwnerIsBack(t *testing.T) {
	r := newRig(t, nil)
	alice, bob, carol := r.node("alice"), r.node("bob"), r.node("carol")
	r.admit(alice.id())
	half := bytes.Repeat([]byte{0xa7}, MaxHalfBytes)
	until := testkit.Epoch.Add(6 * time.Hour)
	if err := Hibernate(ctx(t), alice.h, r.relay.ID(), Hibernation{Handle: "alice", Half: half, Until: until}); err != nil {
		t.Fatal(err)
	}
	bobTok := grant(t, alice.k, bob.id(), nil).Bytes()
	carolTok := grant(t, alice.k, carol.id(), nil).Bytes()
	first := wakeAsync(t, bob, r.relay.ID(), alice.id(), bobTok)
	got := testkit.Within(t, wait, r.hook.calls, "the hook to fire")
	if got != (wakehook.Target{Handle: "alice", Peer: alice.id()}) {
		t.Fatalf("the hook was asked to wake %+v", got)
	}
	second := wakeAsync(t, bob, r.relay.ID(), alice.id(), bobTok)
	third := wakeAsync(t, carol, r.relay.ID(), alice.id(), carolTok)
	testkit.Eventually(t, wait, func() bool { return r.srv.waitingNow() == 3 }, "three wakes to wait")
	if n := r.hook.n.Load(); n != 1 {
		t.Fatalf("the hook fired %d times for one burst", n)
	}
	// The reservation she held when she hibernated, still up while her
	// connection closes, answers nothing: only a new one does.
	r.setReserved(alice.id(), true)
	lingering := wakeAsync(t, bob, r.relay.ID(), alice.id(), bobTok)
	testkit.Eventually(t, wait, func() bool { return r.srv.waitingNow() == 4 }, "a wake during the old reservation to wait too")
	r.srv.Reserved(alice.id())
	for i, ch := range []<-chan error{first, second, third, lingering} {
		if err := testkit.Within(t, wait, ch, "wake %d to be answered", i); err != nil {
			t.Errorf("wake %d: %v", i, err)
		}
	}
	// The woken node takes its half back, once.
	got2, gotUntil, err := Resume(ctx(t), alice.h, r.relay.ID())
	if err != nil || !bytes.Equal(got2, half) || !gotUntil.Equal(until) {
		t.Fatalf("resume: %x %v %v", got2, gotUntil, err)
	}
	if _, _, err := Resume(ctx(t), alice.h, r.relay.ID()); statusOf(err) != wire.NotFound {
		t.Fatalf("a second resume: %v", err)
	}
	// An owner that is reserved is answered at once; the hook stays quiet.
	if err := Wake(ctx(t), bob.h, r.relay.ID(), alice.id(), bobTok); err != nil {
		t.Fatal(err)
	}
	if n := r.hook.n.Load(); n != 1 {
		t.Fatalf("the hook fired for a reserved owner (%d calls)", n)
	}
	// Awake and then gone without hibernating: not asleep here.
	r.setReserved(alice.id(), false)
	err = Wake(ctx(t), bob.h, r.relay.ID(), alice.id(), bobTok)
	refused(t, "a wake for an owner awake elsewhere", err, wire.NotFound, "not asleep at this relay")
}

func TestAWakeThatOutlivesItsTTLIsAnsweredInWordsAndTheNextBurstFiresAgain(t *testing.T) {
	r := newRig(t, func(c *Config) { c.TTL = 300 * time.Millisecond })
	alice, bob := r.node("alice"), r.node("bob")
	r.admit(alice.id())
	if err := Hibernate(ctx(t), alice.h, r.relay.ID(), Hibernation{Handle: "alice"}); err != nil {
		t.Fatal(err)
	}
	tok := grant(t, alice.k, bob.id(), nil).Bytes()
	err := Wake(ctx(t), bob.h, r.relay.ID(), alice.id(), tok)
	refused(t, "a wake past its TTL", err, wire.Unavailable, "alice did not wake within 300ms")
	if r.srv.waitingNow() != 0 {
		t.Fatal("a timed-out wake still waits")
	}
	err = Wake(ctx(t), bob.h, r.relay.ID(), alice.id(), tok)
	refused(t, "the next wake", err, wire.Unavailable, "did not wake within")
	if n := r.hook.n.Load(); n != 2 {
		t.Fatalf("two bursts fired the hook %d times", n)
	}
}

func TestAFailingHookAnswersTheWaitersInWords(t *testing.T) {
	r := newRig(t, nil)
	r.hook.fail = errors.New("exec: /opt/secret-path/wake: permission denied")
	alice, bob := r.node("alice"), r.node("bob")
	r.admit(alice.id())
	if err := Hibernate(ctx(t), alice.h, r.relay.ID(), Hibernation{Handle: "alice"}); err != nil {
		t.Fatal(err)
	}
	err := Wake(ctx(t), bob.h, r.relay.ID(), alice.id(), grant(t, alice.k, bob.id(), nil).Bytes())
	refused(t, "a failed hook", err, wire.Unavailable, "the relay could not wake alice: its wake hook failed")
	if strings.Contains(err.Error(), "secret-path") {
		t.Fatalf("the hook's own error reached the requester: %v", err)
	}
	if !strings.Contains(r.logs.String(), "secret-path") {
		t.Fatal("the hook's error is not in the relay's log")
	}
}

func TestAHungHookBlocksNoOtherOwner(t *testing.T) {
	r := newRig(t, func(c *Config) { c.HookTimeout = time.Second })
	release := make(chan struct{})
	r.hook.hang["alice"] = release
	r.hook.ignores = true // the worst hook: it does not even honour its context
	t.Cleanup(func() { close(release) })
	alice, dave, bob := r.node("alice"), r.node("dave"), r.node("bob")
	r.admit(alice.id(), dave.id())
	for _, n := range []*node{alice, dave} {
		if err := Hibernate(ctx(t), n.h, r.relay.ID(), Hibernation{Handle: nameOf(t, n)}); err != nil {
			t.Fatal(err)
		}
	}
	forAlice := wakeAsync(t, bob, r.relay.ID(), alice.id(), grant(t, alice.k, bob.id(), nil).Bytes())
	testkit.Within(t, wait, r.hook.calls, "alice's hook to be called")
	forDave := wakeAsync(t, bob, r.relay.ID(), dave.id(), grant(t, dave.k, bob.id(), nil).Bytes())
	testkit.Within(t, wait, r.hook.calls, "dave's hook to be called while alice's hangs")
	r.setReserved(dave.id(), true)
	r.srv.Reserved(dave.id())
	if err := testkit.Within(t, wait, forDave, "dave's wake"); err != nil {
		t.Fatalf("dave's wake: %v", err)
	}
	err := testkit.Within(t, wait, forAlice, "alice's wake to give up on the hung hook")
	refused(t, "a hung hook", err, wire.Unavailable, "its wake hook did not finish within 1s")
	// While that call has not returned, alice's hook is not stacked again.
	err = Wake(ctx(t), bob.h, r.relay.ID(), alice.id(), grant(t, alice.k, bob.id(), nil).Bytes())
	refused(t, "a wake while the hook still hangs", err, wire.Unavailable, "last attempt to wake alice has not finished")
	if n := r.hook.n.Load(); n != 2 {
		t.Fatalf("hook calls: %d", n)
	}
}

// nameOf is the test key name of n.
func nameOf(t *testing.T, n *node) string {
	for _, name := range []string{"alice", "bob", "carol", "dave", "mallory"} {
		if testkit.Key(t, name).ID() == n.id() {
			return name
		}
	}
	t.Fatal("unknown node")
	return ""
}

func TestHibernateRefusals(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.CheckHandle = func(_ peer.ID, handle string) bool { return handle != "carol" }
	})
	r.srv.lim = peerlimit.New(1000, 1000, 0, nil) // many requests from alice at one clock reading
	alice, mallory := r.node("alice"), r.node("mallory")
	r.admit(alice.id())
	err := Hibernate(ctx(t), mallory.h, r.relay.ID(), Hibernation{Handle: "mallory"})
	refused(t, "a peer without a reservation", err, wire.Forbidden, "only a node holding a reservation at this relay may hibernate here")
	err = Hibernate(ctx(t), alice.h, r.relay.ID(), Hibernation{Handle: "carol"})
	refused(t, "a borrowed handle", err, wire.Forbidden, "the handle carol is not yours")
	for _, c := range []struct {
		name string
		req  Request
		st   wire.Status
		want string
	}{
		{"a half too large", Request{Op: OpHibernate, Handle: "alice", Half: make([]byte, MaxHalfBytes+1), Until: testkit.Epoch.Add(time.Hour).Unix()}, wire.TooLarge, "at most 256 bytes"},
		{"a half without until", Request{Op: OpHibernate, Handle: "alice", Half: []byte{1}}, wire.BadRequest, "come together"},
		{"an until without a half", Request{Op: OpHibernate, Handle: "alice", Until: testkit.Epoch.Add(time.Hour).Unix()}, wire.BadRequest, "come together"},
		{"an until in the past", Request{Op: OpHibernate, Handle: "alice", Half: []byte{1}, Until: testkit.Epoch.Add(-time.Second).Unix()}, wire.BadRequest, "until must be in the future"},
		{"an until too far", Request{Op: OpHibernate, Handle: "alice", Half: []byte{1}, Until: testkit.Epoch.Add(MaxUntil + time.Second).Unix()}, wire.BadRequest, "within 30 days"},
		{"a bad handle", Request{Op: OpHibernate, Handle: "Alice"}, wire.BadRequest, "2 to 32 characters"},
		{"no handle", Request{Op: OpHibernate}, wire.BadRequest, "needs a handle"},
		{"a wake field", Request{Op: OpHibernate, Handle: "alice", Owner: []byte(alice.id())}, wire.BadRequest, "takes no owner"},
		{"op 5", Request{Op: 5}, wire.BadRequest, "unknown op 5"},
		{"a resume with a handle", Request{Op: OpResume, Handle: "alice"}, wire.BadRequest, "takes no handle"},
	} {
		_, err := r.srv.serveAs(alice.id(), c.req)
		refused(t, c.name, err, c.st, c.want)
	}
	if len(r.srv.entries) != 0 {
		t.Fatal("a refused hibernation left an entry")
	}
}

func TestWithoutAHookTheRelayOnlyWaitsForTheOwner(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Hook = nil })
	alice, bob := r.node("alice"), r.node("bob")
	r.admit(alice.id())
	if err := Hibernate(ctx(t), alice.h, r.relay.ID(), Hibernation{Handle: "alice", Half: []byte{1}, Until: testkit.Epoch.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if st := r.srv.Stats(); st != (Stats{Asleep: 1, Halves: 1}) {
		t.Fatalf("stats %+v", st)
	}
	pending := wakeAsync(t, bob, r.relay.ID(), alice.id(), grant(t, alice.k, bob.id(), nil).Bytes())
	testkit.Eventually(t, wait, func() bool { return r.srv.Stats().Waiting == 1 }, "the wake to wait")
	r.srv.Reserved(alice.id())
	if err := testkit.Within(t, wait, pending, "the wake"); err != nil {
		t.Fatal(err)
	}
	if st := r.srv.Stats(); st != (Stats{Halves: 1}) {
		t.Fatalf("stats after the owner came back %+v", st)
	}
}

// TestCloseDoesNotWaitForASilentStream: a peer that opened a stream and
// sends nothing does not hold the relay's stop for the exchange's timeout
// (TTL + WakeSlack): Close resets it after closeGrace.
func TestCloseDoesNotWaitForASilentStream(t *testing.T) {
	r := newRig(t, nil)
	mallory := r.node("mallory")
	st, err := mallory.h.NewStream(context.Background(), r.relay.ID(), ID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	st.Write([]byte{}) // the stream is open; no request follows
	testkit.Eventually(t, wait, func() bool { r.srv.mu.Lock(); defer r.srv.mu.Unlock(); return len(r.srv.streams) == 1 }, "the relay to serve the stream")
	closed := make(chan struct{})
	go func() { r.srv.Close(); close(closed) }()
	testkit.Within(t, 10*closeGrace, closed, "Close to return")
}
