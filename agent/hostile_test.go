package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

// call is the node's order for one agent call: count it (a locked agent
// stops here), then authorize it. Every refusal comes back with what the
// audit record needs.
func call(c *cast, ctr *Counters, tok *capability.Token, req capability.Request) (Reason, error) {
	id := capability.ID{}
	if tok != nil {
		id = tok.ID()
	}
	if err := ctr.Record(context.Background(), c.p.Name, id); err != nil {
		return ReasonLocked, err
	}
	_, err := c.p.Authorize(context.Background(), c.v, tok, req)
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason, err
	}
	return "", err
}

// TestMaliciousAgent runs a prompt-injected agent's script: each attempt
// is refused with a reason naming it, and the flood ends in a lock.
func TestMaliciousAgent(t *testing.T) {
	c := newCast(t)
	ctr := openCounters(t, CounterConfig{Now: c.clock.Now})
	tok := c.grant(t, "calendar/**", capability.Read|capability.List, 0)
	if why, err := call(c, ctr, tok, c.req(capability.Read, "calendar/work")); err != nil {
		t.Fatalf("the allowed read: %s %v", why, err)
	}
	for name, tc := range map[string]struct {
		req  capability.Request
		want Reason
	}{
		"delete":       {c.req(capability.Delete, "calendar/work"), ReasonCeiling},
		"share":        {c.req(capability.Share, "calendar/work"), ReasonCeiling},
		"admin":        {c.req(capability.Admin, "calendar/work"), ReasonCeiling},
		"read secret":  {c.req(capability.Read, "secrets/openai"), ReasonScope},
		"use secret":   {c.req(capability.Use, "secrets/openai"), ReasonCeiling},
		"out of paths": {c.req(capability.Read, "contacts/bob"), ReasonScope},
		"another key": {capability.Request{Remote: c.other.ID(), Owner: c.owner.ID(),
			Resource: "calendar/work", Action: capability.Read}, ReasonKey},
	} {
		why, err := call(c, ctr, tok, tc.req)
		var r *Refusal
		if why != tc.want || !errors.As(err, &r) || r.Agent != "helper" || r.Action != tc.req.Action {
			t.Errorf("%s: %s, %v; want a %s refusal naming the agent and the action", name, why, err, tc.want)
		}
	}
	// Sharing onwards by delegation.
	if _, err := capability.Issue(c.agent, capability.Params{Audience: c.other.ID(), Resource: "calendar/**",
		Actions: capability.Read, NotBefore: testkit.Epoch, Expiry: testkit.Epoch.Add(time.Minute), Parent: tok}); err == nil {
		t.Fatal("the agent delegated its token")
	}
	// The flood.
	var locked *LockedError
	for i := 0; i < 10000 && locked == nil; i++ {
		c.clock.Advance(50 * time.Millisecond)
		if why, err := call(c, ctr, tok, c.req(capability.Read, "calendar/work")); why == ReasonLocked {
			if !errors.As(err, &locked) || !locked.New {
				t.Fatalf("the first lock refusal: %v", err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if locked == nil {
		t.Fatal("10,000 calls did not lock the agent")
	}
	if why, err := call(c, ctr, tok, c.req(capability.Read, "calendar/work")); why != ReasonLocked || errors.As(err, &locked) && locked.New {
		t.Fatalf("a call after the lock: %s %v", why, err)
	}
}
