package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ocmt/mesh/internal/store"
)

// TestVaultOnARealFullDisk fills a real filesystem (a small tmpfs, so it
// needs root) under a vault: writes are refused with a clear error, nothing
// acknowledged is lost, the audit chain stays whole, and everything works
// again once space is freed.
func TestVaultOnARealFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root)")
	}
	ctx := context.Background()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	dir := filepath.Join(mnt, "store")
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Create(ctx, Config{Store: st}, []byte("pw"), TestKDF(), "t")
	if err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	fill := func(leave uint64) {
		t.Helper()
		var st syscall.Statfs_t
		syscall.Statfs(mnt, &st)
		free := st.Bavail * uint64(st.Bsize)
		f, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if free > leave {
			if _, err := f.Write(make([]byte, free-leave)); err != nil {
				t.Fatal(err)
			}
		}
	}
	value := bytes.Repeat([]byte("v"), 1000)
	fill(store.DiskReserve + 16<<20)
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
	if _, err := v.GetSecret(ctx, "s0", "t"); !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("an audited read on a full disk: %v, want store.ErrDiskFull (its audit record cannot be written)", err)
	}
	// Nothing acknowledged is lost across a close and reopen on the full disk.
	v.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filler)
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
