package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// Resume wraps: a node that hibernates while unlocked keeps its master key
// sealed under a one-time resume key R, so that it can come up unlocked
// when it is woken, until the window ends (internal/resume holds R's home
// half and this wrap in its home file; the waker holds the other half).
//
// A resume wrap is ResumeWrapSize (108) bytes:
//
//	magic "OCMTRSW\x01" (8) | vault ID (16) | gen u32 | until unix-nano i64
//	| nonce (24) | sealed master key (32+16)
//
//	K   = HKDF-SHA256(R, vault ID, "ocmt-mesh/vault-resume/v1")
//	AAD = "ocmt-mesh/vault-resume/v1" || the wrap's bytes up to the nonce
//
// so the vault, the key generation and the end of the window are
// authenticated: a wrap moved to another vault, made before a key rotation
// or with its window extended does not open.
const (
	resumeMagic  = "OCMTRSW\x01"
	labelResume  = "ocmt-mesh/vault-resume/v1"
	resumePrefix = len(resumeMagic) + vaultIDSize + 4 + 8
	// ResumeWrapSize is the size of every resume wrap (WrapForResume).
	ResumeWrapSize = resumePrefix + xcrypto.NonceSize + 32 + xcrypto.Overhead
)

// Audit operations of hibernation. A refused resume is recorded as
// OpUnlock, outcome failed, target ResumeTarget; a resume that unlocked is
// the OpUnlock record of the unlock followed by an OpResume record.
const (
	OpResumePrepare = "vault.resume-prepare"
	OpResume        = "vault.resume"
	// ResumeTarget is the Target of the resume's audit records: how the
	// vault was unlocked.
	ResumeTarget = "resume"
)

var (
	// ErrResumeExpired: the resume window has ended; the vault stays
	// locked until the password unlocks it.
	ErrResumeExpired = errors.New("the resume window has ended: unlock the vault with its password")
	// ErrResumeKey: the resume key does not open the resume wrap (a key
	// from another hibernation, or an altered wrap). It is not a wrong
	// password: nothing is counted and no backoff follows.
	ErrResumeKey = errors.New("the resume key does not open this resume wrap")
	// ErrResumeOtherVault: the resume wrap was made by another vault.
	ErrResumeOtherVault = errors.New("the resume wrap was made by another vault")
)

// maxUntil is the last instant a wrap can name (int64 unix nanoseconds).
var maxUntil = time.Unix(0, math.MaxInt64)

type resumeWrap struct {
	vaultID [vaultIDSize]byte
	gen     uint32
	until   int64 // unix nanoseconds
	sealed  []byte
}

func (w resumeWrap) prefix() []byte {
	b := make([]byte, 0, ResumeWrapSize)
	b = append(b, resumeMagic...)
	b = append(b, w.vaultID[:]...)
	b = binary.BigEndian.AppendUint32(b, w.gen)
	return binary.BigEndian.AppendUint64(b, uint64(w.until))
}

func (w resumeWrap) marshal() []byte { return append(w.prefix(), w.sealed...) }

func (w resumeWrap) aad() []byte { return append([]byte(labelResume), w.prefix()...) }

func parseResumeWrap(b []byte) (resumeWrap, error) {
	var w resumeWrap
	if len(b) != ResumeWrapSize || !bytes.HasPrefix(b, []byte(resumeMagic)) {
		return w, fmt.Errorf("%w: this is not a resume wrap", ErrCorrupt)
	}
	p := b[len(resumeMagic):]
	copy(w.vaultID[:], p)
	w.gen = binary.BigEndian.Uint32(p[vaultIDSize:])
	w.until = int64(binary.BigEndian.Uint64(p[vaultIDSize+4:]))
	w.sealed = append([]byte(nil), b[resumePrefix:]...)
	return w, nil
}

// ReadResumeWrap reads which vault a resume wrap is of and when its
// window ends, without opening it: neither is authenticated until
// UnlockResumed opens the wrap.
func ReadResumeWrap(wrapped []byte) (vaultID []byte, until time.Time, err error) {
	w, err := parseResumeWrap(wrapped)
	if err != nil {
		return nil, time.Time{}, err
	}
	return w.vaultID[:], time.Unix(0, w.until), nil
}

func resumeKEK(resumeKey *[32]byte, vaultID []byte) [32]byte {
	return xcrypto.Expand(resumeKey[:], vaultID, labelResume)
}

// WrapForResume seals the master key under resumeKey for a resume before
// until, and audits it (OpResumePrepare; the record names the window, not
// the key). The vault must be unlocked (ErrLocked otherwise). The wrap is
// not secret without resumeKey; the caller keeps resumeKey apart from it
// (internal/resume splits it in two halves).
func (v *Vault) WrapForResume(ctx context.Context, resumeKey *[32]byte, until time.Time, actor string) ([]byte, error) {
	if resumeKey == nil || *resumeKey == ([32]byte{}) {
		return nil, errors.New("vault: no resume key")
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.master.IsZero() {
		return nil, ErrLocked
	}
	if now := v.cfg.Now(); !until.After(now) {
		return nil, fmt.Errorf("vault: the resume window would end before it starts (%s is not after %s)", until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if until.After(maxUntil) {
		return nil, errors.New("vault: the resume window ends after the year 2262")
	}
	w := resumeWrap{vaultID: v.vaultID, gen: v.gen, until: until.UnixNano()}
	k := resumeKEK(resumeKey, v.vaultID[:])
	w.sealed = xcrypto.Seal(k[:], v.master.Bytes(), w.aad())
	clear(k[:])
	e := AuditEntry{Actor: actor, Op: OpResumePrepare, Target: ResumeTarget, Outcome: OutcomeOK,
		Detail: "the master key was wrapped for a resume until " + until.UTC().Format(time.RFC3339)}
	if err := v.audit.commit(ctx, e, nil); err != nil {
		return nil, err
	}
	return w.marshal(), nil
}

// UnlockResumed unlocks the vault with a resume wrap (WrapForResume) and
// its resume key, at now. Once the master key is open it goes the way a
// password unlock goes after its KDF (openWith: records written while
// locked, the version index, an unfinished rotation, the unlock record),
// and then writes an OpResume record saying how. It refuses, audited as a
// failed OpUnlock with target ResumeTarget:
//
//   - a wrap of another vault (ErrResumeOtherVault);
//   - at or after the wrap's until (ErrResumeExpired);
//   - a wrap made under another key generation than the password wrap's
//     (a key rotation since, or a wrap put back);
//   - a key that does not open the wrap (ErrResumeKey).
//
// A refusal is not a wrong password: it is not counted, starts no backoff
// and is not subject to one. An unlocked vault returns nil at once.
func (v *Vault) UnlockResumed(ctx context.Context, wrapped []byte, resumeKey *[32]byte, now time.Time, actor string) error {
	if resumeKey == nil {
		return errors.New("vault: no resume key")
	}
	w, err := parseResumeWrap(wrapped)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.master.IsZero() {
		return nil
	}
	until := time.Unix(0, w.until)
	refuse := func(detail string, err error) error {
		e := AuditEntry{Actor: actor, Op: OpUnlock, Target: ResumeTarget, Outcome: OutcomeFailed, Detail: detail}
		if aerr := v.audit.commit(asRead(ctx), e, nil); aerr != nil {
			v.cfg.Logger.Warn("vault: a refused resume could not be audited", "err", aerr)
		}
		v.cfg.Logger.Warn("vault resume refused", "why", detail)
		return err
	}
	if !bytes.Equal(w.vaultID[:], v.vaultID[:]) {
		return refuse("the resume wrap was made by another vault", ErrResumeOtherVault)
	}
	if !now.Before(until) {
		return refuse("the resume window ended at "+until.UTC().Format(time.RFC3339), fmt.Errorf("%w (it ended at %s)", ErrResumeExpired, until.UTC().Format(time.RFC3339)))
	}
	if v.format != 2 {
		return refuse("the vault is in format 1: a resume wrap cannot be newer than it", fmt.Errorf("%w: the vault header is older than its resume wrap: an older copy of the header was put back", ErrCorrupt))
	}
	b, err := v.cfg.Store.Get(ctx, pwWrapKey)
	if err != nil {
		return fmt.Errorf("vault: reading password wrap: %w", err)
	}
	pw, err := parseWrap(b)
	if err != nil {
		return err
	}
	if pw.format != 2 || pw.gen != w.gen {
		return refuse(fmt.Sprintf("the resume wrap is of key generation %d, the vault of %d", w.gen, pw.gen),
			fmt.Errorf("%w: the vault's key changed since the hibernation (generation %d, the wrap's %d): unlock with the password", ErrResumeKey, pw.gen, w.gen))
	}
	k := resumeKEK(resumeKey, v.vaultID[:])
	mk, err := xcrypto.Open(k[:], w.sealed, w.aad())
	clear(k[:])
	if err != nil {
		return refuse("the resume key does not open the resume wrap (not counted as a wrong password)", ErrResumeKey)
	}
	master, _ := keys.MasterKeyFromBytes(mk)
	clear(mk)
	defer master.Wipe()
	var noKEK [32]byte // openWith uses the KEK only to migrate format 1, refused above
	if err := v.openWith(ctx, &master, pw, &noKEK, failures{}, actor); err != nil {
		return err
	}
	e := AuditEntry{Actor: actor, Op: OpResume, Target: ResumeTarget, Outcome: OutcomeOK,
		Detail: "unlocked with the resume key of a hibernation; its window ended at " + until.UTC().Format(time.RFC3339)}
	if err := v.audit.commit(asRead(ctx), e, nil); err != nil {
		v.lockHeld(ctx, actor, "the resume could not be audited")
		return fmt.Errorf("vault: the resume could not be audited, so the vault was locked again: %w", err)
	}
	v.resumedUntil = until
	v.cfg.Logger.Info("vault unlocked by a resume")
	return nil
}

// ResumedUntil is when the unlock session ends that a resume started
// (UnlockResumed): the window of the hibernation it came from, which
// neither a later hibernation nor the idle clock may extend. Zero while
// locked or after a password unlock.
func (v *Vault) ResumedUntil() time.Time {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.resumedUntil
}

// lockHeld is Lock for callers that hold v.mu, with a reason in the
// record.
func (v *Vault) lockHeld(ctx context.Context, actor, why string) {
	at := v.cfg.Now()
	e := AuditEntry{Actor: actor, Op: OpLock, Outcome: OutcomeOK, Detail: why}
	err := v.audit.commitWith(asDelete(ctx), []AuditEntry{e}, commitOpts{dropKeys: true})
	v.wipeLocked()
	if err != nil {
		e.Detail = fmt.Sprintf("%s; written late: the vault was locked at %s, when this record could not be written", why, at.UTC().Format(time.RFC3339))
		v.audit.owe(e)
	}
}
