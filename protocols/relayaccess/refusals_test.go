package relayaccess

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/capwire"
)

// TestRefusalsFollowTheSharedTable: a revoked or expired access token is
// refused with the status protocols/capwire gives it, and relay-access/1
// sends no detail.
func TestRefusalsFollowTheSharedTable(t *testing.T) {
	rk, pk := testkit.Key(t, "relay"), testkit.Key(t, "peer")
	relayH, peerH := testkit.Host(t, rk), testkit.Host(t, pk)
	revs := capability.NewMemoryRevocations()
	s := NewServer(relayH, revs, nil)
	t.Cleanup(func() { s.Close() })
	testkit.Connect(t, peerH, relayH)
	ctx := testkit.Context(t, 30*time.Second)

	revoked := grant(t, rk, pk.ID(), "relay/access", capability.Use)
	revs.Revoke(revoked.ID())
	now := time.Now()
	expired, err := capability.Issue(rk, capability.Params{Audience: pk.ID(), Resource: "relay/access", Actions: capability.Use,
		NotBefore: now.Add(-2 * time.Hour), Expiry: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	err = Present(ctx, peerH, relayH.ID(), revoked)
	var we *wire.Error
	if !errors.As(err, &we) || we.Status != wire.Revoked || !strings.Contains(we.Message, revoked.ID().Short()) || we.Detail != nil {
		t.Fatalf("revoked token: %#v", err)
	}
	if _, ok := capwire.Revoked(err); ok {
		t.Fatal("relay-access/1 sent a detail")
	}
	if err := Present(ctx, peerH, relayH.ID(), expired); !errors.Is(err, wire.Expired) {
		t.Fatalf("expired token: %v", err)
	}
	if s.Allowed(pk.ID()) {
		t.Fatal("a refused token admitted its peer")
	}
}
