package vault

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// rotateBatchBytes bounds one batch of re-encrypted records (a variable
// so tests can make rotations take many batches).
var rotateBatchBytes = 8 << 20

// RotateKey replaces the master key: every record is re-encrypted under a
// new one, the version index and the audit keys are re-keyed, and the new
// key is wrapped under newPw. Afterwards an old copy of the password wrap
// with the old password opens nothing written from then on.
//
// Help text for `mesh passwd --rotate-key`:
//
//	Change the password and replace the vault's master key. Every secret
//	and resource is re-encrypted, so this takes longer than a plain
//	password change and the vault is busy meanwhile. Use it after the
//	password may have leaked, or after a device or backup holding an old
//	copy of the vault was lost: a plain `mesh passwd` keeps the master
//	key, so that old copy and the old password would still open
//	everything written later. Old copies keep opening what they already
//	held; nothing can change that.
//
// A crash at any point leaves a vault that opens with exactly one of the
// two passwords and reads every record: the new records are written under
// a new generation (/rec/_gN) that nothing reads, and one batch then
// switches the wrap, the index, the audit key and the rotation record; the
// old generation is deleted after it. A rotation marker names the
// generation to delete, and the next unlock finishes the job.
func (v *Vault) RotateKey(ctx context.Context, oldPw, newPw []byte, kdf KDFParams, actor string) error {
	if err := checkNewPassword(newPw, kdf); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	wasLocked, err := v.proveOldPassword(ctx, oldPw, actor)
	if err != nil {
		return err
	}
	if wasLocked {
		defer v.wipeLocked()
	}
	v.idxMu.Lock()
	defer v.idxMu.Unlock()
	if v.index.err != nil {
		return fmt.Errorf("%w (rebuild the index or restore a backup before rotating the key)", v.index.err)
	}
	oldGen, newGen := v.gen, v.gen+1
	// An earlier rotation whose old generation is not deleted yet: finish
	// it first, or overwriting its marker would leave those records behind.
	if _, err := v.finishRotation(ctx, v.gen); err != nil {
		return err
	}
	// Leftovers of an earlier rotation that stopped before its switch.
	if err := v.cfg.Store.Put(ctx, rotatingKey, binary.BigEndian.AppendUint32(nil, newGen)); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if _, err := v.deleteGeneration(ctx, newGen); err != nil {
		return err
	}
	newMaster := keys.GenerateMasterKey()
	defer newMaster.Wipe()
	n, err := v.restage(ctx, &newMaster, newGen)
	if err != nil {
		return fmt.Errorf("vault: key rotation stopped before the switch (the old password still opens the vault): %w", err)
	}
	idx := newIndex(newMaster.Bytes(), v.vaultID[:], newGen)
	idx.entries = v.index.entries
	idx.seal(v.index.state.counter)
	hist, err := v.loadHistory(ctx)
	if err != nil {
		return err
	}
	hist[oldGen] = deriveAuditKeys(v.master.Bytes(), v.vaultID[:], oldGen).mac
	hk := xcrypto.Expand(newMaster.Bytes(), v.vaultID[:], labelAuditHistory)
	pt := hist.plaintext()
	histBlob := append([]byte(historyMagic), xcrypto.Seal(hk[:], pt, historyAAD(v.vaultID[:], newGen))...)
	clear(hk[:])
	clear(pt)
	ak := deriveAuditKeys(newMaster.Bytes(), v.vaultID[:], newGen)
	w := wrapMaster(&newMaster, v.vaultID[:], newPw, kdf, newGen)
	recoveries, err := v.rewrapRecoveries(ctx, &newMaster, newGen)
	if err != nil {
		return err
	}
	err = v.audit.commitWith(ctx, []AuditEntry{{Actor: actor, Op: OpKeyRotate, Outcome: OutcomeOK,
		Detail: fmt.Sprintf("re-encrypted %d records under a new master key (generation %d); the old key and old copies of the password wrap open nothing written from now on", n, newGen)}},
		commitOpts{keys: &ak, indexTag: &idx.state.tag, op: func(b ds.Batch) error {
			for k, val := range map[ds.Key][]byte{
				pwWrapKey:     w.marshal(),
				auditPubKey:   auditPub{newGen, ak.pub}.marshal(),
				historyKey:    histBlob,
				indexStateKey: idx.state.marshal(),
				rotatingKey:   binary.BigEndian.AppendUint32(nil, oldGen),
			} {
				if err := b.Put(ctx, k, val); err != nil {
					return err
				}
			}
			for k, val := range recoveries { // the recovery methods, carried over to the new key
				if err := b.Put(ctx, k, val); err != nil {
					return err
				}
			}
			return b.Delete(ctx, failuresKey)
		}})
	if err != nil {
		return fmt.Errorf("vault: key rotation stopped before the switch (the old password still opens the vault): %w", err)
	}
	// Switched: the new key is in use.
	v.master.Wipe()
	v.master, v.gen = newMaster, newGen
	v.keyMu.Lock()
	for ns, k := range v.recKeys {
		k.Wipe()
		delete(v.recKeys, ns)
	}
	v.keyMu.Unlock()
	clear(v.index.key[:])
	v.index = idx
	if _, err := v.finishRotation(ctx, newGen); err != nil {
		// The next unlock finishes it; the rotation itself is done.
		v.cfg.Logger.Warn("vault: old records not yet deleted after key rotation", "err", err)
	}
	return nil
}

// restage re-encrypts every indexed record of the current generation under
// newMaster into generation gen. Callers hold v.mu and v.idxMu.
func (v *Vault) restage(ctx context.Context, newMaster *keys.MasterKey, gen uint32) (int, error) {
	ks := make([]indexKey, 0, len(v.index.entries))
	for k := range v.index.entries {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b indexKey) int {
		if c := strings.Compare(string(a.ns), string(b.ns)); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	newKeys := map[Namespace]*keys.RecordKey{}
	defer func() {
		for _, k := range newKeys {
			k.Wipe()
		}
	}()
	var batch ds.Batch
	pending := 0
	flush := func() error {
		if batch == nil {
			return nil
		}
		err := batch.Commit(ctx)
		batch, pending = nil, 0
		return err
	}
	for _, k := range ks {
		pt, err := v.openHeld(ctx, k.ns, k.name)
		if err != nil {
			return 0, err
		}
		nk, ok := newKeys[k.ns]
		if !ok {
			d := newMaster.Derive(v.vaultID[:], labelRecord+"/"+string(k.ns))
			nk = &d
			newKeys[k.ns] = nk
		}
		version := v.index.entries[k]
		env := envelope{format: 2, version: version, sealed: xcrypto.Seal(nk.Bytes(), pt, recordAAD(2, v.vaultID[:], k.ns, k.name, version))}
		clear(pt)
		if batch == nil {
			if batch, err = v.cfg.Store.Batch(ctx); err != nil {
				return 0, err
			}
		}
		b := env.marshal()
		if err := batch.Put(ctx, recKeyGen(gen, k.ns, k.name), b); err != nil {
			return 0, err
		}
		if pending += len(b); pending >= rotateBatchBytes {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	return len(ks), flush()
}
