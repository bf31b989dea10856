//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/relay"
)

// netnsPrefix starts the names of every namespace this test creates; the
// test's PID follows, so a later run can tell stale namespaces (their PID is
// gone) from those of a run still going.
const netnsPrefix = "mnn"

// Addresses, all inside namespaces the test creates: the infra namespace
// (bootstrap and relay) has one leg towards alice and one towards bob, and
// does not forward between them.
const (
	nnInfraA = "10.213.1.1"
	nnAlice  = "10.213.1.2"
	nnInfraB = "10.213.2.1"
	nnBob    = "10.213.2.2"
)

// TestNetnsSharingThroughRelay is issue 4 through real isolation: alice and
// bob each live in a network namespace that reaches only the infra
// namespace's leg on their side (bootstrap and relay), and bob still reads
// alice's calendar, which can only happen through the relay.
func TestNetnsSharingThroughRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("network-namespace scenario is long; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	for _, tool := range []string{"ip", "bash", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	start := time.Now()
	cleanStaleNetns(t)

	pfx := fmt.Sprintf("%s%d", netnsPrefix, os.Getpid())
	infra, alice, bob := pfx+"i", pfx+"a", pfx+"b"
	for i, ns := range []string{infra, alice, bob} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			if i == 0 {
				t.Skipf("cannot create network namespaces here (ip netns add: %v: %s)", err, bytes.TrimSpace(out))
			}
			t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
		}
		t.Cleanup(func() { removeNetns(t, ns) })
	}
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{infra, alice, bob} {
		sh("-n", ns, "link", "set", "lo", "up")
	}
	// The veths are created inside the namespaces, so their short names
	// cannot clash with anything in the root namespace or another run.
	sh("-n", infra, "link", "add", "ia", "type", "veth", "peer", "name", "a0", "netns", alice)
	sh("-n", infra, "link", "add", "ib", "type", "veth", "peer", "name", "b0", "netns", bob)
	sh("-n", infra, "addr", "add", nnInfraA+"/24", "dev", "ia")
	sh("-n", infra, "addr", "add", nnInfraB+"/24", "dev", "ib")
	sh("-n", alice, "addr", "add", nnAlice+"/24", "dev", "a0")
	sh("-n", bob, "addr", "add", nnBob+"/24", "dev", "b0")
	sh("-n", infra, "link", "set", "ia", "up")
	sh("-n", infra, "link", "set", "ib", "up")
	sh("-n", alice, "link", "set", "a0", "up")
	sh("-n", bob, "link", "set", "b0", "up")
	// No forwarding in the infra namespace, whatever the host's defaults.
	if out, err := exec.Command("ip", "netns", "exec", infra, "bash", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Fatalf("disabling ip_forward in %s: %v: %q", infra, err, out)
	}
	// Alice has no route to bob's subnet and bob none to alice's.
	for _, c := range [][2]string{{alice, nnBob}, {bob, nnAlice}} {
		if out, err := exec.Command("ip", "-n", c[0], "route", "get", c[1]).CombinedOutput(); err == nil {
			t.Fatalf("namespace %s has a route to %s: %s", c[0], c[1], out)
		}
	}

	// Bootstrap and relay in the infra namespace, listening on both legs.
	bootHome := newCLI(t)
	boot := startInNetns(t, "bootstrap", infra, bootHome.env, "bootstrap", "-v",
		"--listen", "/ip4/"+nnInfraA+"/tcp/4001", "--listen", "/ip4/"+nnInfraB+"/tcp/4001")
	bootAddrs := boot.addrs(t, nnInfraA, nnInfraB)
	relayHome := newCLI(t)
	relayAudit := filepath.Join(relayHome.home, "relay-audit.jsonl")
	rel := startInNetns(t, "relay", infra, relayHome.env, "relay", "-v",
		"--listen", "/ip4/"+nnInfraA+"/tcp/4002", "--listen", "/ip4/"+nnInfraB+"/tcp/4002",
		"--bootstrap", bootAddrs[nnInfraA], "--allow-private-addrs", "--audit", relayAudit)
	relayAddrs := rel.addrs(t, nnInfraA, nnInfraB)

	// Alice and bob dial the same bootstrap and relay, each at the address
	// on their own side.
	const pwA, pwB = "PW-netns-alice-51c2", "PW-netns-bob-8e07"
	a, b := newCLI(t), newCLI(t)
	a.ok("", []string{"MESH_PASSWORD=" + pwA}, "init", "--insecure-test-kdf", "--handle", "alice")
	b.ok("", []string{"MESH_PASSWORD=" + pwB}, "init", "--insecure-test-kdf", "--handle", "bob")
	aliceNode := startInNetns(t, "alice", alice, a.env, "node", "-v", "--listen", "/ip4/"+nnAlice+"/tcp/0",
		"--bootstrap", bootAddrs[nnInfraA], "--relay", relayAddrs[nnInfraA])
	startBob := func() *netnsProc {
		return startInNetns(t, "bob", bob, b.env, "node", "-v", "--listen", "/ip4/"+nnBob+"/tcp/0",
			"--bootstrap", bootAddrs[nnInfraB], "--relay", relayAddrs[nnInfraB])
	}
	bobNode := startBob()
	aliceAddr := aliceNode.addrs(t, nnAlice)[nnAlice]
	bobAddr := bobNode.addrs(t, nnBob)[nnBob]
	aliceNode.waitLine(t, "local API on", 30*time.Second)
	bobNode.waitLine(t, "local API on", 30*time.Second)
	a.ok("", []string{"MESH_PASSWORD=" + pwA}, "unlock")
	b.ok("", []string{"MESH_PASSWORD=" + pwB}, "unlock")

	// Isolation is real: bob's port answers from the infra namespace but
	// not from alice's, and the other way round; each reaches the infra leg
	// on its side.
	alicePort, bobPort := tcpPort(t, aliceAddr), tcpPort(t, bobAddr)
	mustReach := func(ns, host, port string) {
		t.Helper()
		if err := tcpConnect(ns, host, port); err != nil {
			t.Fatalf("from %s, TCP %s:%s should connect: %v", ns, host, port, err)
		}
	}
	mustNotReach := func(ns, host, port string) {
		t.Helper()
		if err := tcpConnect(ns, host, port); err == nil {
			t.Fatalf("from %s, TCP %s:%s connected: the namespaces are not isolated", ns, host, port)
		}
	}
	mustReach(infra, nnBob, bobPort)
	mustReach(infra, nnAlice, alicePort)
	mustReach(alice, nnInfraA, "4002")
	mustReach(bob, nnInfraB, "4002")
	mustNotReach(alice, nnBob, bobPort)
	mustNotReach(bob, nnAlice, alicePort)
	mustNotReach(alice, nnInfraB, "4002") // the infra's far leg is not routed either
	mustNotReach(bob, nnInfraA, "4002")

	waitRelayed(t, a)
	waitRelayed(t, b)

	const canary = "CALCANARY-netns-3d9b: standup 09:30"
	a.ok(canary, nil, "put", "calendar/work")
	out, errs, ok := a.run("", nil, "share", "calendar/*", "--with", "bob", "--can", "read,list", "--for", "1h")
	if !ok {
		t.Fatalf("alice's share failed: %s", errs)
	}
	t.Logf("share %s: %s", strings.TrimSpace(out), strings.TrimSpace(errs))

	var shared string
	if !testkit.Poll(20*time.Second, func() bool { shared = b.ok("", nil, "shared"); return strings.Contains(shared, "calendar/*") }) {
		t.Fatalf("bob never received alice's share; mesh shared says:\n%s", shared)
	}
	// Restart bob so that he must dial alice himself, from her directory
	// record (whose relay address is alice's side, 10.213.1.1), rather than
	// reuse the circuit alice opened to deliver the share.
	bobNode.stop()
	bobNode = startBob()
	bobAddr = bobNode.addrs(t, nnBob)[nnBob]
	bobPort = tcpPort(t, bobAddr)
	bobNode.waitLine(t, "local API on", 30*time.Second)
	b.ok("", []string{"MESH_PASSWORD=" + pwB}, "unlock")
	waitRelayed(t, b)

	got, errs, ok := b.run("", nil, "get", "alice/calendar/work")
	if !ok {
		t.Fatalf("bob could not read alice's calendar through the relay: %s", errs)
	}
	if got != canary {
		t.Fatalf("bob read %q, want %q", got, canary)
	}
	// The only way those bytes travelled: still no direct path, and the
	// relay logs the circuit bob opened to alice once it closes.
	mustNotReach(alice, nnBob, bobPort)
	mustNotReach(bob, nnAlice, alicePort)

	// Alice revokes; across the namespaces (gossip through the infra peers,
	// or alice's own refusal through the relay) bob's next read is refused
	// and says who revoked it.
	shareID := strings.TrimSpace(out)
	revokedAt := time.Now()
	a.ok("", nil, "revoke", shareID)
	var readOK bool
	refused := func() bool {
		_, errs, readOK = b.run("", nil, "get", "alice/calendar/work")
		return readOK || strings.Contains(errs, "alice revoked") // a successful read is a failure: stop at once
	}
	if !testkit.Poll(10*time.Second, refused) || readOK {
		t.Fatalf("after alice revoked share %s, bob's read: ok=%v %s", shareID, readOK, errs)
	}
	t.Logf("bob refused %v after alice's revoke, across namespaces", time.Since(revokedAt).Round(time.Millisecond))
	if shares := a.ok("", nil, "shares"); !strings.Contains(shares, "revoked") {
		t.Fatalf("alice's shares after the revoke:\n%s", shares)
	}

	aliceID, bobID := strings.TrimSpace(a.ok("", nil, "id")), strings.TrimSpace(b.ok("", nil, "id"))
	bobNode.stop()
	waitCircuit(t, relayAudit, bobID, aliceID)
	t.Logf("bob read alice's calendar through the relay in %v", time.Since(start).Round(100*time.Millisecond))
}

// waitCircuit waits for the relay's audit log to record a closed circuit
// from src to dst that carried bytes both ways.
func waitCircuit(t *testing.T, path, src, dst string) {
	t.Helper()
	var data []byte
	logged := func() bool {
		data, _ = os.ReadFile(path)
		for _, line := range strings.Split(string(data), "\n") {
			var r relay.AuditRecord
			if json.Unmarshal([]byte(line), &r) == nil && r.Event == relay.EventCircuit && r.Src.String() == src &&
				r.Dst.String() == dst && r.BytesSrcToDst > 0 && r.BytesDstToSrc > 0 {
				return true
			}
		}
		return false
	}
	if !testkit.Poll(15*time.Second, logged) {
		t.Fatalf("the relay logged no circuit %s → %s; its audit log:\n%s", src, dst, data)
	}
}

func waitRelayed(t *testing.T, c *cli) {
	t.Helper()
	var out string
	relayed := func() bool {
		var st localapi.Status
		out = c.ok("", nil, "status", "--json")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status --json: %v: %q", err, out)
		}
		return st.Relayed
	}
	if !testkit.Poll(30*time.Second, relayed) {
		t.Fatalf("node %s holds no relay reservation after 30s: %s", c.home, out)
	}
}

// tcpConnect opens (and closes) a TCP connection from inside namespace ns.
func tcpConnect(ns, host, port string) error {
	cmd := exec.Command("ip", "netns", "exec", ns, "timeout", "3", "bash", "-c", "exec 3<>/dev/tcp/"+host+"/"+port)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

func tcpPort(t *testing.T, addr string) string {
	t.Helper()
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.ValueForProtocol(ma.P_TCP)
	if err != nil {
		t.Fatalf("%s has no TCP port: %v", addr, err)
	}
	return p
}

// netnsProc is a mesh role running inside a namespace.
type netnsProc struct {
	name  string
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	log   bytes.Buffer // stdout and stderr, for failures
	seen  []string     // stdout lines consumed by waits
	stop  func()       // kills the process group and waits; idempotent
}

func (p *netnsProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

// startInNetns runs `ip netns exec NS mesh ARGS...` in its own process
// group; cleanup kills the group.
func startInNetns(t *testing.T, name, ns string, env []string, args ...string) *netnsProc {
	t.Helper()
	p := &netnsProc{name: name, lines: make(chan string, 1024)}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns, meshBin}, args...)...)
	p.cmd.Env = env
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.cmd.Stderr = p
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintf(p, "stdout: %s\n", sc.Text())
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	p.stop = sync.OnceFunc(func() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
		p.cmd.Wait()
	})
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("---- %s (%s) output ----\n%s", name, ns, lastLines(p.log.String(), 60))
			p.mu.Unlock()
		}
	})
	return p
}

// next returns the next stdout line, failing the test at deadline or if
// the process exits.
func (p *netnsProc) next(t *testing.T, what string, deadline time.Time) string {
	t.Helper()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("%s exited before printing %s", p.name, what)
		}
		p.seen = append(p.seen, l)
		return l
	case <-timer.C:
		t.Fatalf("%s printed no %s by the deadline", p.name, what)
	}
	return ""
}

// waitLine waits for a stdout line starting with prefix and returns it.
func (p *netnsProc) waitLine(t *testing.T, prefix string, d time.Duration) string {
	t.Helper()
	for _, l := range p.seen {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	deadline := time.Now().Add(d)
	for {
		if l := p.next(t, strconv.Quote(prefix), deadline); strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// addrs waits for a "listening on" TCP multiaddr (with /p2p/ID) on each IP.
func (p *netnsProc) addrs(t *testing.T, ips ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	check := func(l string) {
		a, ok := strings.CutPrefix(l, "listening on ")
		if !ok || !strings.Contains(a, "/tcp/") || !strings.Contains(a, "/p2p/") {
			return
		}
		for _, ip := range ips {
			if strings.HasPrefix(a, "/ip4/"+ip+"/") {
				out[ip] = a
			}
		}
	}
	for _, l := range p.seen {
		check(l)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < len(ips) {
		check(p.next(t, "a listen address on "+strings.Join(ips, " and "), deadline))
	}
	return out
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// cleanStaleNetns removes namespaces left by earlier runs that crashed:
// names netnsPrefix+PID+role whose PID is no longer running (or is ours),
// killing whatever still runs inside them.
func cleanStaleNetns(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], netnsPrefix) {
			continue
		}
		name := f[0]
		rest := strings.TrimPrefix(name, netnsPrefix)
		if len(rest) < 2 || !strings.Contains("iab", rest[len(rest)-1:]) {
			continue
		}
		pid, err := strconv.Atoi(rest[:len(rest)-1])
		if err != nil {
			continue
		}
		if pid != os.Getpid() && !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue // a run still going
		}
		t.Logf("removing stale namespace %s", name)
		removeNetns(t, name)
	}
}

// removeNetns kills every process inside ns and deletes it.
func removeNetns(t *testing.T, ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, s := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(s); err == nil && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
		t.Logf("ip netns delete %s: %v: %s", ns, err, out)
	}
}
