package vault

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// vaultVectorV1 is a format-1 vault at rest as the format-1 code wrote it
// (testdata/vault-vectors-v1.json, frozen: never regenerated): its header,
// password wrap and one record, with the expected outcome of unlocking
// (which migrates it) and reading it.
type vaultVectorV1 struct {
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

// TestVaultVectorsV1: format-1 vaults still open.
func TestVaultVectorsV1(t *testing.T) {
	vs := testkit.ReadVectors[vaultVectorV1](t, filepath.Join("testdata", "vault-vectors-v1.json"))
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
			// These vectors hold no audit log: only the record is checked.
			err := openAndRead(t, store, vec.Password, Namespace(vec.Namespace), vec.Name, vec.Plaintext, false)
			checkVectorError(t, err, vec.Error)
		})
	}
}

func openAndRead(t *testing.T, store ds.Batching, password string, ns Namespace, name, plaintext string, audit bool) error {
	t.Helper()
	ctx := context.Background()
	v, err := Open(ctx, Config{Store: store})
	if err != nil {
		return err
	}
	if err := v.Unlock(ctx, []byte(password), "t"); err != nil {
		return err
	}
	pt, err := v.Get(ctx, ns, name, AuditEntry{Op: "t"})
	if err == nil && string(pt) != plaintext {
		t.Fatalf("plaintext %q, want %q", pt, plaintext)
	}
	if err != nil || !audit {
		return err
	}
	_, _, err = v.VerifyAudit(ctx)
	return err
}

func checkVectorError(t *testing.T, err error, want string) {
	t.Helper()
	sentinel := map[string]error{"bad_password": ErrBadPassword, "corrupt": ErrCorrupt, "rolled_back": ErrRolledBack, "audit_broken": ErrAuditBroken}
	if want == "" {
		if err != nil {
			t.Fatalf("valid vector failed: %v", err)
		}
		return
	}
	if !errors.Is(err, sentinel[want]) {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// storeVector is a whole format-2 vault at rest (every key of its store),
// with the expected outcome of unlocking it, reading one record and
// verifying its audit log.
type storeVector struct {
	Comment   string            `json:"comment"`
	Password  string            `json:"password"`
	Store     map[string]string `json:"store"` // datastore key → hex value
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Plaintext string            `json:"plaintext,omitempty"`
	Error     string            `json:"error,omitempty"` // "", "bad_password", "corrupt", "rolled_back", "audit_broken"
}

func makeVectorsV2(t *testing.T) []storeVector {
	ctx := context.Background()
	store := memStore()
	v, _ := newTestVault(t, store, "vector-password")
	if err := v.Put(ctx, NSSecrets, "calendar-key", []byte("an older value"), AuditEntry{Op: "t"}); err != nil {
		t.Fatal(err)
	}
	oldRec, _ := store.Get(ctx, recKey(NSSecrets, "calendar-key"))
	if err := v.Put(ctx, NSSecrets, "calendar-key", []byte("plaintext of the vector"), AuditEntry{Op: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := v.Lock(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := v.Audit(ctx, AuditEntry{Actor: "peer", Op: "share.refused", Outcome: OutcomeDenied, Detail: "written while locked"}); err != nil {
		t.Fatal(err)
	}
	good := storeVector{Comment: "valid vault, record opens, log verifies", Password: "vector-password", Store: map[string]string{},
		Namespace: string(NSSecrets), Name: "calendar-key", Plaintext: "plaintext of the vector"}
	for k, b := range dump(t, store) {
		good.Store[k] = hex.EncodeToString(b)
	}
	vs := []storeVector{good}
	add := func(comment, errName string, f func(m map[string]string)) {
		x := good
		x.Comment, x.Error = comment, errName
		if errName != "audit_broken" { // an edited log does not stop reads
			x.Plaintext = ""
		}
		x.Store = map[string]string{}
		for k, b := range good.Store {
			x.Store[k] = b
		}
		f(x.Store)
		vs = append(vs, x)
	}
	flip := func(m map[string]string, k ds.Key, i int) {
		b, _ := hex.DecodeString(m[k.String()])
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 1
		m[k.String()] = hex.EncodeToString(b)
	}
	add("wrong password", "bad_password", func(m map[string]string) {})
	vs[len(vs)-1].Password = "Vector-password"
	add("flipped salt byte", "bad_password", func(m map[string]string) { flip(m, pwWrapKey, 20) })
	add("flipped generation byte of the wrap", "bad_password", func(m map[string]string) { flip(m, pwWrapKey, wrapPrefixLen-1) })
	add("flipped sealed master key byte", "bad_password", func(m map[string]string) { flip(m, pwWrapKey, -1) })
	add("memory parameter above 1 GiB", "corrupt", func(m map[string]string) { flip(m, pwWrapKey, 13) })
	add("truncated wrap", "corrupt", func(m map[string]string) { m[pwWrapKey.String()] = m[pwWrapKey.String()][:100] })
	add("bad header magic", "corrupt", func(m map[string]string) { flip(m, headerKey, 0) })
	add("header downgraded to format 1", "corrupt", func(m map[string]string) {
		b, _ := hex.DecodeString(m[headerKey.String()])
		b[7] = 1
		m[headerKey.String()] = hex.EncodeToString(b)
	})
	add("flipped record ciphertext", "corrupt", func(m map[string]string) { flip(m, recKey(NSSecrets, "calendar-key"), -1) })
	add("an older copy of the record put back", "rolled_back", func(m map[string]string) {
		m[recKey(NSSecrets, "calendar-key").String()] = hex.EncodeToString(oldRec)
	})
	add("the record's index entry deleted", "rolled_back", func(m map[string]string) { delete(m, versionKey(NSSecrets, "calendar-key").String()) })
	add("the index tag flipped", "rolled_back", func(m map[string]string) { flip(m, indexStateKey, -1) })
	add("an audit record edited", "audit_broken", func(m map[string]string) {
		b, _ := hex.DecodeString(m[auditKey(2).String()])
		m[auditKey(2).String()] = hex.EncodeToString([]byte(strings.Replace(string(b), `"op":"t"`, `"op":"x"`, 1)))
	})
	add("the record written while locked edited", "audit_broken", func(m map[string]string) {
		b, _ := hex.DecodeString(m[auditKey(5).String()])
		m[auditKey(5).String()] = hex.EncodeToString([]byte(strings.Replace(string(b), "written while locked", "written while LOCKED", 1)))
	})
	add("the audit head deleted", "audit_broken", func(m map[string]string) { delete(m, auditHeadKey.String()) })
	add("the last audit record deleted", "audit_broken", func(m map[string]string) { delete(m, auditKey(5).String()) })
	return vs
}

// TestVaultVectors runs the committed format-2 vectors
// (testdata/vault-vectors-v2.json; -update regenerates them from the
// current code: review the diff).
func TestVaultVectors(t *testing.T) {
	path := filepath.Join("testdata", "vault-vectors-v2.json")
	if *update {
		b, _ := json.MarshalIndent(makeVectorsV2(t), "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vs := testkit.ReadVectors[storeVector](t, path)
	if len(vs) < 15 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, vec := range vs {
		t.Run(vec.Comment, func(t *testing.T) {
			ctx := context.Background()
			store := memStore()
			for k, h := range vec.Store {
				b, _ := hex.DecodeString(h)
				store.Put(ctx, ds.NewKey(k), b)
			}
			err := openAndRead(t, store, vec.Password, Namespace(vec.Namespace), vec.Name, vec.Plaintext, true)
			t.Logf("%v", err)
			checkVectorError(t, err, vec.Error)
		})
	}
}
