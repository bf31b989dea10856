package capability

import (
	"fmt"
	"time"
)

// Window is a token's validity, [NotBefore, Expiry), with the clock skew a
// verifier tolerates on either side: the token is accepted at every now
// in [NotBefore − Skew, Expiry + Skew) (Verification step 5). The owner's
// verifier, `mesh token inspect` and a holder's node all decide with it,
// so they agree on a token at the same clock reading.
type Window struct {
	NotBefore, Expiry time.Time
	// Skew is the tolerance, with Config.Skew's rules: zero or less is
	// DefaultSkew, what nodes' verifiers use; it lies within [1 s, MaxSkew].
	Skew time.Duration
}

// WindowOf is tok's window as a default verifier (DefaultSkew) applies
// it. A verified chain's leaf has its narrowest window, so it decides.
func WindowOf(tok *Token) Window {
	return Window{NotBefore: tok.NotBefore(), Expiry: tok.Expiry(), Skew: DefaultSkew}
}

// SkewAllowed is Skew after Config.Skew's default and bounds.
func (w Window) SkewAllowed() time.Duration { return normSkew(w.Skew) }

// AcceptedFrom is the first moment a verifier accepts the token.
func (w Window) AcceptedFrom() time.Time { return w.NotBefore.Add(-normSkew(w.Skew)) }

// AcceptedUntil is the moment a verifier stops accepting it (exclusive).
func (w Window) AcceptedUntil() time.Time { return w.Expiry.Add(normSkew(w.Skew)) }

func (w Window) early(now time.Time) bool { return now.Add(normSkew(w.Skew)).Before(w.NotBefore) }
func (w Window) late(now time.Time) bool  { return !now.Add(-normSkew(w.Skew)).Before(w.Expiry) }

// Check returns nil when a verifier accepts the token at now, and
// otherwise a *TimeError matching ErrNotYetValid or ErrExpired, as Verify
// would for a chain of one.
func (w Window) Check(now time.Time) error {
	if w.early(now) || w.late(now) {
		return &TimeError{Window: w, Now: now}
	}
	return nil
}

// Note says, when now lies outside the window itself, how the skew
// decides: "expired 2026-03-01T13:00:00Z, 3s ago (accepted until 57s from
// now: the owner allows 60s of clock skew)". It is "" from NotBefore up to Expiry, where the
// skew plays no part; Check says whether the token is accepted.
func (w Window) Note(now time.Time) string {
	skew := normSkew(w.Skew)
	switch {
	case now.Before(w.NotBefore):
		return fmt.Sprintf("not valid until %s, %s (accepted from %s: the owner allows %s of clock skew)",
			w.NotBefore.UTC().Format(time.RFC3339), relative(w.NotBefore, now), relative(w.AcceptedFrom(), now), span(skew))
	case !now.Before(w.Expiry):
		return fmt.Sprintf("expired %s, %s (accepted until %s: the owner allows %s of clock skew)",
			w.Expiry.UTC().Format(time.RFC3339), relative(w.Expiry, now), relative(w.AcceptedUntil(), now), span(skew))
	}
	return ""
}

// TimeError is a failure of Verification step 5: at Now, a link's window
// does not accept the token. It matches ErrNotYetValid when Now is before
// the window and ErrExpired when after it (errors.Is); ErrorName names it
// so. Use errors.As to get the times.
type TimeError struct {
	Window           // the failing link's window and the skew allowed
	Now    time.Time // the verifier's clock
	Link   int       // the failing link, 1 = root; 0 when no chain was checked
	Of     int       // the chain's length
}

// Early reports whether the token is not valid yet (rather than expired).
func (e *TimeError) Early() bool { return e.early(e.Now) }

// Sentinel is ErrNotYetValid or ErrExpired.
func (e *TimeError) Sentinel() error {
	if e.Early() {
		return ErrNotYetValid
	}
	return ErrExpired
}

// Is makes errors.Is(err, ErrNotYetValid) or errors.Is(err, ErrExpired) true.
func (e *TimeError) Is(target error) bool { return target == e.Sentinel() }

func (e *TimeError) Error() string {
	s := "capability: "
	if e.Link > 0 {
		s += fmt.Sprintf("link %d of %d: ", e.Link, e.Of)
	}
	return s + e.Note(e.Now) + ": " + e.Sentinel().Error()
}

// relative words t as seen at now: "3s ago", "57s from now", "now".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d >= time.Second:
		return span(d) + " from now"
	case d <= -time.Second:
		return span(-d) + " ago"
	}
	return "now"
}

// span words a duration in at most two units, rounded down to the
// second: "45s", "90s", "3m20s", "2h5m", "3d4h".
func span(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 120:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return two(s/60, "m", s%60, "s")
	case s < 86400:
		return two(s/3600, "h", s%3600/60, "m")
	}
	return two(s/86400, "d", s%86400/3600, "h")
}

func two(a int64, ua string, b int64, ub string) string {
	if b == 0 {
		return fmt.Sprintf("%d%s", a, ua)
	}
	return fmt.Sprintf("%d%s%d%s", a, ua, b, ub)
}
