package relay

import (
	"fmt"
	"strings"

	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
)

// noReservation is how the circuit v2 client words the relay's
// NO_RESERVATION status when a dial through the relay fails: go-libp2p
// v0.51.0 formats "error opening relay circuit: %s (%d)" from the status
// name and number (p2p/protocol/circuitv2/client/dial.go) into an
// unexported error type that keeps only that text. Both parts come from
// the library's own constants here; the wording around them is the one
// thing a library upgrade could change, and noreservation_test.go dials
// through a real relay so such a change fails a test instead of silently
// turning IsNoReservation false.
var noReservation = fmt.Sprintf("%s (%d)", pbv2.Status_NO_RESERVATION, int32(pbv2.Status_NO_RESERVATION))

// IsNoReservation reports whether err, from dialing a peer through a
// relay (host.Connect or NewStream over a /p2p-circuit address), says the
// relay answered NO_RESERVATION: it was reached and holds no reservation
// for the target, so the target is not running (or not reserved there),
// as opposed to the relay being unreachable or refusing the dialer.
//
// go-libp2p v0.51.0 exposes no typed form of this status on the dial path
// (the status is carried only in an unexported error's text, unlike
// client.ReservationError on the reserve path), so IsNoReservation
// matches the text of one error in err's tree (walking Unwrap() error and
// Unwrap() []error, as the swarm's DialError nests its causes). A dial
// that lost the status, such as one de-duplicated against a concurrent
// dial through the same relay, reports false.
func IsNoReservation(err error) bool {
	if err == nil {
		return false
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return IsNoReservation(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if IsNoReservation(e) {
				return true
			}
		}
		return false
	}
	// A leaf: match its own text, not a wrapper's composition of its
	// causes' texts.
	return strings.Contains(err.Error(), noReservation)
}
