package group

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ocmt/mesh/internal/wire"
)

// SecretLabel is the HKDF info that derives the secrets' subkey from the
// group key, and the label of a sealed secret's additional data (doc.go
// "Secrets").
const SecretLabel = "ocmt-mesh/group-secret/v1"

// sealedWire is a sealed secret (doc.go "Secrets").
type sealedWire struct {
	Version uint64 `cbor:"1,keyasint"`
	Release int64  `cbor:"2,keyasint"`
	Nonce   []byte `cbor:"3,keyasint"`
	Box     []byte `cbor:"4,keyasint"`
}

// boundWire is what a sealed secret's additional data binds.
type boundWire struct {
	Group   string `cbor:"1,keyasint"`
	Name    string `cbor:"2,keyasint"`
	Release int64  `cbor:"3,keyasint"`
}

// CheckSecretName checks a secret's name: 1 to MaxSecretNameLen bytes of
// letters a to z and A to Z, digits, ".", "_", "-" and "/"; not starting
// or ending with "/", with no "//" and no "..". A failure wraps
// ErrBadName.
func CheckSecretName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w: a secret's name %s", ErrBadName, why) }
	if len(name) == 0 || len(name) > MaxSecretNameLen {
		return bad(fmt.Sprintf("is 1 to %d characters", MaxSecretNameLen))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return bad("holds only letters, digits, dots, underscores, hyphens and slashes")
		}
		if i > 0 && (c == '/' && name[i-1] == '/' || c == '.' && name[i-1] == '.') {
			return bad("has no two slashes or two dots in a row")
		}
	}
	if name[0] == '/' || name[len(name)-1] == '/' {
		return bad("neither starts nor ends with a slash")
	}
	return nil
}

// releaseUnix is the release time as sealed: 0 for none, else whole Unix
// seconds from 1 to maxUnix.
func releaseUnix(t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, nil
	}
	u := t.Unix()
	if u < 1 || u > maxUnix {
		return 0, fmt.Errorf("%w: a secret's release time is after 1970 and before the year 10000", ErrMalformed)
	}
	return u, nil
}

func secretAEAD(k *Key, group, name string, release int64) (aead interface {
	Seal(dst, nonce, plaintext, ad []byte) []byte
	Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
}, ad []byte, err error) {
	if k == nil || k.IsZero() {
		return nil, nil, fmt.Errorf("%w: group %q's key is not held", ErrLocked, group)
	}
	sub, err := hkdf.Key(sha256.New, k.Bytes(), nil, SecretLabel, chacha20poly1305.KeySize)
	if err != nil {
		return nil, nil, fmt.Errorf("group: deriving the secrets' key failed")
	}
	defer clear(sub)
	a, err := chacha20poly1305.NewX(sub)
	if err != nil {
		return nil, nil, fmt.Errorf("group: the secrets' key is not a key")
	}
	body, err := wire.Marshal(boundWire{Group: group, Name: name, Release: release})
	if err != nil {
		return nil, nil, err
	}
	return a, append(append([]byte(SecretLabel), 0), body...), nil
}

// SealSecret seals value, a secret of the group named group, under the
// group key, binding the group, the secret's name and its release time
// (cut to the second; the zero time for none): opening it under any
// other fails. The nonce is 24 random bytes (XChaCha20-Poly1305), so
// any number of secrets can be sealed under one key. The release time is
// in the clear in the sealed bytes; the caller decides what it means.
func SealSecret(k *Key, group, name string, release time.Time, value []byte) ([]byte, error) {
	if err := checkName(group); err != nil {
		return nil, err
	}
	if err := CheckSecretName(name); err != nil {
		return nil, err
	}
	if len(value) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: secret %q is %d bytes, at most %d", ErrTooLarge, name, len(value), MaxSecretBytes)
	}
	rel, err := releaseUnix(release)
	if err != nil {
		return nil, err
	}
	aead, ad, err := secretAEAD(k, group, name, rel)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, secretNonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("group: no randomness for a nonce")
	}
	return wire.Marshal(sealedWire{Version: recordVersion, Release: rel, Nonce: nonce, Box: aead.Seal(nil, nonce, value, ad)})
}

// OpenSecret opens a secret SealSecret sealed, under the group key, for
// the group named group and the secret named name. It returns the value
// and the release time (the zero time for none). Bytes that do not
// decode wrap ErrMalformed; a wrong key, group or name, an altered
// release time or altered bytes all fail alike, with ErrSealed.
func OpenSecret(k *Key, group, name string, sealed []byte) (value []byte, release time.Time, err error) {
	if err := CheckSecretName(name); err != nil {
		return nil, time.Time{}, err
	}
	w, err := parseSealed(sealed)
	if err != nil {
		return nil, time.Time{}, err
	}
	aead, ad, err := secretAEAD(k, group, name, w.Release)
	if err != nil {
		return nil, time.Time{}, err
	}
	value, err = aead.Open(nil, w.Nonce, w.Box, ad)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: secret %q does not open with group %q's key; it was sealed for another group, name or key, or altered", ErrSealed, name, group)
	}
	if w.Release != 0 {
		release = time.Unix(w.Release, 0).UTC()
	}
	return value, release, nil
}

// parseSealed decodes a sealed secret's encoding (doc.go "Secrets").
func parseSealed(b []byte) (*sealedWire, error) {
	bad := func(why string) error { return fmt.Errorf("%w: the sealed secret %s", ErrMalformed, why) }
	if len(b) > maxSealedSecretBytes {
		return nil, bad("is too long")
	}
	var w sealedWire
	if err := wire.UnmarshalCanonical(b, &w); err != nil {
		return nil, bad("does not decode")
	}
	if w.Version != recordVersion {
		return nil, bad("has an unknown version")
	}
	if w.Release < 0 || w.Release > maxUnix {
		return nil, bad("has an impossible release time")
	}
	if len(w.Nonce) != secretNonceSize || len(w.Box) < chacha20poly1305.Overhead || len(w.Box) > MaxSecretBytes+chacha20poly1305.Overhead {
		return nil, bad("has no nonce or a box of an impossible size")
	}
	return &w, nil
}
