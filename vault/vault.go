package vault

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/ocmt/mesh/internal/keys"
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
)

var (
	headerKey   = ds.NewKey("/meta/header")
	pwWrapKey   = ds.NewKey("/meta/wrap/password")
	failuresKey = ds.NewKey("/meta/failures")
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

// Names are base64url-encoded in datastore keys, so no name can alias
// another through key cleaning ("a/../b", "a//b").
func recKey(ns Namespace, name string) ds.Key {
	return recPrefix.ChildString(string(ns)).ChildString(base64.RawURLEncoding.EncodeToString([]byte(name)))
}

// Config configures a Vault. The zero value of every field but Store works.
type Config struct {
	// Store holds everything. Required. internal/store opens pebble on disk.
	Store ds.Batching
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Sleep waits out the failed-unlock backoff. Default: a ctx-aware timer.
	Sleep func(ctx context.Context, d time.Duration) error
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
	if c.Sleep == nil {
		c.Sleep = sleepCtx
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

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Vault is an open vault, locked or unlocked. It is safe for concurrent use.
type Vault struct {
	cfg     Config
	vaultID [vaultIDSize]byte
	audit   *auditLog

	mu     sync.RWMutex
	master keys.MasterKey // zero while locked

	keyMu   sync.Mutex // guards recKeys, a cache of derived keys
	recKeys map[Namespace]*keys.RecordKey
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
	v := &Vault{cfg: cfg, recKeys: map[Namespace]*keys.RecordKey{}}
	rand.Read(v.vaultID[:])
	v.master = keys.GenerateMasterKey()
	wrap := v.wrapMaster(password, kdf)
	var err error
	if v.audit, err = openAudit(ctx, cfg.Store, cfg.Now); err != nil {
		return nil, err
	}
	err = v.audit.commit(ctx, AuditEntry{Actor: actor, Op: OpInit, Outcome: OutcomeOK}, func(b ds.Batch) error {
		if err := b.Put(ctx, headerKey, header{v.vaultID}.marshal()); err != nil {
			return err
		}
		return b.Put(ctx, pwWrapKey, wrap.marshal())
	})
	if err != nil {
		v.master.Wipe()
		return nil, err
	}
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
	v := &Vault{cfg: cfg, vaultID: h.vaultID, recKeys: map[Namespace]*keys.RecordKey{}}
	if v.audit, err = openAudit(ctx, cfg.Store, cfg.Now); err != nil {
		return nil, err
	}
	return v, nil
}

// wrapMaster seals the current master key under a new password KEK.
func (v *Vault) wrapMaster(password []byte, kdf KDFParams) passwordWrap {
	w := passwordWrap{kdf: kdf}
	rand.Read(w.salt[:])
	kek := xcrypto.PasswordKEK(password, w.salt[:], kdf, labelKEK)
	defer clear(kek[:])
	w.sealed = xcrypto.Seal(kek[:], v.master.Bytes(), w.aad(v.vaultID[:]))
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
// earliest time the next attempt will be evaluated.
func (v *Vault) FailedAttempts(ctx context.Context) (uint32, time.Time, error) {
	f, err := v.loadFailures(ctx)
	if err != nil {
		return 0, time.Time{}, err
	}
	return f.count, time.Unix(0, f.lastNano).Add(v.backoff(f.count)), nil
}

// Unlock derives the KEK from password and opens the master key. A wrong
// password returns ErrBadPassword after the backoff owed by earlier failures.
func (v *Vault) Unlock(ctx context.Context, password []byte, actor string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.master.IsZero() {
		return nil
	}
	f, err := v.loadFailures(ctx)
	if err != nil {
		return err
	}
	if wait := time.Unix(0, f.lastNano).Add(v.backoff(f.count)).Sub(v.cfg.Now()); wait > 0 {
		if err := v.cfg.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("vault: waiting out failed-attempt backoff: %w", err)
		}
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
	mk, err := xcrypto.Open(kek[:], w.sealed, w.aad(v.vaultID[:]))
	clear(kek[:])
	if err != nil {
		f.count++
		f.lastNano = v.cfg.Now().UnixNano()
		e := AuditEntry{Actor: actor, Op: OpUnlock, Outcome: OutcomeFailed, Detail: fmt.Sprintf("failed attempt %d", f.count)}
		if aerr := v.audit.commit(ctx, e, func(b ds.Batch) error { return b.Put(ctx, failuresKey, f.marshal()) }); aerr != nil {
			return aerr
		}
		v.cfg.Logger.Warn("vault unlock failed", "attempt", f.count)
		return ErrBadPassword
	}
	master, _ := keys.MasterKeyFromBytes(mk)
	clear(mk)
	err = v.audit.commit(ctx, AuditEntry{Actor: actor, Op: OpUnlock, Outcome: OutcomeOK}, func(b ds.Batch) error {
		if f.count == 0 {
			return nil
		}
		return b.Delete(ctx, failuresKey)
	})
	if err != nil {
		master.Wipe()
		return err
	}
	v.master = master
	return nil
}

// Lock wipes the master key and every derived key from memory.
func (v *Vault) Lock(ctx context.Context, actor string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.master.IsZero() {
		return nil
	}
	v.wipeLocked()
	return v.audit.commit(ctx, AuditEntry{Actor: actor, Op: OpLock, Outcome: OutcomeOK}, nil)
}

func (v *Vault) wipeLocked() {
	v.master.Wipe()
	for ns, k := range v.recKeys {
		k.Wipe()
		delete(v.recKeys, ns)
	}
}

// Close locks the vault without writing an audit record (process exit).
func (v *Vault) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.wipeLocked()
}

// ChangePassword rewraps the master key under a new password. Records are
// untouched. The old password is checked even when the vault is unlocked.
func (v *Vault) ChangePassword(ctx context.Context, oldPw, newPw []byte, kdf KDFParams, actor string) error {
	if err := checkKDF(kdf); err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	if len(newPw) == 0 {
		return errors.New("vault: empty password")
	}
	wasLocked := v.Locked()
	if !wasLocked {
		// Prove knowledge of the old password without disturbing the session.
		probe, err := Open(ctx, v.cfg)
		if err != nil {
			return err
		}
		probe.audit = v.audit
		if err := probe.Unlock(ctx, oldPw, actor); err != nil {
			return err
		}
		probe.Close()
	} else if err := v.Unlock(ctx, oldPw, actor); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	w := v.wrapMaster(newPw, kdf)
	err := v.audit.commit(ctx, AuditEntry{Actor: actor, Op: OpPasswordChange, Outcome: OutcomeOK}, func(b ds.Batch) error {
		return b.Put(ctx, pwWrapKey, w.marshal())
	})
	if wasLocked {
		v.wipeLocked()
	}
	return err
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

// Put seals plaintext as record ns/name, replacing any earlier version, and
// audits the write in the same batch.
func (v *Vault) Put(ctx context.Context, ns Namespace, name string, plaintext []byte, e AuditEntry) error {
	if !ns.valid() {
		return fmt.Errorf("vault: invalid namespace %q", ns)
	}
	if err := CheckName(name); err != nil {
		return err
	}
	if len(plaintext) > MaxRecordSize-recordPrefix-xcrypto.NonceSize-xcrypto.Overhead {
		return fmt.Errorf("vault: record too large (max %d MiB)", MaxRecordSize>>20)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	k, err := v.recordKey(ns)
	if err != nil {
		return err
	}
	key := recKey(ns, name)
	version := uint64(1)
	if old, err := v.cfg.Store.Get(ctx, key); err == nil {
		env, err := parseEnvelope(old)
		if err != nil {
			return fmt.Errorf("%w (record %q; remove it first)", err, name)
		}
		version = env.version + 1
	} else if !errors.Is(err, ds.ErrNotFound) {
		return fmt.Errorf("vault: %w", err)
	}
	env := envelope{version: version, sealed: xcrypto.Seal(k.Bytes(), plaintext, recordAAD(v.vaultID[:], ns, name, version))}
	if e.Outcome == "" {
		e.Outcome = OutcomeOK
	}
	return v.audit.commit(ctx, e, func(b ds.Batch) error { return b.Put(ctx, key, env.marshal()) })
}

// Get opens record ns/name. The read is audited before the value is
// returned; if the audit record cannot be written, no value is returned.
func (v *Vault) Get(ctx context.Context, ns Namespace, name string, e AuditEntry) ([]byte, error) {
	if !ns.valid() || CheckName(name) != nil {
		return nil, ErrNotFound
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	k, err := v.recordKey(ns)
	if err != nil {
		return nil, err
	}
	b, err := v.cfg.Store.Get(ctx, recKey(ns, name))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	env, err := parseEnvelope(b)
	if err != nil {
		return nil, fmt.Errorf("%w (record %q)", err, name)
	}
	pt, err := openEnvelope(k.Bytes(), v.vaultID[:], ns, name, env)
	if err != nil {
		e.Outcome, e.Detail = OutcomeFailed, "record failed authentication"
		_ = v.audit.commit(ctx, e, nil)
		return nil, err
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeOK
	}
	if err := v.audit.commit(ctx, e, nil); err != nil {
		clear(pt)
		return nil, err
	}
	return pt, nil
}

// Delete removes record ns/name.
func (v *Vault) Delete(ctx context.Context, ns Namespace, name string, e AuditEntry) error {
	if !ns.valid() || CheckName(name) != nil {
		return ErrNotFound
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.master.IsZero() {
		return ErrLocked
	}
	key := recKey(ns, name)
	if ok, err := v.cfg.Store.Has(ctx, key); err != nil {
		return fmt.Errorf("vault: %w", err)
	} else if !ok {
		return ErrNotFound
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeOK
	}
	return v.audit.commit(ctx, e, func(b ds.Batch) error { return b.Delete(ctx, key) })
}

// List returns the record names in ns, sorted. Names are metadata; listing
// requires the vault to be unlocked all the same.
func (v *Vault) List(ctx context.Context, ns Namespace) ([]string, error) {
	if !ns.valid() {
		return nil, fmt.Errorf("vault: invalid namespace %q", ns)
	}
	if v.Locked() {
		return nil, ErrLocked
	}
	prefix := recPrefix.ChildString(string(ns)).String() + "/"
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
	pt, err := xcrypto.Open(key, env.sealed, recordAAD(vaultID, ns, name, env.version))
	if err != nil {
		return nil, fmt.Errorf("%w: record %q failed authentication", ErrCorrupt, name)
	}
	return pt, nil
}
