package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/vault"
)

// liveHome is a home node's folder on disk as a running node holds it:
// identity.key, an open pebble store and its vault, unlocked.
type liveHome struct {
	h        home.Home
	key      *keys.PeerKey
	st       *store.Store
	v        *vault.Vault
	password []byte
	clock    *testkit.Clock
}

// newLiveHome makes a home named name (its peer key is testkit.Key(name)).
func newLiveHome(t testing.TB, name, password string) *liveHome {
	t.Helper()
	ctx := context.Background()
	h := home.Home(filepath.Join(t.TempDir(), name))
	if err := os.MkdirAll(string(h), 0o700); err != nil {
		t.Fatal(err)
	}
	k := testkit.Key(t, name)
	writeIdentityFile(t, h, k)
	st, err := store.Open(h.StorePath())
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(testkit.Epoch)
	v, err := vault.Create(ctx, vault.Config{Store: st, Now: clock.Now}, []byte(password), vault.TestKDF(), "t")
	if err != nil {
		t.Fatal(err)
	}
	l := &liveHome{h: h, key: k, st: st, v: v, password: []byte(password), clock: clock}
	t.Cleanup(l.close)
	return l
}

func (l *liveHome) close() {
	if l.v != nil {
		l.v.Close()
		l.st.Close()
		l.v = nil
	}
}

func (l *liveHome) source() Source {
	return Source{Home: l.h, Store: l.st, Vault: l.v, Actor: "t", Now: l.clock.Now}
}

func writeIdentityFile(t testing.TB, h home.Home, k *keys.PeerKey) {
	t.Helper()
	seed := k.Seed()
	defer clear(seed)
	if err := home.WriteFileAtomic(h.IdentityPath(), pem.EncodeToMemory(&pem.Block{Type: identityPEMType, Bytes: seed}), 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := home.LoadIdentity(h)
	if err != nil || back.ID() != k.ID() {
		t.Fatalf("the test identity does not read back: %v", err)
	}
}

// secretValue is the value the tests store under name, version n.
func secretValue(name string, n, size int) []byte {
	out := make([]byte, 0, size)
	for i := 0; len(out) < size; i++ {
		d := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%d", name, n, i))
		out = append(out, d[:]...)
	}
	return out[:size]
}

func putSecret(t testing.TB, v *vault.Vault, name string, value []byte) {
	t.Helper()
	s := vault.Secret{Name: name, Type: vault.TypeAPIKey, Provider: "p", Value: value}
	if err := v.PutSecret(context.Background(), s, "t"); err != nil {
		t.Fatal(err)
	}
}

// dump returns every key and value of s.
func dump(t testing.TB, s ds.Datastore) map[string]string {
	t.Helper()
	res, err := s.Query(context.Background(), query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range es {
		m[e.Key] = string(e.Value)
	}
	return m
}

// backupBytes takes a backup of l into memory.
func backupBytes(t testing.TB, l *liveHome, chunkLog int) ([]byte, Info) {
	t.Helper()
	var buf bytes.Buffer
	src := l.source()
	src.chunkLog = chunkLog
	info, err := Write(context.Background(), &buf, src)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if info.Size != int64(buf.Len()) {
		t.Fatalf("Write reports %d bytes, wrote %d", info.Size, buf.Len())
	}
	return buf.Bytes(), info
}

// freshDst is a home path on a "fresh machine": a folder that does not
// exist yet, in a parent of its own.
func freshDst(t testing.TB) home.Home {
	return home.Home(filepath.Join(t.TempDir(), "machine2", "home"))
}

// entriesOf lists the names in dir (nil when it does not exist).
func entriesOf(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// openRestored opens a restored home as a node would after a restore: its
// identity, its store and its vault, unlocked with password.
func openRestored(t testing.TB, h home.Home, password []byte) (keys.PeerKey, *store.Store, *vault.Vault) {
	t.Helper()
	ctx := context.Background()
	k, err := home.LoadIdentity(h)
	if err != nil {
		t.Fatalf("the restored identity: %v", err)
	}
	st, err := store.Open(h.StorePath())
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(ctx, vault.Config{Store: st})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	if err := v.Unlock(ctx, password, "t"); err != nil {
		v.Close()
		st.Close()
		t.Fatalf("unlocking the restored vault: %v", err)
	}
	t.Cleanup(func() { v.Close(); st.Close() })
	return k, st, v
}

// chunks splits a backup file into its header and chunks.
func chunks(t testing.TB, file []byte) (hdr []byte, cs [][]byte) {
	t.Helper()
	h, raw, err := readHeader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	n := h.ChunkSize + 16
	for p := file[len(raw):]; len(p) > 0; {
		k := min(n, len(p))
		cs = append(cs, p[:k])
		p = p[k:]
	}
	return raw, cs
}

func join(hdr []byte, cs ...[]byte) []byte {
	return append(bytes.Clone(hdr), bytes.Join(cs, nil)...)
}

func hasAny(haystack []byte, needles ...string) string {
	for _, n := range needles {
		if n != "" && bytes.Contains(haystack, []byte(n)) {
			return n
		}
	}
	return ""
}

func short(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
