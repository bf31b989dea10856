package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

// TestTokenInspectJudgesTimeAsTheOwner: inspect accepts what the owner's
// verifier accepts (a token inside the clock skew is VALID, with the note
// that the skew decides) and refuses what it refuses, as not valid yet or
// expired, naming the skew.
func TestTokenInspectJudgesTimeAsTheOwner(t *testing.T) {
	c := newCLI(t)
	owner, holder := testkit.Key(t, "alice"), testkit.Key(t, "bob")
	issue := func(from, until time.Duration) string {
		now := time.Now().Truncate(time.Second)
		tok, err := capability.Issue(owner, capability.Params{Audience: holder.ID(), Resource: "calendar/*", Actions: capability.Read,
			NotBefore: now.Add(from), Expiry: now.Add(until)})
		if err != nil {
			t.Fatal(err)
		}
		return tok.String()
	}
	out := c.ok("", nil, "token", "inspect", issue(-time.Hour, -10*time.Second))
	if !strings.Contains(out, "VALID, but expired ") || !strings.Contains(out, "from now: the owner allows 60s of clock skew)") {
		t.Fatalf("a token 10 s past its expiry is accepted by the owner; inspect says:\n%s", out)
	}
	c.fails("", nil, "the token is not valid: it has expired: expired ", "token", "inspect", issue(-3*time.Hour, -2*time.Hour))
	c.fails("", nil, "ago: the owner allows 60s of clock skew)", "token", "inspect", issue(-3*time.Hour, -2*time.Hour))
	c.fails("", nil, "the token is not valid: it is not valid yet: not valid until ", "token", "inspect", issue(time.Hour, 2*time.Hour))
}
