package relay

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/testkit"
)

// TestIsNoReservationOnARealDial dials through a real circuit v2 relay, so
// a go-libp2p upgrade that rewords the NO_RESERVATION failure fails here.
func TestIsNoReservationOnARealDial(t *testing.T) {
	tr := startRelay(t, Config{})
	ctx := testkit.Context(t, 30*time.Second)

	t.Run("a registered target without a reservation is NO_RESERVATION", func(t *testing.T) {
		target, dialer := testkit.Host(t, nil), testkit.Host(t, nil)
		tr.dir.Add(target.ID()) // the relay would connect to it, but it never reserved
		err := tr.dialVia(ctx, dialer, target.ID())
		t.Logf("dial error: %v", err)
		if err == nil || !IsNoReservation(err) {
			t.Fatalf("IsNoReservation is false for %v", err)
		}
	})
	t.Run("a relay refusing the circuit for another reason is not", func(t *testing.T) {
		target, dialer := testkit.Host(t, nil), testkit.Host(t, nil)
		// Not registered: the relay's ACL answers PERMISSION_DENIED.
		err := tr.dialVia(ctx, dialer, target.ID())
		t.Logf("dial error: %v", err)
		if err == nil || IsNoReservation(err) {
			t.Fatalf("IsNoReservation is true for %v", err)
		}
	})
	t.Run("an unreachable relay is not", func(t *testing.T) {
		gone, target, dialer := testkit.Host(t, nil), testkit.Host(t, nil), testkit.Host(t, nil)
		addrs := gone.Addrs()
		gone.Close()
		circ := addrs[0].Encapsulate(ma.StringCast("/p2p/" + gone.ID().String() + "/p2p-circuit/p2p/" + target.ID().String()))
		err := dialer.Connect(ctx, peer.AddrInfo{ID: target.ID(), Addrs: []ma.Multiaddr{circ}})
		t.Logf("dial error: %v", err)
		if err == nil || IsNoReservation(err) {
			t.Fatalf("IsNoReservation is true for %v", err)
		}
	})
}

func TestIsNoReservationWalksTheErrorTree(t *testing.T) {
	status := fmt.Sprintf("error opening relay circuit: %s", noReservation)
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"the status alone", errors.New(status), true},
		{"wrapped", fmt.Errorf("wire: opening /ocmt/share/2: %w", errors.New(status)), true},
		{"one of several causes", fmt.Errorf("dial: %w", errors.Join(errors.New("connection refused"), errors.New(status))), true},
		{"another status", errors.New("error opening relay circuit: PERMISSION_DENIED (202)"), false},
		{"a wrapper's text but not its causes'", &wrapper{text: noReservation, cause: errors.New("timeout")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsNoReservation(tt.err); got != tt.want {
				t.Fatalf("IsNoReservation(%v) = %v", tt.err, got)
			}
		})
	}
}

type wrapper struct {
	text  string
	cause error
}

func (w *wrapper) Error() string { return w.text + ": " + w.cause.Error() }
func (w *wrapper) Unwrap() error { return w.cause }
