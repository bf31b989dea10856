package vault

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// KeyParams are what deriving the password's key needs from a vault: its
// password wrap's salt and KDF parameters. They are not secret (anyone who
// can read the store reads them). A process that opens the vault only for
// one command reads them, lets go of the store, derives the key
// (Derive: one Argon2id run, the slow part) and then opens the store again
// for its work, so it never holds the store while the KDF runs.
type KeyParams struct {
	salt [saltSize]byte
	kdf  KDFParams
}

// ReadKeyParams reads the vault's password parameters from s. It does no
// KDF work: parameters above the caps (doc.go, "Password wrap") are
// refused here.
func ReadKeyParams(ctx context.Context, s ds.Read) (KeyParams, error) {
	b, err := s.Get(ctx, pwWrapKey)
	if errors.Is(err, ds.ErrNotFound) {
		return KeyParams{}, ErrNoVault
	} else if err != nil {
		return KeyParams{}, fmt.Errorf("vault: reading password wrap: %w", err)
	}
	w, err := parseWrap(b)
	if err != nil {
		return KeyParams{}, err
	}
	return KeyParams{salt: w.salt, kdf: w.kdf}, nil
}

// Derive runs the KDF on password: the key it gives opens the vault
// (UnlockPrepared) as long as its wrap keeps these parameters.
func (p KeyParams) Derive(password []byte) *PreparedKey {
	return &PreparedKey{params: p, kek: xcrypto.PasswordKEK(password, p.salt[:], p.kdf, labelKEK)}
}

// PreparedKey is the key a password derives under some KeyParams, made
// before the vault is opened. It holds no password, only what the
// password's KDF gives; Wipe it after use.
type PreparedKey struct {
	params KeyParams
	kek    [32]byte
}

// Wipe clears the key. It is idempotent, and a nil key is a no-op.
func (k *PreparedKey) Wipe() {
	if k != nil {
		clear(k.kek[:])
		k.params = KeyParams{}
	}
}

// kekFor returns the prepared key if it was derived for wrap w's
// parameters.
func (k *PreparedKey) kekFor(w passwordWrap) ([32]byte, bool) {
	if k == nil || k.params.salt != w.salt || k.params.kdf != w.kdf || k.params == (KeyParams{}) {
		return [32]byte{}, false
	}
	return k.kek, true
}

// UnlockPrepared is Unlock with the password's key derived beforehand
// (KeyParams.Derive). Everything Unlock does is done the same way, in the
// same order: the backoff is checked first, a wrong password is counted
// and audited. When the wrap changed since the key was derived (a new
// password or salt), the key is derived again from password, as Unlock
// does.
func (v *Vault) UnlockPrepared(ctx context.Context, k *PreparedKey, password []byte, actor string) error {
	return v.unlock(ctx, password, k, actor)
}

// Tiers of the vault's own writes in the store (internal/store): writes
// stop first, at the write reserve; what the owner's access depends on
// goes on below it: the audit record of a read, an unlock and a failed
// unlock's count (TierRead), and a delete or the lock record (TierDelete).
func asRead(ctx context.Context) context.Context   { return store.WithTier(ctx, store.TierRead) }
func asDelete(ctx context.Context) context.Context { return store.WithTier(ctx, store.TierDelete) }
