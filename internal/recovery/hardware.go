package recovery

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/ocmt/mesh/internal/wire"
)

// sealTo seals rk to an age X25519 recipient.
func sealTo(recipient string, rk *[32]byte) ([]byte, error) {
	r, err := age.ParseX25519Recipient(strings.TrimSpace(recipient))
	if err != nil {
		return nil, fmt.Errorf("recovery: %q is not an age X25519 recipient (age1...): %w", recipient, err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(rk[:]); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// openWith opens a 32-byte key sealed with sealTo, with identities.
func openWith(sealed []byte, ids ...age.Identity) (*[32]byte, error) {
	if len(sealed) > maxSealedBytes {
		return nil, fmt.Errorf("%w: a sealed key of %d bytes", ErrMalformed, len(sealed))
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), ids...)
	if err != nil {
		return nil, ErrWrongKey
	}
	b, err := io.ReadAll(io.LimitReader(r, 33))
	if err != nil || len(b) != 32 {
		clear(b)
		return nil, ErrWrongKey
	}
	var rk [32]byte
	copy(rk[:], b)
	clear(b)
	return &rk, nil
}

// newKey draws a random recovery key.
func newKey() (*[32]byte, error) {
	var rk [32]byte
	if _, err := rand.Read(rk[:]); err != nil {
		return nil, err
	}
	return &rk, nil
}

// HardwareMeta is the hardware method's meta: the recipient of the
// owner's key on removable media or a token, and RK sealed to it.
type HardwareMeta struct {
	Version   uint64 `cbor:"1,keyasint"`
	Recipient string `cbor:"2,keyasint"`
	Sealed    []byte `cbor:"3,keyasint"`
}

// NewHardwareIdentity makes a new age X25519 identity for removable media:
// its text (AGE-SECRET-KEY-1...) and its recipient (age1...).
func NewHardwareIdentity() (identity, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", err
	}
	return id.String(), id.Recipient().String(), nil
}

// EnableHardware draws a recovery key and seals it to recipient (an age
// X25519 recipient whose identity is on removable media or a hardware
// token); it returns the key for the vault and the method's meta.
func EnableHardware(recipient string) (*[32]byte, []byte, error) {
	rk, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	sealed, err := sealTo(recipient, rk)
	if err != nil {
		return nil, nil, err
	}
	meta, err := wire.Marshal(HardwareMeta{Version: version, Recipient: strings.TrimSpace(recipient), Sealed: sealed})
	if err != nil {
		return nil, nil, err
	}
	return rk, meta, nil
}

// ParseHardwareMeta decodes and checks the hardware method's meta.
func ParseHardwareMeta(b []byte) (*HardwareMeta, error) {
	var m HardwareMeta
	if len(b) > maxMetaBytes || wire.UnmarshalCanonical(b, &m) != nil || m.Version != version || len(m.Sealed) == 0 || len(m.Sealed) > maxSealedBytes {
		return nil, fmt.Errorf("%w: hardware meta", ErrMalformed)
	}
	if _, err := age.ParseX25519Recipient(m.Recipient); err != nil {
		return nil, fmt.Errorf("%w: hardware meta's recipient", ErrMalformed)
	}
	return &m, nil
}

// HardwareKey opens the hardware method's key with the identities read
// from an age identity file (the removable media's).
func HardwareKey(meta []byte, identityFile io.Reader) (*[32]byte, error) {
	m, err := ParseHardwareMeta(meta)
	if err != nil {
		return nil, err
	}
	ids, err := age.ParseIdentities(io.LimitReader(identityFile, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("recovery: the key file holds no age identity: %w", err)
	}
	return openWith(m.Sealed, ids...)
}
