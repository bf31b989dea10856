package grant

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

func newHost(t *testing.T, k *keys.PeerKey) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(k.Libp2pPrivKey()), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func mint(t *testing.T, k *keys.PeerKey, to peer.ID, d time.Duration) *capability.Token {
	t.Helper()
	now := time.Now()
	tok, err := capability.Issue(k, capability.Params{Audience: to, Resource: "calendar/*", Actions: capability.Read, NotBefore: now.Add(-2 * time.Hour), Expiry: now.Add(d)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestDeliver(t *testing.T) {
	ctx := context.Background()
	ak, bk, ck := keys.GeneratePeerKey(), keys.GeneratePeerKey(), keys.GeneratePeerKey()
	alice, bob, carol := newHost(t, &ak), newHost(t, &bk), newHost(t, &ck)
	got := make(chan *Received, 4)
	srv := NewServer(bob, nil, func(_ context.Context, r *Received) error { got <- r; return nil })
	defer srv.Close()
	for _, h := range []host.Host{alice, carol} {
		h.Connect(ctx, peer.AddrInfo{ID: bob.ID(), Addrs: bob.Addrs()})
	}

	t.Run("the audience accepts a token from its issuer", func(t *testing.T) {
		tok := mint(t, &ak, bob.ID(), time.Hour)
		if err := Deliver(ctx, alice, tok, "alice", "my calendar"); err != nil {
			t.Fatal(err)
		}
		r := <-got
		if r.Token.ID() != tok.ID() || r.Handle != "alice" || r.Via != "live" {
			t.Fatalf("received %+v", r)
		}
	})
	t.Run("a token relayed by someone other than its issuer is refused", func(t *testing.T) {
		err := Deliver(ctx, carol, mint(t, &ak, bob.ID(), time.Hour), "", "")
		if !errors.Is(err, wire.Forbidden) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an expired token is refused", func(t *testing.T) {
		err := Deliver(ctx, alice, mint(t, &ak, bob.ID(), -time.Hour), "", "")
		if !errors.Is(err, wire.Expired) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a token for another audience is refused", func(t *testing.T) {
		tok := mint(t, &ak, carol.ID(), time.Hour)
		err := exchange.Call(ctx, alice, bob.ID(), ID, Limits(), Delivery{Token: tok.Bytes()}, nil)
		if !errors.Is(err, wire.Forbidden) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("garbage is refused as a bad request", func(t *testing.T) {
		err := exchange.Call(ctx, alice, bob.ID(), ID, Limits(), Delivery{Token: []byte("nope")}, nil)
		if !errors.Is(err, wire.BadRequest) {
			t.Fatalf("got %v", err)
		}
	})
	if len(got) != 0 {
		t.Fatal("a refused delivery reached the store")
	}
}

func TestMailboxSealing(t *testing.T) {
	ak, bk, ck := keys.GeneratePeerKey(), keys.GeneratePeerKey(), keys.GeneratePeerKey()
	tok := mint(t, &ak, bk.ID(), time.Hour)
	sealed, err := Seal(tok, "alice", "hi")
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenMail(&bk, sealed, time.Now())
	if err != nil || r.Token.ID() != tok.ID() || r.Via != "mailbox" {
		t.Fatalf("OpenMail = %+v, %v", r, err)
	}
	if _, err := OpenMail(&ck, sealed, time.Now()); err == nil {
		t.Fatal("another peer opened the mailbox item")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := OpenMail(&bk, sealed, time.Now()); err == nil {
		t.Fatal("tampered mailbox item opened")
	}
}

func FuzzOpenDelivery(f *testing.F) {
	k := keys.GeneratePeerKey()
	tok := func() *capability.Token {
		now := time.Now()
		t, _ := capability.Issue(&k, capability.Params{Audience: k.ID(), Resource: "a/*", Actions: capability.Read, NotBefore: now, Expiry: now.Add(time.Hour)})
		return t
	}()
	seed, _ := wire.Marshal(Delivery{Token: tok.Bytes(), Handle: "a", Note: "n"})
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Delivery
		if wire.UnmarshalCanonical(b, &d) == nil {
			Check(&d, k.ID(), k.ID(), time.Now())
		}
	})
}

func TestDeliveriesAreRateLimitedPerSender(t *testing.T) {
	ctx := context.Background()
	ak, bk := keys.GeneratePeerKey(), keys.GeneratePeerKey()
	alice, bob := newHost(t, &ak), newHost(t, &bk)
	srv := NewServer(bob, nil, func(context.Context, *Received) error { return nil })
	defer srv.Close()
	alice.Connect(ctx, peer.AddrInfo{ID: bob.ID(), Addrs: bob.Addrs()})
	limited := false
	for i := 0; i < senderBurst+10 && !limited; i++ {
		err := Deliver(ctx, alice, mint(t, &ak, bob.ID(), time.Hour), "", "")
		limited = errors.Is(err, wire.RateLimited)
	}
	if !limited {
		t.Fatalf("%d deliveries in a burst were all accepted", senderBurst+10)
	}
}
