package legacy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/vault"
)

var update = flag.Bool("update", false, "rewrite testdata/ from the code (then review the diff)")

// vectorPassword opens every file in testdata/.
const vectorPassword = "correct horse battery staple"

// vectorSecrets are what the good vectors hold, in order.
func vectorSecrets() []Plain {
	c := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	return []Plain{
		{ID: "3f6c2a8e-1b7d-4c1e-8a55-0c9b2e7d4f10", Name: "openai-api-key", Type: vault.TypeAPIKey, Provider: "openai",
			Created: c, Updated: c.Add(72 * time.Hour), Value: []byte("sk-proj-4n7Qm2xVb9Lc3Rt8Yw1Zp6Kd")},
		{ID: "9d1e7b44-52a0-4f0e-9c1d-7e2b8a6f3c21", Name: "google-calendar", Type: vault.TypeOAuthToken, Provider: "google",
			Scopes: []string{"https://www.googleapis.com/auth/calendar.readonly"}, Expires: c.Add(73 * time.Hour),
			Created: c, Updated: c.Add(72 * time.Hour), Value: []byte("ya29.a0AfH6SMBx-access"), Refresh: []byte("1//0gRefreshTokenExample")},
		{ID: "c0ffee00-0000-4000-8000-000000000003", Name: "postgres prod", Type: vault.TypePassword, Username: "svc_app",
			Created: c, Updated: c, Value: []byte("Tr0ub4dor&3")},
		{ID: "c0ffee00-0000-4000-8000-000000000004", Name: "wifi notes ✓", Type: vault.TypeNote,
			Created: c, Updated: c, Value: []byte("office: guest / 12345678\n")},
	}
}

// The vectors: good exports under each KDF, and edits of one, with the
// error each must give.
var vectors = []struct {
	file string
	kdf  KDF
	edit func(e *Export)
	want error
}{
	{"good-scrypt.json", KDF{Name: KDFScrypt, N: 1 << 10, R: 8, P: 1}, nil, nil},
	{"good-pbkdf2.json", KDF{Name: KDFPBKDF2, Iterations: 1000}, nil, nil},
	{"bad-flipped-value.json", KDF{Name: KDFScrypt, N: 1 << 10, R: 8, P: 1}, func(e *Export) { e.Records[0].Value.Data[3] ^= 1 }, ErrTampered},
	{"bad-removed-record.json", KDF{Name: KDFScrypt, N: 1 << 10, R: 8, P: 1}, func(e *Export) { e.Records = e.Records[1:] }, ErrTampered},
	{"bad-swapped-records.json", KDF{Name: KDFScrypt, N: 1 << 10, R: 8, P: 1}, func(e *Export) {
		e.Records[1], e.Records[2] = e.Records[2], e.Records[1]
	}, ErrTampered},
	{"bad-header.json", KDF{Name: KDFScrypt, N: 1 << 10, R: 8, P: 1}, func(e *Export) { e.Account = "mallory@example.com" }, ErrTampered},
	{"bad-kdf.json", KDF{Name: KDFScrypt, N: 1 << 10, R: 8, P: 1}, func(e *Export) { e.KDF.N = 1 << 11 }, ErrBadPassword},
	{"bad-huge-scrypt.json", KDF{Name: KDFScrypt, N: 1 << 10, R: 8, P: 1}, func(e *Export) { e.KDF.N = 1 << 30 }, ErrFormat},
}

func TestVectors(t *testing.T) {
	exportedAt := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	for i, v := range vectors {
		path := filepath.Join("testdata", v.file)
		if *update {
			e, err := Seal(newSeeded(byte(100+i)), []byte(vectorPassword), v.kdf, "alice@example.com", exportedAt, vectorSecrets())
			if err != nil {
				t.Fatal(err)
			}
			if v.edit != nil {
				v.edit(e)
			}
			b, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(v.file, func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			e, err := ParseExport(b)
			var ps []Plain
			if err == nil {
				ps, err = e.Open([]byte(vectorPassword))
			}
			defer WipeAll(ps)
			if !errors.Is(err, v.want) || (v.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, v.want)
			}
			if v.want != nil {
				return
			}
			want := vectorSecrets()
			if len(ps) != len(want) {
				t.Fatalf("%d secrets, want %d", len(ps), len(want))
			}
			for i := range want {
				g, w := ps[i].Secret(), want[i].Secret()
				if !equalSecret(&g, &w) || ps[i].ID != want[i].ID || !ps[i].Updated.Equal(want[i].Updated) {
					t.Fatalf("secret %d = %v, want %v", i, ps[i], want[i])
				}
			}
			if _, err := e.Open([]byte("Correct horse battery staple")); !errors.Is(err, ErrBadPassword) {
				t.Fatalf("a wrong password: %v", err)
			}
		})
	}
}

// TestANodeJSReaderAgrees runs testdata/verify.js, a reader written in
// Node.js from docs/legacy-vault.md alone, on every vector: it must give
// each one the verdict the Go code gives, and the same values.
func TestANodeJSReaderAgrees(t *testing.T) {
	nodejs, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	args := []string{"testdata/verify.js", vectorPassword}
	for _, v := range vectors {
		args = append(args, filepath.Join("testdata", v.file))
	}
	out, err := exec.Command(nodejs, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("verify.js: %v\n%s", err, out)
	}
	var good []string
	for _, p := range vectorSecrets() {
		v := p.Value
		if p.Refresh != nil {
			v = append(append(append([]byte{}, v...), '|'), p.Refresh...)
		}
		sum := sha256.Sum256(v)
		good = append(good, p.Name+"="+hex.EncodeToString(sum[:])[:12])
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(vectors) {
		t.Fatalf("verify.js printed %d lines for %d vectors:\n%s", len(lines), len(vectors), out)
	}
	for i, v := range vectors {
		want := map[error]string{nil: "ok " + strings.Join(good, " "), ErrTampered: "tampered",
			ErrBadPassword: "bad-password", ErrFormat: "invalid"}[v.want]
		if got := strings.TrimPrefix(lines[i], filepath.Join("testdata", v.file)+" "); got != want {
			t.Errorf("%s: verify.js says %q, the Go code %q", v.file, got, want)
		}
	}
}
