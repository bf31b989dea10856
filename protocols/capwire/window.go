package capwire

import (
	"errors"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/wire"
)

// maxUnix is capability's bound on a time, 9999-12-31T23:59:59Z.
const maxUnix = 253402300799

// WindowDetail is the structured detail of an Expired refusal: which link
// of the presented chain is outside its validity window on the server's
// clock, the window, that clock and the skew the server allows. It tells
// a token that is not valid yet from one that has expired, which the
// status alone (Expired, "outside its time window") does not, and shows
// how far apart the two clocks may be.
type WindowDetail struct {
	Link      int           // the failing link, 1 = root
	Of        int           // the chain's length
	NotBefore time.Time     // the link's not-before (UTC, whole seconds)
	Expiry    time.Time     // the link's expiry
	Now       time.Time     // the server's clock when it checked, rounded down to the second
	Skew      time.Duration // the tolerance the server allows, whole seconds
}

// windowWire is WindowDetail's wire form (see doc.go).
type windowWire struct {
	Link      uint64 `cbor:"1,keyasint"`
	Of        uint64 `cbor:"2,keyasint"`
	NotBefore uint64 `cbor:"3,keyasint"`
	Expiry    uint64 `cbor:"4,keyasint"`
	Now       uint64 `cbor:"5,keyasint"`
	Skew      uint64 `cbor:"6,keyasint"`
}

// Early reports whether the token is not valid yet on the server's clock
// (rather than expired).
func (d WindowDetail) Early() bool { return d.Now.Add(d.Skew).Before(d.NotBefore) }

// ClockOffset is how far the server's clock was ahead of local (negative:
// behind) when it checked, local being the client's clock when the
// refusal arrived; the network's delay and the rounding to seconds make
// it exact to a second or so. It is what a client tells its user when
// the two clocks, not the token, are the problem.
func (d WindowDetail) ClockOffset(local time.Time) time.Duration { return d.Now.Sub(local) }

// Err is the refusal as the server's verifier found it: a
// *capability.TimeError matching capability.ErrNotYetValid or
// capability.ErrExpired, whose message speaks of the server's clock.
func (d WindowDetail) Err() *capability.TimeError {
	return &capability.TimeError{Window: capability.Window{NotBefore: d.NotBefore, Expiry: d.Expiry, Skew: d.Skew},
		Now: d.Now, Link: d.Link, Of: d.Of}
}

// windowDetail is the detail for a verifier's time failure, rounded to
// whole seconds the way that keeps its side (see doc.go); false when it
// cannot be written (a clock before 1970 or past 9999).
func windowDetail(te *capability.TimeError) (WindowDetail, bool) {
	d := WindowDetail{Link: te.Link, Of: te.Of, NotBefore: te.NotBefore.UTC(), Expiry: te.Expiry.UTC(),
		Now: te.Now.UTC().Truncate(time.Second), Skew: te.SkewAllowed().Truncate(time.Second)}
	_, err := d.wire()
	return d, err == nil
}

// Window returns the detail of an Expired refusal and true; false when err
// is not an Expired *wire.Error or carries no well-formed window detail (a
// peer or protocol that defines none).
func Window(err error) (WindowDetail, bool) {
	var we *wire.Error
	if !errors.As(err, &we) || we.Status != wire.Expired || len(we.Detail) == 0 {
		return WindowDetail{}, false
	}
	d, pErr := ParseWindowDetail(we.Detail)
	return d, pErr == nil
}

// Marshal encodes d in its canonical wire form. It refuses a detail that
// ParseWindowDetail would refuse, so a sender never emits one.
func (d WindowDetail) Marshal() ([]byte, error) {
	w, err := d.wire()
	if err != nil {
		return nil, err
	}
	return wire.Marshal(w)
}

func (d WindowDetail) wire() (windowWire, error) {
	unix := func(t time.Time) uint64 {
		if t.Unix() < 0 || t.Nanosecond() != 0 {
			return maxUnix + 1 // refused by check: not whole seconds since 1970
		}
		return uint64(t.Unix())
	}
	skew := uint64(0)
	if d.Skew > 0 && d.Skew%time.Second == 0 {
		skew = uint64(d.Skew / time.Second)
	}
	w := windowWire{Link: uint64(max(d.Link, 0)), Of: uint64(max(d.Of, 0)),
		NotBefore: unix(d.NotBefore), Expiry: unix(d.Expiry), Now: unix(d.Now), Skew: skew}
	return w, w.check()
}

// ParseWindowDetail decodes a detail strictly: canonical CBOR, every field
// present, no unknown or duplicate fields, every rule of doc.go's table.
// Errors are BadRequest *wire.Error.
func ParseWindowDetail(b []byte) (WindowDetail, error) {
	var w windowWire
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return WindowDetail{}, err
	}
	if err := w.check(); err != nil {
		return WindowDetail{}, err
	}
	at := func(s uint64) time.Time { return time.Unix(int64(s), 0).UTC() }
	return WindowDetail{Link: int(w.Link), Of: int(w.Of), NotBefore: at(w.NotBefore), Expiry: at(w.Expiry),
		Now: at(w.Now), Skew: time.Duration(w.Skew) * time.Second}, nil
}

func (w *windowWire) check() error {
	bad := func(format string, args ...any) error {
		return wire.Errorf(wire.BadRequest, "window detail: "+format, args...)
	}
	maxSkew := uint64(capability.MaxSkew / time.Second)
	switch {
	case w.Of < 1 || w.Of > capability.MaxDepth:
		return bad("chain length %d, want 1–%d", w.Of, capability.MaxDepth)
	case w.Link < 1 || w.Link > w.Of:
		return bad("link %d of %d", w.Link, w.Of)
	case w.Expiry > maxUnix || w.NotBefore >= w.Expiry:
		return bad("validity [%d, %d) is empty or out of range", w.NotBefore, w.Expiry)
	case w.Now > maxUnix:
		return bad("time %d out of range", w.Now)
	case w.Skew < 1 || w.Skew > maxSkew:
		return bad("skew %d s, want 1–%d", w.Skew, maxSkew)
	case !(w.Now+w.Skew < w.NotBefore) && !(w.Now >= w.Expiry+w.Skew):
		return bad("time %d is inside [%d, %d) widened by %d s", w.Now, w.NotBefore, w.Expiry, w.Skew)
	}
	return nil
}
