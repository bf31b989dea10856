package vault

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

func TestAuditChainRecordsAndVerifies(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, _ := newTestVault(t, store, "pw")
	v.PutSecret(ctx, Secret{Name: "k", Type: TypeAPIKey, Provider: "p", Value: []byte("AUDITCANARY")}, "alice")
	v.GetSecret(ctx, "k", "alice")
	v.DeleteSecret(ctx, "k", "alice")
	v.Lock(ctx, "alice")
	recs, err := ReadAudit(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, r := range recs {
		ops = append(ops, r.Op+":"+r.Outcome)
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), "AUDITCANARY") {
			t.Fatalf("secret value in audit record %d", r.Seq)
		}
	}
	want := "vault.init:ok secret.write:ok secret.read:ok secret.delete:ok vault.lock:ok"
	if got := strings.Join(ops, " "); got != want {
		t.Fatalf("ops = %s\nwant  %s", got, want)
	}
}

func TestAuditDetectsTampering(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		mutate func(ds.Batching)
		at     string
	}{
		{"an edited record breaks its own hash", func(s ds.Batching) {
			b, _ := s.Get(ctx, auditKey(2))
			s.Put(ctx, auditKey(2), []byte(strings.Replace(string(b), `"actor":"t"`, `"actor":"x"`, 1)))
		}, "record 2"},
		{"a removed middle record breaks the sequence", func(s ds.Batching) { s.Delete(ctx, auditKey(2)) }, "record 2"},
		{"a removed last record is caught by the head", func(s ds.Batching) { s.Delete(ctx, auditKey(3)) }, "head"},
		{"garbage in a record is reported, not a panic", func(s ds.Batching) { s.Put(ctx, auditKey(1), []byte("{")) }, "record 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := memStore()
			v, _ := newTestVault(t, store, "pw")
			v.PutSecret(ctx, Secret{Name: "a", Type: TypeNote, Value: []byte("x")}, "t")
			v.PutSecret(ctx, Secret{Name: "b", Type: TypeNote, Value: []byte("x")}, "t")
			if _, _, err := v.VerifyAudit(ctx); err != nil {
				t.Fatalf("clean chain: %v", err)
			}
			tc.mutate(store)
			_, _, err := v.VerifyAudit(ctx)
			if !errors.Is(err, ErrAuditBroken) || !strings.Contains(err.Error(), tc.at) {
				t.Fatalf("ReadAudit = %v, want ErrAuditBroken at %s", err, tc.at)
			}
		})
	}
}

// failingStore refuses batch commits after it is armed: the audit record
// cannot be written, so the operation must fail and leave nothing behind.
type failingStore struct {
	ds.Batching
	fail bool
}

type failingBatch struct{ ds.Batch }

func (failingBatch) Commit(context.Context) error { return errors.New("disk full") }

func (f *failingStore) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := f.Batching.Batch(ctx)
	if f.fail {
		return failingBatch{b}, err
	}
	return b, err
}

func TestOperationsFailWhenAuditCannotBeWritten(t *testing.T) {
	ctx := context.Background()
	store := &failingStore{Batching: memStore()}
	v, _ := newTestVault(t, store, "pw")
	if err := v.PutSecret(ctx, Secret{Name: "k", Type: TypeNote, Value: []byte("v")}, "t"); err != nil {
		t.Fatal(err)
	}
	store.fail = true
	if err := v.PutSecret(ctx, Secret{Name: "k2", Type: TypeNote, Value: []byte("v")}, "t"); err == nil {
		t.Fatal("write succeeded without an audit record")
	}
	if s, err := v.GetSecret(ctx, "k", "t"); err == nil {
		t.Fatalf("read returned %q without an audit record", s.Value)
	}
	if err := v.DeleteSecret(ctx, "k", "t"); err == nil {
		t.Fatal("delete succeeded without an audit record")
	}
	v.Close()
	if err := v.Unlock(ctx, []byte("pw"), "t"); err == nil {
		t.Fatal("unlock succeeded without an audit record")
	}
	store.fail = false
	if err := v.Unlock(ctx, []byte("pw"), "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.GetSecret(ctx, "k2", "t"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused write left data behind: %v", err)
	}
	if _, err := v.GetSecret(ctx, "k", "t"); err != nil {
		t.Fatalf("refused delete lost data: %v", err)
	}
	if _, err := ReadAudit(ctx, store); err != nil {
		t.Fatalf("chain broken by refused operations: %v", err)
	}
}
