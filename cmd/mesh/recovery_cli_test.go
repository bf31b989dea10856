package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocmt/mesh/internal/recovery"
)

// ageIdentity is a new age X25519 identity and its recipient.
func ageIdentity(t *testing.T) (identity, recipient string) {
	t.Helper()
	id, rcpt, err := recovery.NewHardwareIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id, rcpt
}

// TestCLIRecoveryPhraseHardwareAndEscrow: alice enables a phrase, a key
// file and an escrow; forgets her password; each sets a new one (the
// escrow after its institution's release and the waiting period); a wrong
// phrase is refused; the canary secret survives every recovery.
func TestCLIRecoveryPhraseHardwareAndEscrow(t *testing.T) {
	c := newCLI(t)
	pw := []string{"MESH_PASSWORD=" + pwCanary}
	c.ok("", pw, "init", "--insecure-test-kdf", "--handle", "alice")
	c.ok(secretCanary, pw, "secret", "set", "k", "--type", "password")
	if out := c.ok("", pw, "recovery", "status"); !strings.Contains(out, "no recovery method") {
		t.Fatalf("status before: %q", out)
	}

	phrase := filepath.Join(c.home, "phrase.txt")
	if out := c.ok("", pw, "recovery", "phrase", "--out", phrase); !strings.Contains(out, "recovery method phrase enabled") {
		t.Fatalf("mesh recovery phrase: %q", out)
	}
	if st, err := os.Stat(phrase); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the phrase file: %v", err)
	}
	words, _ := os.ReadFile(phrase)
	if n := len(strings.Fields(string(words))); n != 24 {
		t.Fatalf("%d words", n)
	}
	key := filepath.Join(c.home, "usb-recovery.age")
	c.ok("", pw, "recovery", "hardware", "--key-file", key)

	// the institution: its own home, whose key signs releases, and an age identity
	bank := filepath.Join(c.home, "bank")
	c.ok("", []string{"MESH_PASSWORD=bank-pw"}, "--home", bank, "init", "--insecure-test-kdf")
	bankID := strings.TrimSpace(c.ok("", nil, "--home", bank, "id"))
	bankAge := filepath.Join(c.home, "bank.age")
	id, rcpt := ageIdentity(t)
	os.WriteFile(bankAge, []byte(id+"\n"), 0o600)
	c.fails("", pw, "waiting period", "recovery", "escrow", "--recipient", rcpt, "--institution-key", bankID, "--wait", "1h")
	c.ok("", pw, "recovery", "escrow", "--recipient", rcpt, "--institution-key", bankID)
	st := c.ok("", nil, "recovery", "status")
	for _, m := range []string{"phrase", "hardware", "escrow", "never"} {
		if !strings.Contains(st, m) {
			t.Fatalf("status lacks %s:\n%s", m, st)
		}
	}
	c.ok("", nil, "recovery", "test", "phrase", "--phrase-file", phrase)
	c.fails("", nil, "testing hardware takes --hardware-key", "recovery", "test", "hardware", "--phrase-file", phrase)
	if st := c.ok("", nil, "recovery", "status"); strings.Count(st, "never") != 2 {
		t.Fatalf("status after a test:\n%s", st)
	}

	// alice forgets her password: a wrong phrase is refused, the right one sets a new password
	wrong := filepath.Join(c.home, "wrong.txt")
	os.WriteFile(wrong, []byte(strings.Repeat("abandon ", 23)+"art\n"), 0o600)
	c.fails("", []string{"MESH_NEW_PASSWORD=x"}, "does not open this vault", "recover", "--phrase-file", wrong)
	short := filepath.Join(c.home, "short.txt")
	os.WriteFile(short, []byte("abandon ability able about above absent absorb abstract absurd abuse access accident\n"), 0o600)
	c.fails("", []string{"MESH_NEW_PASSWORD=x"}, "not a valid 24-word recovery phrase", "recover", "--phrase-file", short)
	c.ok("", []string{"MESH_NEW_PASSWORD=pw-two"}, "recover", "--phrase-file", phrase)
	if v := c.ok("", []string{"MESH_PASSWORD=pw-two"}, "secret", "get", "k"); v != secretCanary {
		t.Fatalf("after the phrase: %q", v)
	}
	c.fails("", pw, "", "secret", "get", "k")

	c.ok("", []string{"MESH_NEW_PASSWORD=pw-three"}, "recover", "--hardware-key", key)
	if v := c.ok("", []string{"MESH_PASSWORD=pw-three"}, "secret", "get", "k"); v != secretCanary {
		t.Fatalf("after the key file: %q", v)
	}

	req := filepath.Join(c.home, "escrow-request")
	rel := filepath.Join(c.home, "escrow-release")
	c.ok("", nil, "recovery", "escrow-request", "--out", req)
	c.ok("", nil, "--home", bank, "recovery", "escrow-release", "--identity", bankAge, "--request", req, "--out", rel)
	c.fails("", []string{"MESH_NEW_PASSWORD=pw-four"}, "waiting period runs until", "recover", "--escrow-release", rel)
	if v := c.ok("", []string{"MESH_PASSWORD=pw-three"}, "secret", "get", "k"); v != secretCanary {
		t.Fatal("a refused escrow recovery changed the password")
	}
	audit := c.ok("", []string{"MESH_PASSWORD=pw-three"}, "audit")
	for _, op := range []string{"vault.recovery.enable", "vault.recovery.test", "vault.recover", "recovery.escrow.request", "recovery.escrow.release"} {
		if !strings.Contains(audit, op) {
			t.Fatalf("the audit log has no %s:\n%s", op, audit)
		}
	}
}
