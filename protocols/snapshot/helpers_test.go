package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/blockcache"
	"github.com/ocmt/mesh/internal/keys"
	snap "github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
)

// localBlocks is an owner's own block store: Seal writes to it, Push reads
// from it. A datastore keyed by CID, as the node will keep it.
type localBlocks struct{ d ds.Datastore }

func (b localBlocks) PutBlock(ctx context.Context, c cid.Cid, data []byte) error {
	return b.d.Put(ctx, ds.NewKey(c.String()), append([]byte(nil), data...))
}

func (b localBlocks) Block(ctx context.Context, c cid.Cid) ([]byte, error) {
	v, err := b.d.Get(ctx, ds.NewKey(c.String()))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, io.EOF
	}
	return v, err
}

// allowList is the relay's Authorizer in miniature: peers holding a
// reservation may push.
type allowList map[peer.ID]bool

func (a allowList) MayPush(_ context.Context, p peer.ID) error {
	if !a[p] {
		return fmt.Errorf("%s holds no reservation here", p)
	}
	return nil
}

// cacheNode is a relay-like peer running the snapshot server over a
// pebble store on disk.
type cacheNode struct {
	h     host.Host
	dir   string
	st    *store.Store
	cache *blockcache.Cache
	srv   *Server
	revs  *capability.MemoryRevocations
}

func startCache(t testing.TB, pushers allowList, tweak func(*Config)) *cacheNode {
	t.Helper()
	ctx := context.Background()
	n := &cacheNode{dir: t.TempDir(), revs: capability.NewMemoryRevocations()}
	var err error
	if n.st, err = store.Open(n.dir); err != nil {
		t.Fatal(err)
	}
	if n.cache, err = blockcache.Open(ctx, namespace.Wrap(n.st, ds.NewKey("/cache")), blockcache.Config{MaxBytes: blockcache.DefaultMaxBytes, Authorizer: pushers}); err != nil {
		t.Fatal(err)
	}
	n.h = testkit.Host(t, testkit.Key(t, "relay"))
	cfg := Config{Cache: n.cache, Manifests: namespace.Wrap(n.st, ds.NewKey("/snapshots")),
		Verifier: capability.NewVerifier(capability.Config{Revocations: n.revs})}
	if tweak != nil {
		tweak(&cfg)
	}
	if n.srv, err = NewServer(ctx, n.h, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	return n
}

func (n *cacheNode) stop() {
	if n.srv != nil {
		n.srv.Close()
		n.cache.Close()
		n.st.Close()
		n.srv = nil
	}
}

// owner seals and pushes.
type owner struct {
	k      *keys.PeerKey
	h      host.Host
	blocks localBlocks
}

func newOwner(t testing.TB, name string) *owner {
	k := testkit.Key(t, name)
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &owner{k: k, h: testkit.Host(t, k), blocks: localBlocks{st}}
}

func (o *owner) seal(t testing.TB, src io.Reader, resource string, version uint64, readers ...peer.ID) *snap.Sealed {
	t.Helper()
	now := time.Now()
	s, err := snap.Seal(context.Background(), o.k, src, snap.Options{Resource: resource, Version: version, Readers: readers,
		Created: now, Expiry: now.Add(24 * time.Hour)}, o.blocks)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (o *owner) push(t testing.TB, c *cacheNode, s *snap.Sealed) error {
	t.Helper()
	testkit.Connect(t, o.h, c.h)
	return Push(testkit.Context(t, time.Minute), o.h, c.h.ID(), s.Signed, o.blocks)
}

// token issues a read token from o to audience for pattern.
func (o *owner) token(t testing.TB, audience peer.ID, pattern string, p capability.Params) *capability.Token {
	t.Helper()
	p.Audience, p.Resource = audience, capability.Pattern(pattern)
	if p.Actions == 0 {
		p.Actions = capability.Read
	}
	if p.NotBefore.IsZero() {
		p.NotBefore = time.Now().Add(-time.Minute)
	}
	if p.Expiry.IsZero() {
		p.Expiry = time.Now().Add(time.Hour)
	}
	tok, err := capability.Issue(o.k, p)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// reader fetches.
type reader struct {
	k     *keys.PeerKey
	h     host.Host
	state snap.State
}

func newReader(t testing.TB, name string) *reader {
	k := testkit.Key(t, name)
	return &reader{k: k, h: testkit.Host(t, k), state: snap.NewDatastoreState(ds.NewMapDatastore())}
}

func (r *reader) fetch(t testing.TB, c host.Host, owner peer.ID, resource string, tok []byte) ([]byte, *Fetched, error) {
	t.Helper()
	testkit.Connect(t, r.h, c)
	var out bytes.Buffer
	f, err := Fetch(testkit.Context(t, time.Minute), r.h, c.ID(), r.k, owner, resource, tok, r.state, &out)
	return out.Bytes(), f, err
}

type cidT = cid.Cid
