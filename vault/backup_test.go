package vault

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/internal/xcrypto"
)

// copyStore is a snapshot of a map datastore: a copy.
func copyStore(t *testing.T, s ds.Batching) ds.Batching {
	t.Helper()
	ctx := context.Background()
	res, err := s.Query(ctx, query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	es, _ := res.Rest()
	c := memStore()
	for _, e := range es {
		c.Put(ctx, ds.RawKey(e.Key), e.Value)
	}
	return c
}

var testSalt = bytes.Repeat([]byte{5}, BackupSaltSize)

// TestBackupKeyOpensWithThePassword: the sealer's AEAD and the one
// OpenBackupKey derives from the wraps and the password are the same key;
// another salt, password or vault ID gives another key or none.
func TestBackupKeyOpensWithThePassword(t *testing.T) {
	ctx := context.Background()
	s := memStore()
	v, err := Create(ctx, Config{Store: s}, []byte("pw"), TestKDF(), "t")
	if err != nil {
		t.Fatal(err)
	}
	var snap ds.Batching
	sealer, err := v.BackupSealer(ctx, testSalt, "t", "b1", func() (ds.Read, error) { snap = copyStore(t, s); return snap, nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(sealer.Wraps) != 1 || sealer.Wraps[0].Kind != "password" || !bytes.Equal(sealer.VaultID, v.ID()) {
		t.Fatalf("sealer: %+v", sealer)
	}
	nonce := make([]byte, xcrypto.NonceSize)
	ct := sealer.AEAD.Seal(nil, nonce, []byte("chunk"), []byte("hdr"))

	aead, err := OpenBackupKey(sealer.Wraps, v.ID(), []byte("pw"), testSalt)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := aead.Open(nil, nonce, ct, []byte("hdr")); err != nil || string(pt) != "chunk" {
		t.Fatalf("the password's key does not open what the sealer sealed: %v", err)
	}
	other := bytes.Repeat([]byte{6}, BackupSaltSize)
	if a, err := OpenBackupKey(sealer.Wraps, v.ID(), []byte("pw"), other); err != nil {
		t.Fatal(err)
	} else if _, err := a.Open(nil, nonce, ct, []byte("hdr")); err == nil {
		t.Fatal("another salt gives the same key")
	}
	if _, err := OpenBackupKey(sealer.Wraps, v.ID(), []byte("wrong"), testSalt); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	otherID := bytes.Clone(v.ID())
	otherID[0] ^= 1
	if _, err := OpenBackupKey(sealer.Wraps, otherID, []byte("pw"), testSalt); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("another vault ID: %v", err)
	}
	// A wrap over the KDF caps is refused before any work.
	w, _ := parseWrap(sealer.Wraps[0].Data)
	w.kdf.MemoryKiB = MaxKDFMemoryKiB + 1
	start := time.Now()
	if _, err := OpenBackupKey([]BackupWrap{{Kind: "password", Data: w.marshal()}}, v.ID(), []byte("pw"), testSalt); !errors.Is(err, ErrCorrupt) || time.Since(start) > time.Second {
		t.Fatalf("a wrap over the caps: %v after %v", err, time.Since(start))
	}
	if _, err := OpenBackupKey([]BackupWrap{{Kind: "recovery", Data: []byte("x")}}, v.ID(), []byte("pw"), testSalt); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("no password wrap: %v", err)
	}
	// Nothing was counted.
	if n, _, _ := v.FailedAttempts(ctx); n != 0 {
		t.Fatalf("%d failures counted", n)
	}
}

// TestBackupIsAuditedAfterItsSnapshot: the vault.backup record comes
// right after the last record the snapshot holds, and is not in it.
func TestBackupIsAuditedAfterItsSnapshot(t *testing.T) {
	ctx := context.Background()
	s := memStore()
	v, _ := Create(ctx, Config{Store: s}, []byte("pw"), TestKDF(), "t")
	v.PutSecret(ctx, Secret{Name: "a", Type: TypeNote, Value: []byte("x")}, "t")
	var snap ds.Batching
	sealer, err := v.BackupSealer(ctx, testSalt, "cli", "b1", func() (ds.Read, error) { snap = copyStore(t, s); return snap, nil })
	if err != nil {
		t.Fatal(err)
	}
	in, err := ReadAudit(ctx, snap)
	if err != nil || uint64(len(in)) != sealer.AuditSeq {
		t.Fatalf("the snapshot holds %d records (%v), the sealer says %d", len(in), err, sealer.AuditSeq)
	}
	live, _, err := v.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := live[len(live)-1]
	if r.Seq != sealer.AuditSeq+1 || r.Op != OpBackup || r.Actor != "cli" || r.Target != "b1" || !strings.Contains(r.Detail, "1–2") {
		t.Fatalf("the backup record: %+v", r)
	}
}

// TestBackupSealerRefuses: a locked vault, a short salt, a snapshot of
// another vault, or one whose wrap is of another generation.
func TestBackupSealerRefuses(t *testing.T) {
	ctx := context.Background()
	s := memStore()
	v, _ := Create(ctx, Config{Store: s}, []byte("pw"), TestKDF(), "t")
	other := memStore()
	Create(ctx, Config{Store: other}, []byte("pw"), TestKDF(), "t")
	called := false
	capture := func(r ds.Read) func() (ds.Read, error) {
		return func() (ds.Read, error) { called = true; return r, nil }
	}
	if _, err := v.BackupSealer(ctx, testSalt[:16], "t", "b", capture(s)); err == nil || called {
		t.Fatalf("a short salt: %v (captured: %v)", err, called)
	}
	if _, err := v.BackupSealer(ctx, testSalt, "t", "b", capture(other)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("another vault's snapshot: %v", err)
	}
	gen1 := copyStore(t, s)
	w, _ := parseWrap(must(gen1.Get(ctx, pwWrapKey)))
	w.gen = 1
	gen1.Put(ctx, pwWrapKey, w.marshal())
	if _, err := v.BackupSealer(ctx, testSalt, "t", "b", capture(gen1)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a wrap of another generation: %v", err)
	}
	v.Lock(ctx, "t")
	called = false
	if _, err := v.BackupSealer(ctx, testSalt, "t", "b", capture(s)); !errors.Is(err, ErrLocked) || called {
		t.Fatalf("locked: %v (captured: %v)", err, called)
	}
	recs, _ := ReadAudit(ctx, s)
	for _, r := range recs {
		if r.Op == OpBackup {
			t.Fatalf("a refused backup was audited: %+v", r)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestOpenRestored: it unlocks without the backoff, verifies every record
// and appends vault.restore; a rolled-back record is reported, not hidden.
func TestOpenRestored(t *testing.T) {
	ctx := context.Background()
	s := memStore()
	v, _ := Create(ctx, Config{Store: s}, []byte("pw"), TestKDF(), "t")
	v.PutSecret(ctx, Secret{Name: "a", Type: TypeNote, Value: []byte("1")}, "t")
	old, _ := s.Get(ctx, recKey(NSSecrets, "a"))
	v.PutSecret(ctx, Secret{Name: "a", Type: TypeNote, Value: []byte("2")}, "t")
	v.PutSecret(ctx, Secret{Name: "b", Type: TypeNote, Value: []byte("3")}, "t")
	// A failure count whose wait runs for an hour.
	s.Put(ctx, failuresKey, failures{count: 12, lastNano: time.Now().Add(time.Hour).UnixNano()}.marshal())
	v.Close()

	restored := copyStore(t, s)
	if _, _, err := OpenRestored(ctx, Config{Store: restored}, []byte("wrong"), "restore", "b1", "d"); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	rv, rep, err := OpenRestored(ctx, Config{Store: restored}, []byte("pw"), "restore", "b1", "from backup b1")
	if err != nil {
		t.Fatalf("during a backoff: %v", err)
	}
	if rep.Records != 2 || len(rep.Problems) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	recs, check, err := rv.VerifyAudit(ctx)
	if err != nil || check != CheckedKeyed {
		t.Fatal(err)
	}
	r := recs[len(recs)-1]
	if r.Op != OpRestore || r.Target != "b1" || r.Outcome != OutcomeOK || !strings.Contains(r.Detail, "from backup b1; 2 records verified") {
		t.Fatalf("the restore record: %+v", r)
	}
	if ok, _ := restored.Has(ctx, failuresKey); ok {
		t.Fatal("the failure count was kept")
	}
	rv.Close()

	// A backup of a vault where a record had been rolled back.
	rolled := copyStore(t, s)
	rolled.Delete(ctx, failuresKey)
	rolled.Put(ctx, recKey(NSSecrets, "a"), old)
	rv, rep, err = OpenRestored(ctx, Config{Store: rolled}, []byte("pw"), "restore", "b2", "d")
	if err != nil {
		t.Fatal(err)
	}
	defer rv.Close()
	if rep.Records != 1 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "older copy") {
		t.Fatalf("report of a rolled-back record: %+v", rep)
	}
	recs, _, _ = rv.VerifyAudit(ctx)
	if r := recs[len(recs)-1]; r.Op != OpRestore || r.Outcome != OutcomeFailed || !strings.Contains(r.Detail, "older copy") {
		t.Fatalf("the restore record: %+v", r)
	}
}
