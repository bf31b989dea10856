package vault

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// Recovery wraps: each recovery method the owner enables (a phrase,
// friends, a hardware key, an escrow; internal/recovery) is one more wrap
// of the master key, beside the password wrap, under that method's
// recovery key RK (32 bytes the method alone can produce again). Recover
// opens the master key with RK and sets a new password; nothing else
// changes.
//
// A recovery wrap, /meta/wrap/recovery-METHOD (so that a backup carries it
// with the password wrap, and a recovery method restores a backup), is
//
//	magic "OCMTRCV\x01" (8) | vault ID (16) | gen u32 | added unix-nano i64
//	| method length u8 | method | meta length u32 | meta
//	| nonce (24) | master key sealed under K (32+16)
//	| nonce (24) | RK sealed under K_keep (32+16)
//
//	K      = HKDF-SHA256(RK, vault ID, "ocmt-mesh/vault-recovery/v1/" + method)
//	K_keep = HKDF-SHA256(M, vault ID, "ocmt-mesh/vault-recovery-keep/v1/" + method)
//	AAD    = "ocmt-mesh/vault-recovery/v1" || the wrap's bytes up to the first nonce
//
// (the same AAD for both seals, each under its own key). The method, its
// public meta (what the method needs to produce RK again: the friends and
// their commitments, a hardware key's recipient, an institution's key), the
// vault and the key generation are authenticated: a wrap moved to another
// vault or method, or with its meta changed, does not open. K_keep lets the
// unlocked vault re-wrap the new master key under every RK when RotateKey
// replaces the master key (the methods keep working after a rotation).
// /meta/recovery-tested/METHOD holds when the method last opened the vault
// in a test (unix-nano i64); it is not authenticated (the audit log is the
// authenticated history of tests).
const (
	recoveryMagic   = "OCMTRCV\x01"
	labelRecovery   = "ocmt-mesh/vault-recovery/v1"
	labelRecoveryK  = "ocmt-mesh/vault-recovery/v1/"
	labelRecoveryKp = "ocmt-mesh/vault-recovery-keep/v1/"
	// MaxRecoveryMeta bounds a recovery method's public meta, so that its
	// wrap fits a backup header's wrap (1024 bytes).
	MaxRecoveryMeta = 800
	// MaxRecoveryMethods bounds the methods one vault keeps: a backup
	// header carries 8 wraps, the password's and 7.
	MaxRecoveryMethods = 7
	// maxMethodLen bounds a method's name: "recovery-" and it make a
	// backup wrap's kind of at most 32 bytes.
	maxMethodLen = 23
	// recoveryKind prefixes a recovery wrap's kind under /meta/wrap.
	recoveryKind = "recovery-"
)

var testedPrefix = ds.NewKey("/meta/recovery-tested")

// recoveryKey is where a method's wrap is stored.
func recoveryKey(method string) ds.Key { return wrapPrefix.ChildString(recoveryKind + method) }

// Audit operations of recovery.
const (
	OpRecoveryEnable  = "vault.recovery.enable"
	OpRecoveryDisable = "vault.recovery.disable"
	OpRecoveryTest    = "vault.recovery.test"
	OpRecover         = "vault.recover"
)

var (
	// ErrNoRecovery: the vault has no such recovery method enabled.
	ErrNoRecovery = errors.New("this recovery method is not enabled for this vault")
	// ErrRecoveryKey: the recovery key does not open the method's wrap
	// (a wrong phrase, the wrong hardware key, shares of another
	// dealing, or a wrap or meta altered). It counts toward the backoff
	// like a wrong password.
	ErrRecoveryKey = errors.New("the recovery key does not open this vault")
)

// Recovery is an enabled recovery method as the vault shows it.
type Recovery struct {
	Method string
	// Meta is the method's public data (authenticated when the wrap
	// opens, not before).
	Meta   []byte
	Added  time.Time
	Tested time.Time // zero: never tested
	Gen    uint32
}

type recoveryWrap struct {
	vaultID [vaultIDSize]byte
	gen     uint32
	added   int64
	method  string
	meta    []byte
	master  []byte // nonce || sealed M
	keep    []byte // nonce || sealed RK
}

var sealedLen = xcrypto.NonceSize + 32 + xcrypto.Overhead

func (w recoveryWrap) prefix() []byte {
	b := make([]byte, 0, 64+len(w.method)+len(w.meta))
	b = append(b, recoveryMagic...)
	b = append(b, w.vaultID[:]...)
	b = binary.BigEndian.AppendUint32(b, w.gen)
	b = binary.BigEndian.AppendUint64(b, uint64(w.added))
	b = append(b, byte(len(w.method)))
	b = append(b, w.method...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(w.meta)))
	return append(b, w.meta...)
}

func (w recoveryWrap) aad() []byte { return append([]byte(labelRecovery), w.prefix()...) }

func (w recoveryWrap) marshal() []byte {
	b := w.prefix()
	b = append(b, w.master...)
	return append(b, w.keep...)
}

func parseRecoveryWrap(b []byte) (recoveryWrap, error) {
	var w recoveryWrap
	bad := fmt.Errorf("%w: bad recovery wrap", ErrCorrupt)
	fixed := len(recoveryMagic) + vaultIDSize + 4 + 8 + 1
	if len(b) < fixed || !bytes.HasPrefix(b, []byte(recoveryMagic)) {
		return w, bad
	}
	p := b[len(recoveryMagic):]
	copy(w.vaultID[:], p)
	w.gen = binary.BigEndian.Uint32(p[vaultIDSize:])
	w.added = int64(binary.BigEndian.Uint64(p[vaultIDSize+4:]))
	n := int(p[vaultIDSize+12])
	p = p[vaultIDSize+13:]
	if n == 0 || n > maxMethodLen || len(p) < n+4 {
		return w, bad
	}
	w.method = string(p[:n])
	if checkMethod(w.method) != nil {
		return w, bad
	}
	p = p[n:]
	m := binary.BigEndian.Uint32(p)
	p = p[4:]
	if m > MaxRecoveryMeta || uint64(len(p)) != uint64(m)+2*uint64(sealedLen) {
		return w, bad
	}
	w.meta = bytes.Clone(p[:m])
	w.master = bytes.Clone(p[m : int(m)+sealedLen])
	w.keep = bytes.Clone(p[int(m)+sealedLen:])
	return w, nil
}

// checkMethod is the rule for a method's name: 1 to 32 bytes of a-z, 0-9
// and "-".
func checkMethod(m string) error {
	if m == "" || len(m) > maxMethodLen || strings.Trim(m, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return fmt.Errorf("vault: a recovery method's name is 1 to %d characters of a-z, 0-9 and -", maxMethodLen)
	}
	return nil
}

func recoveryKEK(rk *[32]byte, vaultID []byte, method string) [32]byte {
	return xcrypto.Expand(rk[:], vaultID, labelRecoveryK+method)
}

func keepKey(master *keys.MasterKey, vaultID []byte, method string) [32]byte {
	return xcrypto.Expand(master.Bytes(), vaultID, labelRecoveryKp+method)
}

// seal makes the wrap of master (generation gen) under rk.
func (v *Vault) sealRecovery(method string, meta []byte, added time.Time, master *keys.MasterKey, gen uint32, rk *[32]byte) recoveryWrap {
	w := recoveryWrap{vaultID: v.vaultID, gen: gen, added: added.UnixNano(), method: method, meta: bytes.Clone(meta)}
	k := recoveryKEK(rk, v.vaultID[:], method)
	w.master = xcrypto.Seal(k[:], master.Bytes(), w.aad())
	clear(k[:])
	kk := keepKey(master, v.vaultID[:], method)
	w.keep = xcrypto.Seal(kk[:], rk[:], w.aad())
	clear(kk[:])
	return w
}

// EnableRecovery adds (or replaces) the recovery method's wrap of the
// master key under rk, with the method's public meta, and audits it. The
// vault must be unlocked (ErrLocked).
func (v *Vault) EnableRecovery(ctx context.Context, method string, rk *[32]byte, meta []byte, actor string) error {
	if err := checkMethod(method); err != nil {
		return err
	}
	if rk == nil || *rk == ([32]byte{}) {
		return errors.New("vault: no recovery key")
	}
	if len(meta) > MaxRecoveryMeta {
		return fmt.Errorf("vault: a recovery method's meta is at most %d bytes", MaxRecoveryMeta)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.master.IsZero() {
		return ErrLocked
	}
	have, err := v.recoveries(ctx)
	if err != nil {
		return err
	}
	if len(have) >= MaxRecoveryMethods && !slices.ContainsFunc(have, func(w recoveryWrap) bool { return w.method == method }) {
		return fmt.Errorf("vault: at most %d recovery methods", MaxRecoveryMethods)
	}
	w := v.sealRecovery(method, meta, v.cfg.Now(), &v.master, v.gen, rk)
	e := AuditEntry{Actor: actor, Op: OpRecoveryEnable, Target: method, Outcome: OutcomeOK,
		Detail: "a recovery method can now set a new password"}
	return v.audit.commit(ctx, e, func(b ds.Batch) error {
		if err := b.Put(ctx, recoveryKey(method), w.marshal()); err != nil {
			return err
		}
		return b.Delete(ctx, testedPrefix.ChildString(method))
	})
}

// DisableRecovery removes a recovery method, and audits it. The vault must
// be unlocked.
func (v *Vault) DisableRecovery(ctx context.Context, method, actor string) error {
	if err := checkMethod(method); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.master.IsZero() {
		return ErrLocked
	}
	if ok, err := v.cfg.Store.Has(ctx, recoveryKey(method)); err != nil {
		return fmt.Errorf("vault: %w", err)
	} else if !ok {
		return ErrNoRecovery
	}
	e := AuditEntry{Actor: actor, Op: OpRecoveryDisable, Target: method, Outcome: OutcomeOK}
	return v.audit.commit(ctx, e, func(b ds.Batch) error {
		if err := b.Delete(ctx, recoveryKey(method)); err != nil {
			return err
		}
		return b.Delete(ctx, testedPrefix.ChildString(method))
	})
}

// recoveries reads every stored recovery wrap.
func (v *Vault) recoveries(ctx context.Context) ([]recoveryWrap, error) {
	wraps, err := readWraps(ctx, v.cfg.Store)
	if err != nil {
		return nil, err
	}
	return recoveryWraps(wraps)
}

// recoveryWraps parses the recovery wraps among a vault's (or a backup's)
// key wraps.
func recoveryWraps(wraps []BackupWrap) ([]recoveryWrap, error) {
	var out []recoveryWrap
	for _, bw := range wraps {
		method, ok := strings.CutPrefix(bw.Kind, recoveryKind)
		if !ok {
			continue
		}
		w, err := parseRecoveryWrap(bw.Data)
		if err != nil || w.method != method {
			return nil, fmt.Errorf("%w: the recovery wrap %s does not parse", ErrCorrupt, bw.Kind)
		}
		out = append(out, w)
	}
	return out, nil
}

// Recoveries lists the enabled recovery methods, locked or not.
func (v *Vault) Recoveries(ctx context.Context) ([]Recovery, error) {
	ws, err := v.recoveries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Recovery, len(ws))
	for i, w := range ws {
		out[i] = Recovery{Method: w.method, Meta: w.meta, Added: time.Unix(0, w.added), Gen: w.gen}
		if b, err := v.cfg.Store.Get(ctx, testedPrefix.ChildString(w.method)); err == nil && len(b) == 8 {
			out[i].Tested = time.Unix(0, int64(binary.BigEndian.Uint64(b)))
		}
	}
	return out, nil
}

// Recovery returns one enabled method (ErrNoRecovery when none).
func (v *Vault) Recovery(ctx context.Context, method string) (Recovery, error) {
	rs, err := v.Recoveries(ctx)
	if err != nil {
		return Recovery{}, err
	}
	for _, r := range rs {
		if r.Method == method {
			return r, nil
		}
	}
	return Recovery{}, ErrNoRecovery
}

// openRecovery opens a method's wrap with rk, after the backoff check; a
// key that does not open it is counted and audited like a wrong password.
// Callers hold v.mu.
func (v *Vault) openRecovery(ctx context.Context, method string, rk *[32]byte, op, actor string) (keys.MasterKey, passwordWrap, failures, error) {
	var none keys.MasterKey
	if err := checkMethod(method); err != nil {
		return none, passwordWrap{}, failures{}, err
	}
	if rk == nil {
		return none, passwordWrap{}, failures{}, errors.New("vault: no recovery key")
	}
	f, err := v.loadFailures(ctx)
	if err != nil {
		return none, passwordWrap{}, f, err
	}
	if f.count > 0 {
		until := time.Unix(0, f.lastNano).Add(v.backoff(f.count))
		if now := v.cfg.Now(); now.Before(until) {
			return none, passwordWrap{}, f, &BackoffError{Until: until, Failures: f.count, Wait: until.Sub(now)}
		}
	}
	b, err := v.cfg.Store.Get(ctx, recoveryKey(method))
	if errors.Is(err, ds.ErrNotFound) {
		return none, passwordWrap{}, f, ErrNoRecovery
	} else if err != nil {
		return none, passwordWrap{}, f, fmt.Errorf("vault: %w", err)
	}
	w, err := parseRecoveryWrap(b)
	if err != nil {
		return none, passwordWrap{}, f, err
	}
	pb, err := v.cfg.Store.Get(ctx, pwWrapKey)
	if err != nil {
		return none, passwordWrap{}, f, fmt.Errorf("vault: reading password wrap: %w", err)
	}
	pw, err := parseWrap(pb)
	if err != nil {
		return none, passwordWrap{}, f, err
	}
	k := recoveryKEK(rk, v.vaultID[:], method)
	mk, oerr := xcrypto.Open(k[:], w.master, w.aad())
	clear(k[:])
	if oerr == nil && (w.method != method || !bytes.Equal(w.vaultID[:], v.vaultID[:]) || w.gen != pw.gen || v.format != 2 || pw.format != 2) {
		clear(mk)
		oerr = errors.New("a wrap of another vault, method or key generation")
	}
	if oerr != nil {
		f.count++
		f.lastNano = v.cfg.Now().UnixNano()
		e := AuditEntry{Actor: actor, Op: op, Target: method, Outcome: OutcomeFailed, Detail: fmt.Sprintf("failed attempt %d", f.count)}
		if aerr := v.audit.commit(asRead(ctx), e, func(b ds.Batch) error { return b.Put(ctx, failuresKey, f.marshal()) }); aerr != nil {
			return none, pw, f, aerr
		}
		v.cfg.Logger.Warn("vault recovery key refused", "method", method, "attempt", f.count)
		return none, pw, f, ErrRecoveryKey
	}
	master, _ := keys.MasterKeyFromBytes(mk)
	clear(mk)
	return master, pw, f, nil
}

// TestRecovery proves that rk still opens the vault through method,
// without changing anything but the method's tested time; it is audited,
// and a key that does not open counts toward the backoff like a wrong
// password. It works locked or unlocked.
func (v *Vault) TestRecovery(ctx context.Context, method string, rk *[32]byte, actor string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	master, _, f, err := v.openRecovery(ctx, method, rk, OpRecoveryTest, actor)
	if err != nil {
		return err
	}
	defer master.Wipe()
	if !v.master.IsZero() && !master.Equal(&v.master) {
		return fmt.Errorf("%w: the recovery wrap opens another master key than the one in use", ErrCorrupt)
	}
	now := v.cfg.Now()
	e := AuditEntry{Actor: actor, Op: OpRecoveryTest, Target: method, Outcome: OutcomeOK, Detail: "the method opened the vault; nothing was changed"}
	return v.audit.commit(asRead(ctx), e, func(b ds.Batch) error {
		if f.count > 0 {
			if err := b.Delete(ctx, failuresKey); err != nil {
				return err
			}
		}
		return b.Put(ctx, testedPrefix.ChildString(method), binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano())))
	})
}

// Recover opens the master key with a recovery method's key and sets a
// new password (a new password wrap, the same master key), then unlocks
// the vault as a password unlock does, with an OpRecover record saying
// how. It works locked or unlocked. A key that does not open the wrap is
// ErrRecoveryKey, counted toward the backoff and audited; within the
// backoff it returns a *BackoffError without trying.
func (v *Vault) Recover(ctx context.Context, method string, rk *[32]byte, newPassword []byte, kdf KDFParams, actor string) error {
	if err := checkNewPassword(newPassword, kdf); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	master, pw, f, err := v.openRecovery(ctx, method, rk, OpRecover, actor)
	if err != nil {
		return err
	}
	defer master.Wipe()
	if !v.master.IsZero() && !master.Equal(&v.master) {
		return fmt.Errorf("%w: the recovery wrap opens another master key than the one in use", ErrCorrupt)
	}
	w := wrapMaster(&master, v.vaultID[:], newPassword, kdf, pw.gen)
	e := AuditEntry{Actor: actor, Op: OpRecover, Target: method, Outcome: OutcomeOK, Detail: "a new password was set with this recovery method"}
	if err := v.audit.commit(ctx, e, func(b ds.Batch) error {
		if err := b.Put(ctx, pwWrapKey, w.marshal()); err != nil {
			return err
		}
		return b.Delete(ctx, failuresKey)
	}); err != nil {
		return err
	}
	if !v.master.IsZero() {
		return nil
	}
	var noKEK [32]byte // openWith uses the KEK only to migrate format 1, refused by openRecovery
	f.count = 0
	return v.openWith(ctx, &master, w, &noKEK, f, actor)
}

// rewrapRecoveries re-wraps every recovery method for newMaster at
// generation gen, for RotateKey's switch batch. Callers hold v.mu with the
// old master key in v.master.
func (v *Vault) rewrapRecoveries(ctx context.Context, newMaster *keys.MasterKey, gen uint32) (map[ds.Key][]byte, error) {
	ws, err := v.recoveries(ctx)
	if err != nil {
		return nil, err
	}
	out := map[ds.Key][]byte{}
	for _, w := range ws {
		kk := keepKey(&v.master, v.vaultID[:], w.method)
		rkb, err := xcrypto.Open(kk[:], w.keep, w.aad())
		clear(kk[:])
		if err != nil || len(rkb) != 32 {
			v.cfg.Logger.Warn("vault: a recovery method could not be carried over to the new key; enable it again", "method", w.method)
			continue
		}
		var rk [32]byte
		copy(rk[:], rkb)
		clear(rkb)
		nw := v.sealRecovery(w.method, w.meta, time.Unix(0, w.added), newMaster, gen, &rk)
		clear(rk[:])
		out[recoveryKey(w.method)] = nw.marshal()
	}
	return out, nil
}

// openRecoveryWrap opens method's wrap among wraps (a backup's) with rk,
// for vaultID; ErrRecoveryKey when it does not open.
func openRecoveryWrap(wraps []BackupWrap, vaultID []byte, method string, rk *[32]byte) (keys.MasterKey, uint32, error) {
	ws, err := recoveryWraps(wraps)
	if err != nil {
		return keys.MasterKey{}, 0, err
	}
	for _, w := range ws {
		if w.method != method {
			continue
		}
		k := recoveryKEK(rk, vaultID, method)
		mk, err := xcrypto.Open(k[:], w.master, w.aad())
		clear(k[:])
		if err != nil || !bytes.Equal(w.vaultID[:], vaultID) {
			return keys.MasterKey{}, 0, ErrRecoveryKey
		}
		m, ok := keys.MasterKeyFromBytes(mk)
		clear(mk)
		if !ok {
			return keys.MasterKey{}, 0, ErrRecoveryKey
		}
		return m, w.gen, nil
	}
	return keys.MasterKey{}, 0, ErrNoRecovery
}

// OpenBackupKeyRecovery is OpenBackupKey with a recovery method's key
// instead of the password: it opens the backup's recovery wrap of method.
// A key that does not open it is ErrRecoveryKey (nothing is counted: a
// backup file is offline).
func OpenBackupKeyRecovery(wraps []BackupWrap, vaultID []byte, method string, rk *[32]byte, salt []byte) (cipher.AEAD, error) {
	if len(vaultID) != vaultIDSize || len(salt) != BackupSaltSize {
		return nil, fmt.Errorf("%w: a backup's vault ID is %d bytes and its salt %d", ErrCorrupt, vaultIDSize, BackupSaltSize)
	}
	master, _, err := openRecoveryWrap(wraps, vaultID, method, rk)
	if err != nil {
		return nil, err
	}
	defer master.Wipe()
	k := xcrypto.Expand(master.Bytes(), backupSalt(vaultID, salt), labelBackup)
	defer clear(k[:])
	return xcrypto.NewAEAD(k[:]), nil
}

// OpenRestoredRecovery is OpenRestored for a restore made with a recovery
// method's key: it sets newPassword (Recover, without the backoff, which
// is against guessing through a node), then checks the records and
// appends the OpRestore record as OpenRestored does. The vault is
// returned unlocked.
func OpenRestoredRecovery(ctx context.Context, cfg Config, method string, rk *[32]byte, newPassword []byte, kdf KDFParams, actor, target, detail string) (*Vault, RestoreReport, error) {
	if err := checkNewPassword(newPassword, kdf); err != nil {
		return nil, RestoreReport{}, err
	}
	v, err := Open(ctx, cfg)
	if err != nil {
		return nil, RestoreReport{}, err
	}
	if err := v.Recover(ctx, method, rk, newPassword, kdf, actor); err != nil {
		v.Close()
		return nil, RestoreReport{}, err
	}
	rep, err := v.verifyRecords(ctx)
	if err != nil {
		v.Close()
		return nil, rep, err
	}
	e := AuditEntry{Actor: actor, Op: OpRestore, Target: target, Outcome: OutcomeOK,
		Detail: fmt.Sprintf("%s, opened with recovery method %s; %d records verified", detail, method, rep.Records)}
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

// RecoveryMeta returns the public meta of method's recovery wrap among a
// backup's wraps (internal/backup's header), to start a recovery with a
// backup alone (a new home). The meta is not authenticated until the wrap
// opens (OpenBackupKeyRecovery).
func RecoveryMeta(wraps []BackupWrap, method string) ([]byte, error) {
	ws, err := recoveryWraps(wraps)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if w.method == method {
			return w.meta, nil
		}
	}
	return nil, ErrNoRecovery
}
