// Package xcrypto holds the few symmetric primitives OCMT Mesh uses, each
// with the reason its use is safe. Nothing here chooses keys or labels;
// callers pass typed keys' bytes and a domain label.
package xcrypto

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
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

// NewAEAD returns XChaCha20-Poly1305 under key for a construction that
// chooses its own nonces: a STREAM (internal/backup), whose nonce is a
// chunk counter and a last-chunk flag.
//
// Safe only because such a caller derives a fresh key for every stream
// (from a fresh random salt), so a counter nonce never repeats under one
// key. Everything else uses Seal, whose nonces are random.
func NewAEAD(key []byte) cipher.AEAD {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic("xcrypto: bad key length") // callers pass fixed 32-byte arrays
	}
	return aead
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

// MACSize is the size of a MAC tag.
const MACSize = sha256.Size

// MAC returns HMAC-SHA256(key, label || 0x00 || msg...). The label is the
// caller's domain label, so a tag made for one purpose never verifies for
// another under the same key.
//
// Safe because HMAC-SHA256 is a PRF under a uniformly random key (callers
// derive keys with Expand), so tags cannot be forged or predicted without
// the key, and the label and zero byte make every purpose's inputs disjoint.
func MAC(key []byte, label string, msg ...[]byte) [MACSize]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	for _, b := range msg {
		m.Write(b)
	}
	var t [MACSize]byte
	m.Sum(t[:0])
	return t
}

// MACEqual compares two tags in constant time.
func MACEqual(a, b []byte) bool { return hmac.Equal(a, b) }

// X25519Public returns the X25519 public key of a 32-byte private key (any
// 32 bytes are a valid private key after clamping).
func X25519Public(priv []byte) ([32]byte, error) {
	var pub [32]byte
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		return pub, err
	}
	copy(pub[:], k.PublicKey().Bytes())
	return pub, nil
}

// SealedToSize is the overhead SealTo adds: the ephemeral public key, the
// nonce and the tag.
const SealedToSize = 32 + NonceSize + Overhead

// SealTo encrypts plaintext so that only the holder of pub's private key
// can open it: a fresh ephemeral X25519 key e, the key
// Expand(X25519(e, pub), epk || pub, label), then Seal. It returns
// epk || nonce || ct.
//
// Safe because e is fresh for every call (so the derived key is too), the
// shared secret is hashed with both public keys into a purpose-labelled key
// (a low-order pub is refused by crypto/ecdh), and Seal authenticates.
// It proves nothing about who sealed: anyone who knows pub can seal.
func SealTo(pub, plaintext, aad []byte, label string) ([]byte, error) {
	rp, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	e, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	shared, err := e.ECDH(rp)
	if err != nil {
		return nil, err
	}
	defer clear(shared)
	epk := e.PublicKey().Bytes()
	k := Expand(shared, append(append([]byte(nil), epk...), pub...), label)
	defer clear(k[:])
	return append(epk, Seal(k[:], plaintext, aad)...), nil
}

// OpenWith reverses SealTo with the private key. Any failure is ErrOpen.
func OpenWith(priv, sealed, aad []byte, label string) ([]byte, error) {
	if len(sealed) < SealedToSize {
		return nil, ErrOpen
	}
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		return nil, ErrOpen
	}
	ep, err := ecdh.X25519().NewPublicKey(sealed[:32])
	if err != nil {
		return nil, ErrOpen
	}
	shared, err := k.ECDH(ep)
	if err != nil {
		return nil, ErrOpen
	}
	defer clear(shared)
	key := Expand(shared, append(append([]byte(nil), sealed[:32]...), k.PublicKey().Bytes()...), label)
	defer clear(key[:])
	return Open(key[:], sealed[32:], aad)
}
