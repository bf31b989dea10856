package capability

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestThreeVerdictsAgree: a one-second token, checked before, inside and
// after the window widened by the skew, gets one verdict from the owner's
// verifier, from inspect, from CheckToken (a holder's node accepting a
// token by hand) and from WindowOf(tok).Check (a holder's node judging a
// grant it holds), with the same words.
func TestThreeVerdictsAgree(t *testing.T) {
	c := newCast(t)
	nbf := testNow
	tok := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/*", Actions: Read, NotBefore: nbf, Expiry: nbf.Add(time.Second)})
	exp := tok.Expiry()
	for _, tc := range []struct {
		name string
		at   time.Time
		want error  // nil: accepted
		note string // what the words say, "" for none
	}{
		{"61 s before the start: not valid yet", nbf.Add(-61 * time.Second), ErrNotYetValid,
			"not valid until 2026-03-01T12:00:00Z, 61s from now (accepted from 1s from now: the owner allows 60s of clock skew)"},
		{"60 s before the start: accepted, the skew's first second", nbf.Add(-60 * time.Second), nil,
			"not valid until 2026-03-01T12:00:00Z, 60s from now (accepted from now: the owner allows 60s of clock skew)"},
		{"30 s before the start: accepted", nbf.Add(-30 * time.Second), nil,
			"not valid until 2026-03-01T12:00:00Z, 30s from now (accepted from 30s ago: the owner allows 60s of clock skew)"},
		{"inside its own second: accepted, no note", nbf.Add(500 * time.Millisecond), nil, ""},
		{"3 s after expiry: accepted", exp.Add(3 * time.Second), nil,
			"expired 2026-03-01T12:00:01Z, 3s ago (accepted until 57s from now: the owner allows 60s of clock skew)"},
		{"59.9 s after expiry: accepted", exp.Add(59900 * time.Millisecond), nil,
			"expired 2026-03-01T12:00:01Z, 59s ago (accepted until now: the owner allows 60s of clock skew)"},
		{"60 s after expiry: expired", exp.Add(60 * time.Second), ErrExpired,
			"expired 2026-03-01T12:00:01Z, 60s ago (accepted until now: the owner allows 60s of clock skew)"},
		{"2 h after expiry: expired", exp.Add(2 * time.Hour), ErrExpired,
			"expired 2026-03-01T12:00:01Z, 2h ago (accepted until 1h59m ago: the owner allows 60s of clock skew)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := func() time.Time { return tc.at }
			v := NewVerifier(Config{Clock: now})
			_, owner := v.Verify(context.Background(), tok, Request{Remote: c.bob.ID(), Owner: c.owner.ID(), Resource: "calendar/work", Action: Read})
			rep := Inspect(tok.String(), InspectClock(now))
			holder := CheckToken(tok, InspectRemote(c.bob.ID()), InspectClock(now))
			held := WindowOf(tok).Check(tc.at)
			for name, err := range map[string]error{"owner": owner, "inspect": reportErr(rep), "holder": holder, "held grant": held} {
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("%s: %v, want %v", name, err, tc.want)
				}
			}
			if tc.want != nil {
				var te *TimeError
				if !errors.As(owner, &te) || te.Early() != (tc.want == ErrNotYetValid) {
					t.Fatalf("the owner's error is not a *TimeError of the right side: %#v", owner)
				}
				want := "capability: link 1 of 1: " + tc.note + ": " + tc.want.Error()
				if owner.Error() != want || rep.Reason != want || holder.Error() != want {
					t.Fatalf("the words differ:\nowner   %v\ninspect %s\nholder  %v\nwant    %s", owner, rep.Reason, holder, want)
				}
				if held.Error() != "capability: "+tc.note+": "+tc.want.Error() {
					t.Fatalf("held grant: %v", held)
				}
			}
			if rep.Note != tc.note || WindowOf(tok).Note(tc.at) != tc.note {
				t.Fatalf("note:\n%q\nwant\n%q", rep.Note, tc.note)
			}
			if tc.want == nil && tc.note != "" && !strings.Contains(rep.String(), "VALID, but "+tc.note) {
				t.Fatalf("inspect text does not say the skew decides:\n%s", rep)
			}
			if !rep.AcceptedFrom.Equal(nbf.Add(-DefaultSkew)) || !rep.AcceptedUntil.Equal(exp.Add(DefaultSkew)) || rep.SkewSeconds != 60 {
				t.Fatalf("accepted %s to %s, skew %d", rep.AcceptedFrom, rep.AcceptedUntil, rep.SkewSeconds)
			}
		})
	}
}

// reportErr is the report's verdict as an error matching its sentinel.
func reportErr(r *Report) error {
	if r.Valid {
		return nil
	}
	for _, s := range []error{ErrNotYetValid, ErrExpired} {
		if ErrorName(s) == r.Error {
			return s
		}
	}
	return errors.New(r.Error)
}

// TestTimeErrorNamesTheLinkThatLapsed: in a chain, the link whose window
// fails first, root first, is named, with its own window.
func TestTimeErrorNamesTheLinkThatLapsed(t *testing.T) {
	c := newCast(t)
	root := forge(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Share,
		NotBefore: testNow.Add(-2 * time.Hour), Expiry: testNow.Add(-time.Hour)})
	leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read, Parent: root,
		NotBefore: testNow.Add(-2 * time.Hour), Expiry: testNow.Add(time.Hour)})
	err := checkTime(leaf.Chain(), testNow, DefaultSkew)
	var te *TimeError
	if !errors.As(err, &te) || te.Link != 1 || te.Of != 2 || !te.Expiry.Equal(root.Expiry()) || !errors.Is(err, ErrExpired) || errors.Is(err, ErrNotYetValid) {
		t.Fatalf("got %#v", err)
	}
	if ErrorName(err) != "ErrExpired" || !strings.HasPrefix(err.Error(), "capability: link 1 of 2: expired ") {
		t.Fatalf("%s: %v", ErrorName(err), err)
	}
}

func TestSpanWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 1500 * time.Millisecond: "1s", time.Minute: "60s", 119 * time.Second: "119s", 2 * time.Minute: "2m",
		200 * time.Second: "3m20s", time.Hour: "1h", 125 * time.Minute: "2h5m", 24 * time.Hour: "1d", 76 * time.Hour: "3d4h",
	} {
		if got := span(d); got != want {
			t.Errorf("span(%v) = %q, want %q", d, got, want)
		}
	}
}
