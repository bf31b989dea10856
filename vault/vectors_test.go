package vault

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// vaultVector is a whole vault at rest: its header, password wrap and one
// record, with the expected outcome of unlocking and reading it.
type vaultVector struct {
	Comment   string `json:"comment"`
	Password  string `json:"password"`
	Header    string `json:"header"`
	Wrap      string `json:"wrap"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Record    string `json:"record"`
	Plaintext string `json:"plaintext,omitempty"`
	Error     string `json:"error,omitempty"` // "", "bad_password", "corrupt"
}

func makeVectors(t *testing.T) []vaultVector {
	ctx := context.Background()
	store := memStore()
	v, _ := newTestVault(t, store, "vector-password")
	if err := v.Put(ctx, NSSecrets, "calendar-key", []byte("plaintext of the vector"), AuditEntry{Op: "t"}); err != nil {
		t.Fatal(err)
	}
	get := func(k string) []byte {
		b, err := store.Get(ctx, recKey(NSSecrets, k))
		if k == "" {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hdr, _ := store.Get(ctx, headerKey)
	wrap, _ := store.Get(ctx, pwWrapKey)
	rec := get("calendar-key")
	good := vaultVector{Comment: "valid vault, record opens", Password: "vector-password", Header: hex.EncodeToString(hdr),
		Wrap: hex.EncodeToString(wrap), Namespace: string(NSSecrets), Name: "calendar-key", Record: hex.EncodeToString(rec), Plaintext: "plaintext of the vector"}
	flip := func(s string, i int) string { b, _ := hex.DecodeString(s); b[i] ^= 1; return hex.EncodeToString(b) }
	vs := []vaultVector{good}
	add := func(comment, errName string, f func(*vaultVector)) {
		x := good
		x.Comment, x.Error, x.Plaintext = comment, errName, ""
		f(&x)
		vs = append(vs, x)
	}
	add("wrong password", "bad_password", func(x *vaultVector) { x.Password = "Vector-password" })
	add("flipped salt byte", "bad_password", func(x *vaultVector) { x.Wrap = flip(x.Wrap, 20) })
	add("flipped sealed master key byte", "bad_password", func(x *vaultVector) { x.Wrap = flip(x.Wrap, len(wrap)-1) })
	add("memory parameter above 1 GiB", "corrupt", func(x *vaultVector) { x.Wrap = flip(x.Wrap, 13) })
	add("truncated wrap", "corrupt", func(x *vaultVector) { x.Wrap = x.Wrap[:100] })
	add("unknown KDF id", "corrupt", func(x *vaultVector) { x.Wrap = flip(x.Wrap, 8) })
	add("bad header magic", "corrupt", func(x *vaultVector) { x.Header = flip(x.Header, 0) })
	add("flipped record ciphertext", "corrupt", func(x *vaultVector) { x.Record = flip(x.Record, len(rec)-1) })
	add("record moved under another name", "corrupt", func(x *vaultVector) { x.Name = "other-key" })
	add("record moved to another namespace", "corrupt", func(x *vaultVector) { x.Namespace = string(NSResources) })
	add("vault ID changed: the wrap is bound to it", "bad_password", func(x *vaultVector) { x.Header = flip(x.Header, 10) })
	add("truncated record", "corrupt", func(x *vaultVector) { x.Record = x.Record[:60] })
	return vs
}

func TestVaultVectors(t *testing.T) {
	path := filepath.Join("testdata", "vault-vectors.json")
	if *update {
		b, _ := json.MarshalIndent(makeVectors(t), "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vaultVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 10 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, vec := range vs {
		t.Run(vec.Comment, func(t *testing.T) {
			ctx := context.Background()
			store := memStore()
			dec := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
			store.Put(ctx, headerKey, dec(vec.Header))
			store.Put(ctx, pwWrapKey, dec(vec.Wrap))
			store.Put(ctx, recKey(Namespace(vec.Namespace), vec.Name), dec(vec.Record))
			err := func() error {
				v, err := Open(ctx, Config{Store: store, Sleep: func(context.Context, time.Duration) error { return nil }})
				if err != nil {
					return err
				}
				if err := v.Unlock(ctx, []byte(vec.Password), "t"); err != nil {
					return err
				}
				pt, err := v.Get(ctx, Namespace(vec.Namespace), vec.Name, AuditEntry{Op: "t"})
				if err == nil && string(pt) != vec.Plaintext {
					t.Fatalf("plaintext %q, want %q", pt, vec.Plaintext)
				}
				return err
			}()
			switch vec.Error {
			case "":
				if err != nil {
					t.Fatalf("valid vector failed: %v", err)
				}
			case "bad_password":
				if !errors.Is(err, ErrBadPassword) {
					t.Fatalf("got %v, want ErrBadPassword", err)
				}
			case "corrupt":
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("got %v, want ErrCorrupt", err)
				}
			}
		})
	}
}
