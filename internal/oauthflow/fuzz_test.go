package oauthflow

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
	"golang.org/x/oauth2"
)

// FuzzParseCallback: a callback query is refused with ErrCallback, in
// words that repeat none of it, or is accepted with each field within its
// rules, and what it accepted encodes to a query it accepts the same.
func FuzzParseCallback(f *testing.F) {
	st := strings.Repeat("a", stateLen)
	for _, q := range []string{
		"state=" + st + "&code=4%2F0AbCd-ef&scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdrive.file&authuser=0&prompt=consent",
		"state=" + st + "&error=access_denied&error_description=The+user+denied",
		"state=" + st + "&code=x&iss=https%3A%2F%2Faccounts.google.com",
		"state=" + st + "&code=x&code=y",
		"state=" + st + "&error=x&error_description=" + strings.Repeat("%00", 300),
		"state=short&code=x",
		"code=x",
		"",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		c, err := ParseCallback(q)
		if err != nil {
			if !errors.Is(err, ErrCallback) {
				t.Fatalf("refusal %v is not ErrCallback", err)
			}
			for _, v := range []string{q.Get("code"), q.Get("error"), q.Get("iss")} {
				if len(v) > 3 && strings.Contains(err.Error(), v) {
					t.Fatalf("refusal %q repeats a parameter", err)
				}
			}
			return
		}
		if !isState(c.State) || (c.Code == "") == (c.Error == "") || len(c.Code) > MaxCodeLen || len(c.Error) > MaxErrorCodeLen ||
			len(c.Issuer) > MaxIssuerLen || (c.Error == "" && c.Description != "") {
			t.Fatalf("accepted %+v", c)
		}
		d := strings.TrimSuffix(c.Description, "…")
		if len(d) > MaxDescriptionLen || (d != "" && !charsIn(d, MaxDescriptionLen, isNQSChar)) {
			t.Fatalf("a description outside its rules: %q", c.Description)
		}
		again, err := ParseCallback(c.values())
		if err != nil {
			t.Fatalf("an accepted callback does not parse back: %v", err)
		}
		if again.State != c.State || again.Code != c.Code || again.Error != c.Error || again.Issuer != c.Issuer ||
			(d == c.Description && again.Description != c.Description) {
			t.Fatalf("parsed back as %+v, from %+v", again, c)
		}
	})
}

// FuzzTokenAnswer: the fields the package reads from a token endpoint's
// answer (scope, expires_in) are refused with ErrProvider or give sorted,
// distinct scopes within their rules and an expiry within MaxExpiresIn.
func FuzzTokenAnswer(f *testing.F) {
	f.Add([]byte(`{"scope":"https://www.googleapis.com/auth/drive.file openid","expires_in":3599}`), int64(0))
	f.Add([]byte(`{"scope":["a","b"],"expires_in":"3600"}`), int64(0))
	f.Add([]byte(`{"scope":"  ","expires_in":-5}`), int64(7200))
	f.Add([]byte(`{"expires_in":1e300}`), int64(-1))
	clock := testkit.NewClock(testkit.Epoch)
	fl, err := New(Config{Provider: GoogleDrive("id", ""), RedirectURL: testRedirect, Now: clock.Now,
		Store: func(context.Context, vault.Secret) error { return nil }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, expiresIn int64) {
		var raw map[string]any
		if json.Unmarshal(body, &raw) != nil {
			return
		}
		tok := (&oauth2.Token{AccessToken: "x", ExpiresIn: expiresIn}).WithExtra(raw)
		got, err := fl.granted(tok, []string{DriveFiles})
		if err != nil {
			if !errors.Is(err, ErrProvider) {
				t.Fatalf("refusal %v is not ErrProvider", err)
			}
		} else if !validScopes(got) || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("granted %q", got)
		}
		if exp := fl.expiry(tok); exp != 0 && (exp <= testkit.Epoch.Unix() || exp > testkit.Epoch.Add(MaxExpiresIn).Unix()) {
			t.Fatalf("expiry %d out of range", exp)
		}
	})
}
