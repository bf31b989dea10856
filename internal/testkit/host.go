package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
)

// loopback is the listen address of a host whose options name none.
const loopback = "/ip4/127.0.0.1/tcp/0"

// Host starts a libp2p host with key k (a fresh key when nil) and closes
// it when the test ends. opts come after the defaults, so they can
// override them: the host listens on loopback TCP unless opts name listen
// addresses of their own (libp2p.ListenAddrStrings, to restart a host on
// the port it had), in which case it listens on exactly those.
func Host(t testing.TB, k *keys.PeerKey, opts ...libp2p.Option) host.Host {
	t.Helper()
	if k == nil {
		fresh := keys.GeneratePeerKey()
		k = &fresh
	}
	all := append([]libp2p.Option{libp2p.Identity(k.Libp2pPrivKey())}, opts...)
	all = append(all, func(cfg *libp2p.Config) error {
		if cfg.ListenAddrs == nil { // nil, not empty: libp2p.NoListenAddrs stays in force
			return libp2p.ListenAddrStrings(loopback)(cfg)
		}
		return nil
	})
	h, err := libp2p.New(all...)
	if err != nil {
		t.Fatalf("libp2p.New: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// Connect connects a to b, failing the test after ten seconds.
func Connect(t testing.TB, a, b host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatalf("connecting %s to %s: %v", a.ID(), b.ID(), err)
	}
}

// Context returns a context that ends when the test does or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
