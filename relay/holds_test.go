package relay

import (
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

// TestHoldsReservation: a home holds a reservation from the relay's OK to
// its RESERVE until its connection goes; a registered peer that never
// reserved, and a stranger, hold none.
func TestHoldsReservation(t *testing.T) {
	ctx := testkit.Context(t, time.Minute)
	tr := startRelay(t, Config{})
	home, other := newHome(t), newHome(t)
	tr.dir.Add(home.ID())
	tr.dir.Add(other.ID())
	if err := other.Connect(ctx, tr.info()); err != nil {
		t.Fatal(err)
	}
	if err := tr.reserve(ctx, home); err != nil {
		t.Fatal(err)
	}
	// recorded once the relay's answer is on the wire, which the home may
	// read first
	testkit.Eventually(t, 10*time.Second, func() bool { return tr.svc.HoldsReservation(home.ID()) }, "the relay knows the home's reservation")
	if tr.svc.HoldsReservation(other.ID()) || tr.svc.HoldsReservation(tr.host.ID()) {
		t.Fatal("a peer that never reserved holds a reservation")
	}
	home.Close()
	testkit.Eventually(t, 10*time.Second, func() bool { return !tr.svc.HoldsReservation(home.ID()) }, "the reservation ends with the home's connection")
}
