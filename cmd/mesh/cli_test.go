package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
)

var meshBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mesh-cli-test")
	if err != nil {
		panic(err)
	}
	meshBin = filepath.Join(dir, "mesh")
	if out, err := exec.Command("go", "build", "-o", meshBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building mesh: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type cli struct {
	t    *testing.T
	home string
	env  []string
	proc *exec.Cmd // a background mesh bootstrap or relay
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	// Unix socket paths are limited to ~108 bytes; keep the home short.
	home, err := os.MkdirTemp("", "mh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	return &cli{t: t, home: home, env: []string{"MESH_HOME=" + home, "HOME=" + home, "PATH=" + os.Getenv("PATH")}}
}

// run runs mesh with stdin and extra env, returning stdout, stderr and
// whether it exited 0.
func (c *cli) run(stdin string, env []string, args ...string) (string, string, bool) {
	c.t.Helper()
	cmd := exec.Command(meshBin, args...)
	cmd.Env = append(append([]string{}, c.env...), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	// Errors and logs never carry a secret or a password.
	for _, canary := range []string{pwCanary, secretCanary} {
		if strings.Contains(errb.String(), canary) {
			c.t.Errorf("mesh %s wrote a canary to stderr: %q", strings.Join(args, " "), errb.String())
		}
	}
	return out.String(), errb.String(), err == nil
}

func (c *cli) ok(stdin string, env []string, args ...string) string {
	c.t.Helper()
	out, errs, ok := c.run(stdin, env, args...)
	if !ok {
		c.t.Fatalf("mesh %s failed: %s", strings.Join(args, " "), errs)
	}
	return out
}

func (c *cli) fails(stdin string, env []string, want string, args ...string) {
	c.t.Helper()
	_, errs, ok := c.run(stdin, env, args...)
	if ok {
		c.t.Fatalf("mesh %s succeeded, want failure", strings.Join(args, " "))
	}
	if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.HasPrefix(errs, "mesh: ") || !strings.Contains(errs, want) {
		c.t.Fatalf("mesh %s: stderr %q, want one line containing %q", strings.Join(args, " "), errs, want)
	}
}

const (
	pwCanary     = "PWCANARY-cli-7f3a"
	secretCanary = "SECRETCANARY-cli-sk-9c1e"
)

func TestCLIWithoutNode(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf")
	id := strings.TrimSpace(c.ok("", nil, "id"))
	if !strings.HasPrefix(id, "12D3KooW") {
		t.Fatalf("mesh id = %q", id)
	}
	c.fails("", pw, "already holds", "init", "--insecure-test-kdf")
	c.ok(secretCanary+"\n", pw, "secret", "set", "openai", "--type", "api_key", "--provider", "openai")
	c.ok(`{"access_token":"at-1","refresh_token":"rt-1"}`, pw, "secret", "set", "google", "--type", "oauth_token", "--provider", "google", "--scopes", "calendar.read")
	if got := c.ok("", pw, "secret", "get", "openai"); got != secretCanary {
		t.Fatalf("secret get = %q, want the stored value without the newline", got)
	}
	list := c.ok("", pw, "secret", "list")
	if !strings.Contains(list, "openai") || !strings.Contains(list, "oauth_token") || strings.Contains(list, secretCanary) || strings.Contains(list, "at-1") {
		t.Fatalf("secret list = %q: want names and types, never values", list)
	}
	c.fails("", []string{"MESH_PASSWORD=wrong"}, "wrong password", "secret", "get", "openai")
	pwFile := filepath.Join(c.home, "pw.txt")
	os.WriteFile(pwFile, []byte(pwCanary+"\n"), 0o600)
	c.ok("", nil, "--password-file", pwFile, "secret", "rm", "google")
	c.fails("", pw, "not found", "secret", "get", "google")
	c.fails("", pw, "unknown secret type", "secret", "set", "x", "--type", "bogus")
	c.fails("", nil, "no password given", "secret", "get", "openai")
	audit := c.ok("", nil, "audit")
	for _, want := range []string{"vault.init", "secret.write", "secret.read", "secret.delete", "failed", "chain verified"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %q:\n%s", want, audit)
		}
	}
	assertNoCanaries(t, c.home, pwCanary, secretCanary)
}

func TestCLIThroughRunningNode(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf")
	node := exec.Command(meshBin, "node", "--listen", "/ip4/127.0.0.1/tcp/0")
	node.Env = c.env
	stdout, _ := node.StdoutPipe()
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Process.Kill(); node.Wait() })
	sc := bufio.NewScanner(stdout)
	var addr string
	deadline := time.AfterFunc(30*time.Second, func() { node.Process.Kill() })
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			addr = a
		}
		if strings.HasPrefix(sc.Text(), "local API on") {
			break
		}
	}
	deadline.Stop()
	if !strings.Contains(addr, "/tcp/") || !strings.Contains(addr, "/p2p/12D3KooW") {
		t.Fatalf("node did not print a full listen multiaddr: %q", addr)
	}
	var st localapi.Status
	json.Unmarshal([]byte(c.ok("", nil, "status", "--json")), &st)
	if !st.Running || !st.Locked {
		t.Fatalf("status = %+v, want running and locked", st)
	}
	c.fails("", nil, "vault is locked", "secret", "get", "x")
	c.fails("", nil, "already running", "node")
	c.fails("", []string{"MESH_PASSWORD=nope"}, "wrong password", "unlock")
	c.ok("", pw, "unlock")
	c.ok(secretCanary, nil, "secret", "set", "k", "--type", "password", "--username", "alice")
	if got := c.ok("", nil, "secret", "get", "k"); got != secretCanary {
		t.Fatalf("get through node = %q", got)
	}
	// A token this node revoked is not reported valid by inspect.
	other := "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
	tok := strings.TrimSpace(c.ok("", nil, "token", "issue", "--to", other, "--resource", "calendar/*", "--can", "read", "--for", "1h"))
	if out := c.ok("", nil, "token", "inspect", tok); !strings.Contains(out, "VALID") {
		t.Fatalf("a fresh token: %s", out)
	}
	c.ok("", nil, "revoke", "--token", tok)
	c.fails("", nil, "revoked", "token", "inspect", tok)
	c.ok("", nil, "lock")
	c.fails("", nil, "vault is locked", "secret", "get", "k")
	if !strings.Contains(c.ok("", nil, "audit"), "chain verified") {
		t.Fatal("audit through node does not verify")
	}
	// The socket is private to the user.
	fi, err := os.Stat(filepath.Join(c.home, "api.sock"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("api.sock mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	node.Process.Signal(os.Interrupt)
	node.Wait()
	// With the node gone, the CLI opens the vault directly again.
	if got := c.ok("", pw, "secret", "get", "k"); got != secretCanary {
		t.Fatalf("direct get after node stop = %q", got)
	}
	assertNoCanaries(t, c.home, pwCanary, secretCanary)
}

func assertNoCanaries(t *testing.T, dir string, canaries ...string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 || filepath.Base(path) == "pw.txt" {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, c := range canaries {
			if bytes.Contains(b, []byte(c)) {
				t.Errorf("%s contains %q", path, c)
			}
		}
		return nil
	})
}

// TestCLIRelayGrantAndRevoke: the relay operator grants relay access and
// revokes it, with the relay running (pushed to it) and stopped (stored,
// in force at its next start).
func TestCLIRelayGrantAndRevoke(t *testing.T) {
	peerID := "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
	boot := newCLI(t)
	bootAddr := boot.background("bootstrap", "--listen", "/ip4/127.0.0.1/tcp/0")
	c := newCLI(t)
	c.background("relay", "--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", bootAddr)
	first := strings.TrimSpace(c.ok("", nil, "relay", "grant", "--to", peerID))
	second := strings.TrimSpace(c.ok("", nil, "relay", "grant", "--to", peerID))
	if !strings.Contains(c.ok("", nil, "token", "inspect", first), "relay/access") {
		t.Fatal("mesh relay grant did not issue a relay-access capability")
	}
	if out := c.ok(first, nil, "relay", "revoke", "-"); !strings.Contains(out, "pushed to the running relay") {
		t.Fatalf("revoke with the relay running: %q", out)
	}
	c.fails("", nil, "malformed", "relay", "revoke", "not-a-token")

	c.stop() // killed: the kernel drops its lock; its addrs file stays behind
	if out := c.ok("", nil, "relay", "revoke", second); !strings.Contains(out, "stored; in force when the relay starts") {
		t.Fatalf("revoke with the relay stopped: %q", out)
	}
}

// background starts a long-running mesh command (bootstrap, relay) on c's
// home, waits until it wrote its addrs file and returns its first address.
func (c *cli) background(args ...string) string {
	c.t.Helper()
	cmd := exec.Command(meshBin, args...)
	cmd.Env = c.env
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.proc = cmd
	c.t.Cleanup(c.stop)
	var addrs []string
	wrote := func() bool {
		b, _ := os.ReadFile(filepath.Join(c.home, "addrs"))
		addrs = strings.Fields(string(b))
		return len(addrs) > 0
	}
	if !testkit.Poll(30*time.Second, wrote) {
		c.t.Fatalf("mesh %s never wrote its addresses", strings.Join(args, " "))
	}
	return addrs[0]
}

// stop kills c's background process, if any, and waits for it.
func (c *cli) stop() {
	if c.proc != nil {
		c.proc.Process.Kill()
		c.proc.Wait()
		c.proc = nil
	}
}

// TestCLIOnADamagedStore: a store whose table fails its checksum stops the
// command with one line saying so, never with a value built from damaged
// bytes.
func TestCLIOnADamagedStore(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf")
	c.ok(strings.Repeat("v", 200_000), pw, "secret", "set", "big", "--type", "note")
	c.ok("", pw, "secret", "list") // reopening moves the write-ahead log into a table
	tables, _ := filepath.Glob(filepath.Join(c.home, "store", "*.sst"))
	var largest string
	var size int64
	for _, f := range tables {
		if st, err := os.Stat(f); err == nil && st.Size() > size {
			largest, size = f, st.Size()
		}
	}
	if size < 100_000 {
		t.Fatalf("no table holds the secret yet: %v", tables)
	}
	f, err := os.OpenFile(largest, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0xff}, 16), size/2)
	f.Close()
	out, errs, ok := c.run("", pw, "secret", "get", "big")
	if ok || strings.Contains(out, "vvvv") {
		t.Fatalf("a damaged store served %d bytes", len(out))
	}
	if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "the store is damaged") {
		t.Fatalf("stderr %q, want one line saying the store is damaged", errs)
	}
}
