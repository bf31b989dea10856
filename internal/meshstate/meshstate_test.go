package meshstate

import (
	"context"
	"errors"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// newState returns a State on an in-memory store with an unlocked vault,
// and the clock it runs on.
func newState(t *testing.T) (*State, *testkit.Clock, *vault.Vault) {
	t.Helper()
	ctx := context.Background()
	st := dssync.MutexWrap(ds.NewMapDatastore())
	v, err := vault.Create(ctx, vault.Config{Store: st}, []byte("pw"), vault.TestKDF(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	c := testkit.NewClock(testkit.Epoch)
	return New(st, v, "test", c.Now), c, v
}

func TestSafetyCodeIsSymmetric(t *testing.T) {
	a, b, c := testkit.Key(t, "a").ID(), testkit.Key(t, "b").ID(), testkit.Key(t, "c").ID()
	if SafetyCode(a, b) != SafetyCode(b, a) {
		t.Fatal("the two sides compute different codes")
	}
	if SafetyCode(a, b) == SafetyCode(a, c) {
		t.Fatal("different pairs share a code")
	}
}

func TestAContactIsPinnedOnFirstSightAndAChangeWaitsForAcceptance(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newState(t)
	first, second := testkit.Key(t, "bob").ID(), testkit.Key(t, "bob-new").ID()
	if err := s.Pin(ctx, "bob", first); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, "bob", first); err != nil {
		t.Fatalf("the pinned key again: %v", err)
	}
	if err := s.Pin(ctx, "bob", second); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("another key: %v, want ErrKeyChanged", err)
	}
	if err := s.Pin(ctx, "bob", second); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("another key, asked again: %v, want ErrKeyChanged", err)
	}
	if got := s.NameOf(ctx, first); got != "bob" {
		t.Fatalf("NameOf(pinned) = %q", got)
	}
	if err := s.Accept(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.Pin(ctx, "bob", second); err != nil {
		t.Fatalf("the accepted key: %v", err)
	}
	if err := s.Accept(ctx, "bob"); err == nil {
		t.Fatal("accepted a change that is not pending")
	}
	if err := s.Accept(ctx, "carol"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("accepting an unknown contact: %v", err)
	}
	// One audit record per change: new, changed (once), accepted.
	recs, err := vault.ReadAudit(ctx, s.store)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, r := range recs {
		if r.Target == "bob" {
			ops = append(ops, r.Op)
		}
	}
	if want := []string{OpContactNew, OpContactChange, OpContactAccept}; len(ops) != 3 || ops[0] != want[0] || ops[1] != want[1] || ops[2] != want[2] {
		t.Fatalf("audited %v, want %v", ops, want)
	}
}

// revokedSet is a RevocationChecker holding a fixed set.
type revokedSet map[capability.ID]bool

func (r revokedSet) IsRevoked(id capability.ID) bool { return r[id] }

func TestGrantStatusFollowsTimeRevocationAndDelivery(t *testing.T) {
	ctx := context.Background()
	s, clock, _ := newState(t)
	owner, bob := testkit.Key(t, "owner"), testkit.Key(t, "bob")
	tok, err := capability.Issue(owner, capability.Params{Audience: bob.ID(), Resource: "calendar/*", Actions: capability.Read,
		NotBefore: testkit.Epoch.Add(2 * time.Minute), Expiry: testkit.Epoch.Add(time.Hour), Rand: testkit.NewRand("t")})
	if err != nil {
		t.Fatal(err)
	}
	g := GrantOf(tok)
	if err := s.Issue(ctx, g, vault.AuditEntry{Actor: "test", Op: "share.issue", Outcome: vault.OutcomeOK}); err != nil {
		t.Fatal(err)
	}
	status := func(r capability.RevocationChecker) string {
		t.Helper()
		gs, err := s.Issued(ctx, r)
		if err != nil || len(gs) != 1 {
			t.Fatalf("issued: %v, %v", gs, err)
		}
		return gs[0].Status
	}
	none := revokedSet{}
	if got := status(none); got != NotYet {
		t.Fatalf("before not-before: %q", got)
	}
	clock.Advance(2 * time.Minute)
	if got := status(none); got != Undelivered {
		t.Fatalf("active, never delivered: %q", got)
	}
	s.MarkDelivered(ctx, g, ViaMailbox)
	if got := status(none); got != Active {
		t.Fatalf("delivered: %q", got)
	}
	if got := status(revokedSet{tok.ID(): true}); got != Revoked {
		t.Fatalf("revoked: %q", got)
	}
	clock.Advance(time.Hour)
	if got := status(none); got != Expired {
		t.Fatalf("after expiry: %q", got)
	}
	if err := s.Receive(ctx, tok, g); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.HasReceived(ctx, tok.ID()); !ok {
		t.Fatal("a received grant is not held")
	}
}

func TestHandleRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newState(t)
	if h, err := s.Handle(ctx); err != nil || h != "" {
		t.Fatalf("no handle yet: %q, %v", h, err)
	}
	if err := s.SetHandle(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Handle(ctx); h != "alice" {
		t.Fatalf("handle %q", h)
	}
}

// TestGrantStatusIsTheOwnersVerdict: around a one-second token, a grant's
// status follows the owner's verifier, clock skew included: not valid yet
// until 60 s before its start, active until 60 s after its end.
func TestGrantStatusIsTheOwnersVerdict(t *testing.T) {
	ctx := context.Background()
	s, clock, _ := newState(t)
	owner, bob := testkit.Key(t, "owner"), testkit.Key(t, "bob")
	start := testkit.Epoch.Add(time.Hour)
	tok, err := capability.Issue(owner, capability.Params{Audience: bob.ID(), Resource: "calendar/*", Actions: capability.Read,
		NotBefore: start, Expiry: start.Add(time.Second), Rand: testkit.NewRand("w")})
	if err != nil {
		t.Fatal(err)
	}
	g := GrantOf(tok)
	if err := s.Receive(ctx, tok, g); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{start.Add(-61 * time.Second), NotYet},
		{start.Add(-30 * time.Second), Active},
		{start.Add(time.Second + 30*time.Second), Active},
		{start.Add(time.Second + 61*time.Second), Expired},
	} {
		clock.Set(c.at)
		gs, err := s.Received(ctx, revokedSet{})
		if err != nil || len(gs) != 1 {
			t.Fatalf("received: %v, %v", gs, err)
		}
		v := capability.NewVerifier(capability.Config{Clock: func() time.Time { return c.at }})
		_, verr := v.Verify(ctx, tok, capability.Request{Remote: bob.ID(), Owner: owner.ID(), Resource: "calendar/x", Action: capability.Read})
		if gs[0].Status != c.want || (verr == nil) != (c.want == Active) {
			t.Errorf("at %v from the start: status %q, the owner's verifier %v; want %q", c.at.Sub(start), gs[0].Status, verr, c.want)
		}
	}
}
