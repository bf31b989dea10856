package capability

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Report describes a token for humans and scripts (`mesh token inspect
// [--json]`). It is built by Inspect, which runs every check that needs no
// request: decoding, signatures, chain rules, ceilings, time and (when
// given) revocation, owner and audience.
type Report struct {
	ID        ID        `json:"id"`
	Size      int       `json:"size"`               // envelope bytes
	Issuer    peer.ID   `json:"issuer,omitempty"`   // the root issuer: whose resources these are
	Audience  peer.ID   `json:"audience,omitempty"` // the leaf audience: who may use it
	Resource  Pattern   `json:"resource,omitempty"`
	Actions   Actions   `json:"actions,omitempty"`
	NotBefore time.Time `json:"not_before"` // the leaf's window, the chain's narrowest
	Expiry    time.Time `json:"expiry"`
	// AcceptedFrom and AcceptedUntil widen the window by the skew the
	// owner allows (DefaultSkew): a verifier accepts the token from the
	// one up to, not including, the other.
	AcceptedFrom  time.Time `json:"accepted_from"`
	AcceptedUntil time.Time `json:"accepted_until"`
	SkewSeconds   int       `json:"skew_seconds"`
	MaxUses       int       `json:"max_uses,omitempty"` // the leaf's budget; 0 = unlimited
	Ceiling       Actions   `json:"ceiling,omitempty"`  // intersection of every ceiling in the chain
	Chain         []Link    `json:"chain,omitempty"`    // root first
	CheckedAt     time.Time `json:"checked_at"`

	Valid      bool     `json:"valid"`
	Verdict    string   `json:"verdict"`               // "valid" or "invalid"
	Error      string   `json:"error,omitempty"`       // sentinel name, e.g. "ErrExpired"
	Reason     string   `json:"reason,omitempty"`      // the exact error text
	NotChecked []string `json:"not_checked,omitempty"` // checks that need a request
	// Note says how the skew decides when CheckedAt lies outside
	// [NotBefore, Expiry): "expired …, 3s ago (accepted until 57s from
	// now: the owner allows 60s of clock skew)". Window.Note.
	Note string `json:"note,omitempty"`
}

// Link is one token of a chain in a Report.
type Link struct {
	Depth     int       `json:"depth"` // 1 = root
	ID        ID        `json:"id"`
	Issuer    peer.ID   `json:"issuer"`
	Audience  peer.ID   `json:"audience"`
	Resource  Pattern   `json:"resource"`
	Actions   Actions   `json:"actions"`
	NotBefore time.Time `json:"not_before"`
	Expiry    time.Time `json:"expiry"`
	MaxUses   int       `json:"max_uses,omitempty"`
	Ceiling   Actions   `json:"ceiling,omitempty"`
}

type inspectConfig struct {
	clock  func() time.Time
	skew   time.Duration
	revs   RevocationChecker
	owner  peer.ID
	remote peer.ID
}

// InspectOption adjusts Inspect.
type InspectOption func(*inspectConfig)

// InspectClock sets the clock (default time.Now).
func InspectClock(clock func() time.Time) InspectOption {
	return func(c *inspectConfig) { c.clock = clock }
}

// InspectRevocations checks the chain against a revocation set.
func InspectRevocations(r RevocationChecker) InspectOption {
	return func(c *inspectConfig) { c.revs = r }
}

// InspectOwner checks that the root issuer is owner.
func InspectOwner(owner peer.ID) InspectOption { return func(c *inspectConfig) { c.owner = owner } }

// InspectRemote checks that the audience is remote.
func InspectRemote(remote peer.ID) InspectOption { return func(c *inspectConfig) { c.remote = remote } }

// Inspect parses text and reports on it. It never fails: a token that does
// not parse gives a Report with Valid false and the reason.
func Inspect(text string, opts ...InspectOption) *Report {
	cfg := inspectConfig{clock: time.Now, skew: DefaultSkew}
	for _, o := range opts {
		o(&cfg)
	}
	now := cfg.clock()
	r := &Report{CheckedAt: now.UTC().Truncate(time.Second)}
	tok, err := Parse(text)
	if err == nil {
		r.describe(tok)
		w := Window{NotBefore: tok.NotBefore(), Expiry: tok.Expiry(), Skew: cfg.skew}
		r.AcceptedFrom, r.AcceptedUntil = w.AcceptedFrom(), w.AcceptedUntil()
		r.SkewSeconds = int(normSkew(cfg.skew) / time.Second)
		err = inspectChecks(tok, now, &cfg, r)
		var te *TimeError
		if errors.As(err, &te) {
			r.Note = te.Note(te.Now) // the failing link's, which the reason names too
		} else {
			r.Note = w.Note(now)
		}
	}
	r.Valid = err == nil
	if r.Valid {
		r.Verdict = "valid"
	} else {
		r.Verdict, r.Error, r.Reason = "invalid", ErrorName(err), err.Error()
	}
	return r
}

func (r *Report) describe(tok *Token) {
	chain := tok.Chain()
	r.ID, r.Size = tok.ID(), len(tok.raw)
	r.Issuer, r.Audience = chain[0].issuer, tok.audience
	r.Resource, r.Actions, r.MaxUses = tok.Resource(), tok.Actions(), tok.MaxUses()
	r.NotBefore, r.Expiry = tok.NotBefore(), tok.Expiry()
	for _, t := range chain {
		if t.Ceiling() != 0 {
			if r.Ceiling == 0 {
				r.Ceiling = allActions
			}
			r.Ceiling &= t.Ceiling()
		}
		r.Chain = append(r.Chain, Link{Depth: t.depth, ID: t.id, Issuer: t.issuer, Audience: t.audience,
			Resource: t.Resource(), Actions: t.Actions(), NotBefore: t.NotBefore(), Expiry: t.Expiry(),
			MaxUses: t.MaxUses(), Ceiling: t.Ceiling()})
	}
}

// inspectChecks runs Verify's checks in Verify's order, minus the request,
// at clock reading now.
func inspectChecks(tok *Token, now time.Time, cfg *inspectConfig, r *Report) error {
	chain := tok.Chain()
	if err := checkChain(chain); err != nil {
		return err
	}
	if err := checkTime(chain, now, cfg.skew); err != nil {
		return err
	}
	if cfg.revs != nil {
		if err := checkRevoked(chain, cfg.revs); err != nil {
			return err
		}
	} else {
		r.NotChecked = append(r.NotChecked, "revocation")
	}
	if cfg.remote != "" {
		if tok.audience != cfg.remote {
			return fmt.Errorf("%w: audience %s, remote %s", ErrWrongAudience, tok.audience, cfg.remote)
		}
	} else {
		r.NotChecked = append(r.NotChecked, "audience")
	}
	if cfg.owner != "" {
		if chain[0].issuer != cfg.owner {
			return fmt.Errorf("%w: root issuer %s, owner %s", ErrWrongOwner, chain[0].issuer, cfg.owner)
		}
	} else {
		r.NotChecked = append(r.NotChecked, "owner")
	}
	r.NotChecked = append(r.NotChecked, "request", "uses")
	return nil
}

// String renders the report for a terminal.
func (r *Report) String() string {
	var b strings.Builder
	verdict := "VALID"
	if !r.Valid {
		verdict = "INVALID " + r.Error + ": " + r.Reason
	} else if r.Note != "" {
		verdict += ", but " + r.Note
	}
	fmt.Fprintf(&b, "verdict   %s\n", verdict)
	if r.ID.IsZero() {
		return b.String()
	}
	fmt.Fprintf(&b, "token     %s (%d bytes, %d links)\n", r.ID, r.Size, len(r.Chain))
	fmt.Fprintf(&b, "issuer    %s (owner of the resource)\n", r.Issuer)
	fmt.Fprintf(&b, "audience  %s (may use it)\n", r.Audience)
	fmt.Fprintf(&b, "resource  %s\n", r.Resource)
	fmt.Fprintf(&b, "actions   %s\n", r.Actions)
	fmt.Fprintf(&b, "valid     %s to %s (checked %s)\n", stamp(r.NotBefore), stamp(r.Expiry), stamp(r.CheckedAt))
	fmt.Fprintf(&b, "accepted  %s to %s (the owner allows %s of clock skew)\n", stamp(r.AcceptedFrom), stamp(r.AcceptedUntil), span(time.Duration(r.SkewSeconds)*time.Second))
	fmt.Fprintf(&b, "uses      %s\n", uses(r.MaxUses))
	fmt.Fprintf(&b, "ceiling   %s\n", ceiling(r.Ceiling))
	if len(r.NotChecked) > 0 {
		fmt.Fprintf(&b, "unchecked %s\n", strings.Join(r.NotChecked, ", "))
	}
	b.WriteString("chain (root first)\n")
	for _, l := range r.Chain {
		fmt.Fprintf(&b, "  %d. %s  %s -> %s\n", l.Depth, l.ID.Short(), l.Issuer, l.Audience)
		fmt.Fprintf(&b, "     %s  %s  %s to %s  uses %s  ceiling %s\n", l.Resource, l.Actions,
			stamp(l.NotBefore), stamp(l.Expiry), uses(l.MaxUses), ceiling(l.Ceiling))
	}
	return b.String()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func uses(n int) string {
	if n == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("max %d", n)
}

func ceiling(a Actions) string {
	if a == 0 {
		return "none"
	}
	return a.String()
}

// CheckToken runs Inspect's checks on a decoded token and returns the first
// failure as an error wrapping its sentinel, or nil. Receivers use it to
// accept a delivered token before any request exists.
func CheckToken(tok *Token, opts ...InspectOption) error {
	cfg := inspectConfig{clock: time.Now, skew: DefaultSkew}
	for _, o := range opts {
		o(&cfg)
	}
	if tok == nil {
		return errNilToken
	}
	return inspectChecks(tok, cfg.clock(), &cfg, &Report{})
}
