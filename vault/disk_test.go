package vault

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	meshstore "github.com/ocmt/mesh/internal/store"
)

// TestDiskHoldsNoSecretOrPassword seeds canaries into a pebble vault on disk
// and greps every file for them in raw, hex and base64 form.
func TestDiskHoldsNoSecretOrPassword(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := meshstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	password := "PWCANARY-correct-horse-battery"
	secret := "SECRETCANARY-sk-0123456789abcdef"
	refresh := "REFRESHCANARY-1//0gabc"
	v, err := Create(ctx, Config{Store: store}, []byte(password), TestKDF(), "t")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		s := Secret{Name: fmt.Sprintf("key-%d", i), Type: TypeOAuthToken, Provider: "google", Value: []byte(secret), Refresh: []byte(refresh)}
		if err := v.PutSecret(ctx, s, "t"); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.ChangePassword(ctx, []byte(password), []byte(password+"2"), TestKDF(), "t"); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	var canaries [][]byte
	for _, c := range []string{password, password + "2", secret, refresh} {
		canaries = append(canaries, []byte(c), []byte(hex.EncodeToString([]byte(c))),
			[]byte(base64.StdEncoding.EncodeToString([]byte(c))), []byte(base64.RawURLEncoding.EncodeToString([]byte(c))))
	}
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, c := range canaries {
			if bytes.Contains(b, c) {
				t.Errorf("%s contains canary %q", path, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("only %d files scanned; the store was not written where expected", files)
	}
}

const crashChildEnv = "OCMT_VAULT_CRASH_CHILD"

func crashValue(i int) string { return fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%97)) }

// TestCrashChild is the child half of TestCrashSafety: it writes secrets in
// a loop and acknowledges each one on stdout once Put has returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("child process of TestCrashSafety")
	}
	ctx := context.Background()
	store, err := meshstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(ctx, Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Unlock(ctx, []byte("pw"), "child"); err != nil {
		t.Fatal(err)
	}
	start, _ := strconv.Atoi(os.Getenv(crashChildEnv + "_START"))
	for i := start; ; i++ {
		if err := v.PutSecret(ctx, Secret{Name: fmt.Sprintf("s%06d", i), Type: TypeNote, Value: []byte(crashValue(i))}, "child"); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stdout, "ack %d\n", i)
	}
}

// TestCrashSafety SIGKILLs a child writing secrets in a loop, reopens the
// vault and finds every acknowledged write intact and the audit chain valid.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test spawns processes; skipped in -short")
	}
	ctx := context.Background()
	dir := t.TempDir()
	store, err := meshstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Create(ctx, Config{Store: store}, []byte("pw"), TestKDF(), "t")
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	store.Close()

	acked := -1
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprintf("%s_START=%d", crashChildEnv, acked+1))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 10 + rand.IntN(60)
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			var i int
			if _, err := fmt.Sscanf(sc.Text(), "ack %d", &i); err == nil {
				acked, n = i, n+1
				if n == killAfter {
					cmd.Process.Signal(syscall.SIGKILL)
				}
			}
		}
		cmd.Wait()
		if n < killAfter {
			t.Fatalf("round %d: child stopped after %d acks before the kill: %s", round, n, stderr.String())
		}

		store, err := meshstore.Open(dir)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		v, err := Open(ctx, Config{Store: store})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Unlock(ctx, []byte("pw"), "t"); err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= acked; i++ {
			s, err := v.GetSecret(ctx, fmt.Sprintf("s%06d", i), "t")
			if err != nil || string(s.Value) != crashValue(i) {
				t.Fatalf("round %d: acknowledged write %d lost or damaged: %q, %v", round, i, s.Value, err)
			}
		}
		if _, err := ReadAudit(ctx, store); err != nil {
			t.Fatalf("round %d: audit chain after crash: %v", round, err)
		}
		v.Close()
		store.Close()
	}
}
