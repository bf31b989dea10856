// Package xcrypto holds the few symmetric primitives OCMT Mesh uses, each
// with the reason its use is safe. Nothing here chooses keys or labels;
// callers pass typed keys' bytes and a domain label.
package xcrypto

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Sizes of the AEAD's parts.
const (
	KeySize   = chacha20poly1305.KeySize    // 32
	NonceSize = chacha20poly1305.NonceSizeX // 24
	Overhead  = chacha20poly1305.Overhead   // 16
)

// ErrOpen is the only error Open returns for a ciphertext that does not
// authenticate: wrong key, flipped byte, truncation and wrong AAD look alike.
var ErrOpen = errors.New("xcrypto: message authentication failed")

// Seal encrypts plaintext with XChaCha20-Poly1305 and returns nonce||ct.
//
// Safe because the 24-byte nonce is drawn fresh from crypto/rand for every
// call: with 192 random bits a collision is negligible even after 2^64
// messages under one key, so keys may be long-lived. The AAD binds the
// context (namespace, name, version), so a blob moved elsewhere fails Open.
func Seal(key, plaintext, aad []byte) []byte {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic("xcrypto: bad key length") // callers pass fixed 32-byte arrays
	}
	out := make([]byte, NonceSize, NonceSize+len(plaintext)+Overhead)
	rand.Read(out)
	return aead.Seal(out, out[:NonceSize], plaintext, aad)
}

// Open reverses Seal. Any failure is ErrOpen.
func Open(key, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < NonceSize+Overhead {
		return nil, ErrOpen
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic("xcrypto: bad key length")
	}
	pt, err := aead.Open(nil, sealed[:NonceSize], sealed[NonceSize:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// KDFParams are Argon2id cost parameters.
type KDFParams struct {
	Time      uint32 // passes
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes
}

// PasswordKEK derives a 32-byte key-encryption key from a password:
// Argon2id(password, salt, params) then HKDF-SHA256 with the purpose label,
// so the raw password hash is never used as more than one key.
func PasswordKEK(password, salt []byte, p KDFParams, label string) [32]byte {
	raw := argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, 32)
	defer clear(raw)
	return Expand(raw, salt, label)
}

// Expand derives a 32-byte subkey from uniformly random input key material.
func Expand(ikm, salt []byte, label string) [32]byte {
	out, err := hkdf.Key(sha256.New, ikm, salt, label, 32)
	if err != nil {
		panic(err)
	}
	var k [32]byte
	copy(k[:], out)
	clear(out)
	return k
}
