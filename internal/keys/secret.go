package keys

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
)

// MasterKey is a vault's 32-byte master key. It is never stored in the
// clear: password, recovery phrase and other wrappings seal it.
type MasterKey struct {
	_ noCompare
	k [32]byte
}

// GenerateMasterKey makes a fresh random master key.
func GenerateMasterKey() MasterKey {
	var m MasterKey
	rand.Read(m.k[:])
	return m
}

// MasterKeyFromBytes copies 32 bytes in; the caller should wipe its copy.
func MasterKeyFromBytes(b []byte) (MasterKey, bool) {
	var m MasterKey
	if len(b) != len(m.k) {
		return m, false
	}
	copy(m.k[:], b)
	return m, true
}

// Bytes exposes the key for wrapping. The slice aliases the key.
func (m *MasterKey) Bytes() []byte { return m.k[:] }

// IsZero reports whether the key is unset or wiped.
func (m *MasterKey) IsZero() bool {
	var z [32]byte
	return subtle.ConstantTimeCompare(m.k[:], z[:]) == 1
}

// Equal compares in constant time.
func (m *MasterKey) Equal(o *MasterKey) bool { return subtle.ConstantTimeCompare(m.k[:], o.k[:]) == 1 }

// Wipe zeroes the key.
func (m *MasterKey) Wipe() { clear(m.k[:]) }

// String never prints key bytes.
func (m MasterKey) String() string { return "masterkey:<secret>" }

// GoString never prints key bytes.
func (m MasterKey) GoString() string { return m.String() }

// Derive derives a purpose-bound record key: HKDF-SHA256 with the master key
// as input, salt = vault ID and info = the purpose label.
func (m *MasterKey) Derive(vaultID []byte, purpose string) RecordKey {
	if m.IsZero() {
		panic("keys: deriving from a zero master key")
	}
	out, err := hkdf.Key(sha256.New, m.k[:], vaultID, purpose, 32)
	if err != nil {
		panic(err)
	}
	var r RecordKey
	copy(r.k[:], out)
	clear(out)
	return r
}

// RecordKey encrypts one family of vault records (a namespace).
type RecordKey struct {
	_ noCompare
	k [32]byte
}

// Bytes exposes the key for the AEAD. The slice aliases the key.
func (r *RecordKey) Bytes() []byte { return r.k[:] }

// IsZero reports whether the key is unset or wiped.
func (r *RecordKey) IsZero() bool {
	var z [32]byte
	return subtle.ConstantTimeCompare(r.k[:], z[:]) == 1
}

// Equal compares in constant time.
func (r *RecordKey) Equal(o *RecordKey) bool { return subtle.ConstantTimeCompare(r.k[:], o.k[:]) == 1 }

// Wipe zeroes the key.
func (r *RecordKey) Wipe() { clear(r.k[:]) }

// String never prints key bytes.
func (r RecordKey) String() string { return "recordkey:<secret>" }

// GoString never prints key bytes.
func (r RecordKey) GoString() string { return r.String() }
