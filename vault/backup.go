package vault

import (
	"context"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// Backups. internal/backup owns the backup file's format; the vault gives
// it the key a backup is sealed with, without ever handing out the master
// key, and audits both ends:
//
//	K_backup = HKDF(M, vault ID || salt, "ocmt-mesh/backup/v1")
//
// with a fresh random salt (BackupSaltSize) per backup, so every backup
// has its own key and its counter nonces never repeat under one key.
// K_backup is used only as the XChaCha20-Poly1305 key of the backup's
// chunk stream (xcrypto.NewAEAD); a backup file carries the vault's key
// wraps as they were, so whoever can open a wrap (the password today, a
// recovery method later) can derive K_backup again.

// Audit operations of backups.
const (
	// OpBackup is written in the live vault when a backup is taken, right
	// after its snapshot: the backup never holds its own record.
	OpBackup = "vault.backup"
	// OpRestore is written in the restored vault by OpenRestored.
	OpRestore = "vault.restore"
)

// BackupSaltSize is the size of a backup's salt.
const BackupSaltSize = 32

const labelBackup = "ocmt-mesh/backup/v1"

var wrapPrefix = ds.NewKey("/meta/wrap")

// BackupWrap is one of the vault's key wraps as stored under
// /meta/wrap/KIND: today only "password"; a recovery method adds its kind.
type BackupWrap struct {
	Kind string
	Data []byte
}

// BackupSealer is what a backup is sealed with, and what its header says
// about the vault. AEAD is XChaCha20-Poly1305 under K_backup: the caller
// chooses nonces, and must never repeat one (a STREAM counter).
type BackupSealer struct {
	VaultID []byte
	// Wraps are the snapshot's key wraps, sorted by kind.
	Wraps []BackupWrap
	// AuditSeq is the last audit record the snapshot holds.
	AuditSeq uint64
	AEAD     cipher.AEAD
}

// BackupSealer prepares a backup of the vault, which must be unlocked.
// While no key change can run (ChangePassword and RotateKey wait), it calls
// capture, which takes the store's snapshot and returns it as a read-only
// view; from that view it reads the vault header, the key wraps and the
// audit head, and checks they are this vault's and its key generation's.
// It then derives K_backup from the master key and salt, and writes an
// OpBackup record (actor, target: the backup's ID) saying which audit
// records the backup holds. The record is written after the snapshot, so
// the backup does not hold it; if it cannot be written, no sealer is
// returned and no backup is made.
//
// capture is called with the vault's lock held for reading: it must not
// call the vault.
func (v *Vault) BackupSealer(ctx context.Context, salt []byte, actor, target string, capture func() (ds.Read, error)) (*BackupSealer, error) {
	if len(salt) != BackupSaltSize {
		return nil, fmt.Errorf("vault: a backup salt is %d bytes, not %d", BackupSaltSize, len(salt))
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.master.IsZero() {
		return nil, ErrLocked
	}
	snap, err := capture()
	if err != nil {
		return nil, err
	}
	hb, err := snap.Get(ctx, headerKey)
	if err != nil {
		return nil, fmt.Errorf("vault: reading the snapshot's header: %w", err)
	}
	h, err := parseHeader(hb)
	if err != nil {
		return nil, err
	}
	if h.vaultID != v.vaultID || h.format != v.format {
		return nil, fmt.Errorf("%w: the snapshot's vault header is not this vault's: it was replaced outside the vault", ErrCorrupt)
	}
	wraps, err := readWraps(ctx, snap)
	if err != nil {
		return nil, err
	}
	pw := findWrap(wraps, "password")
	if pw == nil {
		return nil, fmt.Errorf("%w: the snapshot has no password wrap", ErrCorrupt)
	}
	w, err := parseWrap(pw.Data)
	if err != nil {
		return nil, err
	}
	if w.gen != v.gen {
		return nil, fmt.Errorf("%w: the snapshot's password wrap is for key generation %d, the vault uses %d: it was replaced outside the vault", ErrCorrupt, w.gen, v.gen)
	}
	var seq uint64
	if b, err := snap.Get(ctx, auditHeadKey); err == nil {
		if head, err := parseHead(b); err == nil {
			seq = head.seq
		}
	}
	k := xcrypto.Expand(v.master.Bytes(), backupSalt(v.vaultID[:], salt), labelBackup)
	defer clear(k[:])
	e := AuditEntry{Actor: actor, Op: OpBackup, Target: target, Outcome: OutcomeOK,
		Detail: fmt.Sprintf("holds audit records 1–%d (this record is not in it)", seq)}
	if err := v.audit.commit(ctx, e, nil); err != nil {
		return nil, err
	}
	return &BackupSealer{VaultID: v.ID(), Wraps: wraps, AuditSeq: seq, AEAD: xcrypto.NewAEAD(k[:])}, nil
}

func backupSalt(vaultID, salt []byte) []byte {
	return append(append(make([]byte, 0, len(vaultID)+len(salt)), vaultID...), salt...)
}

// readWraps returns every /meta/wrap/KIND of snap, sorted by kind.
func readWraps(ctx context.Context, snap ds.Read) ([]BackupWrap, error) {
	res, err := snap.Query(ctx, query.Query{Prefix: wrapPrefix.String()})
	if err != nil {
		return nil, fmt.Errorf("vault: reading key wraps: %w", err)
	}
	es, err := res.Rest()
	if err != nil {
		return nil, fmt.Errorf("vault: reading key wraps: %w", err)
	}
	var out []BackupWrap
	for _, e := range es {
		kind := strings.TrimPrefix(e.Key, wrapPrefix.String()+"/")
		if kind == "" || strings.Contains(kind, "/") {
			return nil, fmt.Errorf("%w: a key wrap under a malformed key %q", ErrCorrupt, e.Key)
		}
		out = append(out, BackupWrap{Kind: kind, Data: e.Value})
	}
	slices.SortFunc(out, func(a, b BackupWrap) int { return strings.Compare(a.Kind, b.Kind) })
	return out, nil
}

func findWrap(wraps []BackupWrap, kind string) *BackupWrap {
	for i := range wraps {
		if wraps[i].Kind == kind {
			return &wraps[i]
		}
	}
	return nil
}

// OpenBackupKey opens a backup's key with the vault password the backup
// was taken under: it unwraps the master key from the backup's "password"
// wrap with the vault's own code (the KDF caps are checked before any work,
// so a tampered header costs at most one capped Argon2id run), derives
// K_backup, wipes the master key and returns the AEAD. A wrong password and
// a tampered wrap or vault ID give the same ErrBadPassword. Nothing is
// counted: a backup file is offline, and the failed-unlock backoff is
// against guessing through a node.
func OpenBackupKey(wraps []BackupWrap, vaultID, password, salt []byte) (cipher.AEAD, error) {
	if len(vaultID) != vaultIDSize || len(salt) != BackupSaltSize {
		return nil, fmt.Errorf("%w: a backup's vault ID is %d bytes and its salt %d", ErrCorrupt, vaultIDSize, BackupSaltSize)
	}
	pw := findWrap(wraps, "password")
	if pw == nil {
		return nil, fmt.Errorf("%w: the backup carries no password wrap", ErrCorrupt)
	}
	w, err := parseWrap(pw.Data)
	if err != nil {
		return nil, err
	}
	master, err := unwrapPassword(w, vaultID, password)
	if err != nil {
		return nil, err
	}
	defer master.Wipe()
	k := xcrypto.Expand(master.Bytes(), backupSalt(vaultID, salt), labelBackup)
	defer clear(k[:])
	return xcrypto.NewAEAD(k[:]), nil
}

// unwrapPassword opens w's master key with password, or ErrBadPassword.
func unwrapPassword(w passwordWrap, vaultID, password []byte) (keys.MasterKey, error) {
	kek := xcrypto.PasswordKEK(password, w.salt[:], w.kdf, labelKEK)
	defer clear(kek[:])
	mk, err := xcrypto.Open(kek[:], w.sealed, w.aad(vaultID))
	if err != nil {
		return keys.MasterKey{}, ErrBadPassword
	}
	defer clear(mk)
	m, ok := keys.MasterKeyFromBytes(mk)
	if !ok {
		return keys.MasterKey{}, ErrBadPassword
	}
	return m, nil
}

// RestoreReport is what OpenRestored found in a restored vault.
type RestoreReport struct {
	// Records is the number of records that opened and matched the version
	// index.
	Records int
	// Problems says, in words, what did not verify: the index, records.
	// A backup holds the vault as it was, so these were in the vault when
	// the backup was taken.
	Problems []string
}

// maxProblems bounds the problems OpenRestored lists one by one.
const maxProblems = 8

// OpenRestored opens the vault of a store just restored from a backup and
// unlocks it with password: as Unlock does (records written while locked
// are checked, an unfinished key rotation finished, the failed-unlock
// count cleared), but without the failed-unlock wait, which is against
// guessing through a node, not for whoever holds the backup and its
// password. A wrong password is ErrBadPassword and is not counted. It then
// opens every record of the key generation in use (values are wiped, never
// returned) and checks each against the version index, and appends an
// OpRestore record (actor, target: the backup's ID, detail) saying what it
// found. The vault is returned unlocked; the caller closes it.
func OpenRestored(ctx context.Context, cfg Config, password []byte, actor, target, detail string) (*Vault, RestoreReport, error) {
	v, err := Open(ctx, cfg)
	if err != nil {
		return nil, RestoreReport{}, err
	}
	if err := v.unlockRestored(ctx, password, actor); err != nil {
		v.Close()
		return nil, RestoreReport{}, err
	}
	rep, err := v.verifyRecords(ctx)
	if err != nil {
		v.Close()
		return nil, rep, err
	}
	e := AuditEntry{Actor: actor, Op: OpRestore, Target: target, Outcome: OutcomeOK,
		Detail: fmt.Sprintf("%s; %d records verified", detail, rep.Records)}
	if len(rep.Problems) > 0 {
		e.Outcome = OutcomeFailed
		e.Detail += "; " + strings.Join(rep.Problems, "; ")
	}
	if err := v.Audit(ctx, e); err != nil {
		v.Close()
		return nil, rep, err
	}
	return v, rep, nil
}

func (v *Vault) unlockRestored(ctx context.Context, password []byte, actor string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, err := v.loadFailures(ctx)
	if err != nil {
		return err
	}
	b, err := v.cfg.Store.Get(ctx, pwWrapKey)
	if err != nil {
		return fmt.Errorf("vault: reading password wrap: %w", err)
	}
	w, err := parseWrap(b)
	if err != nil {
		return err
	}
	kek := xcrypto.PasswordKEK(password, w.salt[:], w.kdf, labelKEK)
	defer clear(kek[:])
	mk, err := xcrypto.Open(kek[:], w.sealed, w.aad(v.vaultID[:]))
	if err != nil {
		return ErrBadPassword
	}
	master, _ := keys.MasterKeyFromBytes(mk)
	clear(mk)
	defer master.Wipe()
	return v.openWith(ctx, &master, w, &kek, f, actor)
}

// verifyRecords opens every record of the generation in use, and every
// record the index names, against the index. Nothing is audited per record
// and no value leaves: like ListSecrets, this is not a read.
func (v *Vault) verifyRecords(ctx context.Context) (RestoreReport, error) {
	var rep RestoreReport
	v.mu.RLock()
	defer v.mu.RUnlock()
	v.idxMu.RLock()
	defer v.idxMu.RUnlock()
	if v.index.err != nil {
		rep.Problems = append(rep.Problems, v.index.err.Error())
		return rep, nil
	}
	names := map[indexKey]bool{}
	for k := range v.index.entries {
		names[k] = true
	}
	prefix := recPrefixGen(v.gen).String() + "/"
	res, err := v.cfg.Store.Query(ctx, query.Query{Prefix: prefix, KeysOnly: true})
	if err != nil {
		return rep, fmt.Errorf("vault: %w", err)
	}
	es, err := res.Rest()
	if err != nil {
		return rep, fmt.Errorf("vault: %w", err)
	}
	var more int
	problem := func(s string) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, s)
		} else {
			more++
		}
	}
	for _, e := range es {
		ns, enc, ok := strings.Cut(strings.TrimPrefix(e.Key, prefix), "/")
		if v.gen == 0 && strings.HasPrefix(ns, "_g") {
			continue // a later generation's records (an unfinished rotation, deleted at unlock)
		}
		name, err := base64.RawURLEncoding.DecodeString(enc)
		if !ok || strings.Contains(enc, "/") || err != nil || !Namespace(ns).valid() || CheckName(string(name)) != nil {
			problem(fmt.Sprintf("a record under a malformed key %q", e.Key))
			continue
		}
		names[indexKey{Namespace(ns), string(name)}] = true
	}
	all := slices.SortedFunc(func(yield func(indexKey) bool) {
		for k := range names {
			if !yield(k) {
				return
			}
		}
	}, func(a, b indexKey) int {
		if c := strings.Compare(string(a.ns), string(b.ns)); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	for _, k := range all {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		pt, err := v.openHeld(ctx, k.ns, k.name)
		clear(pt)
		switch {
		case err == nil:
			rep.Records++
		case errors.Is(err, ErrRolledBack), errors.Is(err, ErrCorrupt):
			problem(strings.TrimPrefix(err.Error(), "vault: "))
		default:
			return rep, err
		}
	}
	if more > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("and %d more problems with records", more))
	}
	return rep, nil
}
