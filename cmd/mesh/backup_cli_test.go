package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIBackupAndRestore: mesh backup with a node running writes a file
// that mesh restore turns into a working home elsewhere; restore never
// overwrites a home, and a backup never overwrites a file.
func TestCLIBackupAndRestore(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf", "--handle", "alice")
	node := exec.Command(meshBin, "node", "--listen", "/ip4/127.0.0.1/tcp/0")
	node.Env = c.env
	stdout, _ := node.StdoutPipe()
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Process.Kill(); node.Wait() })
	sc := bufio.NewScanner(stdout)
	stop := time.AfterFunc(30*time.Second, func() { node.Process.Kill() })
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "local API on") {
	}
	stop.Stop()
	c.ok("", pw, "unlock")
	c.ok(secretCanary, nil, "secret", "set", "k", "--type", "password")
	out := filepath.Join(c.home, "alice.meshbak")
	if got := c.ok("", nil, "backup", "--out", out); !strings.Contains(got, "written to") {
		t.Fatalf("mesh backup: %q", got)
	}
	raw, err := os.ReadFile(out)
	if err != nil || strings.Contains(string(raw), secretCanary) {
		t.Fatalf("the backup file: %v, or it holds the secret in the clear", err)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode %v", st.Mode().Perm())
	}
	c.fails("", nil, "already exists", "backup", "--out", out)
	c.fails("", pw, "", "--home", c.home, "restore", out) // a live home is never overwritten

	fresh := filepath.Join(c.home, "restored")
	got := c.ok("", pw, "--home", fresh, "restore", out)
	if !strings.Contains(got, "restored backup") || !strings.Contains(got, "1 secret,") {
		t.Fatalf("mesh restore: %q", got)
	}
	if a, b := c.ok("", nil, "id"), c.ok("", nil, "--home", fresh, "id"); a != b {
		t.Fatalf("restored peer ID %q, want %q", b, a)
	}
	if v := c.ok("", pw, "--home", fresh, "secret", "get", "k"); v != secretCanary {
		t.Fatalf("restored secret %q", v)
	}
	c.fails("", []string{"MESH_PASSWORD=wrong"}, "", "--home", filepath.Join(c.home, "other"), "restore", out)
	if _, err := os.Stat(filepath.Join(c.home, "other", "identity.key")); err == nil {
		t.Fatal("a restore with a wrong password wrote a home")
	}
}
