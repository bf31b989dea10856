package backup

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/cryptotest"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// vector is one committed backup file (testdata/NAME.meshbak) and what a
// restore of it with Password must give: Error names the error ("" for
// success, then the content below must be there).
type vector struct {
	Name     string `json:"name"`
	Comment  string `json:"comment"`
	Password string `json:"password"`
	Error    string `json:"error,omitempty"` // bad_password, altered, truncated, header, not_backup, version
	// On success:
	PeerID      string `json:"peer_id,omitempty"`
	VaultID     string `json:"vault_id,omitempty"`
	SecretName  string `json:"secret_name,omitempty"`
	SecretValue string `json:"secret_value,omitempty"`
	Handle      string `json:"handle,omitempty"`
}

var vectorErrors = map[string]error{
	"bad_password": vault.ErrBadPassword,
	"altered":      ErrAltered,
	"truncated":    ErrTruncated,
	"header":       ErrHeader,
	"not_backup":   ErrNotBackup,
	"version":      ErrVersion,
}

const (
	vectorPassword = "vector password"
	vectorSecret   = "ghp_vector0123456789abcdefghijklmnopqrstu"
)

// buildVectors makes the vectors from scratch: a small home (1 KiB chunks,
// so it spans several), made with deterministic randomness, a fixed peer
// key, clock and salt; and its damaged variants.
func buildVectors(t *testing.T) ([]vector, map[string][]byte) {
	cryptotest.SetGlobalRandom(t, 2026)
	ctx := context.Background()
	alice := newLiveHome(t, "vector-alice", vectorPassword)
	putSecret(t, alice.v, "github", []byte(vectorSecret))
	putSecret(t, alice.v, "notes/long", secretValue("long", 0, 3000))
	if err := alice.v.Put(ctx, vault.NSResources, "calendar/work", []byte(`{"kind":"calendar"}`), vault.AuditEntry{Actor: "t", Op: "resource.write"}); err != nil {
		t.Fatal(err)
	}
	alice.st.Put(ctx, ds.NewKey("/mesh/profile/handle"), []byte("alice"))
	src := alice.source()
	src.Rand, src.chunkLog = testkit.NewRand("vector salt"), 10
	var buf bytes.Buffer
	if _, err := Write(ctx, &buf, src); err != nil {
		t.Fatal(err)
	}
	good := bytes.Clone(buf.Bytes())

	bob := newLiveHome(t, "vector-bob", vectorPassword)
	src = bob.source()
	src.Rand, src.chunkLog = testkit.NewRand("vector salt bob"), 10
	buf.Reset()
	if _, err := Write(ctx, &buf, src); err != nil {
		t.Fatal(err)
	}
	bobHdr, _ := chunks(t, buf.Bytes())

	hdr, cs := chunks(t, good)
	if len(cs) < 4 {
		t.Fatalf("the vector backup has %d chunks; it needs 4", len(cs))
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x01; return b }
	files := map[string][]byte{
		"good":               good,
		"flipped-byte":       join(hdr, slices.Concat(cs[:1], [][]byte{flip(cs[1], 17)}, cs[2:])...),
		"truncated":          join(hdr, cs[:len(cs)-1]...),
		"reordered":          join(hdr, slices.Concat(cs[:1], [][]byte{cs[2], cs[1]}, cs[3:])...),
		"other-vault-header": join(bobHdr, cs...),
		"tampered-header":    flip(good, 8+2+16+7), // the time's last byte
	}
	vs := []vector{
		{Name: "good", Comment: "a home: 2 secrets, 1 resource, a handle; 1 KiB chunks", Password: vectorPassword,
			PeerID: alice.key.ID().String(), VaultID: hexs(alice.v.ID()), SecretName: "github", SecretValue: vectorSecret, Handle: "alice"},
		{Name: "good", Comment: "the good file with a wrong password", Password: "wrong password", Error: "bad_password"},
		{Name: "flipped-byte", Comment: "one bit of chunk 1's ciphertext flipped", Password: vectorPassword, Error: "altered"},
		{Name: "truncated", Comment: "the last chunk dropped: the file ends at a chunk boundary", Password: vectorPassword, Error: "truncated"},
		{Name: "reordered", Comment: "chunks 1 and 2 swapped", Password: vectorPassword, Error: "altered"},
		{Name: "other-vault-header", Comment: "another vault's header (same password) on this backup's chunks", Password: vectorPassword, Error: "altered"},
		{Name: "tampered-header", Comment: "one bit of the header's time flipped", Password: vectorPassword, Error: "altered"},
	}
	return vs, files
}

func hexs(b []byte) string { return hex.EncodeToString(b) }

// TestVectorsAreCurrent regenerates the vectors and compares them with the
// committed ones (-update rewrites them). It fails when the format, or
// what the vault writes, changed: review the diff, then update.
func TestVectorsAreCurrent(t *testing.T) {
	vs, files := buildVectors(t)
	js, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	js = append(js, '\n')
	files["vectors.json"] = js
	for name, b := range files {
		path := filepath.Join("testdata", name)
		if name != "vectors.json" {
			path += ".meshbak"
		}
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		committed, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (generate with -update)", err)
		}
		if !bytes.Equal(committed, b) {
			t.Errorf("%s is stale: rerun with -update and review the diff", path)
		}
	}
}

// TestVectors restores every committed vector and checks its outcome.
func TestVectors(t *testing.T) {
	vs := testkit.ReadVectors[vector](t, filepath.Join("testdata", "vectors.json"))
	if len(vs) < 7 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, vec := range vs {
		t.Run(vec.Name+"/"+vec.Comment, func(t *testing.T) {
			ctx := context.Background()
			file, err := os.ReadFile(filepath.Join("testdata", vec.Name+".meshbak"))
			if err != nil {
				t.Fatal(err)
			}
			dst := freshDst(t)
			info, err := Restore(ctx, bytes.NewReader(file), dst, []byte(vec.Password))
			if vec.Error != "" {
				if want := vectorErrors[vec.Error]; want == nil || !errors.Is(err, want) {
					t.Fatalf("%v, want %s", err, vec.Error)
				}
				if left := entriesOf(t, filepath.Dir(string(dst))); len(left) != 0 {
					t.Fatalf("left at the destination: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.PeerID.String() != vec.PeerID || hexs(info.VaultID) != vec.VaultID || len(info.Problems) != 0 {
				t.Fatalf("restored %+v", info)
			}
			_, st, v := openRestored(t, dst, []byte(vec.Password))
			s, err := v.GetSecret(ctx, vec.SecretName, "t")
			if err != nil || string(s.Value) != vec.SecretValue {
				t.Fatalf("secret %s: %v", vec.SecretName, err)
			}
			if h, err := st.Get(ctx, ds.NewKey("/mesh/profile/handle")); err != nil || string(h) != vec.Handle {
				t.Fatalf("handle %q, %v", h, err)
			}
			if _, _, err := v.VerifyAudit(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
