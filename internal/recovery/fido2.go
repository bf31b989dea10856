package recovery

import (
	"fmt"

	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// FIDO2 is the method of a FIDO2 security key's PRF extension (WebAuthn
// "prf", hmac-secret on the key): the key computes a 32-byte secret from
// a salt the vault keeps, which only that key, touched, computes again.
const FIDO2 = "fido2"

const labelFIDO2 = "ocmt-mesh/recovery/fido2/v1"

// FIDO2 sizes.
const (
	// FIDO2SaltSize is the PRF salt the vault keeps (the WebAuthn prf
	// extension's eval.first).
	FIDO2SaltSize = 32
	// FIDO2OutputSize is the PRF's output.
	FIDO2OutputSize = 32
	// maxCredentialID bounds a credential's ID (WebAuthn allows 1023).
	maxCredentialID = 1023
	// maxRPIDLen bounds the relying party ID (a host name).
	maxRPIDLen = 253
)

// FIDO2Meta is the fido2 method's meta: the relying party ID the key was
// registered for (the host the web UI was opened at), the credential's
// ID, and the PRF salt. None is secret.
type FIDO2Meta struct {
	Version    uint64 `cbor:"1,keyasint"`
	RPID       string `cbor:"2,keyasint"`
	Credential []byte `cbor:"3,keyasint"`
	Salt       []byte `cbor:"4,keyasint"`
}

// FIDO2Key derives the vault's recovery key from the key's PRF output:
//
//	RK = HKDF-SHA256(PRF output, vault ID, "ocmt-mesh/recovery/fido2/v1")
func FIDO2Key(prf, vaultID []byte) (*[32]byte, error) {
	if len(prf) != FIDO2OutputSize {
		return nil, fmt.Errorf("%w: a security key's PRF output is %d bytes, not %d", ErrMalformed, FIDO2OutputSize, len(prf))
	}
	rk := xcrypto.Expand(prf, vaultID, labelFIDO2)
	return &rk, nil
}

// EnableFIDO2 makes the fido2 method's key and meta from a registration:
// the relying party, the credential, the salt and the PRF output the key
// gave for it.
func EnableFIDO2(rpID string, credential, salt, prf, vaultID []byte) (*[32]byte, []byte, error) {
	m := FIDO2Meta{Version: version, RPID: rpID, Credential: credential, Salt: salt}
	if err := m.check(); err != nil {
		return nil, nil, err
	}
	rk, err := FIDO2Key(prf, vaultID)
	if err != nil {
		return nil, nil, err
	}
	meta, err := wire.Marshal(m)
	return rk, meta, err
}

func (m *FIDO2Meta) check() error {
	if m.Version != version || m.RPID == "" || len(m.RPID) > maxRPIDLen || len(m.Credential) == 0 || len(m.Credential) > maxCredentialID ||
		len(m.Salt) != FIDO2SaltSize {
		return fmt.Errorf("%w: fido2 meta", ErrMalformed)
	}
	return nil
}

// ParseFIDO2Meta decodes and checks the fido2 method's meta.
func ParseFIDO2Meta(b []byte) (*FIDO2Meta, error) {
	var m FIDO2Meta
	if len(b) > maxMetaBytes || wire.UnmarshalCanonical(b, &m) != nil {
		return nil, fmt.Errorf("%w: fido2 meta", ErrMalformed)
	}
	return &m, m.check()
}
