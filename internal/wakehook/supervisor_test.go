package wakehook

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

type recorder struct {
	calls chan Target
	fail  error
}

func (r *recorder) Wake(_ context.Context, t Target) error {
	r.calls <- t
	return r.fail
}

func statusOf(err error) wire.Status {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Status
	}
	return wire.Internal
}

func TestSupervisorCarriesOutSignedOrdersFromItsRelaysOnly(t *testing.T) {
	relayKey, otherKey := testkit.Key(t, "relay"), testkit.Key(t, "other relay")
	relay, other := testkit.Host(t, relayKey), testkit.Host(t, otherKey)
	sup := testkit.Host(t, testkit.Key(t, "supervisor"))
	testkit.Connect(t, relay, sup)
	testkit.Connect(t, other, sup)
	rec := &recorder{calls: make(chan Target, 8)}
	clock := testkit.NewClock(testkit.Epoch)
	srv, err := ServeSupervisor(sup, SupervisorServerConfig{Relays: func(p peer.ID) bool { return p == relay.ID() }, Hook: rec, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	alice := Target{Handle: "alice", Peer: testkit.Key(t, "alice").ID()}
	ctx := testkit.Context(t, time.Minute)

	hook, err := NewSupervisor(relay, relayKey.Libp2pPrivKey(), sup.ID(), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := hook.Wake(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if got := testkit.Within(t, time.Second, rec.calls, "the supervisor's hook"); got != alice {
		t.Fatalf("woke %+v", got)
	}

	// A relay the supervisor does not serve.
	stranger, _ := NewSupervisor(other, otherKey.Libp2pPrivKey(), sup.ID(), clock.Now)
	if err := stranger.Wake(ctx, alice); statusOf(err) != wire.Forbidden || !strings.Contains(err.Error(), "only from the relays it serves") {
		t.Fatalf("a stranger relay: %v", err)
	}
	// An order dated too far from the supervisor's clock.
	late, _ := NewSupervisor(relay, relayKey.Libp2pPrivKey(), sup.ID(), func() time.Time { return testkit.Epoch.Add(-SuperviseMaxSkew - time.Second) })
	if err := late.Wake(ctx, alice); statusOf(err) != wire.Expired {
		t.Fatalf("an old order: %v", err)
	}
	// An order signed by another key, or naming another relay.
	forge := func(signer *keys.PeerKey, named peer.ID) error {
		payload, _ := wire.Marshal(SuperviseOrder{Handle: "alice", Peer: []byte(alice.Peer), Relay: []byte(named), Time: testkit.Epoch.Unix()})
		sig, _ := signer.Libp2pPrivKey().Sign(superviseBytes(payload))
		return exchange.Call(ctx, relay, sup.ID(), SuperviseID, superviseLimits(), superviseRequest{Payload: payload, Sig: sig}, nil)
	}
	if err := forge(otherKey, relay.ID()); statusOf(err) != wire.Forbidden {
		t.Fatalf("an order signed by another key: %v", err)
	}
	if err := forge(otherKey, other.ID()); statusOf(err) != wire.Forbidden {
		t.Fatalf("an order naming another relay: %v", err)
	}
	// The signature carries its label: a bare-payload signature fails.
	payload, _ := wire.Marshal(SuperviseOrder{Handle: "alice", Peer: []byte(alice.Peer), Relay: []byte(relay.ID()), Time: testkit.Epoch.Unix()})
	bare, _ := relayKey.Libp2pPrivKey().Sign(payload)
	if err := exchange.Call(ctx, relay, sup.ID(), SuperviseID, superviseLimits(), superviseRequest{Payload: payload, Sig: bare}, nil); statusOf(err) != wire.Forbidden {
		t.Fatalf("a signature without the label: %v", err)
	}
	// A hook that fails is reported in words.
	rec.fail = errors.New("docker: /var/run/secret.sock refused")
	err = hook.Wake(ctx, alice)
	if statusOf(err) != wire.Unavailable || !strings.Contains(err.Error(), "could not wake alice") || strings.Contains(err.Error(), "secret.sock") {
		t.Fatalf("a failed supervisor hook: %v", err)
	}
	if n := len(rec.calls); n != 1 {
		t.Fatalf("refused orders reached the hook (%d calls)", n)
	}
	if _, err := NewSupervisor(relay, otherKey.Libp2pPrivKey(), sup.ID(), nil); err == nil {
		t.Fatal("a key that is not the host's was accepted")
	}
}

// FuzzParseOrder: the supervisor's decoder refuses or gives a target
// that passes CheckTarget.
func FuzzParseOrder(f *testing.F) {
	relay := testkit.Key(f, "relay")
	payload, _ := wire.Marshal(SuperviseOrder{Handle: "alice", Peer: []byte(testkit.Key(f, "alice").ID()), Relay: []byte(relay.ID()), Time: testkit.Epoch.Unix()})
	sig, _ := relay.Libp2pPrivKey().Sign(superviseBytes(payload))
	good, _ := wire.Marshal(superviseRequest{Payload: payload, Sig: sig})
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		tg, err := parseOrder(relay.ID(), b, testkit.Epoch)
		if err != nil {
			if we := wire.ToWire(err); we.Status == wire.Internal {
				t.Fatalf("refusal %v", err)
			}
			return
		}
		if CheckTarget(tg) != nil {
			t.Fatalf("accepted %+v", tg)
		}
	})
}
