package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/testkit"
)

// tmpfs mounts a tmpfs of sizeMiB for the test (so it needs root: CI runs
// as root) and returns its path.
func tmpfs(t *testing.T, sizeMiB int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root); run as root to test full disks")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(sizeMiB)+"m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

func freeAt(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// fillTo grows mnt/filler until at most leave bytes are free.
func fillTo(t *testing.T, mnt string, leave uint64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(mnt, "filler"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if free := freeAt(t, mnt); free > leave {
		f.Write(make([]byte, free-leave)) // the last page may not fit: that is full too
	}
}

// within runs f and fails the test unless it returns within d.
func within[T any](t *testing.T, d time.Duration, what string, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
		panic("unreachable")
	}
}

// TestStoreClosesAndRefusesToOpenOnARealFullDisk: a store whose disk fills
// up under it (with writes in its memtable) closes at once instead of
// waiting for a flush that cannot finish; opening it on the full disk
// fails at once with ErrDiskFull instead of waiting in pebble's replay;
// and with space back every acknowledged write is there.
func TestStoreClosesAndRefusesToOpenOnARealFullDisk(t *testing.T) {
	ctx := context.Background()
	mnt := tmpfs(t, 96)
	dir := filepath.Join(mnt, "store")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := s.Put(ctx, ds.NewKey(fmt.Sprint(i)), bytes.Repeat([]byte{byte(i)}, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	fillTo(t, mnt, 0)
	start := time.Now()
	within(t, 5*time.Second, "Close on a full disk", s.Close)
	t.Logf("closed in %v on a full disk", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	err = within(t, 5*time.Second, "Open on a full disk", func() error {
		s, err := Open(dir)
		if err == nil {
			s.Close()
		}
		return err
	})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Open on a full disk: %v, want ErrDiskFull", err)
	}
	t.Logf("open refused in %v: %v", time.Since(start).Round(time.Millisecond), err)

	os.Remove(filepath.Join(mnt, "filler"))
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 200 {
		if v, err := s.Get(ctx, ds.NewKey(fmt.Sprint(i))); err != nil || !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 1000)) {
			t.Fatalf("key %d after the full disk: %v", i, err)
		}
	}
}

// TestADeleteFreesSpaceBelowTheWriteReserve: below the write reserve, a
// delete is taken and gives its space back before it returns (the store
// compacts the deleted range), so deleting is a way out of a full disk.
func TestADeleteFreesSpaceBelowTheWriteReserve(t *testing.T) {
	ctx := context.Background()
	mnt := tmpfs(t, 160)
	dir := filepath.Join(mnt, "store")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := make([]byte, 24<<20)
	rand.NewChaCha8([32]byte{}).Read(big) // incompressible: it takes its size on disk
	for i := range 50 {
		s.Put(ctx, ds.NewKey(fmt.Sprintf("/small/%d", i)), []byte("v"))
	}
	if err := s.Put(ctx, ds.NewKey("/big"), big); err != nil {
		t.Fatal(err)
	}
	if err := s.Datastore.DB.Flush(); err != nil { // the value is in a table, as after any restart
		t.Fatal(err)
	}
	sp, _ := s.Space()
	fillTo(t, mnt, sp.WriteReserve-20<<20)
	if err := s.Put(ctx, ds.NewKey("/more"), []byte("x")); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("a write below the write reserve: %v", err)
	}
	before := freeAt(t, mnt)
	if err := s.Delete(ctx, ds.NewKey("/big")); err != nil {
		t.Fatalf("a delete below the write reserve: %v", err)
	}
	// The compaction is done; pebble removes the old table in the background.
	freed := testkit.Poll(5*time.Second, func() bool { return freeAt(t, mnt) >= before+16<<20 })
	after := freeAt(t, mnt)
	t.Logf("deleting 24 MiB below the write reserve: %d MiB free before, %d MiB after", before>>20, after>>20)
	if !freed {
		t.Fatalf("the delete freed %d MiB of 24", (int64(after)-int64(before))>>20)
	}
	if v, err := s.Get(ctx, ds.NewKey("/small/7")); err != nil || string(v) != "v" {
		t.Fatalf("a neighbour of the deleted value: %q, %v", v, err)
	}
}
