package capability

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

func TestDelegationFailsAtIssuanceWithVerificationSentinels(t *testing.T) {
	c := newCast(t)
	root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | List | Share})
	noShare := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Admin})
	deep := issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read | Share, Parent: root})
	deep = issue(t, c.bob, Params{Audience: c.carol.ID(), Resource: "calendar/**", Actions: Read | Share, Parent: deep})
	deep = issue(t, c.carol, Params{Audience: c.dave.ID(), Resource: "calendar/**", Actions: Read | Share, Parent: deep})
	cases := []struct {
		name   string
		signer *keys.PeerKey
		p      Params
		want   error
	}{
		{"a signer that is not the parent's audience breaks the chain", c.mallory,
			Params{Audience: c.bob.ID(), Resource: "calendar/*", Actions: Read, Parent: root}, ErrBrokenChain},
		{"a parent without share cannot be delegated", c.alice,
			Params{Audience: c.bob.ID(), Resource: "calendar/*", Actions: Read, Parent: noShare}, ErrNoShare},
		{"adding delete escalates", c.alice,
			Params{Audience: c.bob.ID(), Resource: "calendar/*", Actions: Read | Delete, Parent: root}, ErrEscalation},
		{"a wider resource is widened", c.alice,
			Params{Audience: c.bob.ID(), Resource: "**", Actions: Read, Parent: root}, ErrWidened},
		{"a later expiry extends validity", c.alice,
			Params{Audience: c.bob.ID(), Resource: "calendar/*", Actions: Read, Parent: root, Expiry: root.Expiry().Add(time.Minute)}, ErrValidityExtended},
		{"an earlier start extends validity", c.alice,
			Params{Audience: c.bob.ID(), Resource: "calendar/*", Actions: Read, Parent: root, NotBefore: root.NotBefore().Add(-time.Minute)}, ErrValidityExtended},
		{"a fifth link is too deep", c.dave,
			Params{Audience: c.bob.ID(), Resource: "calendar/*", Actions: Read, Parent: deep}, ErrTooDeep},
		{"a delegation above its own ceiling fails", c.alice,
			Params{Audience: c.bob.ID(), Resource: "calendar/*", Actions: Read | Write, Parent: issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Write | Share}), Ceiling: DefaultAgentCeiling}, ErrCeiling},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Issue(tc.signer, defaults(tc.p, tc.name))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Issue = %v, want %v", err, tc.want)
			}
		})
	}
}

func verifier(revs RevocationChecker) *Verifier {
	return NewVerifier(Config{Clock: testkit.NewClock(testNow).Now, Revocations: revs})
}

func TestRevokedErrorNamesTheRevokedAncestor(t *testing.T) {
	c := newCast(t)
	root, leaf := chain2(t, c)
	revs := NewMemoryRevocations()
	revs.Revoke(root.ID())
	_, err := verifier(revs).Verify(context.Background(), leaf, Request{Remote: c.bob.ID(), Owner: c.owner.ID(), Resource: "calendar/work/mon", Action: Read})
	var re *RevokedError
	if !errors.As(err, &re) || !errors.Is(err, ErrRevoked) {
		t.Fatalf("err = %v, want a *RevokedError", err)
	}
	if re.ID != root.ID() || re.Link != 1 || re.Of != 2 {
		t.Fatalf("RevokedError = %+v, want root at link 1 of 2", re)
	}
}

func TestAParentsUseBudgetCoversAllItsDelegations(t *testing.T) {
	c := newCast(t)
	root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Share, MaxUses: 1})
	toBob := issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/*", Actions: Read, Parent: root})
	toCarol := issue(t, c.alice, Params{Audience: c.carol.ID(), Resource: "calendar/*", Actions: Read, Parent: root})
	v := verifier(nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, toBob, Request{Remote: c.bob.ID(), Owner: c.owner.ID(), Resource: "calendar/x", Action: Read}); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err := v.Verify(ctx, toCarol, Request{Remote: c.carol.ID(), Owner: c.owner.ID(), Resource: "calendar/x", Action: Read})
	if !errors.Is(err, ErrReplayed) {
		t.Fatalf("second use through a sibling = %v, want ErrReplayed", err)
	}
}

func TestAFailedSpendConsumesNothing(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryReplay(10)
	a, b := ID{1}, ID{2}
	until := testNow.Add(time.Hour)
	if err := m.Spend(ctx, testNow, []Budget{{ID: b, Max: 1, Until: until}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Spend(ctx, testNow, []Budget{{ID: a, Max: 1, Until: until}, {ID: b, Max: 1, Until: until}}); !errors.Is(err, ErrReplayed) {
		t.Fatalf("spend over budget = %v", err)
	}
	if err := m.Spend(ctx, testNow, []Budget{{ID: a, Max: 1, Until: until}}); err != nil {
		t.Fatalf("a was consumed by a failed spend: %v", err)
	}
}

func TestReplayStoreForgetsExpiredTokensAndRefusesWhenFull(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryReplay(2)
	mono := fakeMonotonic(&m.mark)
	soon, later := testNow.Add(time.Minute), testNow.Add(time.Hour)
	for i, u := range []Budget{{ID: ID{1}, Max: 5, Until: soon}, {ID: ID{2}, Max: 5, Until: later}} {
		if err := m.Spend(ctx, testNow, []Budget{u}); err != nil {
			t.Fatalf("spend %d: %v", i, err)
		}
	}
	if err := m.Spend(ctx, testNow, []Budget{{ID: ID{3}, Max: 5, Until: later}}); !errors.Is(err, ErrReplayFull) {
		t.Fatalf("third token in a full store = %v, want ErrReplayFull", err)
	}
	if err := m.Spend(ctx, testNow, []Budget{{ID: ID{2}, Max: 5, Until: later}}); err != nil {
		t.Fatalf("a known token must still be spendable when full: %v", err)
	}
	mono.advance(time.Minute) // real time passes, not just the clock
	if err := m.Spend(ctx, soon, []Budget{{ID: ID{3}, Max: 5, Until: later}}); err != nil {
		t.Fatalf("after the first token expired: %v", err)
	}
	if m.Len() != 2 {
		t.Fatalf("Len = %d, want 2 after GC", m.Len())
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Spend(cancelled, soon, []Budget{{ID: ID{4}, Max: 1, Until: later}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled spend = %v", err)
	}
}

func TestConcurrentUsesNeverExceedTheBudget(t *testing.T) {
	c := newCast(t)
	tok := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "files/*", Actions: Read, MaxUses: 7})
	v := verifier(nil)
	req := Request{Remote: c.bob.ID(), Owner: c.owner.ID(), Resource: "files/a", Action: Read}
	var ok, replayed atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), tok, req)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrReplayed):
				replayed.Add(1)
			default:
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 7 || replayed.Load() != 13 {
		t.Fatalf("%d accepted, %d replayed; want 7 and 13", ok.Load(), replayed.Load())
	}
}

func TestVerifyRequestAndConfigEdges(t *testing.T) {
	c := newCast(t)
	_, leaf := chain2(t, c)
	ctx := context.Background()
	good := Request{Remote: c.bob.ID(), Owner: c.owner.ID(), Resource: "calendar/work/mon", Action: Read}
	cases := []struct {
		name string
		v    *Verifier
		tok  *Token
		edit func(r *Request)
		want error
	}{
		{"a request for two actions at once is not permitted", verifier(nil), leaf, func(r *Request) { r.Action = Read | List }, ErrNotPermitted},
		{"a request with no action is not permitted", verifier(nil), leaf, func(r *Request) { r.Action = 0 }, ErrNotPermitted},
		{"a nil token is malformed", verifier(nil), nil, func(*Request) {}, ErrMalformed},
		{"a smaller configured skew expires sooner", NewVerifier(Config{Clock: testkit.NewClock(leaf.Expiry().Add(10 * time.Second)).Now, Skew: 5 * time.Second}), leaf, func(*Request) {}, ErrExpired},
		{"exactly expiry plus skew is expired", NewVerifier(Config{Clock: testkit.NewClock(leaf.Expiry().Add(DefaultSkew)).Now}), leaf, func(*Request) {}, ErrExpired},
		{"exactly not-before minus skew is valid", NewVerifier(Config{Clock: testkit.NewClock(leaf.NotBefore().Add(-DefaultSkew)).Now}), leaf, func(*Request) {}, nil},
		{"the default skew tolerates ten seconds", NewVerifier(Config{Clock: testkit.NewClock(leaf.Expiry().Add(10 * time.Second)).Now}), leaf, func(*Request) {}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := good
			tc.edit(&req)
			_, err := tc.v.Verify(ctx, tc.tok, req)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseActions(t *testing.T) {
	a, err := ParseActions(" share, read ,list")
	if err != nil || a != Read|List|Share || a.String() != "read,list,share" {
		t.Fatalf("ParseActions = %v %v", a, err)
	}
	for _, bad := range []string{"", "read,", "read,read", "Read", "execute"} {
		if _, err := ParseActions(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseActions(%q) = %v, want ErrMalformed", bad, err)
		}
	}
	if DefaultAgentCeiling&(Delete|Admin|Share) != 0 || validCeiling(DefaultAgentCeiling) != nil {
		t.Fatal("the default agent ceiling must be a valid ceiling without delete, admin or share")
	}
}

func TestVerifyListingChecksEverythingButTheResource(t *testing.T) {
	c := newCast(t)
	tok := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/*", Actions: Read | List})
	v := NewVerifier(Config{Clock: testkit.NewClock(testNow).Now})
	ctx := context.Background()
	if _, err := v.VerifyListing(ctx, tok, Request{Remote: c.bob.ID(), Owner: c.owner.ID(), Action: List}); err != nil {
		t.Fatalf("listing refused: %v", err)
	}
	if _, err := v.VerifyListing(ctx, tok, Request{Remote: c.carol.ID(), Owner: c.owner.ID(), Action: List}); !errors.Is(err, ErrWrongAudience) {
		t.Fatalf("listing by a stranger: %v", err)
	}
	if _, err := v.VerifyListing(ctx, tok, Request{Remote: c.bob.ID(), Owner: c.owner.ID(), Action: Read}); !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("listing with read: %v", err)
	}
	readOnly := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/*", Actions: Read})
	if _, err := v.VerifyListing(ctx, readOnly, Request{Remote: c.bob.ID(), Owner: c.owner.ID(), Action: List}); !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("listing without the list action: %v", err)
	}
}
