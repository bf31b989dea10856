package vault

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// migrate turns a format-1 vault into format 2 at its first unlock, in one
// batch: header, password wrap (same password, salt and KDF: the KEK just
// computed reseals the same master key), audit public key, version index
// built from the records as they are, and two audit records under the new
// audit key: the migration (which pins the format-1 records, only
// hash-chained until then) and the unlock. Callers hold v.mu.
func (v *Vault) migrate(ctx context.Context, master *keys.MasterKey, w passwordWrap, kek *[32]byte, f failures, actor string) error {
	if w.format != 1 {
		return fmt.Errorf("%w: the header is in format 1 but the password wrap in format 2: an older copy of the header was put back", ErrCorrupt)
	}
	// A format-1 header over format-2 data is a downgrade: an older header
	// and wrap put back to have the vault accept rolled-back records.
	for _, k := range []ds.Key{indexStateKey, auditPubKey, historyKey} {
		if ok, err := v.cfg.Store.Has(ctx, k); err != nil {
			return fmt.Errorf("vault: %w", err)
		} else if ok {
			return errDowngrade
		}
	}
	entries, err := scanRecords(ctx, v.cfg.Store, 0, true)
	if err != nil {
		return err
	}
	_, v1err := ReadAudit(ctx, v.cfg.Store)
	idx := newIndex(master.Bytes(), v.vaultID[:], 0)
	idx.entries = entries
	idx.seal(0)
	nw := passwordWrap{format: 2, kdf: w.kdf, salt: w.salt, gen: 0}
	nw.sealed = xcrypto.Seal(kek[:], master.Bytes(), nw.aad(v.vaultID[:]))
	ak := deriveAuditKeys(master.Bytes(), v.vaultID[:], 0)
	v.audit.mu.Lock()
	lastV1 := v.audit.st.seq
	v.audit.mu.Unlock()
	detail := fmt.Sprintf("format 1 → 2: records 1–%d were written by format 1 and only hash-chained (SHA-256, no key); this record, the first under the vault's audit key, pins them; %d records indexed as found", lastV1, len(entries))
	if v1err != nil {
		detail += "; the format-1 log did not verify before the migration: " + strings.TrimPrefix(v1err.Error(), "vault: audit chain is broken: ")
	}
	h := header{format: 2, vaultID: v.vaultID}
	err = v.audit.commitWith(ctx, []AuditEntry{
		{Actor: actor, Op: OpMigrate, Outcome: OutcomeOK, Detail: detail},
		{Actor: actor, Op: OpUnlock, Outcome: OutcomeOK},
	}, commitOpts{keys: &ak, indexTag: &idx.state.tag, op: func(b ds.Batch) error {
		for k, val := range map[ds.Key][]byte{headerKey: h.marshal(), pwWrapKey: nw.marshal(), auditPubKey: auditPub{0, ak.pub}.marshal()} {
			if err := b.Put(ctx, k, val); err != nil {
				return err
			}
		}
		if f.count > 0 {
			if err := b.Delete(ctx, failuresKey); err != nil {
				return err
			}
		}
		return idx.stageAll(ctx, b)
	}})
	if err != nil {
		return err
	}
	v.cfg.Logger.Info("vault migrated to format 2", "records", len(entries), "audit_records", lastV1)
	v.format, v.master, v.gen = 2, *master, 0
	v.idxMu.Lock()
	v.index = idx
	v.idxMu.Unlock()
	return nil
}

var errDowngrade = fmt.Errorf("%w: the header and password wrap say format 1 but the store holds format-2 data: an older copy of them was put back", ErrCorrupt)

// scanRecords reads the versions of generation gen's records. With
// formatOne, a format-2 envelope is a downgrade.
func scanRecords(ctx context.Context, store ds.Datastore, gen uint32, formatOne bool) (map[indexKey]uint64, error) {
	prefix := recPrefixGen(gen).String() + "/"
	res, err := store.Query(ctx, query.Query{Prefix: prefix})
	if err != nil {
		return nil, fmt.Errorf("vault: reading records: %w", err)
	}
	defer res.Close()
	out := map[indexKey]uint64{}
	for e := range res.Next() {
		if e.Error != nil {
			return nil, fmt.Errorf("vault: reading records: %w", e.Error)
		}
		k, ok := parseRecKey(strings.TrimPrefix(e.Key, prefix))
		if !ok {
			if gen == 0 && strings.HasPrefix(e.Key, prefix+"_g") {
				if formatOne {
					return nil, errDowngrade
				}
				continue // another generation's record
			}
			return nil, fmt.Errorf("%w: record key %q", ErrCorrupt, e.Key)
		}
		env, err := parseEnvelope(e.Value)
		if err != nil {
			return nil, fmt.Errorf("%w (record %q)", err, k.name)
		}
		if formatOne && env.format != 1 {
			return nil, errDowngrade
		}
		out[k] = env.version
	}
	return out, nil
}

func parseRecKey(rest string) (indexKey, bool) {
	ns, enc, ok := strings.Cut(rest, "/")
	if !ok || !Namespace(ns).valid() {
		return indexKey{}, false
	}
	name, err := base64.RawURLEncoding.DecodeString(enc)
	// Only the canonical encoding: "X0" also decodes to "_" (as "Xw"), and
	// an alias must not stand for a name whose record lives elsewhere.
	if err != nil || base64.RawURLEncoding.EncodeToString(name) != enc || CheckName(string(name)) != nil {
		return indexKey{}, false
	}
	return indexKey{Namespace(ns), string(name)}, true
}

// RebuildIndex accepts every record as it is now: it rebuilds the version
// index from the stored records and audits that it did. It is the way out
// after a rollback was reported (reads refused with ErrRolledBack) and the
// user has decided to keep what is there rather than restore a backup.
func (v *Vault) RebuildIndex(ctx context.Context, actor string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.master.IsZero() {
		return ErrLocked
	}
	entries, err := scanRecords(ctx, v.cfg.Store, v.gen, false)
	if err != nil {
		return err
	}
	v.idxMu.Lock()
	defer v.idxMu.Unlock()
	idx := newIndex(v.master.Bytes(), v.vaultID[:], v.gen)
	idx.entries = entries
	idx.seal(v.index.state.counter)
	was := "it verified"
	if v.index.err != nil {
		was = strings.TrimPrefix(v.index.err.Error(), ErrRolledBack.Error()+": ")
	}
	old := v.index.entries
	err = v.audit.commitWith(ctx, []AuditEntry{{Actor: actor, Op: OpIndexRebuild, Outcome: OutcomeOK,
		Detail: fmt.Sprintf("accepted the %d records as they are now (before: %s)", len(entries), was)}},
		commitOpts{indexTag: &idx.state.tag, op: func(b ds.Batch) error {
			for k := range old {
				if err := b.Delete(ctx, versionKey(k.ns, k.name)); err != nil {
					return err
				}
			}
			return idx.stageAll(ctx, b)
		}})
	if err != nil {
		return err
	}
	// Entries put in the store outside the vault are not in old: drop them.
	if res, err := v.cfg.Store.Query(ctx, query.Query{Prefix: versionPrefix.String() + "/", KeysOnly: true}); err == nil {
		es, _ := res.Rest()
		for _, e := range es {
			if k, ok := parseVersionKey(e.Key); !ok || idx.entries[k] == 0 {
				_ = v.cfg.Store.Delete(ctx, ds.RawKey(e.Key))
			}
		}
	}
	v.index = idx
	return nil
}

// deleteGeneration removes generation gen's records in batches.
func (v *Vault) deleteGeneration(ctx context.Context, gen uint32) (int, error) {
	prefix := recPrefixGen(gen).String() + "/"
	res, err := v.cfg.Store.Query(ctx, query.Query{Prefix: prefix, KeysOnly: true})
	if err != nil {
		return 0, fmt.Errorf("vault: %w", err)
	}
	es, err := res.Rest()
	if err != nil {
		return 0, fmt.Errorf("vault: %w", err)
	}
	n := 0
	for len(es) > 0 {
		chunk := es[:min(len(es), 1000)]
		es = es[len(chunk):]
		b, err := v.cfg.Store.Batch(ctx)
		if err != nil {
			return n, fmt.Errorf("vault: %w", err)
		}
		m := 0
		for _, e := range chunk {
			if gen == 0 && strings.HasPrefix(e.Key, prefix+"_g") {
				continue
			}
			if err := b.Delete(ctx, ds.RawKey(e.Key)); err != nil {
				return n, fmt.Errorf("vault: %w", err)
			}
			m++
		}
		if err := b.Commit(ctx); err != nil {
			return n, fmt.Errorf("vault: %w", err)
		}
		n += m
	}
	return n, nil
}

// finishRotation deletes the generation a key rotation left behind (the
// staged one if it stopped before the switch, the old one if after), as
// the rotation marker says. Callers hold v.mu.
func (v *Vault) finishRotation(ctx context.Context, current uint32) (string, error) {
	b, err := v.cfg.Store.Get(ctx, rotatingKey)
	if errors.Is(err, ds.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("vault: %w", err)
	}
	g, err := parseGen(b)
	note := ""
	if err == nil && g != current {
		n, err := v.deleteGeneration(ctx, g)
		if err != nil {
			return "", err
		}
		note = fmt.Sprintf("removed %d records of key generation %d left by an interrupted key rotation", n, g)
	}
	if err := v.cfg.Store.Delete(ctx, rotatingKey); err != nil {
		return "", fmt.Errorf("vault: %w", err)
	}
	return note, nil
}
