package vault

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// v1Store is a whole format-1 vault written by the format-1 code
// (testdata/v1-store.json, frozen).
type v1Store struct {
	Comment  string            `json:"comment"`
	Password string            `json:"password"`
	Store    map[string]string `json:"store"`
}

func loadV1(t *testing.T) (ds.Batching, string) {
	t.Helper()
	var fx v1Store
	b := mustRead(t, filepath.Join("testdata", "v1-store.json"))
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	store := memStore()
	for k, h := range fx.Store {
		v, _ := hex.DecodeString(h)
		store.Put(context.Background(), ds.NewKey(k), v)
	}
	return store, fx.Password
}

// TestFormat1VaultMigratesAtFirstUnlock: a vault written by the format-1
// code opens; its first unlock migrates it, pins the format-1 records
// under the new keyed chain and indexes the records as found.
func TestFormat1VaultMigratesAtFirstUnlock(t *testing.T) {
	ctx := context.Background()
	store, pw := loadV1(t)
	before, err := ReadAudit(ctx, store)
	if err != nil || len(before) != 11 {
		t.Fatalf("format-1 log without the password: %d records, %v", len(before), err)
	}
	clk := newFakeClock()
	clk.Advance(time.Hour) // past the failed attempt's backoff
	v := reopen(t, store, clk)
	if err := v.Unlock(ctx, []byte(pw), "t"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"openai": "sk-current-v1", "bank": "bank-pw"} {
		s, err := v.GetSecret(ctx, name, "t")
		if err != nil || string(s.Value) != want {
			t.Fatalf("%s after migration: %q, %v", name, s.Value, err)
		}
	}
	if _, err := v.GetSecret(ctx, "gone", "t"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted secret: %v", err)
	}
	if b, err := v.Get(ctx, NSResources, "notes/todo.md", AuditEntry{Op: "t"}); err != nil || string(b) != "- migrate" {
		t.Fatalf("resource: %q, %v", b, err)
	}
	if h, _ := store.Get(ctx, headerKey); !bytes.HasPrefix(h, []byte(headerMagic)) {
		t.Fatal("header not migrated")
	}
	recs, check, err := v.VerifyAudit(ctx)
	if err != nil || check != CheckedKeyed {
		t.Fatalf("keyed check after migration: %v, %v", check, err)
	}
	m := recs[11]
	if m.Op != OpMigrate || !strings.Contains(m.Detail, "records 1–11 were written by format 1 and only hash-chained") || recs[10].V != 0 || m.V != 2 {
		t.Fatalf("migration record: %+v", m)
	}
	// A new write gets a version above every format-1 one.
	if err := v.PutSecret(ctx, Secret{Name: "openai", Type: TypeAPIKey, Value: []byte("sk-after")}, "t"); err != nil {
		t.Fatal(err)
	}
	v.Close()
	// Unlocking again does not migrate again.
	v2 := reopen(t, store, clk)
	if err := v2.Unlock(ctx, []byte(pw), "t"); err != nil {
		t.Fatal(err)
	}
	recs, _, err = v2.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Op == OpMigrate {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d migration records", n)
	}
	// The format-1 records are pinned: rewriting one and recomputing the
	// whole format-1 chain (SHA-256, no key: anyone can) is caught.
	r := readRecord(t, store, 3)
	r.Actor = "someone-else"
	b, _ := json.Marshal(r)
	store.Put(ctx, auditKey(3), b)
	for seq := uint64(3); seq <= 11; seq++ {
		r := readRecord(t, store, seq)
		if seq > 3 {
			r.Prev = readRecord(t, store, seq-1).Hash
		}
		r.Hash = v1Hash(r)
		b, _ := json.Marshal(r)
		store.Put(ctx, auditKey(seq), b)
	}
	_, err = ReadAudit(ctx, store)
	wantBreak(t, err, BreakRecordChanged, "record 12 does not chain to record 11")
}

// TestFormat1DowngradeIsRefused: an older header and wrap put back over a
// migrated vault would have it migrate again and accept rolled-back records.
func TestFormat1DowngradeIsRefused(t *testing.T) {
	ctx := context.Background()
	store, pw := loadV1(t)
	oldHeader, _ := store.Get(ctx, headerKey)
	oldWrap, _ := store.Get(ctx, pwWrapKey)
	clk := newFakeClock()
	clk.Advance(time.Hour)
	v := reopen(t, store, clk)
	if err := v.Unlock(ctx, []byte(pw), "t"); err != nil {
		t.Fatal(err)
	}
	v.Close()
	store.Put(ctx, headerKey, oldHeader)
	store.Put(ctx, pwWrapKey, oldWrap)
	err := reopen(t, store, clk).Unlock(ctx, []byte(pw), "t")
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "an older copy of them was put back") {
		t.Fatalf("downgraded vault: %v, want a refusal", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// crashStore fails the nth write (a batch commit, a put or a delete)
// from when it is armed, as a crash at that point would leave the store:
// that write and every later one not applied.
type crashStore struct {
	ds.Batching
	n, count int
}

type crashBatch struct {
	ds.Batch
	s *crashStore
}

func (c *crashStore) step() error {
	c.count++
	if c.n > 0 && c.count >= c.n {
		return errors.New("crash")
	}
	return nil
}

func (c *crashStore) Put(ctx context.Context, k ds.Key, v []byte) error {
	if err := c.step(); err != nil {
		return err
	}
	return c.Batching.Put(ctx, k, v)
}

func (c *crashStore) Delete(ctx context.Context, k ds.Key) error {
	if err := c.step(); err != nil {
		return err
	}
	return c.Batching.Delete(ctx, k)
}

func (c *crashStore) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := c.Batching.Batch(ctx)
	return crashBatch{b, c}, err
}

func (b crashBatch) Commit(ctx context.Context) error {
	if err := b.s.step(); err != nil {
		return err
	}
	return b.Batch.Commit(ctx)
}

// TestRotateKeyCrashLeavesOneVaultOpenable stops a rotation at every batch
// in turn: the store then opens with exactly one of the two passwords, every
// record reads back, the log verifies, and the leftover generation is gone
// after that unlock.
func TestRotateKeyCrashLeavesOneVaultOpenable(t *testing.T) {
	ctx := context.Background()
	defer func(n int) { rotateBatchBytes = n }(rotateBatchBytes)
	rotateBatchBytes = 3000 // several batches of re-encrypted records
	values := map[string]string{}
	for i := range 5 {
		values[fmt.Sprintf("s%d", i)] = fmt.Sprintf("value %d %s", i, strings.Repeat("x", i*1000))
	}
	for crashAt := 1; ; crashAt++ {
		cs := &crashStore{Batching: memStore()}
		v, clk := newTestVault(t, cs, "old")
		for n, val := range values {
			if err := v.PutSecret(ctx, Secret{Name: n, Type: TypeNote, Value: []byte(val)}, "t"); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.RotateKey(ctx, []byte("old"), []byte("new"), TestKDF(), "t"); err != nil {
			t.Fatal(err) // a rehearsal: two generations exist once
		}
		cs.n, cs.count = crashAt, 0
		rerr := v.RotateKey(ctx, []byte("new"), []byte("newer"), TestKDF(), "t")
		done := cs.count < crashAt // finished before reaching the crash
		if !done {
			rerr = errors.Join(rerr, v.Lock(ctx, "t")) // the process dies: nothing more is written
		}
		v.Close()
		cs.n = 0
		var opened []string
		for _, pw := range []string{"new", "newer"} {
			clk.Advance(time.Minute)
			w := reopen(t, cs, clk)
			if err := w.Unlock(ctx, []byte(pw), "t"); err != nil {
				if !errors.Is(err, ErrBadPassword) {
					t.Fatalf("crash at batch %d (%v): unlock with %q: %v", crashAt, rerr, pw, err)
				}
				continue
			}
			opened = append(opened, pw)
			for n, val := range values {
				s, err := w.GetSecret(ctx, n, "t")
				if err != nil || string(s.Value) != val {
					t.Fatalf("crash at batch %d: %s with %q: %v", crashAt, n, pw, err)
				}
			}
			if _, _, err := w.VerifyAudit(ctx); err != nil {
				t.Fatalf("crash at batch %d: audit with %q: %v", crashAt, pw, err)
			}
			gens := map[string]bool{}
			res, _ := cs.Query(ctx, query.Query{Prefix: "/rec/", KeysOnly: true})
			es, _ := res.Rest()
			for _, e := range es {
				gens[strings.Split(e.Key, "/")[2]] = true
			}
			if len(gens) != 1 {
				t.Fatalf("crash at batch %d: records of several generations after the unlock: %v", crashAt, gens)
			}
			w.Close()
		}
		if len(opened) != 1 {
			t.Fatalf("crash at batch %d: opened with %v, want exactly one password", crashAt, opened)
		}
		if done {
			if rerr != nil || opened[0] != "newer" {
				t.Fatalf("an uninterrupted rotation: %v, opens with %v", rerr, opened)
			}
			t.Logf("stopped a rotation at each of its %d batches", crashAt-1)
			return
		}
	}
}

// TestRotateKeyAuditAndLockedVault: a rotation is audited and the log
// verifies across it (records before it under the old key); rotating a
// locked vault leaves it locked.
func TestRotateKeyAuditAndLockedVault(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk := newTestVault(t, store, "pw")
	v.PutSecret(ctx, Secret{Name: "k", Type: TypeNote, Value: []byte("v")}, "t")
	v.Lock(ctx, "t")
	v.Audit(ctx, AuditEntry{Actor: "peer", Op: "share.refused", Outcome: OutcomeDenied}) // written while locked, gen 0
	if err := v.RotateKey(ctx, []byte("pw"), []byte("pw2"), TestKDF(), "t"); err != nil {
		t.Fatal(err)
	}
	if !v.Locked() {
		t.Fatal("rotating a locked vault left it unlocked")
	}
	v.Audit(ctx, AuditEntry{Actor: "peer", Op: "share.refused", Outcome: OutcomeDenied}) // locked, gen 1
	clk.Advance(time.Minute)
	if err := v.RotateKey(ctx, []byte("pw2"), []byte("pw3"), TestKDF(), "t"); err != nil {
		t.Fatal(err)
	}
	if err := v.Unlock(ctx, []byte("pw3"), "t"); err != nil {
		t.Fatal(err)
	}
	recs, _, err := v.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rot []AuditRecord
	for _, r := range recs {
		if r.Op == OpKeyRotate {
			rot = append(rot, r)
		}
	}
	if len(rot) != 2 || rot[0].Gen != 1 || rot[1].Gen != 2 || !strings.Contains(rot[0].Detail, "re-encrypted 1 records") {
		t.Fatalf("rotation records: %+v", rot)
	}
	if s, err := v.GetSecret(ctx, "k", "t"); err != nil || string(s.Value) != "v" {
		t.Fatalf("after two rotations: %v", err)
	}
	// A record of an earlier generation rewritten is still caught: its key
	// is kept, sealed under the current master key.
	r := readRecord(t, store, 2)
	r.Actor = "x"
	b, _ := json.Marshal(r)
	store.Put(ctx, auditKey(2), b)
	relink(t, store, 2)
	_, _, err = v.VerifyAudit(ctx)
	wantBreak(t, err, BreakRecordChanged, "record 2 was rewritten")
}

// TestSecretSizeLimit: one named limit, said in words.
func TestSecretSizeLimit(t *testing.T) {
	ctx := context.Background()
	v, _ := newTestVault(t, memStore(), "pw")
	big := Secret{Name: "big", Type: TypeNote, Value: make([]byte, MaxSecretBytes-len("big"))}
	if err := v.PutSecret(ctx, big, "t"); err != nil {
		t.Fatalf("a secret of exactly MaxSecretBytes: %v", err)
	}
	big.Value = append(big.Value, 'x')
	err := v.PutSecret(ctx, big, "t")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "a secret holds at most 1 MiB") || !strings.Contains(err.Error(), "1048577 bytes, 1 over") {
		t.Fatalf("over the limit: %v", err)
	}
	if MaxSecretBytes != 1<<20 || MaxRecordPlaintext >= MaxRecordSize {
		t.Fatal("limits changed")
	}
	err = v.Put(ctx, NSResources, "huge", make([]byte, MaxRecordPlaintext+1), AuditEntry{Op: "t"})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "a record holds at most 64 MiB") {
		t.Fatalf("record over the limit: %v", err)
	}
}

// TestRotateKeyFinishesAnEarlierRotation: if the old generation of a
// rotation was not deleted (the process died after the switch) and the key
// is rotated again before any unlock, those records must not be stranded.
func TestRotateKeyFinishesAnEarlierRotation(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk := newTestVault(t, store, "pw")
	v.PutSecret(ctx, Secret{Name: "k", Type: TypeNote, Value: []byte("v")}, "t")
	stale, _ := store.Get(ctx, recKey(NSSecrets, "k"))
	if err := v.RotateKey(ctx, []byte("pw"), []byte("pw2"), TestKDF(), "t"); err != nil {
		t.Fatal(err)
	}
	// As if the deletion of generation 0 had not happened.
	store.Put(ctx, recKey(NSSecrets, "k"), stale)
	store.Put(ctx, rotatingKey, []byte{0, 0, 0, 0})
	clk.Advance(time.Minute)
	if err := v.RotateKey(ctx, []byte("pw2"), []byte("pw3"), TestKDF(), "t"); err != nil {
		t.Fatal(err)
	}
	res, _ := store.Query(ctx, query.Query{Prefix: "/rec/", KeysOnly: true})
	es, _ := res.Rest()
	for _, e := range es {
		if !strings.HasPrefix(e.Key, "/rec/_g2/") {
			t.Errorf("record of an earlier generation left behind: %s", e.Key)
		}
	}
}
