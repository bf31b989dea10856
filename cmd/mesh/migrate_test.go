package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/legacy"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node"
)

// legacyCanary is the legacy password in these tests: it must never
// appear in an output or a file of the home.
const legacyCanary = "LEGACYPW-cli-41c7"

// migrateEnv is a home with a vault, its password file and a legacy
// password file.
type migrateEnv struct {
	*cli
	pwFile, legacyFile string
}

func newMigrateEnv(t *testing.T) *migrateEnv {
	t.Helper()
	c := newCLI(t)
	c.ok("", []string{"MESH_PASSWORD=" + pwCanary}, "init", "--insecure-test-kdf")
	e := &migrateEnv{cli: c, pwFile: filepath.Join(c.home, "pw.txt"), legacyFile: filepath.Join(t.TempDir(), "legacy-pw.txt")}
	if err := os.WriteFile(e.pwFile, []byte(pwCanary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.legacyFile, []byte(legacyCanary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// migrate runs `mesh migrate ARGS` in this process (the command is not in
// main.go's tree yet: the lead wires it), with the vault password file.
func (e *migrateEnv) migrate(args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	g := &globals{home: e.home, passwordFile: e.pwFile}
	cmd := newMigrateCmd(g)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = cmd.ExecuteContext(ctx)
	for _, s := range []string{out.String(), errb.String(), fmt.Sprint(err)} {
		if strings.Contains(s, legacyCanary) || strings.Contains(s, pwCanary) {
			e.t.Fatalf("mesh migrate %s printed a password: %q", strings.Join(args, " "), s)
		}
	}
	return out.String(), errb.String(), err
}

func (e *migrateEnv) migrateOK(args ...string) (string, string) {
	e.t.Helper()
	out, errs, err := e.migrate(args...)
	if err != nil {
		e.t.Fatalf("mesh migrate %s: %v\n%s", strings.Join(args, " "), err, errs)
	}
	return out, errs
}

func (e *migrateEnv) migrateFails(want string, args ...string) {
	e.t.Helper()
	_, _, err := e.migrate(args...)
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		e.t.Fatalf("mesh migrate %s = %v, want one line saying %q", strings.Join(args, " "), err, want)
	}
}

// makeExport writes an export of n secrets under the legacy password.
func (e *migrateEnv) makeExport(n int, kdf string) string {
	e.t.Helper()
	f := filepath.Join(e.t.TempDir(), "legacy-export.json")
	_, errs := e.migrateOK("make-test-export", "--out", f, "--count", strconv.Itoa(n), "--kdf", kdf, "--kdf-cost", "low",
		"--legacy-password-file", e.legacyFile)
	if !strings.Contains(errs, fmt.Sprintf("wrote %s: %d made-up secrets", f, n)) {
		e.t.Fatalf("make-test-export said %q", errs)
	}
	if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
		e.t.Fatalf("the export's mode: %v, %v", fi, err)
	}
	return f
}

// secretCount is how many secrets the vault holds (mesh secret list --json).
func (e *migrateEnv) secretCount() int {
	e.t.Helper()
	var l []json.RawMessage
	if err := json.Unmarshal([]byte(e.ok("", []string{"MESH_PASSWORD=" + pwCanary}, "secret", "list", "--json")), &l); err != nil {
		e.t.Fatal(err)
	}
	return len(l)
}

// opened is the export's secrets, decrypted with the legacy password.
func opened(t *testing.T, file string) []legacy.Plain {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	exp, err := legacy.ReadExport(f)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := exp.Open([]byte(legacyCanary))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { legacy.WipeAll(ps) })
	return ps
}

// verifyAll reads every secret of file from the vault at home, directly,
// and compares it with the export.
func verifyAll(t *testing.T, home, file string) {
	t.Helper()
	ctx := context.Background()
	b, err := node.Open(ctx, node.Home(home), node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Unlock(ctx, []byte(pwCanary)); err != nil {
		t.Fatal(err)
	}
	ps := opened(t, file)
	for i := range ps {
		got, err := b.SecretGet(ctx, ps[i].Name)
		if err != nil {
			t.Fatalf("secret %d of %d: %v", i+1, len(ps), err)
		}
		want := ps[i].Secret()
		if !bytes.Equal(got.Value, want.Value) || !bytes.Equal(got.Refresh, want.Refresh) || got.Type != want.Type ||
			got.Provider != want.Provider || got.Username != want.Username || got.Expiry != want.Expiry {
			t.Fatalf("%s in the vault differs from the export", ps[i].Name)
		}
		got.Wipe()
	}
}

// editExport rewrites the export's JSON through f.
func editExport(t *testing.T, file string, f func(m map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out := filepath.Join(t.TempDir(), "edited.json")
	b, _ = json.Marshal(m)
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

var reportLine = regexp.MustCompile(`(?:imported|would import) (\d+) \((\d+) renamed, (\d+) overwritten\), already there (\d+), skipped (\d+) of (\d+)`)

// counts parses the report line: imported, renamed, already, skipped, total.
func counts(t *testing.T, out string) [5]int {
	t.Helper()
	m := reportLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no report in %q", out)
	}
	var c [5]int
	for i, j := range []int{1, 2, 4, 5, 6} {
		c[i], _ = strconv.Atoi(m[j])
	}
	return c
}

func TestMigrateWithoutNode(t *testing.T) {
	e := newMigrateEnv(t)
	file := e.makeExport(30, "scrypt")
	lp := []string{"--legacy-password-file", e.legacyFile}

	// A wrong legacy password, a tampered export: clear errors, nothing written.
	wrong := filepath.Join(e.home, "wrong.txt")
	os.WriteFile(wrong, []byte("not it\n"), 0o600)
	e.migrateFails("wrong legacy password", "--from", file, "--legacy-password-file", wrong)
	rec := func(m map[string]any, i int) map[string]any { return m["records"].([]any)[i].(map[string]any) }
	tampered := map[string]string{
		"a flipped byte in a record": editExport(t, file, func(m map[string]any) {
			v := rec(m, 4)["value"].(map[string]any)
			d, err := base64.StdEncoding.DecodeString(v["data"].(string))
			if err != nil {
				t.Fatal(err)
			}
			d[0] ^= 0x01
			v["data"] = base64.StdEncoding.EncodeToString(d)
		}),
		"a removed record": editExport(t, file, func(m map[string]any) {
			rs := m["records"].([]any)
			m["records"] = append(rs[:7:7], rs[8:]...)
		}),
		"swapped records": editExport(t, file, func(m map[string]any) {
			rs := m["records"].([]any)
			rs[2], rs[3] = rs[3], rs[2]
		}),
		"a changed header": editExport(t, file, func(m map[string]any) { m["exported_at"] = "2031-01-01T00:00:00Z" }),
	}
	for what, f := range tampered {
		_, _, err := e.migrate("--from", f, "--legacy-password-file", e.legacyFile)
		if !errors.Is(err, legacy.ErrTampered) || !strings.Contains(err.Error(), "the export was changed after it was made") {
			t.Fatalf("%s: %v", what, err)
		}
	}
	e.migrateFails("not a valid legacy vault export", append([]string{"--from", e.pwFile}, lp...)...)
	if n := e.secretCount(); n != 0 {
		t.Fatalf("%d secrets after refused imports, want 0", n)
	}

	// A name conflict: the vault already holds one of the names, another value.
	ps := opened(t, file)
	e.ok("my own value\n", []string{"MESH_PASSWORD=" + pwCanary}, "secret", "set", ps[0].Name, "--type", "api_key")

	// A dry run writes nothing.
	out, errs := e.migrateOK(append([]string{"--from", file, "--dry-run"}, lp...)...)
	if c := counts(t, out); c != [5]int{30, 1, 0, 0, 30} || !strings.Contains(out, "would import") ||
		!strings.Contains(out, "dry run: nothing was written") || errs != "" {
		t.Fatalf("dry run: %q %q", out, errs)
	}
	if n := e.secretCount(); n != 1 {
		t.Fatalf("%d secrets after a dry run, want 1", n)
	}

	// The import: plain progress lines (no terminal), the report, the rename.
	out, errs = e.migrateOK(append([]string{"--from", file}, lp...)...)
	if c := counts(t, out); c != [5]int{30, 1, 0, 0, 30} {
		t.Fatalf("import: %q", out)
	}
	if !strings.Contains(out, "renamed: "+ps[0].Name+".legacy") || !strings.Contains(errs, "migrate: 30/30 (imported 30") {
		t.Fatalf("import said %q, %q", out, errs)
	}
	if got := e.ok("", []string{"MESH_PASSWORD=" + pwCanary}, "secret", "get", ps[0].Name); got != "my own value" {
		t.Fatalf("the vault's own secret was overwritten: %q", got)
	}
	if n := e.secretCount(); n != 31 {
		t.Fatalf("%d secrets, want 31", n)
	}

	// Idempotent: a re-run imports nothing.
	out, _ = e.migrateOK(append([]string{"--from", file}, lp...)...)
	if c := counts(t, out); c != [5]int{0, 0, 30, 0, 30} {
		t.Fatalf("re-run: %q", out)
	}
	// --on-conflict skip: the renamed one is already there; nothing else to do.
	// It reports the conflict and fails, so a script cannot take it for
	// a whole migration.
	out, _, err := e.migrate(append([]string{"--from", file, "--on-conflict", "skip", "--json"}, lp...)...)
	var rep migrateReport
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil || rep.Already != 29 || len(rep.Skipped) != 1 || rep.Skipped[0] != ps[0].Name {
		t.Fatalf("skip --json: %q %v", out, jerr)
	}
	if err == nil || !strings.Contains(err.Error(), "1 of 30 secrets were not imported") {
		t.Fatalf("skipped secrets must fail the command: %v", err)
	}
	e.migrateFails("want rename, skip or overwrite", "--from", file, "--on-conflict", "merge")
	e.migrateFails("--from: give the legacy export file")

	// An overwrite, asked for, replaces it.
	out, _ = e.migrateOK(append([]string{"--from", file, "--on-conflict", "overwrite"}, lp...)...)
	if c := counts(t, out); c != [5]int{1, 0, 29, 0, 30} {
		t.Fatalf("overwrite: %q", out)
	}
	verifyAll(t, e.home, file)

	// The audit log has every write; no value and no password is on disk.
	audit := e.ok("", []string{"MESH_PASSWORD=" + pwCanary}, "audit")
	if strings.Count(audit, "secret.write") < 32 || !strings.Contains(audit, "chain verified") {
		t.Fatalf("audit:\n%s", audit)
	}
	values := []string{legacyCanary}
	for _, p := range ps {
		values = append(values, string(p.Value))
	}
	assertNoCanaries(t, e.home, values...)
}

func TestMigratePBKDF2ThroughARunningNode(t *testing.T) {
	e := newMigrateEnv(t)
	file := e.makeExport(12, "pbkdf2")
	e.startNode()
	e.ok("", []string{"MESH_PASSWORD=" + pwCanary}, "unlock")
	out, _ := e.migrateOK("--from", file, "--legacy-password-file", e.legacyFile)
	if c := counts(t, out); c != [5]int{12, 0, 0, 0, 12} {
		t.Fatalf("import through the node: %q", out)
	}
	out, _ = e.migrateOK("--from", file, "--legacy-password-file", e.legacyFile)
	if c := counts(t, out); c != [5]int{0, 0, 12, 0, 12} {
		t.Fatalf("re-run through the node: %q", out)
	}
	e.ok("", nil, "lock")
	_, _, err := e.migrate("--from", file, "--legacy-password-file", e.legacyFile)
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("a locked node: %v", err)
	}
	e.stop()
	verifyAll(t, e.home, file)
}

func TestMakeTestExportNeverReplacesAFile(t *testing.T) {
	e := newMigrateEnv(t)
	f := e.makeExport(1, "scrypt")
	_, _, err := e.migrate("make-test-export", "--out", f, "--count", "1", "--kdf-cost", "low", "--legacy-password-file", e.legacyFile)
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("make-test-export over a file: %v", err)
	}
	e.migrateFails("--kdf \"argon2\": want scrypt or pbkdf2", "make-test-export", "--out", f+"2", "--kdf", "argon2", "--legacy-password-file", e.legacyFile)
	e.migrateFails("no legacy password given", "make-test-export", "--out", f+"3")
}

// migrateBin is a mesh binary with mesh migrate: meshBin once main.go
// registers the command, until then one built from main.go with the
// command added (through go build -overlay: no file of the tree changes).
func migrateBin(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(src, []byte("newMigrateCmd(g)")) {
		return meshBin
	}
	const at = `add("vault", newSecretCmd(g),`
	patched := bytes.Replace(src, []byte(at), []byte(`add("vault", newMigrateCmd(g), newSecretCmd(g),`), 1)
	if bytes.Equal(patched, src) {
		t.Fatalf("main.go has no %s to add mesh migrate to", at)
	}
	dir := t.TempDir()
	abs, _ := filepath.Abs("main.go")
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{abs: filepath.Join(dir, "main.go")}})
	os.WriteFile(filepath.Join(dir, "main.go"), patched, 0o600)
	os.WriteFile(filepath.Join(dir, "overlay.json"), overlay, 0o600)
	bin := filepath.Join(dir, "mesh")
	if out, err := exec.Command("go", "build", "-overlay", filepath.Join(dir, "overlay.json"), "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building mesh with migrate: %v\n%s", err, out)
	}
	return bin
}

var progressLine = regexp.MustCompile(`^migrate: (\d+)/(\d+) `)

// TestMigrateKilledMidwayResumes: a migration of 10,000 secrets is killed
// (SIGKILL, a real child process) once some are in, then run again; every
// secret must then be in the vault and equal to the export's.
func TestMigrateKilledMidwayResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 10,000 secrets")
	}
	const n = 10_000
	e := newMigrateEnv(t)
	file := e.makeExport(n, "scrypt")
	bin := migrateBin(t)
	child := func() *exec.Cmd {
		cmd := exec.Command(bin, "--password-file", e.pwFile, "migrate", "--from", file, "--legacy-password-file", e.legacyFile)
		cmd.Env = e.env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return cmd
	}

	// First run: kill it at its first progress line past 0 (some records in).
	cmd := child()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	// The reader kills the child at its first progress line past 0 and
	// then reads to the end; lines keeps what it read, for a failure.
	killedAt := make(chan int, 1)
	drained := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if m := progressLine.FindStringSubmatch(sc.Text()); m != nil && len(killedAt) == 0 {
				if done, _ := strconv.Atoi(m[1]); done > 0 && done < n {
					cmd.Process.Signal(syscall.SIGKILL)
					killedAt <- done
				}
			}
		}
		drained <- lines
	}()
	lines := testkit.Within(t, 2*time.Minute, drained, "the child's end (killed at its first progress line)")
	err = cmd.Wait()
	var done int
	select {
	case done = <-killedAt:
	default:
	}
	var ee *exec.ExitError
	if done == 0 || !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed midway (%v); it said:\n%s", err, strings.Join(lines, "\n"))
	}

	// Second run: it resumes, writing only what is missing.
	start := time.Now()
	cmd = child()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("the resumed run: %v\n%s", err, errb.String())
	}
	c := counts(t, out.String())
	if c[2] < done || c[0]+c[2] != n || c[3] != 0 || c[4] != n {
		t.Fatalf("resumed after %d: %q", done, out.String())
	}
	t.Logf("killed after %d secrets; the resumed run imported %d, found %d already there, in %v", done, c[0], c[2], time.Since(start))
	start = time.Now()
	verifyAll(t, e.home, file)
	t.Logf("verified %d secrets in %v", n, time.Since(start))
}
