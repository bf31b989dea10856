package snapshot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/blockcache"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// reopen stops a cache and starts it again on the same folder, with a
// fresh host, as a relay restart does.
func (n *cacheNode) reopen(t testing.TB, pushers allowList, tweak func(*Config)) {
	t.Helper()
	n.stop()
	ctx := context.Background()
	var err error
	if n.st, err = store.Open(n.dir); err != nil {
		t.Fatal(err)
	}
	if n.cache, err = blockcache.Open(ctx, namespace.Wrap(n.st, ds.NewKey("/cache")), blockcache.Config{MaxBytes: blockcache.DefaultMaxBytes, Authorizer: pushers}); err != nil {
		t.Fatal(err)
	}
	n.h.Close()
	n.h = testkit.Host(t, testkit.Key(t, "relay"))
	cfg := Config{Cache: n.cache, Manifests: namespace.Wrap(n.st, ds.NewKey("/snapshots")),
		Verifier: capability.NewVerifier(capability.Config{Revocations: n.revs})}
	if tweak != nil {
		tweak(&cfg)
	}
	if n.srv, err = NewServer(ctx, n.h, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestTheCacheServesAfterARestart(t *testing.T) {
	alice, bob := newOwner(t, "alice"), newReader(t, "bob")
	pushers := allowList{alice.k.ID(): true}
	c := startCache(t, pushers, nil)
	s := alice.seal(t, strings.NewReader(strings.Repeat("week plan ", 300000)), "calendar/work", 4, bob.k.ID())
	if err := alice.push(t, c, s); err != nil {
		t.Fatal(err)
	}
	tok := alice.token(t, bob.k.ID(), "calendar/*", capability.Params{}).Bytes()
	alice.h.Close()
	c.reopen(t, pushers, nil)
	got, f, err := bob.fetch(t, c.h, alice.k.ID(), "calendar/work", tok)
	if err != nil || len(got) != 3000000 || f.Manifest.Version != 4 {
		t.Fatalf("after a restart: %d bytes, %v", len(got), err)
	}
}

// The manifest caps hold per owner and in total, and a restart counts
// what is held.
func TestManifestsAreBoundedPerOwnerAndInTotal(t *testing.T) {
	alice, carol := newOwner(t, "alice"), newOwner(t, "carol")
	pushers := allowList{alice.k.ID(): true, carol.k.ID(): true}
	caps := func(cfg *Config) { cfg.MaxManifestsPerOwner, cfg.MaxManifests = 2, 3 }
	c := startCache(t, pushers, caps)
	push := func(o *owner, res string, v uint64) error {
		return o.push(t, c, o.seal(t, strings.NewReader(res), res, v))
	}
	for _, r := range []string{"a/1", "a/2"} {
		if err := push(alice, r, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := push(alice, "a/3", 1); !errors.Is(err, wire.TooLarge) {
		t.Fatalf("alice's third resource: %v", err)
	}
	if err := push(alice, "a/1", 2); err != nil {
		t.Fatalf("a new version of a held resource: %v", err)
	}
	if err := push(carol, "c/1", 1); err != nil {
		t.Fatal(err)
	}
	if err := push(carol, "c/2", 1); !errors.Is(err, wire.Unavailable) {
		t.Fatalf("past the total: %v", err)
	}
	c.reopen(t, pushers, caps)
	for i, o := range []*owner{alice, carol} {
		if err := push(o, fmt.Sprintf("n/%d", i), 1); err == nil {
			t.Fatalf("after a restart the caps were forgotten: %s pushed", o.k.ID())
		}
	}
}
