package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
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
	// no controlling terminal, as in CI: a command that would prompt
	// fails instead, wherever the tests run
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
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
	c.fails("", pw, `there is no secret "google"`, "secret", "get", "google")
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
	c.fails("", nil, `the relay token is not a valid token: a token starts with "ocmt1."`, "relay", "revoke", "not-a-token")

	c.stop() // killed: the kernel drops its lock; its addrs file stays behind
	if out := c.ok("", nil, "relay", "revoke", second); !strings.Contains(out, "stored; in force when the relay starts") {
		t.Fatalf("revoke with the relay stopped: %q", out)
	}
}

// background starts a long-running mesh command (bootstrap, relay) on c's
// home, waits until it wrote its addrs file and returns its first address.
func (c *cli) background(args ...string) string {
	c.t.Helper()
	addr, _ := c.startRole(args...)
	return addr
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

// startNode starts `mesh node` with args on c's home, waits until its
// local API answers and returns its stdout.
func (c *cli) startNode(args ...string) *syncBuffer {
	c.t.Helper()
	cmd := exec.Command(meshBin, append([]string{"node", "--listen", "/ip4/127.0.0.1/tcp/0"}, args...)...)
	cmd.Env = c.env
	out := &syncBuffer{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.proc = cmd
	c.t.Cleanup(c.stop)
	if !testkit.Poll(30*time.Second, func() bool { return strings.Contains(out.String(), "local API on") }) {
		c.t.Fatalf("mesh node %s did not start: %q", strings.Join(args, " "), out.String())
	}
	return out
}

// status is mesh status --json.
func (c *cli) status() localapi.Status {
	c.t.Helper()
	var st localapi.Status
	out := c.ok("", nil, "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		c.t.Fatalf("status --json: %v: %q", err, out)
	}
	return st
}

// grantsJSON is mesh shares --json or mesh shared --json.
func (c *cli) grants(cmd string) []localapi.Grant {
	c.t.Helper()
	var gs []localapi.Grant
	out := c.ok("", nil, cmd, "--json")
	if err := json.Unmarshal([]byte(out), &gs); err != nil {
		c.t.Fatalf("%s --json: %v: %q", cmd, err, out)
	}
	return gs
}

// noInternals fails when a CLI error shows a package's inner words.
func noInternals(t *testing.T, what, stderr string) {
	t.Helper()
	for _, bad := range []string{"0x", "capability:", "wire:", "cbor", "base64", "json:", "EOF", "dial", "/p2p/", "envelope", "[a-z0-9._-]"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("%s: stderr %q shows %q", what, stderr, bad)
		}
	}
}

// TestCLIRevokedSharesShowRevokedWithoutANode: after a revocation, mesh
// shares on the owner and mesh shared on the recipient say revoked, with
// their nodes running and after they stopped; a share made --for 2w lasts
// two weeks.
func TestCLIRevokedSharesShowRevokedWithoutANode(t *testing.T) {
	if testing.Short() {
		t.Skip("four processes; skipped with -short")
	}
	boot := newCLI(t)
	bootAddr := boot.background("bootstrap", "--listen", "/ip4/127.0.0.1/tcp/0")
	rel := newCLI(t)
	relayAddr := rel.background("relay", "--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", bootAddr, "--allow-private-addrs")
	alice, bob := newCLI(t), newCLI(t)
	for name, c := range map[string]*cli{"alice": alice, "bob": bob} {
		c.ok("", []string{"MESH_PASSWORD=" + pwCanary}, "init", "--insecure-test-kdf", "--handle", name)
		c.startNode("--bootstrap", bootAddr, "--relay", relayAddr)
		c.ok("", []string{"MESH_PASSWORD=" + pwCanary}, "unlock")
	}
	alice.ok("Mon 9:00 standup", nil, "put", "calendar/work")
	var id string
	if !testkit.Poll(30*time.Second, func() bool { // until both handles are in the directory
		out, _, ok := alice.run("", nil, "share", "calendar/*", "--with", "bob", "--for", "2w")
		id = strings.TrimSpace(out)
		return ok
	}) {
		t.Fatal("alice could not share with bob")
	}
	if !testkit.Poll(30*time.Second, func() bool { return len(bob.grants("shared")) == 1 }) {
		t.Fatal("bob never received the share")
	}
	if g := alice.grants("shares")[0]; g.Expiry.Sub(g.NotBefore) != 14*24*time.Hour {
		t.Fatalf("--for 2w made a share from %v to %v", g.NotBefore, g.Expiry)
	}
	alice.ok("", nil, "revoke", id)
	if !testkit.Poll(30*time.Second, func() bool { return bob.grants("shared")[0].Status == "revoked" }) {
		t.Fatal("bob's node never learnt of the revocation")
	}
	alice.interrupt()
	bob.interrupt()
	for _, c := range []struct {
		c   *cli
		cmd string
	}{{alice, "shares"}, {bob, "shared"}} {
		if g := c.c.grants(c.cmd); len(g) != 1 || g[0].Status != "revoked" {
			t.Errorf("mesh %s without a node: %+v, want the share revoked", c.cmd, g)
		}
		if out := c.c.ok("", nil, c.cmd); !strings.Contains(out, "revoked") || strings.Contains(out, "active") {
			t.Errorf("mesh %s without a node:\n%s", c.cmd, out)
		}
	}
}

// TestCLIWhenTheNodeDies: a node that stops under a command is named as
// such, with what to check; a socket a killed node left behind is named a
// stale socket, and commands that need the node, or a password to do
// without it, say so.
func TestCLIWhenTheNodeDies(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf")

	// A node that reads the request and dies before answering.
	sock := filepath.Join(c.home, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				r := bufio.NewReader(conn)
				for {
					if l, err := r.ReadString('\n'); err != nil || l == "\r\n" {
						break
					}
				}
				conn.Close()
			}()
		}
	}()
	_, stderr, _ := c.run(secretCanary, nil, "secret", "set", "k")
	noInternals(t, "secret set as the node dies", stderr)
	c.fails(secretCanary, nil, "the node stopped while handling this command; it may or may not have been done: start it again with mesh node, then check with mesh secret list", "secret", "set", "k")
	c.fails("", nil, "which changes nothing", "secret", "list")
	ln.Close()

	// A node killed outright leaves its socket.
	os.Remove(sock)
	c.startNode()
	c.ok("", pw, "unlock")
	c.stop() // SIGKILL
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the killed node left no socket: %v", err)
	}
	for _, args := range [][]string{{"secret", "get", "k"}, {"unlock"}, {"lock"}} {
		_, stderr, _ := c.run("", nil, args...)
		noInternals(t, strings.Join(args, " "), stderr)
		c.fails("", nil, "is not running (stale socket", args...)
	}
	if st := c.status(); st.Running {
		t.Fatalf("status after the kill: %+v", st)
	}
	c.ok(secretCanary, pw, "secret", "set", "k") // with the password, the command opens the vault itself
}

// TestCLIPasswdTakesItsPasswordsFromFiles: mesh passwd reads the current
// password from the global --password-file and the new one from
// --new-password-file (or $MESH_NEW_PASSWORD), through a node or not.
func TestCLIPasswdTakesItsPasswordsFromFiles(t *testing.T) {
	c := newCLI(t)
	write := func(name, pw string) string {
		p := filepath.Join(c.home, name)
		if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first, second, third := write("pw.txt", pwCanary), write("pw2.txt", pwCanary+"-2"), write("pw3.txt", pwCanary+"-3")
	c.ok("", nil, "--password-file", first, "init", "--insecure-test-kdf")
	c.fails("", nil, "no new password given: use --new-password-file, $MESH_NEW_PASSWORD or a terminal", "--password-file", first, "passwd")
	c.fails("", nil, "the same as the current one", "--password-file", first, "passwd", "--new-password-file", first)
	c.ok("", nil, "--password-file", first, "passwd", "--new-password-file", second)
	c.fails("", nil, "wrong password", "--password-file", first, "secret", "list")
	c.ok("", nil, "--password-file", second, "secret", "list")

	c.startNode()
	c.ok("", []string{"MESH_NEW_PASSWORD=" + pwCanary + "-3"}, "--password-file", second, "passwd")
	c.ok("", nil, "--password-file", third, "unlock")
}

// TestCLIOneSecretLimitOnBothPaths: a secret up to the vault's limit is
// stored with or without a node, and one over it is refused on both
// paths with the same words.
func TestCLIOneSecretLimitOnBothPaths(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf")
	big := strings.Repeat("s", 900_000)
	over := strings.Repeat("s", 1<<20+1)
	c.ok(big, pw, "secret", "set", "direct")
	c.fails(over, pw, "a secret holds at most 1 MiB", "secret", "set", "over")
	c.startNode()
	c.ok("", pw, "unlock")
	c.ok(big, nil, "secret", "set", "through")
	if got := c.ok("", nil, "secret", "get", "through"); len(got) != len(big) {
		t.Fatalf("read back %d bytes of %d", len(got), len(big))
	}
	c.fails(over, nil, "a secret holds at most 1 MiB", "secret", "set", "over")
	c.fails(strings.Repeat("s", 1<<20-2), nil, "a secret holds at most 1 MiB", "secret", "set", "over") // the name counts too
}

// TestCLIUnlockSaysHowLongItWaits: after wrong passwords, unlock says how
// long the vault makes it wait, waits, and then unlocks.
func TestCLIUnlockSaysHowLongItWaits(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf")
	c.startNode()
	// Wrong passwords until the next attempt is well ahead (250 ms,
	// doubling): the right one then has to wait, whatever the load.
	for i := 0; ; i++ {
		_, stderr, ok := c.run("", []string{"MESH_PASSWORD=nope"}, "unlock")
		if ok || !strings.Contains(stderr, "wrong password") {
			t.Fatalf("a wrong password: %q", stderr)
		}
		if st := c.status(); time.Until(st.NextUnlockFrom) > 1500*time.Millisecond {
			break
		}
		if i == 6 {
			t.Fatal("the backoff never grew")
		}
	}
	_, stderr, ok := c.run("", pw, "unlock")
	if !ok || !strings.Contains(stderr, "too many wrong passwords: next try in ") {
		t.Fatalf("unlock during the backoff: ok %v, stderr %q", ok, stderr)
	}
	if st := c.status(); st.Locked {
		t.Fatal("still locked after waiting out the backoff")
	}
}

// TestCLIErrorsAreSentences: errors name the problem in words, never in
// the packages' inner terms.
func TestCLIErrorsAreSentences(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf")
	other := "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
	for _, e := range []struct {
		want string
		args []string
	}{
		{`the token is not valid: a token starts with "ocmt1."`, []string{"token", "inspect", "garbage"}},
		{`the token is not valid: '!' at position 7 cannot be in a token`, []string{"token", "inspect", "ocmt1.!!!!"}},
		{"the token is not valid: it is cut short or was changed", []string{"token", "inspect", "ocmt1.CCCC"}},
		{`"xyz" is not a peer ID (a peer ID starts with 12D3KooW`, []string{"token", "inspect", "--owner", "xyz", "ocmt1.aaa"}},
		{`"Calendar/*" is not a valid path or pattern: paths are lowercase`, []string{"token", "issue", "--to", other, "--resource", "Calendar/*"}},
		{`"fly" is not an action`, []string{"token", "issue", "--to", other, "--resource", "calendar/*", "--can", "read,fly"}},
		{"admin is not something home nodes serve", []string{"token", "issue", "--to", other, "--resource", "calendar/*", "--can", "read,admin"}},
		{`--to "carol" is not a peer ID (a peer ID starts with 12D3KooW`, []string{"relay", "grant", "--to", "carol"}},
		{`the listen address "nonsense" is not one: want a multiaddr`, []string{"bootstrap", "--listen", "nonsense"}},
		{`the bootstrap address "nonsense" is not one: want a multiaddr`, []string{"relay", "--bootstrap", "nonsense"}},
		{"a validity of 400d is too long: at most 366d", []string{"token", "issue", "--to", other, "--resource", "calendar/*", "--for", "400d"}},
		{`--for: "10q" is not a duration`, []string{"token", "issue", "--to", other, "--resource", "calendar/*", "--for", "10q"}},
		{`the parent token is not a valid token: it is cut short`, []string{"token", "issue", "--to", other, "--resource", "calendar/*", "--parent", "ocmt1.QUJD"}},
		{`"Bob!" is not a valid handle`, []string{"handle", "Bob!"}},
	} {
		_, stderr, _ := c.run("", pw, e.args...)
		noInternals(t, strings.Join(e.args, " "), stderr)
		c.fails("", pw, e.want, e.args...)
	}
}

// TestCLIJSONEverywhere: every command that prints data takes --json and
// prints one JSON value; a field has one JSON type in every command (times
// are RFC 3339 strings); --for takes days.
func TestCLIJSONEverywhere(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf", "--handle", "alice", "--json")
	c.ok(secretCanary, pw, "secret", "set", "k", "--type", "oauth_token", "--provider", "p", "--expires", "7d")
	c.ok("notes", pw, "put", "notes/a")
	other := "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
	types := map[string]map[string]string{} // field → JSON kind → command
	var walk func(cmd string, v any)
	walk = func(cmd string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, f := range v {
				kind := fmt.Sprintf("%T", f)
				if f == nil {
					continue
				}
				if _, isObj := f.(map[string]any); !isObj {
					if _, isList := f.([]any); !isList {
						if types[k] == nil {
							types[k] = map[string]string{}
						}
						types[k][kind] = cmd
					}
				}
				walk(cmd, f)
			}
		case []any:
			for _, e := range v {
				walk(cmd, e)
			}
		}
	}
	for _, args := range [][]string{
		{"version"}, {"id"}, {"status"}, {"handle"}, {"secret", "list"}, {"secret", "get", "k"}, {"audit"}, {"ls"},
		{"shares"}, {"shared"}, {"contacts"},
		{"token", "issue", "--to", other, "--resource", "notes/*", "--for", "7d"},
	} {
		out := c.ok("", pw, append(args, "--json")...)
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Fatalf("mesh %s --json: %v: %q", strings.Join(args, " "), err, out)
		}
		walk(strings.Join(args, " "), v)
		if args[0] == "token" {
			tok := v.(map[string]any)["token"].(string)
			var rep struct {
				NotBefore time.Time `json:"not_before"`
				Expiry    time.Time `json:"expiry"`
			}
			json.Unmarshal([]byte(c.ok("", nil, "token", "inspect", tok, "--json")), &rep)
			if rep.Expiry.Sub(rep.NotBefore) != 7*24*time.Hour {
				t.Fatalf("--for 7d gave a token from %v to %v", rep.NotBefore, rep.Expiry)
			}
		}
	}
	for field, kinds := range types {
		if len(kinds) > 1 {
			t.Errorf("field %q has %d JSON types: %v", field, len(kinds), kinds)
		}
	}
	for _, f := range []string{"updated", "expiry", "time"} {
		if _, ok := types[f]["string"]; !ok || len(types[f]) != 1 {
			t.Errorf("field %q is %v, want RFC 3339 strings only", f, types[f])
		}
	}
}

// TestCLIVersionAndLicense: mesh version names the module, the build and
// the Go release; the repository carries its licence.
func TestCLIVersionAndLicense(t *testing.T) {
	c := newCLI(t)
	var v versionInfo
	if err := json.Unmarshal([]byte(c.ok("", nil, "version", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Module != "github.com/ocmt/mesh" || v.Version == "" || v.Go != runtime.Version() {
		t.Fatalf("mesh version = %+v, want module github.com/ocmt/mesh built with %s", v, runtime.Version())
	}
	if out := c.ok("", nil, "version"); !strings.Contains(out, "built with "+runtime.Version()) {
		t.Fatalf("mesh version:\n%s", out)
	}
	b, err := os.ReadFile("../../LICENSE")
	if err != nil || !bytes.Contains(b, []byte("Apache License")) || !bytes.Contains(b, []byte("Version 2.0, January 2004")) {
		t.Fatalf("LICENSE: %v", err)
	}
}

// TestCLINodeMetricsAndIdleLock: mesh node --metrics serves Prometheus
// metrics; the idle lock is on by default (30m), set by --lock-after or
// the config file, and off with 0.
func TestCLINodeMetricsAndIdleLock(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf")
	out := c.startNode("--metrics", "127.0.0.1:0")
	var addr string
	for _, l := range strings.Split(out.String(), "\n") {
		if a, ok := strings.CutPrefix(l, "metrics on "); ok {
			addr = a
		}
	}
	resp, err := http.Get(addr)
	if err != nil {
		t.Fatalf("metrics at %q: %v", addr, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "ocmt_node_vault_locked 1\n") {
		t.Fatalf("metrics:\n%s", body)
	}
	if st := c.status(); st.LockAfter != "30m" {
		t.Fatalf("lock_after %q by default, want 30m", st.LockAfter)
	}
	if !strings.Contains(c.ok("", nil, "status"), "locks itself after 30m unused") {
		t.Fatal("mesh status does not say when the vault locks itself")
	}
	c.interrupt()
	cfg := filepath.Join(c.home, "node.yaml")
	os.WriteFile(cfg, []byte("lock_after: 1d\n"), 0o600)
	c.startNode("--config", cfg)
	if st := c.status(); st.LockAfter != "1d" {
		t.Fatalf("lock_after %q from the config file, want 1d", st.LockAfter)
	}
	c.interrupt()
	c.startNode("--config", cfg, "--lock-after", "0")
	if st := c.status(); st.LockAfter != "" {
		t.Fatalf("lock_after %q with --lock-after 0, want none", st.LockAfter)
	}
}
