package capability

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

func TestInspectReportsAValidChain(t *testing.T) {
	c := newCast(t)
	root, leaf := chain2(t, c)
	r := Inspect(leaf.String(), InspectClock(testkit.NewClock(testNow).Now), InspectOwner(c.owner.ID()), InspectRemote(c.bob.ID()),
		InspectRevocations(NewMemoryRevocations()))
	if !r.Valid || r.Verdict != "valid" || r.Error != "" {
		t.Fatalf("report not valid: %+v", r)
	}
	if r.Issuer != c.owner.ID() || r.Audience != c.bob.ID() || r.Resource != "calendar/work/*" || r.Actions != Read|List {
		t.Fatalf("wrong summary: %+v", r)
	}
	if len(r.Chain) != 2 || r.Chain[0].ID != root.ID() || r.Chain[1].ID != leaf.ID() || r.Chain[1].Issuer != c.alice.ID() {
		t.Fatalf("wrong chain: %+v", r.Chain)
	}
	if strings.Join(r.NotChecked, ",") != "request,uses" {
		t.Fatalf("not checked = %v", r.NotChecked)
	}
	text := r.String()
	for _, want := range []string{"VALID", root.ID().Short(), leaf.ID().String(), "calendar/work/*", "read,list,share", c.alice.ID().String()} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back["id"] != leaf.ID().String() || back["valid"] != true || back["issuer"] != c.owner.ID().String() {
		t.Fatalf("json: %s", js)
	}
	if acts, _ := back["actions"].([]any); len(acts) != 2 || acts[0] != "read" {
		t.Fatalf("json actions: %s", js)
	}
}

func TestInspectGivesTheExactReason(t *testing.T) {
	c := newCast(t)
	root, leaf := chain2(t, c)
	revs := NewMemoryRevocations()
	revs.Revoke(root.ID())
	cases := []struct {
		name string
		text string
		opts []InspectOption
		want string
	}{
		{"garbage is malformed", "hello", nil, "ErrMalformed"},
		{"an expired chain says so", leaf.String(), []InspectOption{InspectClock(testkit.NewClock(testNow.Add(2 * time.Hour)).Now)}, "ErrExpired"},
		{"a revoked root says so", leaf.String(), []InspectOption{InspectRevocations(revs)}, "ErrRevoked"},
		{"another owner says so", leaf.String(), []InspectOption{InspectOwner(c.mallory.ID())}, "ErrWrongOwner"},
		{"another remote says so", leaf.String(), []InspectOption{InspectRemote(c.mallory.ID())}, "ErrWrongAudience"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]InspectOption{InspectClock(testkit.NewClock(testNow).Now)}, tc.opts...)
			r := Inspect(tc.text, opts...)
			if r.Valid || r.Verdict != "invalid" || r.Error != tc.want || r.Reason == "" {
				t.Fatalf("got %q %q %q, want %s", r.Verdict, r.Error, r.Reason, tc.want)
			}
			if !strings.Contains(r.String(), tc.want) {
				t.Fatalf("text lacks the reason:\n%s", r)
			}
		})
	}
}
