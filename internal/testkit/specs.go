package testkit

import (
	"bytes"
	"context"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SpecDoc returns the package comment of the doc.go in the test's folder:
// the format's specification.
func SpecDoc(t testing.TB) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil || f.Doc == nil {
		t.Fatalf("doc.go: %v", err)
	}
	return f.Doc.Text()
}

var (
	limitRow     = regexp.MustCompile(`(?m)^\t(\w+)\s+(-?\d+)(\s|$)`)
	limitMention = regexp.MustCompile(`\b(\w+) \((-?\d+)\)`)
)

// DocNumbers checks that doc.go states every number of want with its
// value: each name is a row of the "# Limits" section's table (a tab, the
// name, the value as a decimal integer, then anything), no row names a
// number want does not know, and every "Name (value)" written anywhere in
// doc.go gives the value too. Durations are written in seconds: pass
// Seconds(d). It returns the doc for further checks.
func DocNumbers(t testing.TB, want map[string]int64) string {
	t.Helper()
	doc := SpecDoc(t)
	_, limits, ok := strings.Cut(doc, "\n# Limits\n")
	if !ok {
		t.Fatal("doc.go has no Limits section")
	}
	limits, _, _ = strings.Cut(limits, "\n# ")
	inTable := map[string]bool{}
	for _, m := range limitRow.FindAllStringSubmatch(limits, -1) {
		name, val := m[1], m[2]
		w, known := want[name]
		if !known {
			t.Errorf("the Limits table names %s, which the test does not know", name)
			continue
		}
		inTable[name] = true
		if val != strconv.FormatInt(w, 10) {
			t.Errorf("the Limits table gives %s = %s; the code has %d", name, val, w)
		}
	}
	for name := range want {
		if !inTable[name] {
			t.Errorf("the Limits table does not give %s", name)
		}
	}
	for _, m := range limitMention.FindAllStringSubmatch(doc, -1) {
		if w, known := want[m[1]]; known && m[2] != strconv.FormatInt(w, 10) {
			t.Errorf("doc.go says %s (%s); the code has %d", m[1], m[2], w)
		}
	}
	return doc
}

// Seconds is d in whole seconds, as doc.go tables write durations.
func Seconds(d time.Duration) int64 { return int64(d / time.Second) }

// DocSays fails the test for each string doc does not contain.
func DocSays(t testing.TB, doc string, wants ...string) {
	t.Helper()
	flat := strings.Join(strings.Fields(doc), " ")
	for _, w := range wants {
		if !strings.Contains(flat, strings.Join(strings.Fields(w), " ")) {
			t.Errorf("doc.go does not say %q", w)
		}
	}
}

// SpecCheck runs an independent checker, a Python script under specs/ at
// the module root written from a doc.go and not from the Go code, which
// reads the committed vectors and exits non-zero when it disagrees with
// any. The test is skipped, saying so, when python3 is not installed.
func SpecCheck(t testing.TB, script string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skipf("python3 is not installed: the independent checker %s was not run", script)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-B", filepath.Join(root, filepath.FromSlash(script)))
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil {
		t.Fatalf("%s disagrees with the vectors (%v):\n%s", script, err, out.String())
	}
	t.Logf("%s", bytes.TrimSpace(out.Bytes()))
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's folder")
		}
		dir = parent
	}
}
