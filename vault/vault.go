package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// Errors callers branch on.
var (
	ErrLocked      = errors.New("vault is locked")
	ErrBadPassword = errors.New("wrong password")
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("vault already exists")
	ErrNoVault     = errors.New("no vault here (run mesh init)")
	ErrBadName     = errors.New("invalid name")
	// ErrBackoff is matched by every *BackoffError.
	ErrBackoff = errors.New("too many wrong passwords")
	// ErrTooLarge reports a secret or record over its size limit.
	ErrTooLarge = errors.New("too large")
)

// BackoffError is returned at once by Unlock (and ChangePassword,
// RotateKey) when called before the next attempt is allowed after wrong
// passwords; nothing is tried and nothing is counted. A CLI prints it; a
// web UI shows a countdown to Until (also in FailedAttempts).
type BackoffError struct {
	// Until is the earliest time the next attempt is evaluated.
	Until time.Time
	// Failures is the number of consecutive wrong passwords so far.
	Failures uint32
	// Wait is Until less the vault's clock when the attempt was refused.
	Wait time.Duration
}

func (e *BackoffError) Error() string {
	secs := max(int64((e.Wait+time.Second-1)/time.Second), 1)
	return fmt.Sprintf("too many wrong passwords: next try in %d s", secs)
}

// Is makes every BackoffError match ErrBackoff.
func (e *BackoffError) Is(target error) bool { return target == ErrBackoff }

var (
	headerKey   = ds.NewKey("/meta/header")
	pwWrapKey   = ds.NewKey("/meta/wrap/password")
	failuresKey = ds.NewKey("/meta/failures")
	rotatingKey = ds.NewKey("/meta/rotating")
	historyKey  = ds.NewKey("/meta/audit-keys")
	recPrefix   = ds.NewKey("/rec")
)

// Namespace separates families of records (secrets, resources, grants...).
// Each has its own record key.
type Namespace string

// Namespaces used by the home node.
const (
	NSSecrets   Namespace = "secrets"
	NSResources Namespace = "resources"
)

// MaxNameLen bounds record names.
const MaxNameLen = 512

func (ns Namespace) valid() bool {
	if ns == "" || len(ns) > 32 {
		return false
	}
	for _, c := range ns {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// CheckName validates a record name: non-empty UTF-8 without control
// characters, at most MaxNameLen bytes.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: control character in name", ErrBadName)
		}
	}
	return nil
}

// recPrefixGen is where generation gen's records live: /rec for 0 (as in
// format 1), /rec/_gN after the Nth key rotation ("_" is no namespace).
func recPrefixGen(gen uint32) ds.Key {
	if gen == 0 {
		return recPrefix
	}
	return recPrefix.ChildString(fmt.Sprintf("_g%d", gen))
}

// Names are base64url-encoded in datastore keys, so no name can alias
// another through key cleaning ("a/../b", "a//b").
func recKeyGen(gen uint32, ns Namespace, name string) ds.Key {
	return recPrefixGen(gen).ChildString(string(ns)).ChildString(base64.RawURLEncoding.EncodeToString([]byte(name)))
}

// recKey is generation 0's key for a record (a vault never rotated).
func recKey(ns Namespace, name string) ds.Key { return recKeyGen(0, ns, name) }

// Config configures a Vault. The zero value of every field but Store works.
type Config struct {
	// Store holds everything. Required. internal/store opens pebble on disk.
	Store ds.Batching
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives operational messages, never secrets. Default: discard.
	Logger *slog.Logger
	// BaseBackoff is the wait after the first failed unlock. Default 250 ms.
	BaseBackoff time.Duration
	// MaxBackoff caps the wait. Default 30 s.
	MaxBackoff time.Duration
}

func (c *Config) fill() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.BaseBackoff == 0 {
		c.BaseBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 30 * time.Second
	}
}

// Vault is an open vault, locked or unlocked. It is safe for concurrent use.
//
// Lock order: mu, then idxMu, then the audit log's mutex.
type Vault struct {
	cfg     Config
	vaultID [vaultIDSize]byte
	audit   *auditLog

	mu     sync.RWMutex
	format int            // the header's format: 1 until the first unlock migrates it
	master keys.MasterKey // zero while locked
	gen    uint32         // the key generation in use (set at unlock)
	// resumedUntil is the end of the resume window this unlock came
	// from (UnlockResumed); zero after a password unlock.
	resumedUntil time.Time

	keyMu   sync.Mutex // guards recKeys, a cache of derived keys
	recKeys map[Namespace]*keys.RecordKey

	// idxMu guards index; writers hold it across their batch commit so a
	// reader never sees a record newer than the index.
	idxMu sync.RWMutex
	index *versionIndex // nil while locked
}

// Create makes a new vault in cfg.Store with a fresh master key wrapped by
// password. It fails with ErrExists if the store already holds one.
func Create(ctx context.Context, cfg Config, password []byte, kdf KDFParams, actor string) (*Vault, error) {
	cfg.fill()
	if cfg.Store == nil {
		return nil, errors.New("vault: no store")
	}
	if err := checkKDF(kdf); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if len(password) == 0 {
		return nil, errors.New("vault: empty password")
	}
	if ok, err := cfg.Store.Has(ctx, headerKey); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	} else if ok {
		return nil, ErrExists
	}
	// An audit log without a header is a vault whose header was deleted:
	// creating a vault over it would bury that log.
	if ok, err := cfg.Store.Has(ctx, auditHeadKey); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	} else if ok {
		return nil, fmt.Errorf("%w: the store holds an audit log but no vault header (was the header deleted?)", ErrExists)
	}
	if _, _, n, err := scanLast(ctx, cfg.Store); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, fmt.Errorf("%w: the store holds an audit log but no vault header (was the header deleted?)", ErrExists)
	}
	v := &Vault{cfg: cfg, format: 2, recKeys: map[Namespace]*keys.RecordKey{}}
	rand.Read(v.vaultID[:])
	h := header{format: 2, vaultID: v.vaultID}
	var err error
	if v.audit, err = openAudit(ctx, cfg.Store, cfg.Now, h, true); err != nil {
		return nil, err
	}
	master := keys.GenerateMasterKey()
	defer master.Wipe()
	wrap := wrapMaster(&master, v.vaultID[:], password, kdf, 0)
	ak := deriveAuditKeys(master.Bytes(), v.vaultID[:], 0)
	idx := newIndex(master.Bytes(), v.vaultID[:], 0)
	idx.seal(0)
	err = v.audit.commitWith(ctx, []AuditEntry{{Actor: actor, Op: OpInit, Outcome: OutcomeOK}}, commitOpts{
		keys:     &ak,
		indexTag: &idx.state.tag,
		op: func(b ds.Batch) error {
			for k, val := range map[ds.Key][]byte{headerKey: h.marshal(), pwWrapKey: wrap.marshal(), auditPubKey: auditPub{0, ak.pub}.marshal()} {
				if err := b.Put(ctx, k, val); err != nil {
					return err
				}
			}
			return b.Put(ctx, indexStateKey, idx.state.marshal())
		},
	})
	if err != nil {
		return nil, err
	}
	v.master, v.index = master, idx
	return v, nil
}

// Open opens an existing vault, locked.
func Open(ctx context.Context, cfg Config) (*Vault, error) {
	cfg.fill()
	if cfg.Store == nil {
		return nil, errors.New("vault: no store")
	}
	b, err := cfg.Store.Get(ctx, headerKey)
	if errors.Is(err, ds.ErrNotFound) {
		return nil, ErrNoVault
	} else if err != nil {
		return nil, fmt.Errorf("vault: reading header: %w", err)
	}
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	v := &Vault{cfg: cfg, vaultID: h.vaultID, format: h.format, recKeys: map[Namespace]*keys.RecordKey{}}
	if v.audit, err = openAudit(ctx, cfg.Store, cfg.Now, h, false); err != nil {
		return nil, err
	}
	return v, nil
}

// wrapMaster seals master under a new password KEK (format 2).
func wrapMaster(master *keys.MasterKey, vaultID, password []byte, kdf KDFParams, gen uint32) passwordWrap {
	w := passwordWrap{format: 2, kdf: kdf, gen: gen}
	rand.Read(w.salt[:])
	kek := xcrypto.PasswordKEK(password, w.salt[:], kdf, labelKEK)
	defer clear(kek[:])
	w.sealed = xcrypto.Seal(kek[:], master.Bytes(), w.aad(vaultID))
	return w
}

// Locked reports whether the vault is locked.
func (v *Vault) Locked() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.master.IsZero()
}

// ID returns the vault's random identifier (not secret).
func (v *Vault) ID() []byte { return append([]byte(nil), v.vaultID[:]...) }

// Store returns the underlying datastore.
func (v *Vault) Store() ds.Batching { return v.cfg.Store }

// backoff is the wait required after n consecutive failures.
func (v *Vault) backoff(n uint32) time.Duration {
	if n == 0 {
		return 0
	}
	d := v.cfg.BaseBackoff
	for i := uint32(1); i < n && d < v.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, v.cfg.MaxBackoff)
}

func (v *Vault) loadFailures(ctx context.Context) (failures, error) {
	b, err := v.cfg.Store.Get(ctx, failuresKey)
	if errors.Is(err, ds.ErrNotFound) {
		return failures{}, nil
	} else if err != nil {
		return failures{}, fmt.Errorf("vault: %w", err)
	}
	return parseFailures(b)
}

// FailedAttempts returns the number of consecutive failed unlocks and the
// earliest time the next attempt will be evaluated (what a UI counts down
// to before offering the password field again).
func (v *Vault) FailedAttempts(ctx context.Context) (uint32, time.Time, error) {
	f, err := v.loadFailures(ctx)
	if err != nil {
		return 0, time.Time{}, err
	}
	return f.count, time.Unix(0, f.lastNano).Add(v.backoff(f.count)), nil
}

// checkPassword opens the master key with password, after the backoff
// check. A wrong password (or a tampered wrap: they look alike) is
// counted, audited and returned as ErrBadPassword. The KDF runs on
// password unless prepared was derived for the wrap's parameters. Callers
// hold v.mu.
func (v *Vault) checkPassword(ctx context.Context, password []byte, prepared *PreparedKey, actor string) (keys.MasterKey, passwordWrap, [32]byte, failures, error) {
	var none keys.MasterKey
	f, err := v.loadFailures(ctx)
	if err != nil {
		return none, passwordWrap{}, [32]byte{}, f, err
	}
	if f.count > 0 {
		until := time.Unix(0, f.lastNano).Add(v.backoff(f.count))
		if now := v.cfg.Now(); now.Before(until) {
			return none, passwordWrap{}, [32]byte{}, f, &BackoffError{Until: until, Failures: f.count, Wait: until.Sub(now)}
		}
	}
	b, err := v.cfg.Store.Get(ctx, pwWrapKey)
	if err != nil {
		return none, passwordWrap{}, [32]byte{}, f, fmt.Errorf("vault: reading password wrap: %w", err)
	}
	w, err := parseWrap(b)
	if err != nil {
		return none, passwordWrap{}, [32]byte{}, f, err
	}
	kek, ok := prepared.kekFor(w)
	if !ok {
		kek = xcrypto.PasswordKEK(password, w.salt[:], w.kdf, labelKEK)
	}
	mk, err := xcrypto.Open(kek[:], w.sealed, w.aad(v.vaultID[:]))
	if err != nil {
		clear(kek[:])
		f.count++
		f.lastNano = v.cfg.Now().UnixNano()
		e := AuditEntry{Actor: actor, Op: OpUnlock, Outcome: OutcomeFailed, Detail: fmt.Sprintf("failed attempt %d", f.count)}
		if aerr := v.audit.commit(asRead(ctx), e, func(b ds.Batch) error { return b.Put(ctx, failuresKey, f.marshal()) }); aerr != nil {
			return none, w, [32]byte{}, f, aerr
		}
		v.cfg.Logger.Warn("vault unlock failed", "attempt", f.count)
		return none, w, [32]byte{}, f, ErrBadPassword
	}
	master, _ := keys.MasterKeyFromBytes(mk)
	clear(mk)
	return master, w, kek, f, nil
}

// Unlock derives the KEK from password and opens the master key. Called
// before the next attempt is allowed, it returns a *BackoffError at once
// (errors.Is ErrBackoff) without trying the password. A wrong password
// returns ErrBadPassword. The first unlock of a format-1 vault migrates it
// (doc.go: "Migration from format 1").
func (v *Vault) Unlock(ctx context.Context, password []byte, actor string) error {
	return v.unlock(ctx, password, nil, actor)
}

func (v *Vault) unlock(ctx context.Context, password []byte, prepared *PreparedKey, actor string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.master.IsZero() {
		// Already open: the password is still checked (and a wrong one
		// counts toward the backoff), so "unlock" never vouches for a
		// caller who does not know it (the web UI's sessions rely on it).
		master, _, kek, _, err := v.checkPassword(ctx, password, prepared, actor)
		if err == nil {
			clear(kek[:])
			master.Wipe()
		}
		return err
	}
	master, w, kek, f, err := v.checkPassword(ctx, password, prepared, actor)
	if err != nil {
		return err
	}
	defer clear(kek[:])
	defer master.Wipe()
	return v.openWith(ctx, &master, w, &kek, f, actor)
}

// openWith finishes an unlock with a checked master key: it migrates a
// format-1 vault, checks the records written while locked, loads and
// verifies the version index, finishes an interrupted key rotation, and
// writes the unlock record under the audit key. Callers hold v.mu.
func (v *Vault) openWith(ctx context.Context, master *keys.MasterKey, w passwordWrap, kek *[32]byte, f failures, actor string) error {
	if v.format == 1 {
		return v.migrate(ctx, master, w, kek, f, actor)
	}
	if w.format != 2 {
		return fmt.Errorf("%w: the password wrap is in format 1 but the vault in format 2: an older copy of the wrap was put back", ErrCorrupt)
	}
	ak := deriveAuditKeys(master.Bytes(), v.vaultID[:], w.gen)
	var notes []string
	if s := v.audit.checkLockedTail(ctx, ak); s != "" {
		notes = append(notes, s)
		if strings.Contains(s, "failed verification") {
			v.cfg.Logger.Warn("vault: records written while locked were edited", "detail", s)
		}
	}
	idx, err := loadIndex(ctx, v.cfg.Store, master.Bytes(), v.vaultID[:], w.gen)
	if err != nil {
		return err
	}
	if idx.err != nil {
		notes = append(notes, idx.err.Error())
		v.cfg.Logger.Warn("vault: the version index does not verify; reads are refused until it is rebuilt")
	}
	if s, err := v.finishRotation(ctx, w.gen); err != nil {
		return err
	} else if s != "" {
		notes = append(notes, s)
	}
	fixPub := false
	if b, err := v.cfg.Store.Get(ctx, auditPubKey); err != nil || !bytes.Equal(b, auditPub{w.gen, ak.pub}.marshal()) {
		fixPub = true
		notes = append(notes, "the audit public key was missing or replaced outside the vault; restored")
	}
	err = v.audit.commitWith(asRead(ctx), []AuditEntry{{Actor: actor, Op: OpUnlock, Outcome: OutcomeOK, Detail: strings.Join(notes, "; ")}}, commitOpts{
		keys: &ak,
		op: func(b ds.Batch) error {
			if fixPub {
				if err := b.Put(ctx, auditPubKey, auditPub{w.gen, ak.pub}.marshal()); err != nil {
					return err
				}
			}
			if f.count == 0 {
				return nil
			}
			return b.Delete(ctx, failuresKey)
		},
	})
	if err != nil {
		return err
	}
	v.master, v.gen = *master, w.gen
	v.idxMu.Lock()
	v.index = idx
	v.idxMu.Unlock()
	return nil
}

// Lock wipes the master key and every derived key from memory. It never
// fails: a lock is never refused. Its audit record is written first,
// under the audit key (so it proves the owner's key locked), in the
// store's delete tier (it goes on when reads no longer do); the keys are
// wiped whatever happens to it. A record that cannot be written (a full
// disk) is logged, kept in memory (PendingAudit) and written late, saying
// so and when the lock was, in the batch of the next audit record this
// process writes (an unlock, a refused request, a failed unlock).
func (v *Vault) Lock(ctx context.Context, actor string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.master.IsZero() {
		return nil
	}
	at := v.cfg.Now()
	e := AuditEntry{Actor: actor, Op: OpLock, Outcome: OutcomeOK}
	err := v.audit.commitWith(asDelete(ctx), []AuditEntry{e}, commitOpts{dropKeys: true})
	v.wipeLocked()
	if err != nil {
		why := err.Error()
		if errors.Is(err, store.ErrDiskFull) {
			why = "the disk was full"
		}
		e.Detail = fmt.Sprintf("written late: the vault was locked at %s, when this record could not be written (%s)", at.UTC().Format(time.RFC3339), why)
		v.audit.owe(e)
		v.cfg.Logger.Warn("vault locked; its audit record could not be written and is kept for the next one", "err", err)
	}
	return nil
}

// PendingAudit returns the audit records the vault could not write when
// their operation was done (a lock on a full disk), which it writes with
// the next record. Empty almost always.
func (v *Vault) PendingAudit() []AuditEntry { return v.audit.pending() }

func (v *Vault) wipeLocked() {
	v.master.Wipe()
	v.resumedUntil = time.Time{}
	v.keyMu.Lock()
	for ns, k := range v.recKeys {
		k.Wipe()
		delete(v.recKeys, ns)
	}
	v.keyMu.Unlock()
	v.audit.dropKeys()
	v.idxMu.Lock()
	if v.index != nil {
		clear(v.index.key[:])
		v.index = nil
	}
	v.idxMu.Unlock()
}

// Close locks the vault without writing an audit record (process exit).
func (v *Vault) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.wipeLocked()
}

// checkNewPassword refuses a new password or KDF parameters the vault
// would not open again.
func checkNewPassword(newPw []byte, kdf KDFParams) error {
	if err := checkKDF(kdf); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if len(newPw) == 0 {
		return errors.New("vault: empty password")
	}
	return nil
}

// ChangePassword rewraps the master key under a new password: cheap, and
// records are untouched. The old password is checked even when the vault
// is unlocked. It keeps the master key, so an old copy of the wrap still
// opens with the old password: after a password leak use RotateKey.
func (v *Vault) ChangePassword(ctx context.Context, oldPw, newPw []byte, kdf KDFParams, actor string) error {
	if err := checkNewPassword(newPw, kdf); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	wasLocked, err := v.proveOldPassword(ctx, oldPw, actor)
	if err != nil {
		return err
	}
	w := wrapMaster(&v.master, v.vaultID[:], newPw, kdf, v.gen)
	err = v.audit.commit(ctx, AuditEntry{Actor: actor, Op: OpPasswordChange, Outcome: OutcomeOK}, func(b ds.Batch) error {
		if err := b.Put(ctx, pwWrapKey, w.marshal()); err != nil {
			return err
		}
		return b.Delete(ctx, failuresKey)
	})
	if wasLocked {
		v.wipeLocked()
	}
	return err
}

// proveOldPassword checks password and leaves the vault unlocked (it
// unlocks a locked vault, migrating it if needed). Callers hold v.mu.
func (v *Vault) proveOldPassword(ctx context.Context, password []byte, actor string) (wasLocked bool, err error) {
	master, w, kek, f, err := v.checkPassword(ctx, password, nil, actor)
	if err != nil {
		return false, err
	}
	defer clear(kek[:])
	defer master.Wipe()
	if !v.master.IsZero() {
		if !master.Equal(&v.master) {
			return false, fmt.Errorf("%w: the password wrap opens another master key than the one in use: it was replaced outside the vault", ErrCorrupt)
		}
		return false, nil
	}
	return true, v.openWith(ctx, &master, w, &kek, f, actor)
}

// recordKey returns the namespace's key. Callers hold v.mu (read or write).
func (v *Vault) recordKey(ns Namespace) (*keys.RecordKey, error) {
	if v.master.IsZero() {
		return nil, ErrLocked
	}
	v.keyMu.Lock()
	defer v.keyMu.Unlock()
	if k, ok := v.recKeys[ns]; ok {
		return k, nil
	}
	k := v.master.Derive(v.vaultID[:], labelRecord+"/"+string(ns))
	v.recKeys[ns] = &k
	return &k, nil
}

// Commit writes an audit record together with op's writes, atomically.
// Subsystems that keep their own state in the vault's store use it so that
// their sensitive operations are audited or not done at all.
func (v *Vault) Commit(ctx context.Context, e AuditEntry, op func(ds.Batch) error) error {
	return v.audit.commit(ctx, e, op)
}

// Audit appends a standalone audit record.
func (v *Vault) Audit(ctx context.Context, e AuditEntry) error { return v.audit.commit(ctx, e, nil) }

// VerifyAudit returns every audit record and verifies the chain. Unlocked,
// it checks everything (CheckedKeyed): every record's tag under the audit
// key of its generation, records written while locked under their session
// keys, the head's tag and its binding to the version index. Locked, it
// does what ReadAudit does (CheckedStructure). A break is an *AuditError
// (errors.Is ErrAuditBroken) naming the edit; the records before it are
// returned with it.
func (v *Vault) VerifyAudit(ctx context.Context) ([]AuditRecord, AuditCheck, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.master.IsZero() {
		recs, err := ReadAudit(ctx, v.cfg.Store)
		return recs, CheckedStructure, err
	}
	kr := &keyring{keys: map[uint32][32]byte{}}
	hist, err := v.loadHistory(ctx)
	if err != nil {
		return nil, CheckedKeyed, err
	}
	maps.Copy(kr.keys, hist)
	kr.keys[v.gen] = deriveAuditKeys(v.master.Bytes(), v.vaultID[:], v.gen).mac
	if b, err := v.cfg.Store.Get(ctx, indexStateKey); err == nil {
		if x, err := parseIndexState(b); err == nil {
			kr.indexTag = x.tag
		}
	}
	v.audit.mu.Lock() // no append in between: the head and the records agree
	defer v.audit.mu.Unlock()
	recs, err := verifyLog(ctx, v.cfg.Store, kr)
	return recs, CheckedKeyed, err
}

// loadHistory opens the audit keys of earlier generations. Callers hold v.mu.
func (v *Vault) loadHistory(ctx context.Context) (auditKeyHistory, error) {
	b, err := v.cfg.Store.Get(ctx, historyKey)
	if errors.Is(err, ds.ErrNotFound) {
		return auditKeyHistory{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("vault: reading audit key history: %w", err)
	}
	sealed, err := parseHistoryBlob(b)
	if err != nil {
		return nil, err
	}
	k := xcrypto.Expand(v.master.Bytes(), v.vaultID[:], labelAuditHistory)
	defer clear(k[:])
	pt, err := xcrypto.Open(k[:], sealed, historyAAD(v.vaultID[:], v.gen))
	if err != nil {
		return nil, fmt.Errorf("%w: the audit key history failed authentication", ErrCorrupt)
	}
	defer clear(pt)
	return parseHistoryPlaintext(pt)
}

func historyAAD(vaultID []byte, gen uint32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(labelAuditHistory), vaultID...), gen)
}

// sizeWords renders a byte count for errors: "1 MiB", "1.5 MiB", "900 KiB".
func sizeWords(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// overWords says how large n, over limit, is: in sizeWords, unless that
// rounds to the limit's own words ("1.0 MiB" over "1 MiB"), then in bytes
// and by how much it is over.
func overWords(n, limit int) string {
	rounded := fmt.Sprintf("%.1f MiB", float64(limit)/(1<<20))
	if w := sizeWords(n); w != rounded && w != sizeWords(limit) {
		return w
	}
	return fmt.Sprintf("%d bytes, %d over", n, n-limit)
}

// Put seals plaintext as record ns/name, replacing any earlier version, and
// audits the write in the same batch. The record's version comes from the
// vault-wide counter of the version index, so it is higher than any version
// any record ever had, deleted ones included.
func (v *Vault) Put(ctx context.Context, ns Namespace, name string, plaintext []byte, e AuditEntry) error {
	if !ns.valid() {
		return fmt.Errorf("vault: invalid namespace %q", ns)
	}
	if err := CheckName(name); err != nil {
		return err
	}
	if len(plaintext) > MaxRecordPlaintext {
		return fmt.Errorf("vault: %w: a record holds at most %s (this one is %s)", ErrTooLarge, sizeWords(MaxRecordPlaintext+recordPrefix+xcrypto.NonceSize+xcrypto.Overhead), overWords(len(plaintext), MaxRecordPlaintext+recordPrefix+xcrypto.NonceSize+xcrypto.Overhead))
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	k, err := v.recordKey(ns)
	if err != nil {
		return err
	}
	v.idxMu.Lock()
	defer v.idxMu.Unlock()
	if v.index.err != nil {
		return v.index.err
	}
	version := v.index.state.counter + 1
	ch := v.index.change(indexKey{ns, name}, version)
	env := envelope{format: 2, version: version, sealed: xcrypto.Seal(k.Bytes(), plaintext, recordAAD(2, v.vaultID[:], ns, name, version))}
	if e.Outcome == "" {
		e.Outcome = OutcomeOK
	}
	err = v.audit.commitWith(ctx, []AuditEntry{e}, commitOpts{indexTag: &ch.state.tag, op: func(b ds.Batch) error {
		if err := b.Put(ctx, recKeyGen(v.gen, ns, name), env.marshal()); err != nil {
			return err
		}
		return ch.stage(ctx, b)
	}})
	if err == nil {
		v.index.apply(ch)
	}
	return err
}

// open reads and opens record ns/name after checking it against the
// version index. Callers hold v.mu (read).
func (v *Vault) open(ctx context.Context, ns Namespace, name string) ([]byte, error) {
	v.idxMu.RLock()
	defer v.idxMu.RUnlock()
	return v.openHeld(ctx, ns, name)
}

// openHeld is open for callers that hold v.idxMu (read or write): the
// record cannot change between its read and the index check.
func (v *Vault) openHeld(ctx context.Context, ns Namespace, name string) ([]byte, error) {
	k, err := v.recordKey(ns)
	if err != nil {
		return nil, err
	}
	b, err := v.cfg.Store.Get(ctx, recKeyGen(v.gen, ns, name))
	found := err == nil
	if err != nil && !errors.Is(err, ds.ErrNotFound) {
		return nil, fmt.Errorf("vault: %w", err)
	}
	var env envelope
	if found {
		if env, err = parseEnvelope(b); err != nil {
			return nil, fmt.Errorf("%w (record %q)", err, name)
		}
	}
	var pt []byte
	if found {
		// Authenticate first: a forged version is tampering, not a rollback.
		if pt, err = openEnvelope(k.Bytes(), v.vaultID[:], ns, name, env); err != nil {
			return nil, err
		}
	}
	if err := v.index.check(ns, name, found, env.version); err != nil {
		clear(pt)
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	return pt, nil
}

// Get opens record ns/name. The read is audited before the value is
// returned; if the audit record cannot be written, no value is returned.
// The record is written in the store's read tier, so reads go on after a
// full disk stopped writes. A record older than the version index says is
// refused (ErrRolledBack).
func (v *Vault) Get(ctx context.Context, ns Namespace, name string, e AuditEntry) ([]byte, error) {
	if !ns.valid() || CheckName(name) != nil {
		return nil, ErrNotFound
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	pt, err := v.open(ctx, ns, name)
	switch {
	case errors.Is(err, ErrRolledBack):
		e.Outcome, e.Detail = OutcomeFailed, "refused: "+strings.TrimPrefix(err.Error(), ErrRolledBack.Error()+": ")
		_ = v.audit.commit(asRead(ctx), e, nil)
		return nil, err
	case errors.Is(err, ErrCorrupt):
		e.Outcome, e.Detail = OutcomeFailed, "record failed authentication"
		_ = v.audit.commit(asRead(ctx), e, nil)
		return nil, err
	case err != nil:
		return nil, err
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeOK
	}
	if err := v.audit.commit(asRead(ctx), e, nil); err != nil {
		clear(pt)
		return nil, err
	}
	return pt, nil
}

// Delete removes record ns/name, audited in the same batch, in the
// store's delete tier: a delete goes on after a full disk stopped writes
// and reads, since it is how the owner frees space.
func (v *Vault) Delete(ctx context.Context, ns Namespace, name string, e AuditEntry) error {
	if !ns.valid() || CheckName(name) != nil {
		return ErrNotFound
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.master.IsZero() {
		return ErrLocked
	}
	v.idxMu.Lock()
	defer v.idxMu.Unlock()
	if v.index.err != nil {
		return v.index.err
	}
	key := recKeyGen(v.gen, ns, name)
	ok, err := v.cfg.Store.Has(ctx, key)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	_, indexed := v.index.entries[indexKey{ns, name}]
	if !ok && !indexed {
		return ErrNotFound
	}
	ch := v.index.change(indexKey{ns, name}, 0)
	if e.Outcome == "" {
		e.Outcome = OutcomeOK
	}
	err = v.audit.commitWith(asDelete(ctx), []AuditEntry{e}, commitOpts{indexTag: &ch.state.tag, op: func(b ds.Batch) error {
		if err := b.Delete(ctx, key); err != nil {
			return err
		}
		return ch.stage(ctx, b)
	}})
	if err == nil {
		v.index.apply(ch)
	}
	return err
}

// List returns the record names in ns, sorted. Names are metadata; listing
// requires the vault to be unlocked all the same.
func (v *Vault) List(ctx context.Context, ns Namespace) ([]string, error) {
	if !ns.valid() {
		return nil, fmt.Errorf("vault: invalid namespace %q", ns)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.master.IsZero() {
		return nil, ErrLocked
	}
	prefix := recPrefixGen(v.gen).ChildString(string(ns)).String() + "/"
	res, err := v.cfg.Store.Query(ctx, query.Query{Prefix: prefix, KeysOnly: true})
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(e.Key, prefix))
		if err != nil {
			return nil, fmt.Errorf("%w: record key %q", ErrCorrupt, e.Key)
		}
		names = append(names, string(raw))
	}
	slices.Sort(names)
	return names, nil
}

func openEnvelope(key, vaultID []byte, ns Namespace, name string, env envelope) ([]byte, error) {
	pt, err := xcrypto.Open(key, env.sealed, recordAAD(env.format, vaultID, ns, name, env.version))
	if err != nil {
		return nil, fmt.Errorf("%w: record %q failed authentication", ErrCorrupt, name)
	}
	return pt, nil
}
