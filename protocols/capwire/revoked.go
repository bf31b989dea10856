package capwire

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// MaxPeerIDBytes caps the revoker field of a detail before it is parsed;
// the only peer ID it may hold is the 38-byte Ed25519 form (doc.go).
const MaxPeerIDBytes = 64

// RevokedDetail is the structured detail of a Revoked refusal: which token
// of the presented chain is revoked and, when the server knows, who
// revoked it and when.
type RevokedDetail struct {
	Token capability.ID // the revoked token
	Link  int           // its position in the chain, 1 = root
	Of    int           // the chain's length
	By    peer.ID       // the revoker; "" when the server did not say
	At    time.Time     // when it was revoked (UTC, whole seconds); zero when the server did not say
}

// revokedWire is RevokedDetail's wire form (see doc.go).
type revokedWire struct {
	Token []byte `cbor:"1,keyasint"`
	Link  uint64 `cbor:"2,keyasint"`
	Of    uint64 `cbor:"3,keyasint"`
	By    []byte `cbor:"4,keyasint,omitempty"`
	At    int64  `cbor:"5,keyasint,omitempty"`
}

// Revoker names who revoked a token and when; ok is false when unknown.
// share.Config.RevokedBy is one.
type Revoker func(capability.ID) (by peer.ID, at time.Time, ok bool)

// ToWireDetailed is ToWire for protocols whose spec defines the details
// (share/2): a revocation (a *capability.RevokedError) is refused with
// the RevokedDetail attached, its revoker and time filled in from revoker
// when that knows them (revoker may be nil), and a token outside its time
// window (a *capability.TimeError) with the WindowDetail, which tells
// "not valid yet" from "expired". Every other error is converted exactly
// as ToWire does.
func ToWireDetailed(err error, revoker Revoker) *wire.Error {
	we := ToWire(err)
	var te *capability.TimeError
	if errors.As(err, &te) && we.Status == wire.Expired {
		d, ok := windowDetail(te)
		if !ok {
			return we // a time we cannot write (before 1970) is left out, never guessed
		}
		b, mErr := d.Marshal()
		if mErr != nil {
			return we
		}
		return &wire.Error{Status: wire.Expired, Message: "token: " + capability.ErrorName(err) + ": " + d.Err().Note(d.Now), Detail: b}
	}
	rev, ok := revokedError(err)
	if !ok || we.Status != wire.Revoked {
		return we
	}
	d := RevokedDetail{Token: rev.ID, Link: rev.Link, Of: rev.Of}
	if revoker != nil {
		if by, at, ok := revoker(rev.ID); ok {
			d.By, d.At = by, at
		}
	}
	b, mErr := d.Marshal()
	if mErr != nil {
		return we // a detail we cannot encode (a bad link number) is left out, never guessed
	}
	return &wire.Error{Status: wire.Revoked, Message: "token: " + capability.ErrorName(err) + ": " + describeDetail(d), Detail: b}
}

// Revoked returns the detail of a Revoked refusal and true; false when err
// is not a Revoked *wire.Error or carries no well-formed detail (a peer or
// protocol that defines none).
func Revoked(err error) (RevokedDetail, bool) {
	var we *wire.Error
	if !errors.As(err, &we) || we.Status != wire.Revoked || len(we.Detail) == 0 {
		return RevokedDetail{}, false
	}
	d, pErr := ParseRevokedDetail(we.Detail)
	return d, pErr == nil
}

// Marshal encodes d in its canonical wire form. It refuses a detail that
// ParseRevokedDetail would refuse, so a sender never emits one.
func (d RevokedDetail) Marshal() ([]byte, error) {
	w := revokedWire{Token: d.Token[:], Link: uint64(max(d.Link, 0)), Of: uint64(max(d.Of, 0)), By: []byte(d.By)}
	if !d.At.IsZero() {
		w.At = d.At.Unix()
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	return wire.Marshal(w)
}

// ParseRevokedDetail decodes a detail strictly: canonical CBOR, no unknown
// or duplicate fields, every field within its cap. Errors are BadRequest
// *wire.Error.
func ParseRevokedDetail(b []byte) (RevokedDetail, error) {
	var w revokedWire
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return RevokedDetail{}, err
	}
	if err := w.check(); err != nil {
		return RevokedDetail{}, err
	}
	d := RevokedDetail{Link: int(w.Link), Of: int(w.Of), By: peer.ID(w.By)}
	copy(d.Token[:], w.Token)
	if w.At != 0 {
		d.At = time.Unix(w.At, 0).UTC()
	}
	return d, nil
}

func (w *revokedWire) check() error {
	bad := func(format string, args ...any) error {
		return wire.Errorf(wire.BadRequest, "revoked detail: "+format, args...)
	}
	switch {
	case len(w.Token) != len(capability.ID{}):
		return bad("token ID is %d bytes, want %d", len(w.Token), len(capability.ID{}))
	case w.Of < 1 || w.Of > capability.MaxDepth:
		return bad("chain length %d, want 1–%d", w.Of, capability.MaxDepth)
	case w.Link < 1 || w.Link > w.Of:
		return bad("link %d of %d", w.Link, w.Of)
	case len(w.By) > MaxPeerIDBytes:
		return bad("revoker is %d bytes, cap %d", len(w.By), MaxPeerIDBytes)
	case w.At < 0:
		return bad("revocation time %d before 1970", w.At)
	}
	if len(w.By) > 0 {
		if _, err := keys.PeerIDFromBytes(w.By); err != nil {
			return bad("revoker is not a peer ID")
		}
	}
	return nil
}

func revokedError(err error) (*capability.RevokedError, bool) {
	var rev *capability.RevokedError
	ok := errors.As(err, &rev) && rev != nil
	return rev, ok
}

// describeDetail writes the human part of a Revoked message. Nothing
// parses it: callers read RevokedDetail.
func describeDetail(d RevokedDetail) string {
	s := fmt.Sprintf("token %s (link %d of %d)", d.Token.Short(), d.Link, d.Of)
	if d.By != "" {
		s += " revoked by " + d.By.String()
	}
	if !d.At.IsZero() {
		s += " at " + d.At.UTC().Format(time.RFC3339)
	}
	return s
}
