package snapshot

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
)

// dsBlocks keeps blocks in a datastore keyed by CID: the sink Seal writes
// to and the source Read reads from, as the owner's and the cache's stores
// will.
type dsBlocks struct {
	d    ds.Datastore
	puts int
}

func (b *dsBlocks) PutBlock(ctx context.Context, c cid.Cid, data []byte) error {
	b.puts++
	return b.d.Put(ctx, ds.NewKey(c.String()), append([]byte(nil), data...))
}

func (b *dsBlocks) Block(ctx context.Context, c cid.Cid) ([]byte, error) {
	v, err := b.d.Get(ctx, ds.NewKey(c.String()))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, io.EOF
	}
	return v, err
}

// pebbleStore opens a real store on disk for the test.
func pebbleStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func opts(resource string, version uint64, readers ...peer.ID) Options {
	return Options{Resource: resource, Version: version, Readers: readers, Created: t0, Expiry: t0.Add(7 * 24 * time.Hour)}
}

// people are the fixed keys of the tests.
type people struct{ alice, bob, carol, mallory *keys.PeerKey }

func cast(t testing.TB) people {
	return people{testkit.Key(t, "alice"), testkit.Key(t, "bob"), testkit.Key(t, "carol"), testkit.Key(t, "mallory")}
}

type cidT = cid.Cid

var errEOF = io.EOF
