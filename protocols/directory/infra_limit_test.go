package directory

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// TestInfrastructureSharesOneBucket: many stranger identities each get
// their own bucket and no more; the infrastructure peers skip it (a relay
// asks far past DefaultBurst) but share one bucket of InfraBurst, which the
// strangers' flood did not touch. The clock stands still, so no bucket
// refills and every count is exact.
func TestInfrastructureSharesOneBucket(t *testing.T) {
	now := testkit.Epoch
	relayA, relayB := testkit.Key(t, "relay a").ID(), testkit.Key(t, "relay b").ID()
	infra := map[peer.ID]bool{relayA: true, relayB: true}
	const infraBurst, infraRate = 3 * DefaultBurst, 10
	srv, err := NewServer(testkit.Host(t, testkit.Key(t, "bootstrap")), ServerConfig{Records: &recStore{}, Now: func() time.Time { return now },
		Infrastructure: func(p peer.ID) bool { return infra[p] }, InfraRate: infraRate, InfraBurst: infraBurst})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	req := mustMarshal(t, request{Op: OpLookupPeer, Peer: []byte(relayA)})
	ask := func(from peer.ID) error {
		_, err := srv.serve(context.Background(), from, req)
		return err
	}
	for i := range 500 {
		stranger := testkit.Key(t, fmt.Sprintf("stranger %d", i)).ID()
		for j := range DefaultBurst + 1 {
			err := ask(stranger)
			if limited := errors.Is(err, wire.RateLimited); limited != (j == DefaultBurst) {
				t.Fatalf("stranger %d, request %d: %v", i, j, err)
			}
		}
	}
	for i := range infraBurst + 1 {
		from := relayA
		if i%2 == 1 {
			from = relayB
		}
		err := ask(from)
		if limited := errors.Is(err, wire.RateLimited); limited != (i == infraBurst) {
			t.Fatalf("infrastructure request %d: %v", i, err)
		}
	}
	now = now.Add(time.Second) // infraRate tokens come back
	for i := range infraRate {
		if err := ask(relayB); errors.Is(err, wire.RateLimited) {
			t.Fatalf("infrastructure request %d a second later: %v", i, err)
		}
	}
	if err := ask(relayA); !errors.Is(err, wire.RateLimited) {
		t.Fatalf("past the shared rate: %v", err)
	}
}

// TestInfrastructureOverTheWire: a relay named as infrastructure looks up
// peers far past a stranger's burst over a real stream, and a stranger on
// the same bootstrap is still held to its own.
func TestInfrastructureOverTheWire(t *testing.T) {
	bk, rk, sk := testkit.Key(t, "bootstrap"), testkit.Key(t, "relay"), testkit.Key(t, "stranger")
	bh, rh, sh := testkit.Host(t, bk), testkit.Host(t, rk), testkit.Host(t, sk)
	srv, err := NewServer(bh, ServerConfig{Records: &recStore{}, Infrastructure: func(p peer.ID) bool { return p == rk.ID() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	testkit.Connect(t, rh, bh)
	testkit.Connect(t, sh, bh)
	ctx := testkit.Context(t, time.Minute)
	for i := range 3 * DefaultBurst {
		if _, err := LookupPeer(ctx, rh, bh.ID(), sk.ID()); !errors.Is(err, wire.NotFound) {
			t.Fatalf("relay lookup %d: %v", i, err)
		}
	}
	var limited bool
	for range 3 * DefaultBurst {
		if _, err := LookupPeer(ctx, sh, bh.ID(), rk.ID()); errors.Is(err, wire.RateLimited) {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("the stranger was not held to its bucket")
	}
}
