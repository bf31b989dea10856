package node

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// TestABackupOfARunningNodeRestoresOnAFreshMachine: the CLI's path — the
// backup streams out of a running node through its local API socket, is
// restored into an empty folder elsewhere, and the restored home opens
// with the password and holds the same identity, secrets and resources.
func TestABackupOfARunningNodeRestoresOnAFreshMachine(t *testing.T) {
	ctx := context.Background()
	h := shortDir(t, "src")
	if _, err := Init(ctx, h, InitOptions{Password: []byte("pw"), KDF: vault.TestKDF(), Handle: "alice"}); err != nil {
		t.Fatal(err)
	}
	n, err := Start(ctx, Config{Home: h, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c, err := localapi.Dial(ctx, h.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var buf bytes.Buffer
	if _, err := c.Backup(ctx, &buf); !errors.Is(err, vault.ErrLocked) {
		t.Fatalf("a backup of a locked vault: %v, want ErrLocked", err)
	}
	if err := c.Unlock(ctx, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	const value = "sk-backup-canary-3b7"
	if err := c.SecretSet(ctx, vault.Secret{Name: "openai", Type: vault.TypeAPIKey, Value: []byte(value)}); err != nil {
		t.Fatal(err)
	}
	if err := c.PutResource(ctx, "calendar/work", []byte("standup")); err != nil {
		t.Fatal(err)
	}
	info, err := c.Backup(ctx, &buf)
	if err != nil || info.ID == "" || int(info.Size) != buf.Len() {
		t.Fatalf("backup: %+v, %v (%d bytes)", info, err, buf.Len())
	}
	if bytes.Contains(buf.Bytes(), []byte(value)) || bytes.Contains(buf.Bytes(), []byte("openai")) {
		t.Fatal("the backup holds a secret or its name in the clear")
	}

	fresh := Home(filepath.Join(string(shortDir(t, "dst")), "home"))
	got, err := Restore(ctx, bytes.NewReader(buf.Bytes()), fresh, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if got.PeerID != n.ID() || got.ID != info.ID || len(got.Problems) != 0 {
		t.Fatalf("restored %+v", got)
	}
	if _, err := Restore(ctx, bytes.NewReader(buf.Bytes()), h, []byte("pw")); err == nil {
		t.Fatal("a restore overwrote a live home")
	}
	o, err := Open(ctx, fresh, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.Unlock(ctx, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	s, err := o.SecretGet(ctx, "openai")
	if err != nil || string(s.Value) != value {
		t.Fatalf("restored secret: %v", err)
	}
	if r, err := o.GetResource(ctx, "calendar/work"); err != nil || string(r) != "standup" {
		t.Fatalf("restored resource %q, %v", r, err)
	}
	if st, _ := o.Status(ctx); st.Handle != "alice" || st.PeerID != n.ID().String() {
		t.Fatalf("restored status %+v", st)
	}
	if rep, err := o.Audit(ctx); err != nil || rep.Broken != "" || rep.Checked != "keyed" {
		t.Fatalf("restored audit: %v %q %q", err, rep.Broken, rep.Checked)
	}
}
