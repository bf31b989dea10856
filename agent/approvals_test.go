package agent

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

type approvalsCast struct {
	clk   *testkit.Clock
	store ds.Batching
	a     *Approvals
	p     Policy
}

func newApprovals(t *testing.T) *approvalsCast {
	t.Helper()
	c := &approvalsCast{clk: testkit.NewClock(testkit.Epoch), store: newStore()}
	c.a = c.open(t)
	p, err := NewPolicy("helper", testkit.Key(t, "agent").ID(), capability.Read|capability.List|capability.Use,
		[]capability.Pattern{"calendar/**", "secrets/embeddings"})
	if err != nil {
		t.Fatal(err)
	}
	c.p = p
	return c
}

func (c *approvalsCast) open(t *testing.T) *Approvals {
	t.Helper()
	a, err := OpenApprovals(context.Background(), ApprovalConfig{Store: c.store, Now: c.clk.Now, Rand: testkit.NewRand(t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var share = Request{Op: OpIssue, Audience: "bob", Resource: "calendar/*", Actions: capability.Read, Validity: 7 * 24 * time.Hour}

func TestApprovalLifecycle(t *testing.T) {
	ctx := context.Background()
	c := newApprovals(t)
	sub, err := c.a.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ap, err := c.a.Ask(ctx, c.p, share)
	if err != nil {
		t.Fatal(err)
	}
	if len(ap.ID) != 2*IDBytes || ap.State != Pending || ap.Agent != "helper" || !ap.Expires.Equal(testkit.Epoch.Add(DefaultApprovalTTL)) {
		t.Fatalf("%+v", ap)
	}
	if got := ap.String(); !strings.HasPrefix(got, ap.ID+"  pending  agent helper: share calendar/* with bob: read, for 7 days") {
		t.Fatalf("the line mesh approvals prints: %q", got)
	}
	if ev := testkit.Within(t, 5*time.Second, sub.C, "the asked event"); ev.Kind != EventAsked || ev.Approval.ID != ap.ID {
		t.Fatalf("%+v", ev)
	}
	c.clk.Advance(time.Minute)
	got, err := c.a.Approve(ctx, ap.ID)
	if err != nil || got.State != Approved || !got.Decided.Equal(testkit.Epoch.Add(time.Minute)) || got.Request != share {
		t.Fatalf("%+v %v", got, err)
	}
	if ev := testkit.Within(t, 5*time.Second, sub.C, "the approved event"); ev.Kind != EventApproved {
		t.Fatalf("%+v", ev)
	}
	_, err = c.a.Deny(ctx, ap.ID)
	testkit.Sentence(t, "deny after approve", err, "was already approved", ErrDecided)
	// Denied.
	ap2, _ := c.a.Ask(ctx, c.p, share)
	if d, err := c.a.Deny(ctx, ap2.ID); err != nil || d.State != Denied {
		t.Fatal(err)
	}
	// Expired on the injected clock, announced by Sweep, and refused.
	c.clk.Advance(time.Second)
	ap3, _ := c.a.Ask(ctx, c.p, Request{Op: OpSecretUse, Resource: "secrets/embeddings", Actions: capability.Use, Target: "api.example.com"})
	if ap3.Intent() != "use the secret secrets/embeddings in a call to api.example.com" {
		t.Fatal(ap3.Intent())
	}
	c.clk.Advance(DefaultApprovalTTL - time.Second)
	if g, _ := c.a.Get(ctx, ap3.ID); g.State != Pending {
		t.Fatal("expired early")
	}
	c.clk.Advance(time.Second)
	if err := c.a.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		ev := testkit.Within(t, 5*time.Second, sub.C, "the expired event")
		if ev.Kind == EventExpired {
			if ev.Approval.ID != ap3.ID || ev.Approval.State != Expired {
				t.Fatalf("%+v", ev)
			}
			break
		}
	}
	_, err = c.a.Approve(ctx, ap3.ID)
	testkit.Sentence(t, "approve expired", err, "expired", ErrExpired)
	list, _ := c.a.List(ctx)
	if len(list) != 3 || list[0].ID != ap.ID || list[2].State != Expired {
		t.Fatalf("%+v", list)
	}
	// Restart: the same approvals, the same states.
	again, _ := c.open(t).List(ctx)
	if len(again) != 3 || again[0] != list[0] || again[1] != list[1] || again[2] != list[2] {
		t.Fatalf("after reopening: %+v\nwant %+v", again, list)
	}
	// Decided ones are forgotten after KeepDecided.
	c.clk.Advance(KeepDecided)
	if l, _ := c.a.List(ctx); len(l) != 0 {
		t.Fatalf("%d kept after a day", len(l))
	}
	_, err = c.a.Get(ctx, ap.ID)
	testkit.Sentence(t, "gone", err, "mesh approvals", ErrNotFound)
}

func TestApprovalRequestRules(t *testing.T) {
	ctx := context.Background()
	c := newApprovals(t)
	bad := map[string]Request{
		"bad handle":      {Op: OpIssue, Audience: "Bob!", Resource: "calendar/*", Actions: capability.Read, Validity: time.Hour},
		"too short":       {Op: OpIssue, Audience: "bob", Resource: "calendar/*", Actions: capability.Read, Validity: time.Second},
		"too long":        {Op: OpIssue, Audience: "bob", Resource: "calendar/*", Actions: capability.Read, Validity: MaxValidity + time.Hour},
		"host on share":   {Op: OpIssue, Audience: "bob", Resource: "calendar/*", Actions: capability.Read, Validity: time.Hour, Target: "x.com"},
		"no op":           {Audience: "bob", Resource: "calendar/*", Actions: capability.Read, Validity: time.Hour},
		"two ops":         {Op: OpIssue | OpSecretUse, Audience: "bob", Resource: "calendar/*", Actions: capability.Read, Validity: time.Hour},
		"bad pattern":     {Op: OpIssue, Audience: "bob", Resource: "Calendar", Actions: capability.Read, Validity: time.Hour},
		"no action":       {Op: OpIssue, Audience: "bob", Resource: "calendar/*", Validity: time.Hour},
		"secret wildcard": {Op: OpSecretUse, Resource: "secrets/*", Actions: capability.Use, Target: "a.com"},
		"secret read":     {Op: OpSecretUse, Resource: "secrets/embeddings", Actions: capability.Read, Target: "a.com"},
		"bad host":        {Op: OpSecretUse, Resource: "secrets/embeddings", Actions: capability.Use, Target: "http://a.com"},
		"secret to bob":   {Op: OpSecretUse, Audience: "bob", Resource: "secrets/embeddings", Actions: capability.Use, Target: "a.com"},
	}
	for name, r := range bad {
		_, err := c.a.Ask(ctx, c.p, r)
		testkit.Sentence(t, name, err, "", ErrBadRequest)
	}
	// Within the rules but beyond the agent's policy.
	for name, r := range map[string]Request{
		"share delete":    {Op: OpIssue, Audience: "bob", Resource: "calendar/*", Actions: capability.Delete, Validity: time.Hour},
		"share further":   {Op: OpIssue, Audience: "bob", Resource: "calendar/*", Actions: capability.Read | capability.Share, Validity: time.Hour},
		"outside paths":   {Op: OpIssue, Audience: "bob", Resource: "notes/**", Actions: capability.Read, Validity: time.Hour},
		"another secret":  {Op: OpSecretUse, Resource: "secrets/openai", Actions: capability.Use, Target: "a.com"},
		"wider than mine": {Op: OpIssue, Audience: "bob", Resource: "**", Actions: capability.Read, Validity: time.Hour},
	} {
		_, err := c.a.Ask(ctx, c.p, r)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if l, _ := c.a.List(ctx); len(l) != 0 {
		t.Fatalf("refused requests were stored: %+v", l)
	}
}

// TestApprovalBounds: one agent's flood stops at MaxPendingPerAgent; the
// store stops at its cap, making room by forgetting decided approvals.
func TestApprovalBounds(t *testing.T) {
	ctx := context.Background()
	c := newApprovals(t)
	for i := range MaxPendingPerAgent {
		if _, err := c.a.Ask(ctx, c.p, share); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := c.a.Ask(ctx, c.p, share)
	testkit.Sentence(t, "flood", err, "already has 16 requests waiting", ErrTooMany)

	small, err := OpenApprovals(ctx, ApprovalConfig{Store: newStore(), Now: c.clk.Now, Max: 20})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 20 {
		p := c.p
		p.Name = []string{"a", "b"}[i%2]
		ap, err := small.Ask(ctx, p, share)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		ids = append(ids, ap.ID)
	}
	_, err = small.Ask(ctx, c.p, share)
	testkit.Sentence(t, "full", err, "20 requests are waiting", ErrTooMany)
	small.Deny(ctx, ids[3])
	c.clk.Advance(time.Second)
	small.Deny(ctx, ids[5])
	if _, err := small.Ask(ctx, c.p, share); err != nil {
		t.Fatalf("a decided approval did not make room: %v", err)
	}
	if _, err := small.Get(ctx, ids[3]); !errors.Is(err, ErrNotFound) {
		t.Fatal("the oldest decided approval was kept")
	}
	if _, err := small.Get(ctx, ids[5]); err != nil {
		t.Fatal("a newer decided approval was dropped")
	}
	for range MaxSubscribers {
		if _, err := small.Subscribe(1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := small.Subscribe(1); !errors.Is(err, ErrTooMany) {
		t.Fatal("subscribers are not bounded")
	}
}

// TestSlowSubscriber: a subscriber that never reads costs the producer
// nothing; its missed events are counted.
func TestSlowSubscriber(t *testing.T) {
	ctx := context.Background()
	c := newApprovals(t)
	slow, _ := c.a.Subscribe(2)
	fast, _ := c.a.Subscribe(100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 10; i++ {
			ap, err := c.a.Ask(ctx, c.p, share)
			if err != nil {
				t.Error(err)
				return
			}
			c.a.Deny(ctx, ap.ID)
		}
	}()
	testkit.Within(t, 10*time.Second, done, "the producer blocked on a slow subscriber")
	if slow.Dropped() != 18 || fast.Dropped() != 0 || len(fast.C) != 20 {
		t.Fatalf("dropped %d (want 18), fast dropped %d and holds %d", slow.Dropped(), fast.Dropped(), len(fast.C))
	}
	slow.Close()
	slow.Close()
	if _, ok := <-slow.C; !ok {
		t.Fatal("the buffered events were lost")
	}
}

// TestNoSecretInApprovals: a secret-looking value an agent puts in a
// request is never echoed by a refusal, and nothing but the fields is
// stored or published.
func TestNoSecretInApprovals(t *testing.T) {
	ctx := context.Background()
	c := newApprovals(t)
	const canary = "SK-LIVE-CANARY-7f3a9c"
	sub, _ := c.a.Subscribe(0)
	for _, r := range []Request{
		{Op: OpIssue, Audience: canary, Resource: "calendar/*", Actions: capability.Read, Validity: time.Hour},
		{Op: OpIssue, Audience: "bob", Resource: capability.Pattern("calendar/" + canary), Actions: capability.Read, Validity: time.Hour},
		{Op: OpSecretUse, Resource: "secrets/embeddings", Actions: capability.Use, Target: canary},
	} {
		_, err := c.a.Ask(ctx, c.p, r)
		if err == nil || strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), strings.ToLower(canary)) {
			t.Fatalf("%v", err)
		}
	}
	_, err := c.a.Get(ctx, canary)
	if strings.Contains(err.Error(), canary) {
		t.Fatalf("a long ID is echoed whole: %v", err)
	}
	ap, _ := c.a.Ask(ctx, c.p, share)
	c.a.Approve(ctx, ap.ID)
	res, _ := c.store.Query(ctx, queryAll)
	all, _ := res.Rest()
	for _, e := range all {
		if bytes.Contains(bytes.ToLower(e.Value), []byte(strings.ToLower(canary))) {
			t.Fatal("the canary was stored")
		}
	}
	if len(sub.C) != 2 {
		t.Fatalf("%d events, want 2", len(sub.C))
	}
}

func TestStoredApprovalsAreChecked(t *testing.T) {
	ctx := context.Background()
	c := newApprovals(t)
	ap, _ := c.a.Ask(ctx, c.p, share)
	good := (&ap).encode()
	// Stored under another ID's key, or broken: dropped on opening.
	c.store.Put(ctx, approvalKey("0000000000000000"), good)
	c.store.Put(ctx, approvalKey("1111111111111111"), good[:len(good)-1])
	a := c.open(t)
	if a.Dropped() != 2 {
		t.Fatalf("%d dropped, want 2", a.Dropped())
	}
	if l, _ := a.List(ctx); len(l) != 1 || l[0] != ap {
		t.Fatalf("%+v", l)
	}
}
