package blockcache

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
)

func cidOf(b []byte) cid.Cid {
	d := sha256.Sum256(b)
	h, _ := mh.Encode(d[:], mh.SHA2_256)
	return cid.NewCidV1(cid.Raw, h)
}

func block(tag string, n int) []byte {
	b := make([]byte, n)
	testkit.NewRand(tag).Read(b[:min(n, 64)])
	return b
}

// allow is an allow-list Authorizer, as a relay's "holds a reservation
// here" is.
type allow struct {
	mu  sync.Mutex
	ids map[peer.ID]bool
}

func allowing(ids ...peer.ID) *allow {
	a := &allow{ids: map[peer.ID]bool{}}
	for _, id := range ids {
		a.ids[id] = true
	}
	return a
}

func (a *allow) add(id peer.ID) { a.mu.Lock(); a.ids[id] = true; a.mu.Unlock() }

func (a *allow) MayPush(_ context.Context, p peer.ID) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ids[p] {
		return fmt.Errorf("%s holds no reservation here", p)
	}
	return nil
}

// openAt opens a pebble store in dir and a cache in its /cache namespace.
func openAt(t testing.TB, dir string, cfg Config) (*Cache, *store.Store) {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), namespace.Wrap(st, ds.NewKey("/cache")), cfg)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return c, st
}

func open(t testing.TB, cfg Config) (*Cache, *store.Store) {
	t.Helper()
	c, st := openAt(t, t.TempDir(), cfg)
	t.Cleanup(func() { c.Close(); st.Close() })
	return c, st
}

func TestEveryBlockIsCheckedOnTheWayIn(t *testing.T) {
	ctx := context.Background()
	alice, mallory := testkit.Key(t, "alice").ID(), testkit.Key(t, "mallory").ID()
	c, _ := open(t, Config{MaxBytes: 64 << 20, Authorizer: allowing(alice)})
	b := block("a", 1000)
	if err := c.Put(ctx, alice, cidOf(b), b); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, cidOf(b)); err != nil || string(got) != string(b) {
		t.Fatalf("get: %v", err)
	}
	other := block("b", 1000)
	if err := c.Put(ctx, alice, cidOf(b), other); !errors.Is(err, ErrMismatch) {
		t.Fatalf("a block under another's CID: %v", err)
	}
	if err := c.Put(ctx, mallory, cidOf(other), other); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("a stranger's push: %v", err)
	}
	big := make([]byte, MaxBlockBytes+1)
	if err := c.Put(ctx, alice, cidOf(big), big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a block over the cap: %v", err)
	}
	d := sha256.Sum256(b)
	h, _ := mh.Encode(d[:], mh.SHA2_256)
	if err := c.Put(ctx, alice, cid.NewCidV1(cid.DagCBOR, h), b); !errors.Is(err, ErrUnsupportedCID) {
		t.Fatalf("a dag-cbor CID: %v", err)
	}
	if _, err := c.Get(ctx, cidOf(other)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused block is served: %v", err)
	}
	if s := c.Stats(); s.Blocks != 1 || s.Pushers != 1 || s.Bytes != MinCharge {
		t.Fatalf("stats %+v", s)
	}
	nobody, _ := open(t, Config{MaxBytes: 1 << 20})
	if err := nobody.Put(ctx, alice, cidOf(b), b); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("a cache without an Authorizer took a push: %v", err)
	}
	if _, err := Open(ctx, ds.NewMapDatastore(), Config{}); !errors.Is(err, ErrDisabled) {
		t.Fatalf("a cache of 0 bytes: %v", err)
	}
}

// A block corrupted on disk is refused and deleted, never served.
func TestACorruptBlockIsDeletedNotServed(t *testing.T) {
	ctx := context.Background()
	alice := testkit.Key(t, "alice").ID()
	c, st := open(t, Config{MaxBytes: 64 << 20, Authorizer: allowing(alice)})
	b := block("c", 5000)
	id := cidOf(b)
	if err := c.Put(ctx, alice, id, b); err != nil {
		t.Fatal(err)
	}
	// The disk changes one byte under the cache.
	raw := namespace.Wrap(st, ds.NewKey("/cache"))
	bad := append([]byte(nil), b...)
	bad[100] ^= 0x40
	if err := raw.Put(ctx, blockKey(id), bad); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, id)
	if !errors.Is(err, ErrCorrupt) || got != nil {
		t.Fatalf("corrupt block: %d bytes, %v", len(got), err)
	}
	if c.Has(id) || c.Stats().Blocks != 0 || c.Usage(alice) != 0 {
		t.Fatalf("the corrupt block is still indexed: %+v", c.Stats())
	}
	for _, k := range []ds.Key{blockKey(id), metaKey(id)} {
		if ok, _ := raw.Has(ctx, k); ok {
			t.Fatalf("%s is still on disk", k)
		}
	}
	if _, err := c.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second read: %v", err)
	}
	// Pushed again, it is served again.
	if err := c.Put(ctx, alice, id, b); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestTheLeastRecentlyUsedBlockGoes(t *testing.T) {
	ctx := context.Background()
	alice := testkit.Key(t, "alice").ID()
	c, _ := open(t, Config{MaxBytes: 4 * MinCharge, Authorizer: allowing(alice)})
	var ids []cid.Cid
	for i := range 4 {
		b := block(fmt.Sprint(i), 100)
		ids = append(ids, cidOf(b))
		if err := c.Put(ctx, alice, ids[i], b); err != nil {
			t.Fatal(err)
		}
	}
	// Read 0: 1 is now the least recently used.
	if _, err := c.Get(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	b := block("4", 100)
	if err := c.Put(ctx, alice, cidOf(b), b); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true, true} {
		if c.Has(ids[i]) != want {
			t.Fatalf("block %d held: %v, want %v", i, !want, want)
		}
	}
	if s := c.Stats(); s.Bytes > 4*MinCharge || s.Blocks != 4 {
		t.Fatalf("stats %+v", s)
	}
}

// Strangers cannot fill the cache, and each authorised pusher is bounded:
// many identities push, the totals hold.
func TestPushersAreBoundedEachAndInTotal(t *testing.T) {
	ctx := context.Background()
	const perPusher, max = 8 * MinCharge, 100 * MinCharge
	auth := allowing()
	c, _ := open(t, Config{MaxBytes: max, PerPusher: perPusher, Authorizer: auth})
	var ids []peer.ID
	for i := range 60 {
		k := keys.GeneratePeerKey()
		ids = append(ids, k.ID())
		if i%2 == 0 {
			auth.add(k.ID())
		}
	}
	var wg sync.WaitGroup
	refused := make([]int, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				b := block(fmt.Sprint(i, "/", j), MinCharge)
				if err := c.Put(ctx, id, cidOf(b), b); err != nil {
					if !errors.Is(err, ErrNotAuthorized) {
						t.Errorf("pusher %d: %v", i, err)
					}
					refused[i]++
				}
			}
		}()
	}
	wg.Wait()
	s := c.Stats()
	if s.Bytes > max {
		t.Fatalf("cache holds %d bytes, cap %d", s.Bytes, max)
	}
	for i, id := range ids {
		u := c.Usage(id)
		switch {
		case i%2 == 1 && (u != 0 || refused[i] != 20):
			t.Fatalf("stranger %d holds %d bytes, %d refused", i, u, refused[i])
		case u > perPusher:
			t.Fatalf("pusher %d holds %d bytes, cap %d", i, u, perPusher)
		}
	}
	if s.Pushers > 30 {
		t.Fatalf("%d pushers hold blocks; only 30 are authorised", s.Pushers)
	}
	// A pusher's newest blocks are the ones kept: its own oldest went first.
	solo, _ := open(t, Config{MaxBytes: max, PerPusher: perPusher, Authorizer: auth})
	var last cid.Cid
	for j := range 20 {
		b := block(fmt.Sprint("solo/", j), MinCharge)
		last = cidOf(b)
		if err := solo.Put(ctx, ids[0], last, b); err != nil {
			t.Fatal(err)
		}
	}
	if !solo.Has(last) || solo.Usage(ids[0]) != perPusher {
		t.Fatalf("after 20 pushes: newest held %v, usage %d", solo.Has(last), solo.Usage(ids[0]))
	}
}

// After a restart the cache holds the same blocks, and the LRU order is
// the order of the last writes of each block's recency: reads flushed at
// Close are remembered.
func TestTheCacheSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	alice := testkit.Key(t, "alice").ID()
	dir := t.TempDir()
	cfg := Config{MaxBytes: 4 * MinCharge, Authorizer: allowing(alice)}
	c, st := openAt(t, dir, cfg)
	var ids []cid.Cid
	for i := range 4 {
		b := block(fmt.Sprint("r", i), 2000)
		ids = append(ids, cidOf(b))
		if err := c.Put(ctx, alice, ids[i], b); err != nil {
			t.Fatal(err)
		}
	}
	c.Get(ctx, ids[0]) // 1 becomes the oldest
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st.Close()

	c, st = openAt(t, dir, cfg)
	defer func() { c.Close(); st.Close() }()
	if s := c.Stats(); s.Blocks != 4 || c.Usage(alice) != 4*MinCharge {
		t.Fatalf("after a restart: %+v", s)
	}
	b := block("r4", 2000)
	if err := c.Put(ctx, alice, cidOf(b), b); err != nil {
		t.Fatal(err)
	}
	if c.Has(ids[1]) || !c.Has(ids[0]) {
		t.Fatalf("after a restart the LRU order was lost: block 0 %v, block 1 %v", c.Has(ids[0]), c.Has(ids[1]))
	}
	// A smaller cap at the next open evicts down to it.
	c.Close()
	st.Close()
	cfg.MaxBytes = 2 * MinCharge
	c, st = openAt(t, dir, cfg)
	if s := c.Stats(); s.Blocks != 2 || !c.Has(cidOf(b)) {
		t.Fatalf("after shrinking: %+v", s)
	}
}
