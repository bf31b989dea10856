package meshnet

import "time"

// Timings are the waits and timeouts of a Net. The zero value of each field
// means its default, given beside it; tests shorten them instead of
// sleeping.
type Timings struct {
	// RecordTTL is how long a directory answer is reused (default 1 min):
	// the bootstrap rate-limits lookups and need not learn how often we read.
	RecordTTL time.Duration
	// ReservationCheck is how often a held reservation is checked (default
	// 1 s): a relay restart drops it, and the sooner we notice, the
	// shorter we are unreachable.
	ReservationCheck time.Duration
	// RenewBefore is how long before expiry a reservation is renewed
	// (default 1 min, the relay's own refresh margin).
	RenewBefore time.Duration
	// RetryFirst and RetryMax bound the backoff between refused
	// reservations and failed relay lookups (default 1 s doubling to 30 s).
	// A bootstrap or relay that does not answer a dial is dialled again
	// every RetryFirst for steadyRedialFor, then with the same backoff.
	RetryFirst, RetryMax time.Duration
	// Unavailable is the least pause before asking a peer again after it
	// answered Unavailable ("not yet"), default 1 s: it is catching up on
	// revocations after a restart.
	Unavailable time.Duration
}

// Default timings.
const (
	DefaultRecordTTL        = time.Minute
	DefaultReservationCheck = time.Second
	DefaultRenewBefore      = time.Minute
	DefaultRetryFirst       = time.Second
	DefaultRetryMax         = 30 * time.Second
	DefaultUnavailable      = time.Second
)

// Timeouts of single network steps. Each bounds one dial or request so a
// dead peer costs a known time; none is a pause.
const (
	// bootstrapTimeout bounds joining the DHT at start and each connection
	// to a bootstrap peer.
	bootstrapTimeout = 10 * time.Second
	// findRelaysTimeout bounds one DHT query for relays.
	findRelaysTimeout = 10 * time.Second
	// reserveTimeout bounds connecting to a relay and reserving a slot.
	reserveTimeout = 15 * time.Second
	// findPeerTimeout bounds the DHT lookup of a peer's direct addresses.
	findPeerTimeout = 3 * time.Second
	// dialTimeout bounds connecting to a peer, relay circuits included.
	dialTimeout = 20 * time.Second
)

// dialAddrTTL is how long the addresses a dial was given stay in the
// peerstore: past the dial (dialTimeout), and distinct from the
// TempAddrTTL that identify expires when a peer's last connection closes.
const dialAddrTTL = dialTimeout + 10*time.Second

// steadyRedialFor is how long after a bootstrap or relay stopped
// answering it is dialled again every RetryFirst before the pauses double:
// most outages are restarts of a few seconds, a refused dial costs the
// peer nothing, and one dial a second to one or two peers costs the node
// nothing either. A peer gone for longer is dialled less and less often.
const steadyRedialFor = time.Minute

// maxCachedNames bounds the directory answers kept (RecordTTL each).
const maxCachedNames = 1024

func (t *Timings) fill() {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&t.RecordTTL, DefaultRecordTTL)
	set(&t.ReservationCheck, DefaultReservationCheck)
	set(&t.RenewBefore, DefaultRenewBefore)
	set(&t.RetryFirst, DefaultRetryFirst)
	set(&t.RetryMax, DefaultRetryMax)
	set(&t.Unavailable, DefaultUnavailable)
}
