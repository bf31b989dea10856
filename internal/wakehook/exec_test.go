//go:build unix

package wakehook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
)

// TestHelperProcess is the wake command of these tests: the test binary
// run again (the standard os/exec pattern). It records what it was given
// and writes some output.
func TestHelperProcess(t *testing.T) {
	out := os.Getenv("WAKEHOOK_HELPER_OUT")
	if out == "" {
		t.Skip("only run as a wake command")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	rec, _ := json.Marshal(helperRecord{Args: args, Pgid: syscall.Getpgrp(), Pid: os.Getpid(),
		Handle: os.Getenv(EnvHandle), Peer: os.Getenv(EnvPeer)})
	fmt.Println("hello from stdout")
	fmt.Fprintln(os.Stderr, "hello from stderr")
	fmt.Println(strings.Repeat("L", 3*MaxLogLine) + "END")
	fmt.Println("after the long line")
	os.WriteFile(out+".tmp", rec, 0o600)
	os.Rename(out+".tmp", out)
	os.Exit(3)
}

type helperRecord struct {
	Args         []string
	Pgid, Pid    int
	Handle, Peer string
}

func helperExec(t *testing.T, out string, logs *logBuffer, perHandle map[string]string) *Exec {
	t.Helper()
	e, err := NewExec(ExecConfig{
		Default:   fmt.Sprintf(`'%s' -test.run=^TestHelperProcess$ -- default {handle} "--peer={peer}" 'two words'`, os.Args[0]),
		PerHandle: perHandle,
		Env:       append(os.Environ(), "WAKEHOOK_HELPER_OUT="+out),
		Logger:    slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func waitChildren(t *testing.T, e *Exec) {
	t.Helper()
	done := make(chan struct{})
	go func() { e.Wait(); close(done) }()
	testkit.Within(t, 30*time.Second, done, "the wake command to be reaped")
}

func readRecord(t *testing.T, out string) helperRecord {
	t.Helper()
	var rec helperRecord
	testkit.Eventually(t, 30*time.Second, func() bool {
		b, err := os.ReadFile(out)
		return err == nil && json.Unmarshal(b, &rec) == nil
	}, "the wake command to write %s", out)
	return rec
}

func TestExecStartsADetachedCommandAndLogsItsOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rec")
	logs := &logBuffer{}
	e := helperExec(t, out, logs, nil)
	id := testkit.Key(t, "alice").ID()
	if err := e.Wake(context.Background(), Target{Handle: "alice", Peer: id}); err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, out)
	waitChildren(t, e)
	want := []string{"default", "alice", "--peer=" + id.String(), "two words"}
	if !slices.Equal(rec.Args, want) {
		t.Errorf("args %q, want %q", rec.Args, want)
	}
	if rec.Handle != "alice" || rec.Peer != id.String() {
		t.Errorf("environment %q %q", rec.Handle, rec.Peer)
	}
	if rec.Pgid == syscall.Getpgrp() || rec.Pgid != rec.Pid {
		t.Errorf("the command runs in process group %d (its pid %d, the relay's group %d): not detached", rec.Pgid, rec.Pid, syscall.Getpgrp())
	}
	l := logs.String()
	for _, w := range []string{`"line":"hello from stdout"`, `"line":"hello from stderr"`, `"stream":"stderr"`,
		`"line":"after the long line"`, `"truncated":true`, "wake command failed", "exit status 3"} {
		if !strings.Contains(l, w) {
			t.Errorf("the log does not say %s:\n%s", w, l)
		}
	}
	if strings.Contains(l, "END") || strings.Contains(l, strings.Repeat("L", MaxLogLine+1)) {
		t.Error("a long line was logged past MaxLogLine")
	}
}

func TestExecPerHandleOverridesTheDefault(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rec")
	e := helperExec(t, out, &logBuffer{}, map[string]string{
		"bob": fmt.Sprintf(`'%s' -test.run=^TestHelperProcess$ -- special {peer}`, os.Args[0])})
	id := testkit.Key(t, "bob").ID()
	if err := e.Wake(context.Background(), Target{Handle: "bob", Peer: id}); err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, out)
	waitChildren(t, e)
	if !slices.Equal(rec.Args, []string{"special", id.String()}) {
		t.Errorf("args %q", rec.Args)
	}
	only, err := NewExec(ExecConfig{PerHandle: map[string]string{"bob": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := only.Wake(context.Background(), Target{Handle: "carol", Peer: id}); !errors.Is(err, ErrNoCommand) {
		t.Errorf("a handle without a command: %v", err)
	}
}

func TestExecRefusals(t *testing.T) {
	id := testkit.Key(t, "alice").ID()
	if _, err := NewExec(ExecConfig{}); !errors.Is(err, ErrBadTemplate) {
		t.Errorf("no command: %v", err)
	}
	if _, err := NewExec(ExecConfig{PerHandle: map[string]string{"Not A Handle": "true"}}); !errors.Is(err, ErrBadTarget) {
		t.Errorf("a bad handle key: %v", err)
	}
	if _, err := NewExec(ExecConfig{PerHandle: map[string]string{"bob": "x {hndle}"}}); err == nil || !strings.Contains(err.Error(), "the wake command for bob") {
		t.Errorf("a bad template names its handle: %v", err)
	}
	e, err := NewExec(ExecConfig{Default: "/nonexistent/wake-program {handle}"})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Wake(context.Background(), Target{Handle: "alice", Peer: id})
	if err == nil || !strings.Contains(err.Error(), "starting the wake command for alice") {
		t.Errorf("a program that cannot start: %v", err)
	}
	if err := e.Wake(context.Background(), Target{Handle: "al ice", Peer: id}); !errors.Is(err, ErrBadTarget) {
		t.Errorf("a bad handle: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Wake(ctx, Target{Handle: "alice", Peer: id}); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled wake: %v", err)
	}
}

// logBuffer is a log sink safe for concurrent use.
type logBuffer = testkit.Buffer
