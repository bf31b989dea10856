package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
)

// smallDisk mounts a tmpfs of sizeMiB (so it needs root; CI runs as root)
// and returns a cli whose home is on it, with fill to leave only so many
// bytes free and unfill to give the space back.
type smallDisk struct {
	*cli
	mnt string
}

func newSmallDisk(t *testing.T, sizeMiB int) *smallDisk {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (CI runs as root); run as root to test full disks")
	}
	mnt, err := os.MkdirTemp("", "md") // short: the socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(sizeMiB)+"m", "tmpfs", mnt).CombinedOutput(); err != nil {
		os.Remove(mnt)
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("umount", "-l", mnt).Run()
		os.Remove(mnt)
	})
	home := filepath.Join(mnt, "h")
	return &smallDisk{cli: &cli{t: t, home: home, env: []string{"MESH_HOME=" + home, "HOME=" + home, "PATH=" + os.Getenv("PATH")}}, mnt: mnt}
}

func (d *smallDisk) free() uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.mnt, &st); err != nil {
		d.t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// fill grows the filler file until at most leave bytes are free.
func (d *smallDisk) fill(leave uint64) {
	d.t.Helper()
	f, err := os.OpenFile(filepath.Join(d.mnt, "filler"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if free := d.free(); free > leave {
		f.Write(make([]byte, free-leave)) // on a full tmpfs the last page may not fit: that is full too
	}
}

// unfill removes the filler.
func (d *smallDisk) unfill() { os.Remove(filepath.Join(d.mnt, "filler")) }

// exited waits up to within for p to exit and says whether it did (it is
// killed otherwise).
func exited(p *exec.Cmd, within time.Duration) (time.Duration, bool) {
	start := time.Now()
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
		return time.Since(start), true
	case <-time.After(within):
		p.Process.Kill()
		<-done
		return time.Since(start), false
	}
}

// TestNodeStopsAndRefusesToStartOnAFullDisk: a running node whose disk
// fills up still stops on SIGTERM within 5 s (its store skips the flush it
// could not finish; the write-ahead log holds everything), a node started
// on the full disk fails within 5 s with one line instead of hanging in
// the store's open, and with space back everything acknowledged is there.
func TestNodeStopsAndRefusesToStartOnAFullDisk(t *testing.T) {
	d := newSmallDisk(t, 160)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	d.ok("", pw, "init", "--insecure-test-kdf")
	d.startNode()
	d.ok("", pw, "unlock")
	for _, name := range []string{"a", "b", "c"} {
		d.ok(secretCanary+name, nil, "secret", "set", name)
	}
	d.fill(0)
	node := d.proc
	d.proc = nil
	node.Process.Signal(syscall.SIGTERM)
	took, ok := exited(node, 5*time.Second)
	if !ok {
		t.Fatalf("a node on a full disk did not stop within 5 s of SIGTERM")
	}
	t.Logf("the node stopped %v after SIGTERM on a full disk", took.Round(time.Millisecond))

	start := exec.Command(meshBin, "node", "--listen", "/ip4/127.0.0.1/tcp/0")
	start.Env = d.env
	var stderr bytes.Buffer
	start.Stderr = &stderr
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	took, ok = exited(start, 5*time.Second)
	if !ok {
		t.Fatalf("mesh node on a full disk did not give up within 5 s")
	}
	if start.ProcessState.ExitCode() == 0 {
		t.Fatal("mesh node started on a full disk")
	}
	errs := stderr.String()
	if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.HasPrefix(errs, "mesh: ") || !strings.Contains(errs, "free") {
		t.Fatalf("mesh node on a full disk: stderr %q, want one line saying how much is free", errs)
	}
	t.Logf("mesh node on a full disk failed in %v: %s", took.Round(time.Millisecond), strings.TrimSpace(errs))

	d.unfill()
	d.startNode()
	d.ok("", pw, "unlock")
	for _, name := range []string{"a", "b", "c"} {
		if got := d.ok("", nil, "secret", "get", name); got != secretCanary+name {
			t.Fatalf("secret %s after the full disk: %q", name, got)
		}
	}
	if !strings.Contains(d.ok("", nil, "audit"), "chain verified") {
		t.Fatal("the audit chain does not verify after the full disk")
	}
}

// TestCLIOnANearlyFullDisk: with less free than the write reserve, writes
// are refused in one line, while reads, deletes and lock go on, and mesh
// status warns with the numbers; below even the delete floor, mesh lock
// still locks (exit 0) and says that its audit record is late, and the
// record is written once there is room again.
func TestCLIOnANearlyFullDisk(t *testing.T) {
	d := newSmallDisk(t, 160)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	d.ok("", pw, "init", "--insecure-test-kdf")
	d.startNode()
	d.ok("", pw, "unlock")
	for _, name := range []string{"a", "b", "c", "d"} {
		d.ok(secretCanary+name, nil, "secret", "set", name)
	}
	if w := d.status().DiskWarning; w != "" {
		t.Fatalf("status warns on a roomy disk: %q", w)
	}
	sp := spaceOf(t, filepath.Join(d.home, "store"))
	d.fill(sp.WriteReserve - 8<<20)
	d.fails("x", nil, "free", "secret", "set", "e")
	if got := d.ok("", nil, "secret", "get", "a"); got != secretCanary+"a" {
		t.Fatalf("read below the write reserve: %q", got)
	}
	w := d.status().DiskWarning
	if !strings.Contains(w, "MiB free") || !strings.Contains(w, "writes stop at "+mib(sp.WriteReserve)) {
		t.Fatalf("status below the write reserve: disk warning %q", w)
	}
	if out := d.ok("", nil, "status"); !strings.Contains(out, "disk:") {
		t.Fatalf("mesh status shows no disk warning:\n%s", out)
	}
	d.ok("", nil, "secret", "rm", "b")
	d.ok("", nil, "lock")
	d.ok("", pw, "unlock")

	// Below the delete floor: nothing can be written, yet lock locks.
	d.fill(sp.DeleteFloor / 2)
	_, errs, ok := d.run("", nil, "lock")
	if !ok || !strings.Contains(errs, "audit") {
		t.Fatalf("mesh lock below the delete floor: ok=%v stderr %q; want success and a warning about its audit record", ok, errs)
	}
	if st := d.status(); !st.Locked {
		t.Fatal("mesh lock succeeded but the vault is unlocked")
	}
	d.unfill()
	d.ok("", pw, "unlock")
	audit := d.ok("", nil, "audit")
	if !strings.Contains(audit, "written late") || !strings.Contains(audit, "chain verified") {
		t.Fatalf("the late lock record is not in a verified log:\n%s", audit)
	}
}

// spaceOf is the store's view of its disk.
func spaceOf(t *testing.T, dir string) store.Space {
	t.Helper()
	sp, err := store.SpaceAt(dir)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func mib(n uint64) string { return strconv.Itoa(int(n>>20)) + " MiB" }

// TestParallelSecretSetWithoutANode: twenty `mesh secret set` at once,
// without a node, with the production KDF, on a machine kept busy (one
// spinning thread per CPU beside them), all succeed: each derives its key
// from the password before it takes the store's lock, so none holds the
// lock for an Argon2id run.
func TestParallelSecretSetWithoutANode(t *testing.T) {
	if testing.Short() {
		t.Skip("twenty production Argon2id runs; skipped with -short")
	}
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init") // the production KDF
	const n = 20
	type result struct {
		name, stderr string
		ok           bool
		took         time.Duration
	}
	results := make(chan result, n)
	var stopLoad atomic.Bool // the machine is busy, as CI machines are
	defer stopLoad.Store(true)
	for range runtime.NumCPU() {
		go func() {
			for !stopLoad.Load() {
			}
		}()
	}
	start := time.Now()
	for i := range n {
		go func() {
			name := "s" + strconv.Itoa(i+1)
			cmd := exec.Command(meshBin, "secret", "set", name)
			cmd.Env = append(append([]string{}, c.env...), pw...)
			cmd.Stdin = strings.NewReader(secretCanary + name)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			t0 := time.Now()
			err := cmd.Run()
			results <- result{name, stderr.String(), err == nil, time.Since(t0)}
		}()
	}
	var failed []string
	var slowest time.Duration
	for range n {
		r := testkit.Within(t, 2*time.Minute, results, "a parallel mesh secret set")
		slowest = max(slowest, r.took)
		if !r.ok {
			failed = append(failed, r.name+": "+strings.TrimSpace(r.stderr))
		}
	}
	t.Logf("%d parallel secret set on %d busy CPUs: all done in %v (slowest %v)", n, runtime.NumCPU(), time.Since(start).Round(time.Millisecond), slowest.Round(time.Millisecond))
	if len(failed) > 0 {
		t.Fatalf("%d of %d parallel secret set failed:\n%s", len(failed), n, strings.Join(failed, "\n"))
	}
	list := c.ok("", pw, "secret", "list")
	for i := range n {
		if !strings.Contains(list, "s"+strconv.Itoa(i+1)+" ") {
			t.Fatalf("secret s%d is missing:\n%s", i+1, list)
		}
	}
}
