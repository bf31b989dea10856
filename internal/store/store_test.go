package store

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// TestStoreRefusesWritesWithoutItsReserve: with less free space than its
// reserve, every kind of write fails with ErrDiskFull and writes nothing,
// while reads go on.
func TestStoreRefusesWritesWithoutItsReserve(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	roomy, err := open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := roomy.Put(ctx, ds.NewKey("/kept"), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	roomy.Close()

	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	s, err := open(dir, st.Bavail*uint64(st.Bsize)+1<<40) // more than the disk has
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Put(ctx, ds.NewKey("/batched"), []byte("x"))
	for what, err := range map[string]error{
		"put":    s.Put(ctx, ds.NewKey("/new"), []byte("x")),
		"delete": s.Delete(ctx, ds.NewKey("/kept")),
		"batch":  b.Commit(ctx),
	} {
		if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "nothing was written") {
			t.Errorf("%s on a full disk: %v, want ErrDiskFull saying nothing was written", what, err)
		}
	}
	if v, err := s.Get(ctx, ds.NewKey("/kept")); err != nil || string(v) != "v1" {
		t.Fatalf("reading on a full disk: %q, %v", v, err)
	}
	for _, k := range []string{"/new", "/batched"} {
		if ok, _ := s.Has(ctx, ds.NewKey(k)); ok {
			t.Fatalf("%s was written on a full disk", k)
		}
	}
}
