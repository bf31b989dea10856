package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// below makes every floor from tier t up (stricter tiers included) more
// than the disk has free, and the others zero: the disk looks full for
// those tiers only.
func below(t Tier) func(Space) Space {
	return func(sp Space) Space {
		over := sp.Free + 1<<40
		sp.WriteReserve, sp.ReadFloor, sp.DeleteFloor = over, 0, 0
		if t >= TierRead {
			sp.ReadFloor = over
		}
		if t >= TierDelete {
			sp.DeleteFloor = over
		}
		return sp
	}
}

// TestStoreRefusesWritesWithoutItsReserve: with less free space than the
// write reserve, every kind of write fails with ErrDiskFull and writes
// nothing, while reads go on, and audited reads (TierRead) and deletes
// still write; below the read floor, only deletes do; below the delete
// floor, nothing does.
func TestStoreRefusesWritesWithoutItsReserve(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	roomy, err := open(dir, SizingFor(HomeNode), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"/kept", "/a", "/b", "/c"} {
		if err := roomy.Put(ctx, ds.NewKey(k), []byte("v1")); err != nil {
			t.Fatal(err)
		}
	}
	roomy.Close()

	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "nothing was written") {
			t.Errorf("%s: %v, want ErrDiskFull saying nothing was written", what, err)
		}
	}
	written := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v, want it written", what, err)
		}
	}
	reads := WithTier(ctx, TierRead)
	deletes := WithTier(ctx, TierDelete)

	s, err := open(dir, SizingFor(HomeNode), below(TierWrite))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Batch(ctx)
	b.Put(ctx, ds.NewKey("/batched"), []byte("x"))
	refused("put below the write reserve", s.Put(ctx, ds.NewKey("/new"), []byte("x")))
	refused("batch below the write reserve", b.Commit(ctx))
	written("an audited read's put below the write reserve", s.Put(reads, ds.NewKey("/audit"), []byte("x")))
	written("delete below the write reserve", s.Delete(ctx, ds.NewKey("/a")))
	db, _ := s.Batch(ctx)
	db.Delete(ctx, ds.NewKey("/b"))
	written("a batch of deletes below the write reserve", db.Commit(ctx))
	if v, err := s.Get(ctx, ds.NewKey("/kept")); err != nil || string(v) != "v1" {
		t.Fatalf("reading on a full disk: %q, %v", v, err)
	}
	for _, k := range []string{"/new", "/batched"} {
		if ok, _ := s.Has(ctx, ds.NewKey(k)); ok {
			t.Fatalf("%s was written on a full disk", k)
		}
	}
	s.Close()

	s, err = open(dir, SizingFor(HomeNode), below(TierRead))
	if err != nil {
		t.Fatal(err)
	}
	refused("an audited read's put below the read floor", s.Put(reads, ds.NewKey("/audit2"), []byte("x")))
	b, _ = s.Batch(reads)
	b.Put(reads, ds.NewKey("/audit2"), []byte("x"))
	b.Delete(reads, ds.NewKey("/c"))
	refused("an audited read's batch below the read floor", b.Commit(reads))
	b, _ = s.Batch(deletes)
	b.Put(deletes, ds.NewKey("/audit3"), []byte("x"))
	b.Delete(deletes, ds.NewKey("/c"))
	written("a delete's batch (with its audit record) below the read floor", b.Commit(deletes))
	s.Close()

	s, err = open(dir, SizingFor(HomeNode), func(sp Space) Space { sp = below(TierDelete)(sp); sp.DeleteFloor = 0; return sp })
	if err != nil {
		t.Fatal(err)
	}
	s.limits = below(TierDelete) // open needs the delete floor too: see TestOpenRefusesADiskWithoutRoom
	refused("delete below the delete floor", s.Delete(ctx, ds.NewKey("/kept")))
	if v, err := s.Get(ctx, ds.NewKey("/kept")); err != nil || string(v) != "v1" {
		t.Fatalf("reading below the delete floor: %q, %v", v, err)
	}
	s.Close()
}

// TestOpenRefusesADiskWithoutRoom: below the delete floor (plus the log
// to replay) the store is not opened at all, with the numbers.
func TestOpenRefusesADiskWithoutRoom(t *testing.T) {
	_, err := open(t.TempDir(), SizingFor(HomeNode), below(TierDelete))
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "opening the store needs") {
		t.Fatalf("open below the delete floor: %v, want ErrDiskFull saying what opening needs", err)
	}
}

// TestWriteReserveIsAShareOfTheDiskWithinBounds: 5 % of the disk, never
// below 64 MiB nor above 1 GiB; the floors are fixed and below it.
func TestWriteReserveIsAShareOfTheDiskWithinBounds(t *testing.T) {
	for _, c := range []struct{ total, want uint64 }{
		{80 << 20, 64 << 20},
		{1 << 30, 64 << 20},
		{2 << 30, 2 << 30 / 20},
		{10 << 30, 512 << 20},
		{20 << 30, 1 << 30},
		{4 << 40, 1 << 30},
	} {
		if got := WriteReserve(c.total); got != c.want {
			t.Errorf("WriteReserve(%d MiB) = %d MiB, want %d MiB", c.total>>20, got>>20, c.want>>20)
		}
	}
	if !(DeleteFloor < ReadFloor && ReadFloor < MinWriteReserve) {
		t.Fatal("the tiers are not in order: deletes must go on below reads, reads below writes")
	}
}

// TestSpaceWarnsBeforeWritesStop: quiet with room, then a warning that
// names what is free and where each tier stops.
func TestSpaceWarnsBeforeWritesStop(t *testing.T) {
	sp := Space{Dir: "/x", Total: 1 << 30, WriteReserve: 64 << 20, ReadFloor: 16 << 20, DeleteFloor: 8 << 20}
	for _, c := range []struct {
		free uint64
		want string
	}{
		{200 << 20, ""},
		{100 << 20, "disk nearly full: 100 MiB free; writes stop at 64 MiB, audited reads at 16 MiB, deletes and lock at 8 MiB"},
		{40 << 20, "disk full for writes: 40 MiB free"},
		{10 << 20, "disk full for writes and reads: 10 MiB free"},
		{4 << 20, "nothing can be written"},
	} {
		sp.Free = c.free
		got := sp.Warning()
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%d MiB free: %q, want %q", c.free>>20, got, c.want)
		}
	}
}

func TestTierTravelsInTheContext(t *testing.T) {
	ctx := context.Background()
	if TierOf(ctx) != TierWrite || TierOf(WithTier(ctx, TierDelete)) != TierDelete {
		t.Fatal("the tier does not travel in the context")
	}
}

func TestAFullDiskIsNotCalledDamage(t *testing.T) {
	if m := fatalMessage("pebble: fatal commit error: write /s/000004.log: no space left on device\nstack"); strings.Contains(m, "damaged") || !strings.Contains(m, "free some space") {
		t.Fatalf("a full disk reads %q", m)
	}
	if m := fatalMessage("pebble: checksum mismatch in 000007.sst\nstack"); !strings.Contains(m, "damaged") {
		t.Fatalf("damage reads %q", m)
	}
}
