package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/internal/testkit"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSnapshotIsOneInstant: writes after the snapshot (new keys, an
// overwrite, a delete, a batch) are invisible to it; the store sees them.
func TestSnapshotIsOneInstant(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for k, v := range map[string]string{"/a": "a1", "/c": "c1", "/p/x": "x1", "/p/y": "y1", "/q": "q1"} {
		if err := s.Put(ctx, ds.NewKey(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	sn := s.Snapshot()
	defer sn.Close()
	s.Put(ctx, ds.NewKey("/a"), []byte("a2"))
	s.Put(ctx, ds.NewKey("/b"), []byte("b2"))
	s.Delete(ctx, ds.NewKey("/c"))
	b, _ := s.Batch(ctx)
	b.Put(ctx, ds.NewKey("/p/z"), []byte("z2"))
	b.Delete(ctx, ds.NewKey("/p/x"))
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	if v, err := sn.Get(ctx, ds.NewKey("/a")); err != nil || string(v) != "a1" {
		t.Fatalf("snapshot /a = %q, %v; want the value before the overwrite", v, err)
	}
	if _, err := sn.Get(ctx, ds.NewKey("/b")); !errors.Is(err, ds.ErrNotFound) {
		t.Fatalf("snapshot sees /b, written after it: %v", err)
	}
	if ok, err := sn.Has(ctx, ds.NewKey("/c")); !ok || err != nil {
		t.Fatalf("snapshot lost /c, deleted after it: %v, %v", ok, err)
	}
	if n, err := sn.GetSize(ctx, ds.NewKey("/q")); n != 2 || err != nil {
		t.Fatalf("GetSize = %d, %v", n, err)
	}
	if v, _ := s.Get(ctx, ds.NewKey("/a")); string(v) != "a2" {
		t.Fatalf("the store itself reads %q", v)
	}

	var got []string
	err := sn.Each(ctx, func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	})
	want := []string{"/a=a1", "/c=c1", "/p/x=x1", "/p/y=y1", "/q=q1"}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Each = %v, %v; want %v", got, err, want)
	}

	res, err := sn.Query(ctx, query.Query{Prefix: "/p"})
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil || len(es) != 2 || es[0].Key != "/p/x" || string(es[1].Value) != "y1" {
		t.Fatalf("Query /p = %+v, %v", es, err)
	}
	res, _ = sn.Query(ctx, query.Query{KeysOnly: true, Orders: []query.Order{query.OrderByKeyDescending{}}, Limit: 2})
	es, _ = res.Rest()
	if len(es) != 2 || es[0].Key != "/q" || es[0].Value != nil {
		t.Fatalf("Query keys-only descending limit 2 = %+v", es)
	}
}

// TestSnapshotWhileWritesGoOn walks a snapshot while another goroutine
// keeps writing: the walk sees exactly the keys of the instant.
func TestSnapshotWhileWritesGoOn(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	b, _ := s.Batch(ctx)
	for i := range 2000 {
		b.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%05d", i)), []byte("before"))
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	sn := s.Snapshot()
	defer sn.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			s.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%05d", i%3000)), []byte("after"))
			written.Add(1)
		}
	})
	// Writes land after the snapshot, before and during the walk.
	testkit.Eventually(t, 10*time.Second, func() bool { return written.Load() >= 20 }, "20 writes after the snapshot")
	n := 0
	err := sn.Each(ctx, func(k, v []byte) error {
		if string(v) != "before" {
			return fmt.Errorf("%s = %q: written after the snapshot", k, v)
		}
		n++
		return nil
	})
	stop.Store(true)
	wg.Wait()
	if err != nil || n != 2000 {
		t.Fatalf("walked %d keys, %v; want the 2000 of the instant", n, err)
	}
}

func TestSnapshotAfterClose(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sn := s.Snapshot()
	if err := sn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sn.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if _, err := sn.Get(ctx, ds.NewKey("/a")); !errors.Is(err, ErrSnapshotClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := sn.Each(ctx, func(k, v []byte) error { return nil }); !errors.Is(err, ErrSnapshotClosed) {
		t.Fatalf("Each after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("closing the store after its snapshot: %v", err)
	}
}

func TestSnapshotEachStopsOnCancel(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	b, _ := s.Batch(ctx)
	for i := range 1000 {
		b.Put(ctx, ds.NewKey(fmt.Sprintf("/k/%04d", i)), nil)
	}
	b.Commit(ctx)
	sn := s.Snapshot()
	defer sn.Close()
	cctx, cancel := context.WithCancel(ctx)
	n := 0
	err := sn.Each(cctx, func(k, v []byte) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 1000 {
		t.Fatalf("Each after cancel: %d entries, %v", n, err)
	}
}

func TestUpperBound(t *testing.T) {
	for in, want := range map[string]string{"/p/": "/p0", "a\xff": "b", "\xff\xff": ""} {
		if got := string(upperBound([]byte(in))); got != want {
			t.Errorf("upperBound(%q) = %q, want %q", in, got, want)
		}
	}
}
