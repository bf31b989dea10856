package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
)

// TestAShareExpiredOnTheOwnersClockIsSaidSo: bob's clock says his share
// is still valid, alice's says it has expired. Alice refuses with the
// window she judged by, and bob is told it expired on her clock, the skew
// she allows, and how far apart the two clocks are, not just "expired".
func TestAShareExpiredOnTheOwnersClockIsSaidSo(t *testing.T) {
	ctx := context.Background()
	m := startInfra(t)
	clock := testkit.NewClock(time.Now())
	alice := m.startNodeWith(t, "alice", "pw-a", func(c *Config) { c.Now, c.LockAfter = clock.Now, 24*time.Hour })
	bob := m.startNode(t, "bob", "pw-b")
	if err := alice.PutResource(ctx, "calendar/work", []byte("dentist")); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Share(ctx, localapi.ShareRequest{Path: "calendar/*", With: "bob", Can: "read", ValidFor: time.Hour}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob holds the grant", func() bool { g, _ := bob.Shared(ctx); return len(g) == 1 })
	if _, err := bob.Fetch(ctx, "alice/calendar/work"); err != nil {
		t.Fatalf("a read while both clocks agree: %v", err)
	}

	clock.Advance(2 * time.Hour) // alice's clock runs two hours ahead
	_, err := bob.Fetch(ctx, "alice/calendar/work")
	if !errors.Is(err, capability.ErrExpired) {
		t.Fatalf("got %v, want ErrExpired", err)
	}
	for _, want := range []string{"has expired on alice's clock", "the owner allows 60s of clock skew", "alice's clock is 2h ahead of yours"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}
