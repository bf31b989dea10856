package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
)

// README.md's walkthrough is a test: TestREADMEWalkthrough reads the
// README, takes the command blocks of its walkthrough and runs them as a
// new user would, in order, and checks what the README says they do.
//
// The marker convention: a walkthrough block is a fenced ```sh block on
// the line right after the HTML comment <!-- walkthrough --> (invisible
// when the README is rendered). Every command in it is one line (a line
// ending in \ continues on the next); blank lines and lines starting with
// # are skipped, and a # comment after a command is bash's own. A ```sh
// block that runs mesh and is not marked fails the test, so a block cannot
// drop out of it unnoticed.
//
// How the commands run: one bash (--norc --noprofile; with pipefail, so a
// pipeline fails when any command in it does) reads them one at a time
// and evals each in the same shell, so variables (B=$(mesh ... addrs))
// and background jobs (mesh node ... &) carry from one to the next, as at
// a terminal. The shell runs in its own session
// (no terminal: a command that would prompt for a password fails instead),
// in a fresh folder that is its HOME (so ~ is the test's folder) and its
// working directory, with the test's mesh binary first on PATH and no
// MESH_* variable from the test's environment. Each command's stdout,
// stderr and exit status are checked; every background job is stopped at
// the end whatever happens (the shell's process group is signalled).
//
// The only change made to the README's commands (walkFixedPorts): the
// fixed ports 4001 (bootstrap), 4002 (relay) and 9464 (metrics) become
// free ports, so runs in parallel do not collide. Nothing else.

// walkMarker marks the next fenced block as part of the walkthrough.
const walkMarker = "<!-- walkthrough -->"

// walkFixedPorts are the README's fixed ports, each replaced by a free one.
var walkFixedPorts = []struct{ readme, format string }{
	{"/tcp/4001", "/tcp/%d"},
	{"/tcp/4002", "/tcp/%d"},
	{"127.0.0.1:9464", "127.0.0.1:%d"},
}

// walkStepTimeout bounds one README command; the slowest waits for a
// group's one-minute unlock window to end (step 10).
const walkStepTimeout = 90 * time.Second

// walkStep checks one README command, found by a part of its text. Steps
// match the commands in order; a command no step names must succeed.
type walkStep struct {
	match  string                           // a part of the command's text (after substitution)
	fails  string                           // "": it succeeds; else it fails with one line containing this
	stdout []string                         // parts its stdout has, each
	stderr []string                         // parts its stderr has, each
	not    []string                         // parts neither output has
	then   func(w *walkShell, r walkResult) // further checks through the same shell
}

func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("six processes; skipped with -short")
	}
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README walkthrough needs %s (see README: What a machine needs): %v", tool, err)
		}
	}
	start := time.Now()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	checkREADMEOpening(t, readme)
	cmds, err := walkthroughCommands(readme)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	for _, c := range cmds {
		for _, m := range meshCall.FindAllStringSubmatch(withoutComment(c), -1) {
			if m[1] != "--home" && m[1] != "version" {
				t.Errorf("README walkthrough: %q runs mesh without --home first: every role there has its own folder", c)
			}
		}
	}
	ports := freePorts(t, len(walkFixedPorts))
	cmds = substitutePorts(t, cmds, ports)

	w := startWalkShell(t)
	steps := walkSteps(ports)
	next := 0
	for _, c := range cmds {
		r := w.run(c)
		if strings.Contains(r.stderr, "panic:") {
			t.Fatalf("%s panicked:\n%s", c, r.stderr)
		}
		if next < len(steps) && strings.Contains(c, steps[next].match) {
			steps[next].check(t, w, r)
			next++
			continue
		}
		if r.rc != 0 {
			pending := ""
			if next < len(steps) {
				pending = fmt.Sprintf("\n(the next step the test knows has %q: a command before it may be missing or misspelled)", steps[next].match)
			}
			t.Fatalf("README command failed (exit %d): %s\nstderr: %s%s", r.rc, c, r.stderr, pending)
		}
	}
	if next < len(steps) {
		t.Fatalf("the README walkthrough no longer has, after the steps before it, a command with %q", steps[next].match)
	}
	if jobs := w.sh("jobs -p"); jobs.stdout != "" {
		t.Errorf("the walkthrough's last step left background jobs running: %s", jobs.stdout)
	}
	t.Logf("the README walkthrough: %d commands in %v", len(cmds), time.Since(start).Round(time.Millisecond))
}

// check applies s to the result of the command it matched.
func (s walkStep) check(t *testing.T, w *walkShell, r walkResult) {
	t.Helper()
	if s.fails == "" && r.rc != 0 {
		t.Fatalf("README command failed (exit %d): %s\nstderr: %s", r.rc, r.cmd, r.stderr)
	}
	if s.fails != "" {
		errLine := strings.TrimSpace(r.stderr)
		if r.rc == 0 || !strings.HasPrefix(errLine, "mesh: ") || strings.Contains(errLine, "\n") || !strings.Contains(errLine, s.fails) {
			t.Fatalf("README command %s: exit %d, stderr %q; the README says it is refused with %q", r.cmd, r.rc, r.stderr, s.fails)
		}
	}
	for _, want := range s.stdout {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("README command %s: stdout lacks %q:\n%s", r.cmd, want, r.stdout)
		}
	}
	for _, want := range s.stderr {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("README command %s: stderr lacks %q:\n%s", r.cmd, want, r.stderr)
		}
	}
	for _, bad := range s.not {
		if strings.Contains(r.stdout, bad) || strings.Contains(r.stderr, bad) {
			t.Errorf("README command %s shows %q:\n%s%s", r.cmd, bad, r.stdout, r.stderr)
		}
	}
	if s.then != nil {
		s.then(w, r)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// groupHeads are the audit chain heads each admin's node printed (step 10).
var groupHeads = map[string]string{}

// groupHead keeps the head an admin's mesh group audit printed, and checks
// that every admin so far printed the same.
func groupHead(who string) func(*walkShell, walkResult) {
	return func(w *walkShell, r walkResult) {
		m := regexp.MustCompile(`chain verified: \d+ records signed by the vault, head ([0-9a-f]{16})`).FindStringSubmatch(r.stdout)
		if m == nil {
			w.t.Fatalf("%s's mesh group audit prints no head:\n%s", who, r.stdout)
		}
		groupHeads[who] = m[1]
		for other, h := range groupHeads {
			if h != m[1] {
				w.t.Fatalf("%s's node holds the chain up to head %s, %s's up to %s", who, m[1], other, h)
			}
		}
	}
}

// walkSteps are what the README promises, command by command, in its
// order; ports are the free ports that replaced 4001, 4002 and 9464.
func walkSteps(ports []int) []walkStep {
	const calendar = "Mon 9:00 standup"
	addr := func(name string, port int) func(*walkShell, walkResult) {
		return func(w *walkShell, _ walkResult) {
			re := regexp.MustCompile(fmt.Sprintf(`^/ip4/127\.0\.0\.1/tcp/%d/p2p/12D3KooW\w+$`, port))
			if v := w.value(name); !re.MatchString(v) {
				w.t.Errorf("$%s = %q, want the one address of the role listening on port %d", name, v, port)
			}
		}
	}
	token := func(name string) func(*walkShell, walkResult) {
		return func(w *walkShell, _ walkResult) {
			if v := w.value(name); !strings.HasPrefix(v, "ocmt1.") || strings.ContainsAny(v, " \n") {
				w.t.Errorf("$%s = %q, want just a token", name, v)
			}
		}
	}
	started := []string{"/p2p/12D3KooW"}
	return []walkStep{
		{match: "export MESH_PASSWORD="},
		{match: "mesh --home ~/boot bootstrap --listen"},
		{match: "B=$(mesh --home ~/boot addrs)", then: addr("B", ports[0])},
		{match: "mesh --home ~/relay relay --listen"},
		{match: "R=$(mesh --home ~/relay addrs)", then: addr("R", ports[1])},
		{match: "mesh --home ~/alice init --handle alice", stdout: []string{"peer ID: 12D3KooW"}},
		{match: "mesh --home ~/bob init --handle bob", stdout: []string{"peer ID: 12D3KooW"}},
		{match: "mesh --home ~/carol init --handle carol", stdout: []string{"peer ID: 12D3KooW"}},
		{match: "mesh --home ~/alice node --bootstrap"},
		{match: "mesh --home ~/bob node --bootstrap"},
		{match: "mesh --home ~/carol node --bootstrap"},
		{match: "mesh --home ~/alice addrs --reachable", stdout: started},
		{match: "mesh --home ~/bob addrs --reachable", stdout: started},
		{match: "mesh --home ~/carol addrs --reachable", stdout: started},
		{match: "mesh --home ~/alice unlock", stdout: []string{"unlocked"}},
		{match: "mesh --home ~/bob unlock", stdout: []string{"unlocked"}},
		{match: "mesh --home ~/carol unlock", stdout: []string{"unlocked"}},
		{match: "mesh --home ~/alice put calendar/work", stderr: []string{"stored calendar/work"}},
		{match: "ID=$(mesh --home ~/alice share 'calendar/*' --with bob", stderr: []string{"shared calendar/* with bob"},
			then: func(w *walkShell, _ walkResult) {
				id := w.value("ID")
				if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(id) {
					w.t.Fatalf("$ID = %q, want just the share's ID", id)
				}
				var gs []localapi.Grant
				w.jsonOf(&gs, "mesh --home ~/alice shares --json")
				for _, g := range gs {
					if strings.HasPrefix(g.ID, id) {
						if g.Expiry.Sub(g.NotBefore) != 7*24*time.Hour || strings.Join(g.Actions, ",") != "read,list,share" {
							w.t.Errorf("the share made --for 7d with read,list,share: %+v", g)
						}
						return
					}
				}
				w.t.Errorf("mesh shares --json lacks the share %s: %+v", id, gs)
			}},
		{match: "mesh --home ~/alice share 'notes/*' --with bob", stderr: []string{"shared notes/* with bob"}},
		{match: "mesh --home ~/alice shares", stdout: []string{"calendar/*", "notes/*", "with bob", "active"}, not: []string{"revoked"}},
		{match: "mesh --home ~/bob shared", stdout: []string{"alice shared calendar/* with you: read, list, share, until", "active"}},
		{match: "mesh --home ~/bob get alice/calendar/work", stdout: []string{calendar}},
		{match: "mesh --home ~/bob ls --from alice", stdout: []string{"calendar/work"}},
		{match: "mesh --home ~/bob put alice/notes/todo", stderr: []string{"wrote alice/notes/todo"}},
		{match: "mesh --home ~/alice get alice/notes/todo", stdout: []string{"buy milk"}},
		{match: "mesh --home ~/bob rm alice/notes/todo", stderr: []string{"deleted alice/notes/todo"}},
		{match: "mesh --home ~/alice ls", stdout: []string{"calendar/work"}, not: []string{"notes/todo"}},
		{match: "mesh --home ~/bob contacts", stdout: []string{"alice", "code "}, then: func(w *walkShell, r walkResult) {
			code := regexp.MustCompile(`code ([0-9 ]+)`).FindStringSubmatch(r.stdout)
			if code == nil {
				w.t.Fatalf("bob's contacts show no code:\n%s", r.stdout)
			}
			if theirs := w.sh("mesh --home ~/alice contacts").stdout; !strings.Contains(theirs, "bob") || !strings.Contains(theirs, strings.TrimSpace(code[1])) {
				w.t.Errorf("bob sees the code %q for alice; alice's contacts show:\n%s", code[1], theirs)
			}
		}},
		{match: "mesh --home ~/bob share 'calendar/*' --from alice --with carol", stderr: []string{"shared calendar/* with carol"}},
		{match: "mesh --home ~/carol get alice/calendar/work", stdout: []string{calendar}},
		{match: `mesh --home ~/alice revoke "$ID"`, stdout: []string{"revoked"}, then: func(w *walkShell, r walkResult) {
			if id := w.value("ID"); !strings.Contains(r.stdout, id) {
				w.t.Errorf("mesh revoke printed %q, not the share %s", r.stdout, id)
			}
		}},
		{match: "mesh --home ~/bob get alice/calendar/work", fails: "alice revoked", not: []string{calendar}},
		{match: "mesh --home ~/carol get alice/calendar/work", fails: "alice revoked", not: []string{calendar}},
		{match: "mesh --home ~/alice shares", then: func(w *walkShell, r walkResult) {
			for _, want := range []struct{ what, status string }{{"calendar/*", "revoked"}, {"notes/*", "active"}} {
				if !lineWith(r.stdout, want.what, want.status) {
					w.t.Errorf("alice's shares after the revoke: want %s %s:\n%s", want.what, want.status, r.stdout)
				}
			}
		}},
		{match: "mesh --home ~/bob shared", then: func(w *walkShell, r walkResult) {
			// Bob's node hears of the revocation by gossip or from the
			// infrastructure, moments after alice's node put it in force.
			w.eventually(r, func(out string) bool {
				return lineWith(out, "calendar/*", "revoked") && lineWith(out, "notes/*", "active")
			},
				"bob's mesh shared says alice's calendar share is revoked and her notes share active")
		}},
		{match: "T=$(mesh --home ~/alice token issue --to carol", then: token("T")},
		{match: `mesh --home ~/alice token inspect "$T"`, stdout: []string{"VALID", "calendar/*"}},
		{match: `mesh --home ~/carol token use "$T"`, stdout: []string{"alice shared calendar/* with you: read"}},
		{match: "mesh --home ~/carol get alice/calendar/work", stdout: []string{calendar}},
		{match: "mesh --home ~/dave init", stdout: []string{"peer ID: 12D3KooW"}},
		{match: "G=$(mesh --home ~/relay relay grant --to", then: token("G")},
		{match: `mesh --home ~/relay relay revoke "$G"`, stdout: []string{"pushed to the running relay"}},
		{match: "mesh --home ~/relay relay audit", stdout: []string{"grant", "revoke", "chain verified"}},
		{match: "mesh --home ~/boot bootstrap audit", stdout: []string{"handle=alice", "handle=bob", "handle=carol", "chain verified"},
			then: func(w *walkShell, r walkResult) {
				// Alice's node pushes its revocation to the bootstrap after
				// mesh revoke returns.
				w.eventually(r, func(out string) bool {
					return strings.Contains(out, "revocation") && strings.Contains(out, "chain verified")
				},
					"the bootstrap's audit log records alice's revocation")
			}},
		{match: "mesh --home ~/carol status", stdout: []string{"handle:   carol", "relay:    slot reserved", "locks itself after 2h unused"}},
		{match: "curl", stdout: []string{"ocmt_node_vault_locked 0", "ocmt_node_relay_reservation 1"}, not: []string{"calendar", "alice"}},
		{match: "mesh --home ~/alice secret set openai", stderr: []string{"stored openai"}},
		{match: "mesh --home ~/alice secret list", stdout: []string{"openai", "api_key"}, not: []string{"sk-test-123"}},
		{match: "mesh --home ~/alice secret get openai", then: func(w *walkShell, r walkResult) {
			if r.stdout != "sk-test-123" {
				w.t.Errorf("secret get printed %q", r.stdout)
			}
		}},
		{match: "mesh --home ~/alice secret rm openai", then: func(w *walkShell, _ walkResult) {
			if l := w.sh("mesh --home ~/alice secret list"); strings.Contains(l.stdout, "openai") {
				w.t.Errorf("the secret is still listed: %s", l.stdout)
			}
		}},
		{match: "mesh --home ~/alice lock", stdout: []string{"locked"}},
		{match: "mesh --home ~/alice status", stdout: []string{"vault:    locked"}},
		{match: "mesh --home ~/alice unlock", stdout: []string{"unlocked"}},
		{match: "mesh --home ~/alice audit", stdout: []string{"share.issue", "token.revoke", "secret.write", "chain verified, with the vault key"}},
		{match: "mesh --home ~/alice backup --out ~/alice.meshbak", stdout: []string{"written to"}},
		{match: "mesh --home ~/alice-copy restore ~/alice.meshbak", stdout: []string{"restored backup"}},
		{match: "mesh --home ~/alice-copy ls", stdout: []string{"calendar/work"}},
		{match: "mesh --home ~/alice passwd --rotate-key", stdout: []string{"master key changed"}},
		{match: "mesh --home ~/alice lock", stdout: []string{"locked"}},
		{match: "MESH_PASSWORD='a new password' mesh --home ~/alice unlock", stdout: []string{"unlocked"}},
		{match: "mesh --home ~/alice id", stdout: []string{"12D3KooW"}},
		{match: "mesh version", stdout: []string{"github.com/ocmt/mesh", "built with " + runtime.Version()}},
		{match: "mesh --home ~/alice snapshot push calendar/team", stdout: []string{"calendar/team", "cached"}},
		{match: "mesh --home ~/alice snapshot status", stdout: []string{"calendar/team", "cached"}},
		{match: "mesh --home ~/alice hibernate", stderr: []string{"hibernated: 1 relay(s)"}},
		{match: "mesh --home ~/bob get alice/calendar/team", stdout: []string{"Tue 14:00 review"}, stderr: []string{"served from the cache at relay"}},
		{match: "mesh --home ~/bob get --live alice/calendar/team", stdout: []string{"Tue 14:00 review"}, stderr: []string{"waking alice…"}},
		{match: "mesh --home ~/alice status", stdout: []string{"node:     running", "vault:    unlocked"}},
		{match: "mesh --home ~/alice hibernate", stderr: []string{"hibernated: 1 relay(s)"}},
		{match: "echo \"Wed 10:00 dentist\""},
		{match: "K=$(mesh --home ~/bob agent add helper", then: func(w *walkShell, _ walkResult) {
			if v := w.value("K"); !strings.HasSuffix(v, "/bob/agents/helper.key") {
				w.t.Errorf("$K = %q, want the key file's path", v)
			}
		}},
		{match: "mesh --home ~/bob agent list", stdout: []string{"helper", "read,list", "calendar/**", "active"}},
		{match: "| mesh --home ~/bob agent mcp --key", stdout: []string{"Wed 10:00 dentist", `may not delete`, "share calendar/me with carol: read, for 7 days"}},
		{match: "A=$(mesh --home ~/bob approvals", then: func(w *walkShell, _ walkResult) {
			if v := w.value("A"); len(v) != 16 {
				w.t.Errorf("$A = %q, want an approval ID", v)
			}
		}},
		{match: "mesh --home ~/bob approve", stdout: []string{"approved: agent helper: share calendar/me with carol", "shared: "}},
		{match: "mesh --home ~/carol get bob/calendar/me", stdout: []string{"Wed 10:00 dentist"}},
		{match: "mesh --home ~/bob digest", stdout: []string{"helper"}},
		{match: "mesh --home ~/bob agent rm helper", stdout: []string{"agent helper removed; 1 capability revoked"}},
		{match: "mesh --home ~/alice node --bootstrap"},
		{match: "mesh --home ~/alice addrs --reachable", stdout: []string{"/p2p/12D3KooW"}},
		{match: "MESH_PASSWORD='a new password' mesh --home ~/alice unlock", stdout: []string{"unlocked"}},
		{match: "mesh --home ~/smiths groupvault"},
		{match: "mesh --home ~/smiths addrs --reachable", stdout: []string{"/p2p/12D3KooW"}},
		{match: "mesh --home ~/alice group create smiths", stdout: []string{"created group smiths at smiths-vault", "2 of 3 admins unlock it (alice, bob, carol)", "locked"}},
		{match: "mesh --home ~/bob group join smiths", stdout: []string{"joined group smiths"}},
		{match: "mesh --home ~/carol group join smiths", stdout: []string{"joined group smiths"}},
		{match: "mesh --home ~/alice group unlock smiths", stdout: []string{"locked: 1 of 2 approvals so far (alice); waiting for 1 more"}},
		{match: "mesh --home ~/carol group secret get smiths wifi", fails: "group smiths is locked"},
		{match: "mesh --home ~/bob group unlock smiths", stdout: []string{"unlocked until", "approved by alice, bob"}},
		{match: "mesh --home ~/alice group secret set smiths wifi", stdout: []string{"stored wifi in group smiths"}},
		{match: "mesh --home ~/carol group secret get smiths wifi", stdout: []string{"correct-horse-wifi"}},
		{match: "mesh --home ~/alice group invite smiths nobody-here", stdout: []string{"invited nobody-here to group smiths (read); the invitation waits in nobody-here's mailbox"}},
		{match: "until mesh --home ~/carol group status smiths"},
		{match: "mesh --home ~/carol group secret get smiths wifi", fails: "group smiths is locked"},
		{match: "mesh --home ~/alice group audit smiths", stdout: []string{"group.create", "unlock.approve", "group.open", "secret.write",
			"secret.read", "read wifi", "member.invite", "group.relock", "chain verified"}, then: groupHead("alice")},
		{match: "mesh --home ~/bob group audit smiths", stdout: []string{"chain verified"}, then: groupHead("bob")},
		{match: "mesh --home ~/carol group audit smiths", stdout: []string{"chain verified"}, then: groupHead("carol")},
		{match: "mesh --home ~/alice recovery phrase --out ~/alice-phrase.txt", stdout: []string{"recovery method phrase enabled", "mode 0600"}},
		{match: "mesh --home ~/alice recovery social", stdout: []string{"social"}},
		{match: "mesh --home ~/alice recovery status", stdout: []string{"phrase", "social", "never", "3 of 5 friends (bob, carol, erin, frank, grace)"}},
		{match: "mesh --home ~/alice recover --phrase-file", stdout: []string{"a new password is set"}},
		{match: "mesh --home ~/alice backup --out ~/alice-social.meshbak", stdout: []string{"written to"}},
		{match: "mesh --home ~/alice-new recover --social", fails: "not enough friends have released their share yet"},
		{match: "ID=$(mesh --home ~/bob recovery requests", then: func(w *walkShell, _ walkResult) {
			if v := w.value("ID"); len(v) < 8 || strings.ContainsAny(v, " \n") {
				w.t.Fatalf("ID is %q, not a request's ID", v)
			}
		}},
		{match: "mesh --home ~/alice-new recover --social", stdout: []string{"Recovered"}},
		{match: "mesh --home ~/alice-new secret get bank", stdout: []string{"PIN 4e1d"}},
		{match: "migrate make-test-export", stderr: []string{"25 made-up secrets"}},
		{match: "migrate --from legacy-export.json --dry-run", stdout: []string{"would import 25", "nothing was written"}},
		{match: "migrate --from legacy-export.json", stdout: []string{"imported 25"}},
		{match: "migrate --from legacy-export.json", stdout: []string{"imported 0", "already there 25"}},
		{match: "mesh --home ~/alice secret list", stdout: []string{"openai-api-key-prod", "bank"}},
		{match: "kill $(jobs -p)", not: []string{"still stopping"}},
	}
}

// lineWith reports whether one line of out has every part.
func lineWith(out string, parts ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

// withoutComment is a command without its trailing # comment (a # that
// starts a word outside quotes).
func withoutComment(c string) string {
	var quote rune
	for i, r := range c {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || c[i-1] == ' ' || c[i-1] == '\t'):
			return strings.TrimSpace(c[:i])
		}
	}
	return c
}

// meshCall finds each mesh the walkthrough runs, and what follows it.
var meshCall = regexp.MustCompile(`(?:^|[\s(|;&])mesh\s+(\S+)`)

// checkREADMEOpening: the README opens with the demo and the tests, and
// asks for the Go release go.mod asks for.
func checkREADMEOpening(t *testing.T, readme string) {
	t.Helper()
	blocks := fencedBlocks(readme)
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```sh block")
	}
	var first []string
	for _, l := range blocks[0].lines {
		if c, _, _ := strings.Cut(l, "#"); strings.TrimSpace(c) != "" {
			first = append(first, strings.TrimSpace(c))
		}
	}
	if strings.Join(first, "\n") != "go run ./cmd/mesh demo\ngo test ./..." {
		t.Errorf("README.md opens with %q, want go run ./cmd/mesh demo and go test ./...", first)
	}
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(string(mod))
	if want == nil || !strings.Contains(readme, "Go "+want[1]+" or later") {
		t.Errorf("README.md does not ask for Go %v or later, as go.mod does", want)
	}
}

type fencedBlock struct {
	marked bool
	line   int // of the opening fence, from 1
	lines  []string
}

// fencedBlocks returns README's ```sh blocks, each marked or not.
func fencedBlocks(readme string) []fencedBlock {
	lines := strings.Split(readme, "\n")
	var out []fencedBlock
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```sh" {
			continue
		}
		b := fencedBlock{line: i + 1, marked: i > 0 && strings.TrimSpace(lines[i-1]) == walkMarker}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			b.lines = append(b.lines, lines[i])
		}
		out = append(out, b)
	}
	return out
}

// walkthroughCommands returns the commands of README's marked blocks, in
// order; it refuses a marker not followed by a ```sh block and a block
// that runs mesh without the marker.
func walkthroughCommands(readme string) ([]string, error) {
	lines := strings.Split(readme, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == walkMarker && (i+1 == len(lines) || strings.TrimSpace(lines[i+1]) != "```sh") {
			return nil, fmt.Errorf("line %d: %s is not followed by a ```sh block", i+1, walkMarker)
		}
	}
	var cmds []string
	runsMesh := regexp.MustCompile(`^(\w+=\S+\s+)*mesh\s|\$\(mesh\s`)
	for _, b := range fencedBlocks(readme) {
		var joined []string
		cont := ""
		for _, l := range b.lines {
			l = strings.TrimSpace(l)
			if cont != "" {
				l, cont = cont+" "+l, ""
			}
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if s, ok := strings.CutSuffix(l, `\`); ok {
				cont = strings.TrimSpace(s)
				continue
			}
			joined = append(joined, l)
		}
		if !b.marked {
			for _, c := range joined {
				if runsMesh.MatchString(c) {
					return nil, fmt.Errorf("line %d: the ```sh block runs mesh (%q) but is not marked %s", b.line, c, walkMarker)
				}
			}
			continue
		}
		if len(joined) == 0 {
			return nil, fmt.Errorf("line %d: a walkthrough block with no command", b.line)
		}
		cmds = append(cmds, joined...)
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("no walkthrough block (a ```sh block right after %s)", walkMarker)
	}
	return cmds, nil
}

// substitutePorts replaces each of the README's fixed ports with a free
// one; each must be there.
func substitutePorts(t *testing.T, cmds []string, ports []int) []string {
	t.Helper()
	all := strings.Join(cmds, "\n")
	for i, p := range walkFixedPorts {
		if !strings.Contains(all, p.readme) {
			t.Fatalf("the README walkthrough no longer uses %s: update walkFixedPorts", p.readme)
		}
		all = strings.ReplaceAll(all, p.readme, fmt.Sprintf(p.format, ports[i]))
	}
	return strings.Split(all, "\n")
}

// freePorts returns n distinct TCP ports free on loopback right now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// walkShell is one bash running the walkthrough's commands, one at a time.
type walkShell struct {
	t    *testing.T
	cmd  *exec.Cmd
	in   *os.File // the shell reads commands from it (its fd 3)
	outs chan walkChunk
	errs chan walkChunk
	mark string
	// transcript is every command and what it printed, for a failure.
	transcript strings.Builder
}

// walkChunk is what one stream carried during one command.
type walkChunk struct {
	text string
	rc   int
	ok   bool // false: the stream ended instead
}

type walkResult struct {
	cmd, stdout, stderr string
	rc                  int
}

// walkDriver evals one command a line from fd 3 and then writes the mark
// (with the exit status on stdout) on each stream. On SIGTERM it stops
// its background jobs and waits for them before it exits.
const walkDriver = `set -o pipefail
trap 'kill $(jobs -p) 2>/dev/null; wait; exit 143' TERM
while IFS= read -r -u 3 __walk_cmd; do
	eval "$__walk_cmd"
	__walk_rc=$?
	printf '\n%s %d\n' "$WALK_MARK" "$__walk_rc"
	printf '\n%s\n' "$WALK_MARK" >&2
done
`

func startWalkShell(t *testing.T) *walkShell {
	t.Helper()
	// Unix socket paths are limited to ~108 bytes: a short folder.
	dir, err := os.MkdirTemp("", "mw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after the shell is stopped (cleanups run last first)
	w := &walkShell{t: t, outs: make(chan walkChunk, 1024), errs: make(chan walkChunk, 1024),
		mark: fmt.Sprintf("@@walk-%d-%d@@", os.Getpid(), time.Now().UnixNano())}
	env := []string{"HOME=" + dir, "PATH=" + filepath.Dir(meshBin) + string(os.PathListSeparator) + os.Getenv("PATH"), "WALK_MARK=" + w.mark}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != "HOME" && name != "PATH" && name != "BASH_ENV" && name != "ENV" && !strings.HasPrefix(name, "MESH_") {
			env = append(env, kv)
		}
	}
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.in = cmdW
	w.cmd = exec.Command("bash", "--norc", "--noprofile", "-c", walkDriver)
	w.cmd.Dir, w.cmd.Env = dir, env
	w.cmd.Stdout, w.cmd.Stderr = outW, errW
	w.cmd.ExtraFiles = []*os.File{cmdR}
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // its own process group, and no terminal
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmdR.Close()
	outW.Close()
	errW.Close()
	go w.read(outR, w.outs, true)
	go w.read(errR, w.errs, false)
	t.Cleanup(w.stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("transcript of the walkthrough:\n%s", w.transcript.String())
		}
	})
	return w
}

// read splits a stream at the marks into one chunk per command.
func (w *walkShell) read(r io.Reader, ch chan<- walkChunk, withRC bool) {
	br := bufio.NewReader(r)
	var cur strings.Builder
	for {
		line, err := br.ReadString('\n')
		if rest, ok := strings.CutPrefix(line, w.mark); ok && err == nil {
			c := walkChunk{text: strings.TrimSuffix(cur.String(), "\n"), ok: true} // the newline before the mark
			if withRC {
				c.rc, _ = strconv.Atoi(strings.TrimSpace(rest))
			}
			ch <- c
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		if err != nil {
			ch <- walkChunk{text: cur.String()}
			close(ch)
			return
		}
	}
}

// run runs one README command in the shell.
func (w *walkShell) run(line string) walkResult {
	w.t.Helper()
	r := w.sh(line)
	fmt.Fprintf(&w.transcript, "$ %s\n%s", line, r.stdout)
	if r.stdout != "" && !strings.HasSuffix(r.stdout, "\n") {
		w.transcript.WriteString("\n")
	}
	if r.stderr != "" {
		fmt.Fprintf(&w.transcript, "[stderr] %s\n", strings.TrimSuffix(r.stderr, "\n"))
	}
	if r.rc != 0 {
		fmt.Fprintf(&w.transcript, "[exit %d]\n", r.rc)
	}
	return r
}

// sh runs a command in the shell: a README command (through run), or one
// of the test's own checks, which the transcript leaves out.
func (w *walkShell) sh(line string) walkResult {
	w.t.Helper()
	if strings.Contains(line, "\n") {
		w.t.Fatalf("a command is one line: %q", line)
	}
	if _, err := fmt.Fprintln(w.in, line); err != nil {
		w.t.Fatalf("the shell is gone before %s: %v", line, err)
	}
	var out walkChunk
	select {
	case out = <-w.outs:
	case <-time.After(walkStepTimeout):
		w.t.Fatalf("nothing after %s: the command %s to finish%s", walkStepTimeout, line, w.stuck())
	}
	errs := testkit.Within(w.t, walkStepTimeout, w.errs, "the command %s to finish", line)
	if !out.ok || !errs.ok {
		w.t.Fatalf("the shell ended during %s:\n%s%s", line, out.text, errs.text)
	}
	return walkResult{cmd: line, stdout: out.text, stderr: errs.text, rc: out.rc}
}

// stuck says which mesh processes of the walkthrough still run and, from
// a goroutine dump each writes on SIGQUIT (to the shell's stderr), where
// they wait: for a command that did not finish.
func (w *walkShell) stuck() string {
	out, _ := exec.Command("pgrep", "-a", "-f", "mesh --home").Output()
	if len(out) == 0 {
		return "\n(no mesh process of the walkthrough is left)"
	}
	exec.Command("pkill", "-QUIT", "-f", "mesh --home").Run()
	var dump strings.Builder
	deadline := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case c, ok := <-w.errs:
			dump.WriteString(c.text)
			done = !ok || !c.ok
		case <-deadline:
			done = true
		}
	}
	return fmt.Sprintf("\nstill running:\n%s\ntheir goroutines (SIGQUIT):\n%s", out, dump.String())
}

// eventually checks cond on the README command's stdout and, until it
// holds, on that of the same command run again, up to a deadline: for
// what the README says happens moments after a step.
func (w *walkShell) eventually(r walkResult, cond func(stdout string) bool, what string) {
	w.t.Helper()
	if cond(r.stdout) {
		return
	}
	last := r.stdout
	if !testkit.Poll(30*time.Second, func() bool { last = w.sh(r.cmd).stdout; return cond(last) }) {
		w.t.Errorf("still not the case 30s after %s: %s; it last printed:\n%s", r.cmd, what, last)
	}
}

// value is a shell variable's value.
func (w *walkShell) value(name string) string {
	w.t.Helper()
	return w.sh(fmt.Sprintf(`printf '%%s' "$%s"`, name)).stdout
}

// jsonOf runs a command that prints JSON into v.
func (w *walkShell) jsonOf(v any, line string) {
	w.t.Helper()
	r := w.sh(line)
	if r.rc != 0 {
		w.t.Fatalf("%s: exit %d: %s", line, r.rc, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		w.t.Fatalf("%s: %v: %q", line, err, r.stdout)
	}
}

// stop ends the shell and everything it started: SIGTERM to its process
// group (the shell then stops and waits for its jobs), and SIGKILL to
// whatever is left after a deadline.
func (w *walkShell) stop() {
	pgid := w.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	w.in.Close()
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		w.t.Errorf("the walkthrough's shell did not stop within 30s of SIGTERM; killing it")
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	if !testkit.Poll(10*time.Second, func() bool { return syscall.Kill(-pgid, 0) == syscall.ESRCH }) {
		w.t.Errorf("processes the walkthrough started outlived its shell; killing them")
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// TestCLIAddrs: mesh addrs prints a running role's addresses, waits for
// one that is starting, and says clearly when none runs.
func TestCLIAddrs(t *testing.T) {
	c := newCLI(t)
	short := []string{"addrs", "--wait", "200ms"}
	c.fails("", nil, "nothing runs on "+c.home+": no bootstrap, relay or node was ever started there (waited 200ms)", short...)

	// A bootstrap just started: addrs waits for it, then prints its addrs file.
	boot := exec.Command(meshBin, "bootstrap", "--listen", "/ip4/127.0.0.1/tcp/0")
	boot.Env = c.env
	if err := boot.Start(); err != nil {
		t.Fatal(err)
	}
	c.proc = boot
	t.Cleanup(c.stop)
	out := c.ok("", nil, "addrs", "--wait", "30s")
	file, err := os.ReadFile(filepath.Join(c.home, "addrs"))
	if err != nil || out != string(file) || !strings.Contains(out, "/p2p/12D3KooW") {
		t.Fatalf("mesh addrs = %q, the addrs file %q (%v)", out, file, err)
	}
	var js struct {
		Addrs []string `json:"addrs"`
	}
	if err := json.Unmarshal([]byte(c.ok("", nil, "addrs", "--json")), &js); err != nil || strings.Join(js.Addrs, "\n")+"\n" != out {
		t.Fatalf("mesh addrs --json: %+v, %v", js, err)
	}
	c.stop() // killed: its addrs file stays behind
	c.fails("", nil, "is not running (its addrs file is left from a run that stopped without cleaning up)", short...)

	// A home node: its listen addresses; without a bootstrap and a relay it
	// never holds a relay slot, which --reachable says.
	n := newCLI(t)
	n.ok("", []string{"MESH_PASSWORD=" + pwCanary}, "init", "--insecure-test-kdf", "--handle", "alice")
	n.fails("", nil, "no bootstrap, relay or node is running on "+n.home, short...)
	n.startNode()
	if out := n.ok("", nil, "addrs"); !strings.Contains(out, "/ip4/127.0.0.1/tcp/") || !strings.Contains(out, "/p2p/12D3KooW") {
		t.Fatalf("a node's addrs: %q", out)
	}
	n.fails("", nil, "holds no relay slot yet", "addrs", "--reachable", "--wait", "200ms")
	n.stop() // killed: its socket stays behind
	n.fails("", nil, "stale socket", short...)
}

// TestREADMECommands: every command the README's Commands table names is
// a mesh command, and every flag it names is a flag of a command in its row.
func TestREADMECommands(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Commands\n")
	if !ok {
		t.Fatal("README.md has no Commands section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	span := regexp.MustCompile("`([^`]+)`")
	flag := regexp.MustCompile(`--[a-z][a-z-]*`)
	root := newRoot()
	rows := 0
	for _, l := range strings.Split(section, "\n") {
		cells := strings.Split(l, "|")
		if len(cells) < 4 || strings.Trim(cells[1], " -") == "" || strings.TrimSpace(cells[1]) == "command" {
			continue
		}
		rows++
		var cmds []*cobra.Command
		for _, m := range span.FindAllStringSubmatch(cells[1], -1) {
			words := strings.Fields(m[1])
			if len(words) > 0 && words[0] == "mesh" {
				words = words[1:]
			}
			paths := [][]string{nil}
			for _, w := range words {
				var next [][]string
				for _, p := range paths {
					for _, alt := range strings.Split(w, "/") {
						next = append(next, append(append([]string{}, p...), alt))
					}
				}
				paths = next
			}
			for _, p := range paths {
				c, rest, err := root.Find(p)
				if err != nil || len(rest) != 0 || c == root || c.Name() != p[len(p)-1] {
					t.Errorf("README's Commands table names mesh %s, which is not a command", strings.Join(p, " "))
					continue
				}
				cmds = append(cmds, c)
			}
		}
		for _, f := range flag.FindAllString(cells[2], -1) {
			found := false
			for _, c := range cmds {
				found = found || c.Flags().Lookup(f[2:]) != nil
			}
			if !found {
				t.Errorf("README's Commands table names %s for %s, which none of them has", f, strings.TrimSpace(cells[1]))
			}
		}
	}
	if rows < 5 {
		t.Errorf("README's Commands table has %d rows", rows)
	}
}
