package socialrecovery

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/recoverywire"
	"github.com/ocmt/mesh/vault"
)

// friend is one friend's node: a Service on an in-memory vault and
// store, with no mesh (the tests hand it mail and requests directly).
type friend struct {
	key *keys.PeerKey
	v   *vault.Vault
	s   *Service
}

func newFriend(t *testing.T, clock *testkit.Clock) *friend {
	t.Helper()
	ctx := context.Background()
	st := dssync.MutexWrap(ds.NewMapDatastore())
	v, err := vault.Create(ctx, vault.Config{Store: st, Now: clock.Now}, []byte("pw"), vault.TestKDF(), "test")
	if err != nil {
		t.Fatal(err)
	}
	k := keys.GeneratePeerKey()
	f := &friend{key: &k, v: v}
	withPeerKey := func(fn func(*keys.PeerKey) error) error { return fn(f.key) }
	f.s = New(Config{Vault: v, Store: st, Self: k.ID(), WithPeerKey: withPeerKey, Now: clock.Now,
		WithKey: func(fn func(*keys.PeerKey) error) error {
			if v.Locked() {
				return vault.ErrLocked
			}
			return fn(f.key)
		}})
	t.Cleanup(f.s.Close)
	return f
}

type dealing struct {
	owner   *keys.PeerKey
	friends []*friend
	dealt   *recovery.Dealt
}

// deal has a new owner deal a key 3 (or 2) of len(fs) among fs, with a wait of a
// minute, and mails each its share.
func deal(t *testing.T, clock *testkit.Clock, fs []*friend) *dealing {
	t.Helper()
	o := keys.GeneratePeerKey()
	var ids []peer.ID
	var handles []string
	for i, f := range fs {
		ids, handles = append(ids, f.key.ID()), append(handles, "friend"+string(rune('a'+i)))
	}
	d, err := recovery.EnableSocial(&o, "alice", ids, handles, min(3, len(fs)), time.Minute, time.Minute, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range fs {
		sealed, err := Seal(f.key.ID(), recoverywire.Mail{Message: d.Shares[i]})
		if err != nil {
			t.Fatal(err)
		}
		if !f.s.Mail(context.Background(), sealed) {
			t.Fatal("a share mail was not taken")
		}
	}
	return &dealing{owner: &o, friends: fs, dealt: d}
}

func request(t *testing.T, owner peer.ID, at time.Time) (*keys.PeerKey, []byte, [32]byte) {
	t.Helper()
	dev := keys.GeneratePeerKey()
	msg, err := recovery.NewRequest(&dev, owner, "alice", at)
	if err != nil {
		t.Fatal(err)
	}
	o, err := recovery.Open(msg)
	if err != nil {
		t.Fatal(err)
	}
	return &dev, msg, o.ID
}

func do(t *testing.T, f *friend, req localapi.RecoveryRequest) localapi.RecoveryReply {
	t.Helper()
	out, err := f.s.Recovery(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: %v", req.Op, err)
	}
	return out
}

func audited(t *testing.T, v *vault.Vault, op, contains string) int {
	t.Helper()
	recs, _, err := v.VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Op == op && strings.Contains(r.Detail, contains) {
			n++
		}
	}
	return n
}

func status(t *testing.T, err error, want wire.Status) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) || we.Status != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestThreeFriendsReleaseAfterTheWaitAndTheDeviceRecoversTheKey(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Now())
	fs := []*friend{newFriend(t, clock), newFriend(t, clock), newFriend(t, clock), newFriend(t, clock)}
	d := deal(t, clock, fs)
	for _, f := range fs {
		if h := do(t, f, localapi.RecoveryRequest{Op: localapi.RecoveryHeld}).Held; len(h) != 1 || !strings.Contains(h[0], "alice") {
			t.Fatalf("held: %v", h)
		}
		if _, err := f.v.Get(ctx, NS, d.owner.ID().String(), vault.AuditEntry{Op: "test"}); err != nil {
			t.Fatalf("the share is not in the vault: %v", err)
		}
	}
	dev, msg, id := request(t, d.owner.ID(), clock.Now())
	for _, f := range fs {
		st, err := f.s.Deliver(ctx, dev.ID(), msg)
		if err != nil || st.State != recoverywire.StateWaiting {
			t.Fatalf("deliver: %v %v", st, err)
		}
	}
	col, err := recovery.NewCollector(d.dealt.Meta, dev, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs[:3] {
		do(t, f, localapi.RecoveryRequest{Op: localapi.RecoveryHelp, ID: hex.EncodeToString(id[:4])})
		st, err := f.s.Fetch(ctx, dev.ID(), id)
		if err != nil || st.State != recoverywire.StateHelping || st.UntilTime().Before(clock.Now()) {
			t.Fatalf("before the wait: %+v %v", st, err)
		}
		if _, err := f.s.Fetch(ctx, f.key.ID(), id); err == nil {
			t.Fatal("another peer than the device fetched the release")
		}
	}
	clock.Advance(time.Minute + time.Second)
	for _, f := range fs[:3] {
		st, err := f.s.Fetch(ctx, dev.ID(), id)
		if err != nil || st.State != recoverywire.StateReleased {
			t.Fatalf("after the wait: %+v %v", st, err)
		}
		o, err := recovery.Open(st.Release)
		if err != nil {
			t.Fatal(err)
		}
		if err := col.Add(o); err != nil {
			t.Fatal(err)
		}
		if audited(t, f.v, OpRelease, "released to device") != 1 {
			t.Fatal("the release is not audited")
		}
	}
	k, err := col.Key()
	if err != nil || *k != *d.dealt.Key {
		t.Fatalf("the collected key is not the dealt one: %v", err)
	}
	st, err := fs[0].s.Done(ctx, dev.ID(), id)
	if err != nil || st.State != recoverywire.StateRecovered || audited(t, fs[0].v, OpOutcome, "recovered") != 1 {
		t.Fatalf("done: %+v %v", st, err)
	}
}

func TestBadRequestsAndReleasesChangeNothing(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Now())
	fs := []*friend{newFriend(t, clock), newFriend(t, clock), newFriend(t, clock)}
	d := deal(t, clock, fs)
	f := fs[0]
	dev, msg, id := request(t, d.owner.ID(), clock.Now())
	if _, err := f.s.Deliver(ctx, dev.ID(), msg); err != nil {
		t.Fatal(err)
	}

	t.Run("a replayed request is the same request, audited once", func(t *testing.T) {
		for range 3 {
			st, err := f.s.Deliver(ctx, dev.ID(), msg)
			if err != nil || st.State != recoverywire.StateWaiting {
				t.Fatal(st, err)
			}
		}
		if n := len(do(t, f, localapi.RecoveryRequest{Op: localapi.RecoveryRequests}).Requests); n != 1 {
			t.Fatalf("%d requests listed", n)
		}
		if audited(t, f.v, OpReplayed, "again") != 1 {
			t.Fatal("the replay is not audited once")
		}
	})
	t.Run("a stale request is refused", func(t *testing.T) {
		dev2, old, _ := request(t, d.owner.ID(), clock.Now().Add(-recovery.MaxRequestAge-time.Hour))
		_, err := f.s.Deliver(ctx, dev2.ID(), old)
		status(t, err, wire.Expired)
	})
	t.Run("a request for an owner this node holds nothing of is refused", func(t *testing.T) {
		stranger := keys.GeneratePeerKey()
		dev2, m, _ := request(t, stranger.ID(), clock.Now())
		_, err := f.s.Deliver(ctx, dev2.ID(), m)
		status(t, err, wire.NotFound)
	})
	t.Run("a forged message is refused", func(t *testing.T) {
		forged := append([]byte(nil), msg...)
		forged[len(forged)-1] ^= 1
		_, err := f.s.Deliver(ctx, dev.ID(), forged)
		status(t, err, wire.BadRequest)
		if audited(t, f.v, OpRefused, "not a signed recovery message") != 1 {
			t.Fatal("the refusal is not audited")
		}
	})
	t.Run("a veto not signed by the owner is refused", func(t *testing.T) {
		mallory := keys.GeneratePeerKey()
		veto, err := recovery.NewVeto(&mallory, id, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.s.Deliver(ctx, mallory.ID(), veto)
		status(t, err, wire.Forbidden)
	})
	t.Run("a release from someone who is not a friend is refused", func(t *testing.T) {
		col, err := recovery.NewCollector(d.dealt.Meta, dev, id)
		if err != nil {
			t.Fatal(err)
		}
		// mallory holds a share of another dealing naming her, and
		// releases it to the device
		mallory := newFriend(t, clock)
		other := deal(t, clock, []*friend{mallory, newFriend(t, clock), newFriend(t, clock)})
		_, m2, id2 := request(t, other.owner.ID(), clock.Now())
		if _, err := mallory.s.Deliver(ctx, dev.ID(), m2); err != nil {
			t.Fatal(err)
		}
		do(t, mallory, localapi.RecoveryRequest{Op: localapi.RecoveryHelp, ID: hex.EncodeToString(id2[:])})
		clock.Advance(2 * time.Minute)
		r, _ := mallory.s.getRecord(ctx, id2)
		o, err := recovery.Open(r.Release)
		if err != nil {
			t.Fatal(err)
		}
		if err := col.Add(o); !errors.Is(err, recovery.ErrNotFriend) {
			t.Fatalf("a stranger's release: %v", err)
		}
		if _, err := col.Key(); err == nil {
			t.Fatal("no release, yet a key")
		}
	})
	t.Run("a veto stops the release", func(t *testing.T) {
		do(t, f, localapi.RecoveryRequest{Op: localapi.RecoveryHelp, ID: hex.EncodeToString(id[:])})
		veto, err := recovery.NewVeto(d.owner, id, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.s.Deliver(ctx, d.owner.ID(), veto)
		if err != nil || st.State != recoverywire.StateVetoed {
			t.Fatal(st, err)
		}
		clock.Advance(time.Hour)
		st, err = f.s.Fetch(ctx, dev.ID(), id)
		if err != nil || st.State != recoverywire.StateVetoed || len(st.Release) != 0 {
			t.Fatalf("after a veto: %+v %v", st, err)
		}
		if _, err := f.s.Recovery(ctx, localapi.RecoveryRequest{Op: localapi.RecoveryHelp, ID: hex.EncodeToString(id[:])}); err == nil {
			t.Fatal("helping a vetoed request")
		}
		if audited(t, f.v, OpVeto, "vetoed") != 1 {
			t.Fatal("the veto is not audited")
		}
	})
}

// TestManyIdentitiesFillNoMoreThanTheBounds: device keys are free, so
// requests per owner and in all are capped, and shares from strangers
// too.
func TestManyIdentitiesFillNoMoreThanTheBounds(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Now())
	fs := []*friend{newFriend(t, clock), newFriend(t, clock), newFriend(t, clock)}
	d := deal(t, clock, fs)
	f := fs[0]
	refused := 0
	for range 200 {
		dev, m, _ := request(t, d.owner.ID(), clock.Now())
		if _, err := f.s.Deliver(ctx, dev.ID(), m); err != nil {
			status(t, err, wire.Unavailable)
			refused++
		}
	}
	if n := len(do(t, f, localapi.RecoveryRequest{Op: localapi.RecoveryRequests}).Requests); n != DefaultMaxPerOwner || refused != 200-DefaultMaxPerOwner {
		t.Fatalf("%d requests kept, %d refused", n, refused)
	}
	other := newFriend(t, clock)
	for range DefaultMaxHeld + 5 {
		deal(t, clock, []*friend{f, other})
	}
	if n := len(do(t, f, localapi.RecoveryRequest{Op: localapi.RecoveryHeld}).Held); n != DefaultMaxHeld {
		t.Fatalf("%d owners' shares kept", n)
	}
}

func TestASharePutWhileLockedMovesIntoTheVaultAtUnlock(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Now())
	fs := []*friend{newFriend(t, clock), newFriend(t, clock), newFriend(t, clock)}
	if err := fs[0].v.Lock(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	d := deal(t, clock, fs)
	h := do(t, fs[0], localapi.RecoveryRequest{Op: localapi.RecoveryHeld}).Held
	if len(h) != 1 || !strings.Contains(h[0], "next unlock") {
		t.Fatalf("held while locked: %v", h)
	}
	if err := fs[0].v.Unlock(ctx, []byte("pw"), "test"); err != nil {
		t.Fatal(err)
	}
	h = do(t, fs[0], localapi.RecoveryRequest{Op: localapi.RecoveryHeld}).Held
	if len(h) != 1 || strings.Contains(h[0], "next unlock") {
		t.Fatalf("held after unlock: %v", h)
	}
	if _, err := fs[0].v.Get(ctx, NS, d.owner.ID().String(), vault.AuditEntry{Op: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs[0].s.cfg.Store.Get(ctx, pendingPrefix.ChildString(d.owner.ID().String())); !notFound(err) {
		t.Fatal("the pending share stays in the clear store")
	}
}

// TestForgedSharesAndReleasesAreRefused: a share delivery that is not
// the receiving friend's, and a release altered on the way, change
// nothing and are audited or refused by the device.
func TestForgedSharesAndReleasesAreRefused(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Now())
	fs := []*friend{newFriend(t, clock), newFriend(t, clock), newFriend(t, clock)}
	d := deal(t, clock, fs)
	x := newFriend(t, clock)
	// fs[1]'s share delivery, sealed to x: signed by the owner, but the
	// dealing does not name x and the share does not open with x's key
	sealed, err := Seal(x.key.ID(), recoverywire.Mail{Message: d.dealt.Shares[1]})
	if err != nil {
		t.Fatal(err)
	}
	if !x.s.Mail(ctx, sealed) {
		t.Fatal("the mail was not taken")
	}
	if h := do(t, x, localapi.RecoveryRequest{Op: localapi.RecoveryHeld}).Held; len(h) != 0 {
		t.Fatalf("a forged share is held: %v", h)
	}
	if audited(t, x.v, OpRefused, "does not name you") != 1 {
		t.Fatal("the forged share is not audited")
	}
	// a release altered on the way does not open
	dev, msg, id := request(t, d.owner.ID(), clock.Now())
	if _, err := fs[0].s.Deliver(ctx, dev.ID(), msg); err != nil {
		t.Fatal(err)
	}
	do(t, fs[0], localapi.RecoveryRequest{Op: localapi.RecoveryHelp, ID: hex.EncodeToString(id[:])})
	clock.Advance(2 * time.Minute)
	st, err := fs[0].s.Fetch(ctx, dev.ID(), id)
	if err != nil || st.State != recoverywire.StateReleased {
		t.Fatal(st, err)
	}
	rel := append([]byte(nil), st.Release...)
	rel[len(rel)/2] ^= 1
	if _, err := recovery.Open(rel); err == nil {
		t.Fatal("an altered release opened")
	}
}
