package relayaccess

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
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

func grant(t *testing.T, signer *keys.PeerKey, to peer.ID, res capability.Pattern, acts capability.Actions) *capability.Token {
	t.Helper()
	now := time.Now()
	tok, err := capability.Issue(signer, capability.Params{Audience: to, Resource: res, Actions: acts, NotBefore: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestPresent(t *testing.T) {
	ctx := context.Background()
	rk, pk, ok := keys.GeneratePeerKey(), keys.GeneratePeerKey(), keys.GeneratePeerKey()
	relayH, peerH := newHost(t, &rk), newHost(t, &pk)
	revs := capability.NewMemoryRevocations()
	s := NewServer(relayH, revs, nil)
	defer s.Close()
	peerH.Connect(ctx, peer.AddrInfo{ID: relayH.ID(), Addrs: relayH.Addrs()})

	for _, tc := range []struct {
		name string
		tok  *capability.Token
		want wire.Status
	}{
		{"a token from another issuer is refused", grant(t, &ok, pk.ID(), "relay/access", capability.Use), wire.Forbidden},
		{"a token for another peer is refused", grant(t, &rk, ok.ID(), "relay/access", capability.Use), wire.Forbidden},
		{"a token for another resource is refused", grant(t, &rk, pk.ID(), "files/*", capability.Use), wire.Forbidden},
		{"a token without use is refused", grant(t, &rk, pk.ID(), "relay/access", capability.Read), wire.Forbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Present(ctx, peerH, relayH.ID(), tc.tok); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if s.Allowed(pk.ID()) {
				t.Fatal("admitted after a refused token")
			}
		})
	}
	tok := grant(t, &rk, pk.ID(), "relay/access", capability.Use)
	if err := Present(ctx, peerH, relayH.ID(), tok); err != nil {
		t.Fatal(err)
	}
	if !s.Allowed(pk.ID()) || s.Allowed(ok.ID()) {
		t.Fatal("the valid token did not admit exactly its audience")
	}
	revs.Revoke(tok.ID())
	if s.Allowed(pk.ID()) {
		t.Fatal("a revoked token still admits")
	}
}

func FuzzServe(f *testing.F) {
	k := keys.GeneratePeerKey()
	now := time.Now()
	tok, _ := capability.Issue(&k, capability.Params{Audience: k.ID(), Resource: "relay/access", Actions: capability.Use, NotBefore: now, Expiry: now.Add(time.Hour)})
	seed, _ := wire.Marshal(request{Token: tok.Bytes()})
	f.Add(seed)
	f.Add([]byte{0xa1, 0x01, 0x40})
	h, err := libp2p.New(libp2p.Identity(k.Libp2pPrivKey()), libp2p.NoListenAddrs)
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	s := NewServer(h, capability.NewMemoryRevocations(), nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		s.serve(context.Background(), k.ID(), b)
	})
}
