package capwire_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/capwire"
	"github.com/ocmt/mesh/protocols/share"
)

// oneResource is a share.Store holding one resource; the refusals under
// test happen before any store is asked.
type oneResource struct{}

func (oneResource) Read(context.Context, peer.ID, capability.ID, capability.ResourcePath) ([]byte, error) {
	return []byte("standup 9:00"), nil
}

func (oneResource) List(context.Context, peer.ID, capability.ID, func(capability.ResourcePath) bool) ([]capability.ResourcePath, error) {
	return nil, nil
}

func (oneResource) Write(context.Context, peer.ID, capability.ID, capability.ResourcePath, []byte) error {
	return wire.Errorf(wire.Forbidden, "read only")
}

func (oneResource) Delete(context.Context, peer.ID, capability.ID, capability.ResourcePath) error {
	return wire.Errorf(wire.Forbidden, "read only")
}

// TestShareTellsNotYetValidFromExpired: over the real share protocol
// between two libp2p hosts, a one-second token is refused as not valid
// yet before its window widened by the owner's skew, served inside it
// (on either side of the token's own second), and refused as expired
// after it; the grantee reads the side, the window and the owner's clock
// and skew from the refusal, with the sentinel the owner's verifier
// found.
func TestShareTellsNotYetValidFromExpired(t *testing.T) {
	if testing.Short() {
		t.Skip("two libp2p hosts")
	}
	ak, bk := testkit.Key(t, "alice"), testkit.Key(t, "bob")
	alice, bob := testkit.Host(t, ak), testkit.Host(t, bk)
	clock := testkit.NewClock(testkit.Epoch)
	srv, err := share.NewServer(alice, share.Config{
		Verifier: capability.NewVerifier(capability.Config{Clock: clock.Now}),
		Store:    oneResource{},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	testkit.Connect(t, bob, alice)
	ctx := testkit.Context(t, 30*time.Second)

	nbf := testkit.Epoch.Add(time.Hour)
	tok, err := capability.Issue(ak, capability.Params{Audience: bk.ID(), Resource: "calendar/*", Actions: capability.Read,
		NotBefore: nbf, Expiry: nbf.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want error // nil: served
	}{
		{"61 s before its start it is not valid yet", nbf.Add(-61 * time.Second), capability.ErrNotYetValid},
		{"30 s before its start the skew lets it in", nbf.Add(-30 * time.Second), nil},
		{"30 s after its expiry the skew still lets it in", nbf.Add(31 * time.Second), nil},
		{"61 s after its expiry it has expired", nbf.Add(62 * time.Second), capability.ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock.Set(tc.at)
			data, err := share.Read(ctx, bob, alice.ID(), tok, "calendar/work")
			if tc.want == nil {
				if err != nil || string(data) != "standup 9:00" {
					t.Fatalf("Read = %q, %v", data, err)
				}
				return
			}
			if !errors.Is(err, wire.Expired) {
				t.Fatalf("Read: %v, want an Expired refusal", err)
			}
			d, ok := capwire.Window(err)
			if !ok {
				t.Fatalf("the refusal carries no window detail: %v", err)
			}
			if !errors.Is(d.Err(), tc.want) || d.Early() != (tc.want == capability.ErrNotYetValid) {
				t.Fatalf("detail %+v says %v, want %v", d, d.Err(), tc.want)
			}
			if d.Link != 1 || d.Of != 1 || !d.NotBefore.Equal(nbf) || !d.Expiry.Equal(nbf.Add(time.Second)) ||
				!d.Now.Equal(tc.at) || d.Skew != capability.DefaultSkew {
				t.Fatalf("detail %+v", d)
			}
			if off := d.ClockOffset(tc.at.Add(-time.Minute)); off != time.Minute {
				t.Fatalf("the owner's clock, a minute ahead, is %v ahead", off)
			}
		})
	}
}
