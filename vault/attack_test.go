package vault

// Attacks by someone who can write the store but does not know the
// password. Each test names the edit, makes it the way such an attacker
// would (recomputing whatever can be recomputed without a key), and checks
// that the vault reports it in words or refuses it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// auditVault makes a vault with records 1..6: init, three writes, a read
// and a lock, then unlocks it again (record 7).
func auditVault(t *testing.T) (*Vault, ds.Batching, *fakeClock) {
	t.Helper()
	ctx := context.Background()
	store := memStore()
	v, clk := newTestVault(t, store, "pw")
	for _, n := range []string{"a", "b", "c"} {
		if err := v.PutSecret(ctx, Secret{Name: n, Type: TypeNote, Value: []byte("value-" + n)}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.GetSecret(ctx, "a", "t"); err != nil {
		t.Fatal(err)
	}
	if err := v.Lock(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := v.Unlock(ctx, []byte("pw"), "t"); err != nil {
		t.Fatal(err)
	}
	return v, store, clk
}

func lastSeq(t *testing.T, store ds.Datastore) uint64 {
	t.Helper()
	res, err := store.Query(context.Background(), query.Query{Prefix: "/audit/", KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	es, _ := res.Rest()
	return uint64(len(es))
}

func readRecord(t *testing.T, store ds.Datastore, seq uint64) AuditRecord {
	t.Helper()
	b, err := store.Get(context.Background(), auditKey(seq))
	if err != nil {
		t.Fatal(err)
	}
	var r AuditRecord
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// relink is the attacker's best effort after editing record from: every
// later record is re-linked and re-hashed with the only function available
// without a key (the format-1 SHA-256), and the head is rewritten to name
// the new last record, keeping whatever else it holds.
func relink(t *testing.T, store ds.Batching, from uint64) {
	t.Helper()
	ctx := context.Background()
	n := lastSeq(t, store)
	prev := ""
	if from > 1 {
		prev = readRecord(t, store, from-1).Hash
	}
	for seq := from; seq <= n; seq++ {
		r := readRecord(t, store, seq)
		if prev != "" {
			r.Prev = prev
		}
		r.Hash = attackerHash(r)
		b, _ := json.Marshal(r)
		store.Put(ctx, auditKey(seq), b)
		prev = r.Hash
	}
	forgeHead(t, store, n, prev)
}

func wantBreak(t *testing.T, err error, kind AuditBreak, words string) {
	t.Helper()
	var ae *AuditError
	if !errors.Is(err, ErrAuditBroken) || !errors.As(err, &ae) || ae.Break != kind || !strings.Contains(err.Error(), words) {
		t.Fatalf("got %v, want a %s break saying %q", err, kind, words)
	}
}

// TestAuditCatchesStoreWriterEdits is the list of edits of the audit log
// that went unnoticed (or were misreported) while the chain was plain
// SHA-256 and the head optional.
func TestAuditCatchesStoreWriterEdits(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		edit func(t *testing.T, s ds.Batching, oldHead []byte)
		// structural is what ReadAudit (no password) reports; "" means it
		// cannot see the edit and only the keyed check can.
		structural AuditBreak
		keyed      AuditBreak
		words      string
	}{
		{"the last records deleted, head kept", func(t *testing.T, s ds.Batching, _ []byte) {
			s.Delete(ctx, auditKey(7))
			s.Delete(ctx, auditKey(6))
		}, BreakTailDeleted, BreakTailDeleted, "the last records were deleted"},
		{"the last records deleted together with the head", func(t *testing.T, s ds.Batching, _ []byte) {
			s.Delete(ctx, auditKey(7))
			s.Delete(ctx, auditKey(6))
			s.Delete(ctx, auditHeadKey)
		}, BreakHeadDeleted, BreakHeadDeleted, "the head was deleted"},
		{"everything deleted", func(t *testing.T, s ds.Batching, _ []byte) {
			for seq := uint64(1); seq <= 7; seq++ {
				s.Delete(ctx, auditKey(seq))
			}
			s.Delete(ctx, auditHeadKey)
		}, BreakAllDeleted, BreakAllDeleted, "every audit record was deleted"},
		{"every record deleted, head kept", func(t *testing.T, s ds.Batching, _ []byte) {
			for seq := uint64(1); seq <= 7; seq++ {
				s.Delete(ctx, auditKey(seq))
			}
		}, BreakAllDeleted, BreakAllDeleted, "every audit record was deleted"},
		{"the head rewound to an older copy", func(t *testing.T, s ds.Batching, oldHead []byte) {
			s.Put(ctx, auditHeadKey, oldHead)
		}, BreakHeadRewound, BreakHeadRewound, "the head was rewound"},
		{"the tail cut and the head rewritten to name the new end", func(t *testing.T, s ds.Batching, _ []byte) {
			s.Delete(ctx, auditKey(7))
			s.Delete(ctx, auditKey(6))
			forgeHead(t, s, 5, readRecord(t, s, 5).Hash)
		}, "", BreakHeadRewound, "the head does not verify"},
		{"a middle record rewritten and the chain recomputed", func(t *testing.T, s ds.Batching, _ []byte) {
			r := readRecord(t, s, 3)
			r.Actor = "someone-else"
			b, _ := json.Marshal(r)
			s.Put(ctx, auditKey(3), b)
			relink(t, s, 3)
		}, "", BreakRecordChanged, "record 3 was rewritten"},
		{"a middle record removed", func(t *testing.T, s ds.Batching, _ []byte) {
			s.Delete(ctx, auditKey(3))
		}, BreakRecordChanged, BreakRecordChanged, "record 3 was removed"},
		{"a middle record edited without relinking", func(t *testing.T, s ds.Batching, _ []byte) {
			b, _ := s.Get(ctx, auditKey(2))
			s.Put(ctx, auditKey(2), []byte(strings.Replace(string(b), `"actor":"t"`, `"actor":"x"`, 1)))
		}, "", BreakRecordChanged, "record 2 was rewritten"},
		{"a record from another vault", func(t *testing.T, s ds.Batching, _ []byte) {
			other := memStore()
			o, _ := newTestVault(t, other, "pw")
			for _, n := range []string{"a", "b"} {
				o.PutSecret(ctx, Secret{Name: n, Type: TypeNote, Value: []byte("x")}, "t")
			}
			b, _ := other.Get(ctx, auditKey(3))
			s.Put(ctx, auditKey(3), b)
			relink(t, s, 4)
		}, BreakForeignRecord, BreakForeignRecord, "record 3 comes from another vault"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, store, _ := auditVault(t)
			// An older head: the store as it was after record 5.
			oldHead := headAfter(t, 5)
			if _, err := ReadAudit(ctx, store); err != nil {
				t.Fatalf("clean log, no password: %v", err)
			}
			if _, check, err := v.VerifyAudit(ctx); err != nil || check != CheckedKeyed {
				t.Fatalf("clean log, keyed: %v, %v", check, err)
			}
			tc.edit(t, store, oldHead)
			_, err := ReadAudit(ctx, store)
			if tc.structural == "" {
				if err != nil {
					t.Fatalf("ReadAudit saw what only the key can show: %v (update the test)", err)
				}
			} else {
				wantBreak(t, err, tc.structural, tc.words)
			}
			_, check, err := v.VerifyAudit(ctx)
			if check != CheckedKeyed {
				t.Fatalf("VerifyAudit on an unlocked vault checked %v", check)
			}
			wantBreak(t, err, tc.keyed, tc.words)
		})
	}
}

// headAfter returns the head bytes of an auditVault-made store as they
// were right after record n was written (an attacker's old copy).
func headAfter(t *testing.T, n uint64) []byte {
	t.Helper()
	ctx := context.Background()
	store := memStore()
	var saved []byte
	watch := &watchStore{Batching: store, after: func() {
		if saved == nil && lastSeq(t, store) == n {
			saved, _ = store.Get(ctx, auditHeadKey)
		}
	}}
	v, _ := newTestVault(t, watch, "pw")
	for _, name := range []string{"a", "b", "c"} {
		v.PutSecret(ctx, Secret{Name: name, Type: TypeNote, Value: []byte("value-" + name)}, "t")
	}
	v.GetSecret(ctx, "a", "t")
	v.Lock(ctx, "t")
	if saved == nil {
		t.Fatalf("no head after record %d", n)
	}
	return saved
}

// watchStore calls after once every batch has committed.
type watchStore struct {
	ds.Batching
	after func()
}

type watchBatch struct {
	ds.Batch
	after func()
}

func (w *watchStore) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := w.Batching.Batch(ctx)
	return watchBatch{b, w.after}, err
}

func (b watchBatch) Commit(ctx context.Context) error {
	err := b.Batch.Commit(ctx)
	b.after()
	return err
}

// TestAuditHeadRewoundToItsOwnOlderCopy puts back the vault's own older
// head: first with the later records kept (the head names an earlier
// record), then with them deleted too (a genuine head, caught through the
// version index it is bound to).
func TestAuditHeadRewoundToItsOwnOlderCopy(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	var saved []byte
	watch := &watchStore{Batching: store}
	watch.after = func() {
		if saved == nil && lastSeq(t, store) == 3 {
			saved, _ = store.Get(ctx, auditHeadKey)
		}
	}
	v, _ := newTestVault(t, watch, "pw")
	for _, n := range []string{"a", "b", "c", "d"} {
		if err := v.PutSecret(ctx, Secret{Name: n, Type: TypeNote, Value: []byte("x")}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	// Put the old head back: the log goes on past it.
	store.Put(ctx, auditHeadKey, saved)
	_, err := ReadAudit(ctx, store)
	wantBreak(t, err, BreakHeadRewound, "the head was rewound")
	// Put the old head back and cut the records after it: a rollback of
	// the log alone. The head is bound to the version index, which moved on.
	store.Delete(ctx, auditKey(5))
	store.Delete(ctx, auditKey(4))
	_, _, err = v.VerifyAudit(ctx)
	wantBreak(t, err, BreakHeadRewound, "version index")
}

// TestDeletedHeadNeverOverwritesRecordOne: with the head gone, the vault
// used to start again at record 1 and overwrite it.
func TestDeletedHeadNeverOverwritesRecordOne(t *testing.T) {
	ctx := context.Background()
	v, store, clk := auditVault(t)
	n := lastSeq(t, store)
	first, _ := store.Get(ctx, auditKey(1))
	v.Close()
	store.Delete(ctx, auditHeadKey)
	v2 := reopen(t, store, clk)
	if err := v2.Unlock(ctx, []byte("pw"), "t"); err != nil {
		t.Fatal(err)
	}
	if err := v2.PutSecret(ctx, Secret{Name: "after", Type: TypeNote, Value: []byte("x")}, "t"); err != nil {
		t.Fatal(err)
	}
	if now, _ := store.Get(ctx, auditKey(1)); !bytes.Equal(now, first) {
		t.Fatal("record 1 was overwritten")
	}
	if got := lastSeq(t, store); got <= n {
		t.Fatalf("log has %d records, had %d before: appends overwrote records", got, n)
	}
	// The edit stays reported after the vault appended past it.
	_, err := ReadAudit(ctx, store)
	wantBreak(t, err, BreakHeadDeleted, "the head was deleted")
	_, _, err = v2.VerifyAudit(ctx)
	wantBreak(t, err, BreakHeadDeleted, "the head was deleted")
}

// TestLockedRecordsAreCoveredAtUnlock: a locked node audits (refusals,
// failed unlocks, received grants); those records are sealed for the
// master key and checked, then pinned, at the next unlock.
func TestLockedRecordsAreCoveredAtUnlock(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		edit  func(t *testing.T, s ds.Batching, first uint64)
		words string
	}{
		{"untouched", func(*testing.T, ds.Batching, uint64) {}, ""},
		{"a locked record rewritten and relinked", func(t *testing.T, s ds.Batching, first uint64) {
			r := readRecord(t, s, first+1)
			r.Detail = "nothing happened"
			b, _ := json.Marshal(r)
			s.Put(ctx, auditKey(first+1), b)
			relink(t, s, first+1)
		}, "was rewritten"},
		{"a locked record passed off as written while unlocked", func(t *testing.T, s ds.Batching, first uint64) {
			r := readRecord(t, s, first+1)
			r.Locked = false
			b, _ := json.Marshal(r)
			s.Put(ctx, auditKey(first+1), b)
			relink(t, s, first+1)
		}, "was rewritten"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := memStore()
			v, clk := newTestVault(t, store, "pw")
			v.Close()
			locked := reopen(t, store, clk)
			first := lastSeq(t, store) + 1
			for _, d := range []string{"refused one", "refused two", "refused three"} {
				if err := locked.Audit(ctx, AuditEntry{Actor: "peer", Op: "share.refused", Outcome: OutcomeDenied, Detail: d}); err != nil {
					t.Fatal(err)
				}
			}
			locked.Unlock(ctx, []byte("wrong"), "t")
			clk.now = clk.now.Add(time.Minute)
			locked.Close()
			if _, err := ReadAudit(ctx, store); err != nil {
				t.Fatalf("locked-time records, no password: %v", err)
			}
			tc.edit(t, store, first)
			v2 := reopen(t, store, clk)
			if err := v2.Unlock(ctx, []byte("pw"), "t"); err != nil {
				t.Fatal(err)
			}
			recs, _, err := v2.VerifyAudit(ctx)
			if tc.words == "" {
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs[first-1 : first+3] {
					if !r.Locked {
						t.Fatalf("record %d (%s) written while locked is not marked so", r.Seq, r.Op)
					}
				}
				if u := recs[len(recs)-1]; u.Op != OpUnlock || !strings.Contains(u.Detail, "4 records written while locked verified") {
					t.Fatalf("the unlock record does not say the locked-time records were checked: %+v", u)
				}
				return
			}
			wantBreak(t, err, BreakRecordChanged, tc.words)
			if u := readRecord(t, store, lastSeq(t, store)); u.Op != OpUnlock || !strings.Contains(u.Detail, "failed verification") {
				t.Fatalf("the unlock record does not report the failed check: %+v", u)
			}
		})
	}
}

// TestSingleRecordRollbackIsRefused: someone with the disk puts back an
// older sealed copy of one secret (a rotated API key, a deleted one).
func TestSingleRecordRollbackIsRefused(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		victim string
		edit   func(s ds.Batching, old map[string][]byte)
		words  string
	}{
		{"the record alone put back", "api", func(s ds.Batching, old map[string][]byte) {
			s.Put(ctx, recKey(NSSecrets, "api"), old[recKey(NSSecrets, "api").String()])
		}, "an older copy was put back"},
		{"the record and its index entry put back", "api", func(s ds.Batching, old map[string][]byte) {
			for k, b := range old {
				if strings.HasSuffix(k, "/YXBp") { // base64url("api"): the record and anything keyed by it
					s.Put(ctx, ds.NewKey(k), b)
				}
			}
		}, "put back"},
		{"a deleted record put back", "gone", func(s ds.Batching, old map[string][]byte) {
			s.Put(ctx, recKey(NSSecrets, "gone"), old[recKey(NSSecrets, "gone").String()])
		}, "put back"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := memStore()
			v, clk := newTestVault(t, store, "pw")
			put := func(name, val string) {
				if err := v.PutSecret(ctx, Secret{Name: name, Type: TypeAPIKey, Value: []byte(val)}, "t"); err != nil {
					t.Fatal(err)
				}
			}
			put("api", "sk-rotated-away")
			put("gone", "deleted later")
			put("other", "x")
			old := dump(t, store)
			put("api", "sk-current")
			put("other", "y")
			if err := v.DeleteSecret(ctx, "gone", "t"); err != nil {
				t.Fatal(err)
			}
			tc.edit(store, old)
			// The running vault and a fresh unlock both refuse it.
			for i, s := range []*Vault{v, unlocked(t, store, clk)} {
				got, err := s.GetSecret(ctx, tc.victim, "t")
				if !errors.Is(err, ErrRolledBack) || !strings.Contains(err.Error(), tc.words) {
					t.Fatalf("session %d: GetSecret(%s) = %q, %v; want ErrRolledBack saying %q", i, tc.victim, got.Value, err, tc.words)
				}
			}
		})
	}
}

func dump(t *testing.T, store ds.Datastore) map[string][]byte {
	t.Helper()
	res, err := store.Query(context.Background(), query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	es, _ := res.Rest()
	m := map[string][]byte{}
	for _, e := range es {
		m[e.Key] = e.Value
	}
	return m
}

func unlocked(t *testing.T, store ds.Batching, clk *fakeClock) *Vault {
	t.Helper()
	v := reopen(t, store, clk)
	if err := v.Unlock(context.Background(), []byte("pw"), "t"); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRotateKeyOldWrapOpensNothingNew: ChangePassword keeps the master key,
// so an old copy of the wrap and the old password open data written later.
// RotateKey must not.
func TestRotateKeyOldWrapOpensNothingNew(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk := newTestVault(t, store, "pw")
	if err := v.PutSecret(ctx, Secret{Name: "before", Type: TypeNote, Value: []byte("old data")}, "t"); err != nil {
		t.Fatal(err)
	}
	oldWrap, _ := store.Get(ctx, pwWrapKey)
	if err := v.RotateKey(ctx, []byte("nope"), []byte("new"), TestKDF(), "t"); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("rotation with a wrong old password: %v", err)
	}
	clk.now = clk.now.Add(time.Minute)
	if err := v.RotateKey(ctx, []byte("pw"), []byte("new"), TestKDF(), "t"); err != nil {
		t.Fatal(err)
	}
	if v.Locked() {
		t.Fatal("rotation locked the session")
	}
	if err := v.PutSecret(ctx, Secret{Name: "after", Type: TypeNote, Value: []byte("LEAKCANARY new data")}, "t"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"before", "after"} {
		if s, err := v.GetSecret(ctx, n, "t"); err != nil {
			t.Fatalf("%s after rotation: %v", n, err)
		} else if n == "before" && string(s.Value) != "old data" {
			t.Fatalf("before: %q", s.Value)
		}
	}
	// The attacker puts the old wrap back and unlocks with the old password.
	v.Close()
	store.Put(ctx, pwWrapKey, oldWrap)
	attacker := reopen(t, store, clk)
	if err := attacker.Unlock(ctx, []byte("pw"), "t"); err == nil {
		if s, err := attacker.GetSecret(ctx, "after", "t"); err == nil {
			t.Fatalf("the old wrap and old password opened data written after the rotation: %q", s.Value)
		}
	}
	for k, b := range dump(t, store) {
		if bytes.Contains(b, []byte("LEAKCANARY")) {
			t.Fatalf("%s holds the value in the clear", k)
		}
	}
}

// TestUnlockReportsBackoffInsteadOfSleeping: Unlock used to sleep up to
// 30 s without a word.
func TestUnlockReportsBackoffInsteadOfSleeping(t *testing.T) {
	ctx := context.Background()
	store := memStore()
	v, clk := newTestVault(t, store, "right")
	v.Close()
	if err := v.Unlock(ctx, []byte("wrong"), "t"); !errors.Is(err, ErrBadPassword) {
		t.Fatal(err)
	}
	clk.now = clk.now.Add(100 * time.Millisecond)
	err := v.Unlock(ctx, []byte("right"), "t")
	var be *BackoffError
	if !errors.Is(err, ErrBackoff) || !errors.As(err, &be) {
		t.Fatalf("Unlock during the backoff = %v, want a *BackoffError", err)
	}
	if want := clk.now.Add(150 * time.Millisecond); !be.Until.Equal(want) {
		t.Fatalf("Until = %v, want %v", be.Until, want)
	}
	if err.Error() != "too many wrong passwords: next try in 1 s" {
		t.Fatalf("message %q", err)
	}
	if !v.Locked() {
		t.Fatal("unlocked during the backoff")
	}
}
