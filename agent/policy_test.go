package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// cast is an owner, an agent and a verifier on an injected clock.
type cast struct {
	owner, agent, other, device *keys.PeerKey
	clock                       *testkit.Clock
	v                           *capability.Verifier
	p                           Policy
}

func newCast(t *testing.T) *cast {
	t.Helper()
	c := &cast{owner: testkit.Key(t, "owner"), agent: testkit.Key(t, "agent"), other: testkit.Key(t, "other-agent"),
		device: testkit.Key(t, "device"), clock: testkit.NewClock(testkit.Epoch)}
	c.v = capability.NewVerifier(capability.Config{Clock: c.clock.Now})
	p, err := NewPolicy("helper", c.agent.ID(), 0, []capability.Pattern{"calendar/**", "notes/**"})
	if err != nil {
		t.Fatal(err)
	}
	c.p = p
	return c
}

// grant issues the agent a token through its policy.
func (c *cast) grant(t *testing.T, res capability.Pattern, a capability.Actions, uses int) *capability.Token {
	t.Helper()
	params, err := c.p.Grant(res, a, testkit.Epoch.Add(-time.Hour), testkit.Epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	params.MaxUses = uses
	tok, err := capability.Issue(c.owner, params)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (c *cast) req(a capability.Actions, path string) capability.Request {
	return capability.Request{Remote: c.agent.ID(), Owner: c.owner.ID(), Resource: capability.ResourcePath(path), Action: a}
}

func TestNames(t *testing.T) {
	for _, ok := range []string{"a", "helper", "mail-bot", "x9", strings.Repeat("a", MaxNameLen)} {
		if _, err := ParseName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "9lives", "-x", "Helper", "mail bot", "a/b", "a.b", "é", strings.Repeat("a", MaxNameLen+1)} {
		_, err := ParseName(bad)
		testkit.Sentence(t, bad, err, "agent's name", ErrBadPolicy)
	}
}

func TestPolicyRules(t *testing.T) {
	key := testkit.Key(t, "agent").ID()
	p, err := NewPolicy("helper", key, 0, []capability.Pattern{"calendar/**"})
	if err != nil || p.Actions != capability.Read|capability.List {
		t.Fatalf("the default ceiling is %v (%v), want read,list", p.Actions, err)
	}
	for _, a := range []capability.Actions{capability.Delete, capability.Admin, capability.Share, capability.Read | capability.Share} {
		_, err := NewPolicy("helper", key, a, []capability.Pattern{"calendar/**"})
		testkit.Sentence(t, a.String(), err, "may never hold", ErrBadPolicy, ErrCeiling, ErrRefused)
		var r *Refusal
		if !errors.As(err, &r) || r.Reason != ReasonCeiling || r.Agent != "helper" || r.Action&^(capability.Read) == 0 {
			t.Errorf("%v: the refusal does not name the agent and the action: %+v", a, r)
		}
	}
	for name, paths := range map[string][]capability.Pattern{
		"none": nil, "bad": {"Calendar/**"}, "too many": make([]capability.Pattern, MaxPolicyPaths+1),
	} {
		if _, err := NewPolicy("helper", key, 0, paths); !errors.Is(err, ErrBadPolicy) {
			t.Errorf("paths %s: %v", name, err)
		}
	}
	if _, err := NewPolicy("helper", "", 0, []capability.Pattern{"a"}); !errors.Is(err, ErrBadPolicy) {
		t.Error("a policy without a key passed")
	}
	p.Trusted = OpIssue
	if !errors.Is(p.Validate(), ErrBadPolicy) {
		t.Error("issuing was trusted without approval")
	}
	p.Trusted = 0
	if !p.NeedsApproval(OpIssue) || !p.NeedsApproval(OpSecretUse) {
		t.Error("the zero policy trusts something")
	}
	p.Trusted = OpSecretUse
	if !p.NeedsApproval(OpIssue) || p.NeedsApproval(OpSecretUse) {
		t.Error("trusting secret use did not take, or trusted issuing")
	}
}

func TestCheck(t *testing.T) {
	c := newCast(t)
	if !c.p.Allows(capability.Read, "calendar/work/2026") || !c.p.Allows(capability.List, "notes/a") {
		t.Fatal("the policy refuses its own paths")
	}
	err := c.p.Check(capability.Delete, "calendar/work")
	testkit.Sentence(t, "delete", err, `agent "helper" may not delete: its ceiling allows read,list only`, ErrCeiling, ErrRefused)
	err = c.p.Check(capability.Read, "contacts/bob")
	testkit.Sentence(t, "outside", err, "may not read contacts/bob: its paths are calendar/**, notes/**", ErrScope)
	var r *Refusal
	if !errors.As(err, &r) || r.Reason != ReasonScope || r.Path != "contacts/bob" {
		t.Errorf("refusal %+v", r)
	}
	err = c.p.Check(capability.Read, "Calendar/x")
	testkit.Sentence(t, "bad path", err, "not valid", ErrScope)
	if strings.Contains(err.Error(), "Calendar") {
		t.Error("an invalid path is echoed")
	}
	if err := c.p.CheckPattern(capability.Read, "calendar/*"); err != nil {
		t.Error(err)
	}
	if err := c.p.CheckPattern(capability.Read, "**"); !errors.Is(err, ErrScope) {
		t.Errorf("a pattern wider than the policy passed: %v", err)
	}
}

// TestGrantRefusesAtIssuance: delete, admin, share and write (above this
// policy's ceiling) are refused before anything is signed, and a path
// outside the policy too.
func TestGrantRefusesAtIssuance(t *testing.T) {
	c := newCast(t)
	for _, a := range []capability.Actions{capability.Delete, capability.Admin, capability.Share, capability.Write, capability.Read | capability.Delete} {
		_, err := c.p.Grant("calendar/**", a, testkit.Epoch, testkit.Epoch.Add(time.Hour))
		var r *Refusal
		if !errors.As(err, &r) || r.Reason != ReasonCeiling || !errors.Is(err, ErrCeiling) {
			t.Errorf("%v granted: %v", a, err)
		}
	}
	if _, err := c.p.Grant("secrets/**", capability.Read, testkit.Epoch, testkit.Epoch.Add(time.Hour)); !errors.Is(err, ErrScope) {
		t.Errorf("a grant outside the paths: %v", err)
	}
	params, err := c.p.Grant("calendar/**", capability.Read, testkit.Epoch, testkit.Epoch.Add(time.Hour))
	if err != nil || params.Ceiling != c.p.Actions || params.Audience != c.agent.ID() {
		t.Fatalf("a grant without the ceiling or the agent's key: %+v %v", params, err)
	}
}

// TestCeilingsHoldThroughDelegation: an agent's token cannot be delegated
// onwards, a delegation to the agent above its ceiling cannot be issued,
// and a chain through a delegate verifies only with the ceiling on it.
func TestCeilingsHoldThroughDelegation(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	nb, exp := testkit.Epoch.Add(-time.Hour), testkit.Epoch.Add(time.Hour)
	// The agent tries to share its token further.
	leaf := c.grant(t, "calendar/**", capability.Read, 0)
	_, err := capability.Issue(c.agent, capability.Params{Audience: c.other.ID(), Resource: "calendar/**",
		Actions: capability.Read, NotBefore: nb, Expiry: exp, Parent: leaf})
	if !errors.Is(err, capability.ErrNoShare) {
		t.Fatalf("an agent delegated its token: %v", err)
	}
	// owner → device (share, no ceiling) → device → agent.
	root, err := capability.Issue(c.owner, capability.Params{Audience: c.device.ID(), Resource: "calendar/**",
		Actions: capability.Read | capability.Write | capability.Share | capability.Delete, NotBefore: nb, Expiry: exp})
	if err != nil {
		t.Fatal(err)
	}
	_, err = capability.Issue(c.device, capability.Params{Audience: c.agent.ID(), Resource: "calendar/**",
		Actions: capability.Read | capability.Delete, NotBefore: nb, Expiry: exp, Ceiling: c.p.Actions, Parent: root})
	if !errors.Is(err, capability.ErrCeiling) {
		t.Fatalf("a delegation above the agent's ceiling was issued: %v", err)
	}
	// The delegate forgets the ceiling: the agent's call is refused.
	bare, err := capability.Issue(c.device, capability.Params{Audience: c.agent.ID(), Resource: "calendar/**",
		Actions: capability.Read | capability.Write, NotBefore: nb, Expiry: exp, Parent: root})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.p.Authorize(ctx, c.v, bare, c.req(capability.Read, "calendar/a"))
	testkit.Sentence(t, "no ceiling", err, "without its ceiling", ErrCeiling, ErrRefused)
	_, err = c.p.Authorize(ctx, c.v, bare, c.req(capability.Write, "calendar/a"))
	if !errors.Is(err, ErrCeiling) {
		t.Fatalf("write through a chain without a ceiling: %v", err)
	}
	// With the ceiling the chain serves reads, and nothing more.
	good, err := capability.Issue(c.device, capability.Params{Audience: c.agent.ID(), Resource: "calendar/work/*",
		Actions: capability.Read, NotBefore: nb, Expiry: exp, Ceiling: c.p.Actions, Parent: root})
	if err != nil {
		t.Fatal(err)
	}
	if vd, err := c.p.Authorize(ctx, c.v, good, c.req(capability.Read, "calendar/work/today")); err != nil || len(vd.Chain) != 2 {
		t.Fatalf("a read through a ceilinged chain: %v", err)
	}
	for _, a := range []capability.Actions{capability.Delete, capability.Write, capability.Share} {
		_, err := c.p.Authorize(ctx, c.v, good, c.req(a, "calendar/work/today"))
		var r *Refusal
		if !errors.As(err, &r) || r.Reason != ReasonCeiling || r.Action != a {
			t.Errorf("%v through the chain: %v", a, err)
		}
	}
	// A ceiling wider than the policy's (read, list, write) is refused.
	wide, err := capability.Issue(c.device, capability.Params{Audience: c.agent.ID(), Resource: "calendar/**",
		Actions: capability.Read, NotBefore: nb, Expiry: exp, Ceiling: capability.Read | capability.Write, Parent: root})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.p.Authorize(ctx, c.v, wide, c.req(capability.Read, "calendar/a")); !errors.Is(err, ErrCeiling) {
		t.Fatalf("a ceiling above the policy's: %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	tok := c.grant(t, "calendar/**", capability.Read|capability.List, 2)
	if _, err := c.p.Authorize(ctx, c.v, tok, c.req(capability.Read, "calendar/work")); err != nil {
		t.Fatal(err)
	}
	// Another key presenting the agent's token (a replayed call).
	r := c.req(capability.Read, "calendar/work")
	r.Remote = c.other.ID()
	_, err := c.p.Authorize(ctx, c.v, tok, r)
	testkit.Sentence(t, "other key", err, `not signed with agent "helper"'s key`, ErrWrongKey, ErrRefused)
	// Refusals before verification spend nothing: the budget of 2 still
	// has one use after a delete, a path outside and a wrong key.
	if _, err := c.p.Authorize(ctx, c.v, tok, c.req(capability.Delete, "calendar/work")); !errors.Is(err, ErrCeiling) {
		t.Fatal(err)
	}
	if _, err := c.p.Authorize(ctx, c.v, tok, c.req(capability.Read, "notes/x")); !errors.Is(err, capability.ErrNotPermitted) {
		t.Fatalf("a path the policy allows and the token does not: %v", err)
	}
	// That one reached verification, which refused it before spending.
	if _, err := c.p.Authorize(ctx, c.v, tok, c.req(capability.Read, "calendar/home")); err != nil {
		t.Fatalf("the budget was spent by refusals: %v", err)
	}
	_, err = c.p.Authorize(ctx, c.v, tok, c.req(capability.Read, "calendar/home"))
	testkit.Sentence(t, "spent", err, "uses are spent", capability.ErrReplayed, ErrRefused)
	var rf *Refusal
	if !errors.As(err, &rf) || rf.Reason != ReasonToken {
		t.Fatal(rf)
	}
	// Expiry on the injected clock.
	tok2 := c.grant(t, "calendar/**", capability.Read, 0)
	c.clock.Advance(3 * time.Hour)
	_, err = c.p.Authorize(ctx, c.v, tok2, c.req(capability.Read, "calendar/a"))
	testkit.Sentence(t, "expired", err, "its token has expired", capability.ErrExpired)
	if _, err := c.p.Authorize(ctx, c.v, nil, c.req(capability.Read, "calendar/a")); !errors.Is(err, ErrRefused) {
		t.Fatal("a call without a token passed")
	}
}

func TestAuthorizeListing(t *testing.T) {
	c := newCast(t)
	ctx := context.Background()
	tok := c.grant(t, "calendar/**", capability.List, 0)
	if _, err := c.p.AuthorizeListing(ctx, c.v, tok, c.req(capability.List, "calendar")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.p.AuthorizeListing(ctx, c.v, tok, c.req(capability.List, "secrets")); !errors.Is(err, ErrScope) {
		t.Fatalf("listing secrets: %v", err)
	}
	if _, err := c.p.AuthorizeListing(ctx, c.v, tok, c.req(capability.Write, "calendar")); !errors.Is(err, ErrCeiling) {
		t.Fatalf("a listing with write: %v", err)
	}
}

// TestSecretsAreOnlyUsed: a policy reaching secrets, with read in its
// ceiling, still only uses them: no read, list, token or share of one.
func TestSecretsAreOnlyUsed(t *testing.T) {
	c := newCast(t)
	p, err := NewPolicy("helper", c.agent.ID(), capability.Read|capability.List|capability.Use,
		[]capability.Pattern{"secrets/embeddings", "**"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Allows(capability.Use, "secrets/embeddings") || !p.Allows(capability.Read, "calendar/x") {
		t.Fatal("use of a secret or a read elsewhere refused")
	}
	for _, a := range []capability.Actions{capability.Read, capability.List} {
		err := p.Check(a, "secrets/embeddings")
		testkit.Sentence(t, a.String(), err, "never read, list or share secrets", ErrScope)
	}
	for _, pat := range []capability.Pattern{"secrets/**", "**", "*/embeddings"} {
		if _, err := p.Grant(pat, capability.Read, testkit.Epoch, testkit.Epoch.Add(time.Hour)); !errors.Is(err, ErrScope) {
			t.Errorf("a read token on %s: %v", pat, err)
		}
	}
	if _, err := p.Grant("secrets/embeddings", capability.Use, testkit.Epoch, testkit.Epoch.Add(time.Hour)); err != nil {
		t.Fatalf("a use token: %v", err)
	}
	if _, err := p.Grant("**", capability.List, testkit.Epoch, testkit.Epoch.Add(time.Hour)); !errors.Is(err, ErrScope) {
		t.Fatalf("a list token over everything: %v", err)
	}
	p.Paths = []capability.Pattern{"calendar/**", "secrets/embeddings"}
	params, err := p.Grant("calendar/**", capability.List, testkit.Epoch.Add(-time.Hour), testkit.Epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ltok, err := capability.Issue(c.owner, params)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AuthorizeListing(context.Background(), c.v, ltok, c.req(capability.List, "secrets")); !errors.Is(err, ErrScope) {
		t.Fatalf("listing secrets: %v", err)
	}
}
