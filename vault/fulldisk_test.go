package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ocmt/mesh/internal/store"
)

// tmpfs mounts a small tmpfs for the test (so it needs root: CI runs as
// root) and returns its path.
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root); run as root to test full disks")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

// filler grows mnt/filler until at most leave bytes are free.
func filler(t *testing.T, mnt string) func(leave uint64) {
	return func(leave uint64) {
		t.Helper()
		var st syscall.Statfs_t
		syscall.Statfs(mnt, &st)
		free := st.Bavail * uint64(st.Bsize)
		f, err := os.OpenFile(filepath.Join(mnt, "filler"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if free > leave {
			f.Write(make([]byte, free-leave)) // the last page may not fit: that is full too
		}
	}
}

// TestVaultOnARealFullDisk fills a real filesystem (a small tmpfs, so it
// needs root) under a vault: writes are refused with a clear error while
// audited reads go on, nothing acknowledged is lost, the audit chain stays
// whole, and everything works again once space is freed.
func TestVaultOnARealFullDisk(t *testing.T) {
	mnt := tmpfs(t, "160m")
	ctx := context.Background()
	dir := filepath.Join(mnt, "store")
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Create(ctx, Config{Store: st}, []byte("pw"), TestKDF(), "t")
	if err != nil {
		t.Fatal(err)
	}
	fill := filler(t, mnt)
	value := bytes.Repeat([]byte("v"), 1000)
	sp, err := st.Space()
	if err != nil {
		t.Fatal(err)
	}
	fill(sp.WriteReserve + 16<<20)
	stored := 0
	var full error
	for i := range 100_000 {
		err := v.PutSecret(ctx, Secret{Name: fmt.Sprintf("s%d", i), Type: TypeNote, Value: value}, "t")
		if err != nil {
			full = err
			break
		}
		stored++
	}
	if !errors.Is(full, store.ErrDiskFull) {
		t.Fatalf("after %d secrets the write failed with %v, want store.ErrDiskFull", stored, full)
	}
	if s, err := v.GetSecret(ctx, "s0", "t"); err != nil || !bytes.Equal(s.Value, value) {
		t.Fatalf("an audited read once writes stopped: %v (reads keep a floor of their own)", err)
	}
	// Nothing acknowledged is lost across a close and reopen on the full disk.
	v.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(mnt, "filler"))
	st, err = store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err = Open(ctx, Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Unlock(ctx, []byte("pw"), "t"); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, stored / 2, stored - 1} {
		s, err := v.GetSecret(ctx, fmt.Sprintf("s%d", i), "t")
		if err != nil || !bytes.Equal(s.Value, value) {
			t.Fatalf("secret s%d of %d after the full disk: %v", i, stored, err)
		}
	}
	if err := v.PutSecret(ctx, Secret{Name: "after", Type: TypeNote, Value: value}, "t"); err != nil {
		t.Fatalf("with space freed: %v", err)
	}
	if _, err := ReadAudit(ctx, st); err != nil {
		t.Fatalf("audit chain after the full disk: %v", err)
	}
}

// TestVaultTiersOnARealNearlyFullDisk: below the write reserve the owner
// still reads, deletes, locks and unlocks; below the read floor, still
// deletes; below the delete floor, mesh lock still locks and never fails,
// and its record, kept, is written late (saying so) with the next one
// once there is room, in a chain that verifies with the key.
func TestVaultTiersOnARealNearlyFullDisk(t *testing.T) {
	mnt := tmpfs(t, "160m")
	ctx := context.Background()
	st, err := store.Open(filepath.Join(mnt, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := Create(ctx, Config{Store: st}, []byte("pw"), TestKDF(), "t")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for i := range 4 {
		if err := v.PutSecret(ctx, Secret{Name: fmt.Sprintf("s%d", i), Type: TypeNote, Value: []byte("v")}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	sp, _ := st.Space()
	fill := filler(t, mnt)

	fill(sp.WriteReserve - 16<<20) // between the read floor and the write reserve
	if err := v.PutSecret(ctx, Secret{Name: "new", Type: TypeNote, Value: []byte("v")}, "t"); !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("a write below the write reserve: %v, want store.ErrDiskFull", err)
	}
	for range 20 {
		if _, err := v.GetSecret(ctx, "s0", "t"); err != nil {
			t.Fatalf("a read below the write reserve: %v", err)
		}
	}
	if err := v.DeleteSecret(ctx, "s1", "t"); err != nil {
		t.Fatalf("a delete below the write reserve: %v", err)
	}
	if err := v.Lock(ctx, "t"); err != nil || len(v.PendingAudit()) != 0 {
		t.Fatalf("lock below the write reserve: %v, pending %v", err, v.PendingAudit())
	}
	if err := v.Unlock(ctx, []byte("pw"), "t"); err != nil {
		t.Fatalf("unlock below the write reserve: %v", err)
	}

	fill(sp.ReadFloor - 4<<20) // between the delete floor and the read floor
	if _, err := v.GetSecret(ctx, "s0", "t"); !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("a read below the read floor: %v, want store.ErrDiskFull (its record cannot be written)", err)
	}
	if err := v.DeleteSecret(ctx, "s2", "t"); err != nil {
		t.Fatalf("a delete below the read floor: %v", err)
	}

	fill(sp.DeleteFloor / 2) // below everything
	if err := v.DeleteSecret(ctx, "s3", "t"); !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("a delete below the delete floor: %v, want store.ErrDiskFull", err)
	}
	if err := v.Lock(ctx, "t"); err != nil {
		t.Fatalf("lock below the delete floor failed: %v; a lock never fails", err)
	}
	if !v.Locked() {
		t.Fatal("the vault is not locked")
	}
	if p := v.PendingAudit(); len(p) != 1 || p[0].Op != OpLock || !strings.Contains(p[0].Detail, "written late") || !strings.Contains(p[0].Detail, "disk was full") {
		t.Fatalf("pending audit after a lock on a full disk: %+v", p)
	}

	os.Remove(filepath.Join(mnt, "filler"))
	if err := v.Unlock(ctx, []byte("pw"), "t"); err != nil {
		t.Fatal(err)
	}
	if p := v.PendingAudit(); len(p) != 0 {
		t.Fatalf("still pending after the unlock: %+v", p)
	}
	recs, check, err := v.VerifyAudit(ctx)
	if err != nil || check != CheckedKeyed {
		t.Fatalf("audit after the full disk: %v (%v)", err, check)
	}
	n := len(recs)
	if n < 2 || recs[n-2].Op != OpLock || !strings.Contains(recs[n-2].Detail, "written late") || recs[n-1].Op != OpUnlock {
		t.Fatalf("the log does not end with the late lock record, then the unlock: %+v", recs[max(0, n-3):])
	}
	if _, err := v.GetSecret(ctx, "s3", "t"); err != nil {
		t.Fatalf("the delete refused below the floor happened after all: %v", err)
	}
}
