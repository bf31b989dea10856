package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ocmt/mesh/internal/xcrypto"
)

// Format constants.
const (
	headerMagic   = "OCMTVLT\x01"
	wrapMagic     = "OCMTWRP\x01"
	recordMagic   = "OCMTREC\x01"
	vaultIDSize   = 16
	saltSize      = 16
	headerSize    = len(headerMagic) + vaultIDSize
	wrapPrefixLen = len(wrapMagic) + 1 + 4 + 4 + 1 + saltSize
	wrapSize      = wrapPrefixLen + xcrypto.NonceSize + 32 + xcrypto.Overhead
	recordPrefix  = len(recordMagic) + 8
	kdfArgon2id   = 1

	labelKEK    = "ocmt-mesh/vault-kek/v1"
	labelWrap   = "ocmt-mesh/wrap/v1"
	labelRecord = "ocmt-mesh/record/v1"
)

// Caps on KDF parameters accepted from disk.
const (
	MaxKDFMemoryKiB = 1 << 20 // 1 GiB: more is a denial of service, not security
	MaxKDFTime      = 16      // passes; beyond this unlock takes minutes
	MaxKDFThreads   = 16      // lanes
	// MaxRecordSize bounds one sealed record (64 MiB), so a corrupted or
	// hostile store cannot make a read allocate without limit.
	MaxRecordSize = 64 << 20
)

// ErrCorrupt reports a stored structure that cannot be parsed or fails its
// integrity check. It never means "empty".
var ErrCorrupt = errors.New("vault: stored data is corrupt or was tampered with")

// KDFParams are the Argon2id parameters of a password wrap.
type KDFParams = xcrypto.KDFParams

// DefaultKDF is RFC 9106's second recommended option: t=3, m=64 MiB, p=4.
func DefaultKDF() KDFParams { return KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4} }

// TestKDF is deliberately weak and only for tests.
func TestKDF() KDFParams { return KDFParams{Time: 1, MemoryKiB: 64, Threads: 1} }

func checkKDF(p KDFParams) error {
	switch {
	case p.Time < 1 || p.MemoryKiB < 8*uint32(p.Threads) || p.Threads < 1:
		return fmt.Errorf("%w: KDF parameters below the minimum", ErrCorrupt)
	case p.MemoryKiB > MaxKDFMemoryKiB || p.Time > MaxKDFTime || p.Threads > MaxKDFThreads:
		return fmt.Errorf("%w: KDF parameters above the cap (m≤1 GiB, t≤16, p≤16)", ErrCorrupt)
	}
	return nil
}

type header struct {
	vaultID [vaultIDSize]byte
}

func (h header) marshal() []byte {
	return append([]byte(headerMagic), h.vaultID[:]...)
}

func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) != headerSize || !bytes.HasPrefix(b, []byte(headerMagic)) {
		return h, fmt.Errorf("%w: bad vault header", ErrCorrupt)
	}
	copy(h.vaultID[:], b[len(headerMagic):])
	return h, nil
}

// passwordWrap is the master key sealed under a password-derived KEK.
type passwordWrap struct {
	kdf    KDFParams
	salt   [saltSize]byte
	sealed []byte // nonce || ct, exactly NonceSize+32+Overhead bytes
}

func (w passwordWrap) prefix() []byte {
	b := make([]byte, 0, wrapSize)
	b = append(b, wrapMagic...)
	b = append(b, kdfArgon2id)
	b = binary.BigEndian.AppendUint32(b, w.kdf.Time)
	b = binary.BigEndian.AppendUint32(b, w.kdf.MemoryKiB)
	b = append(b, w.kdf.Threads)
	return append(b, w.salt[:]...)
}

func (w passwordWrap) marshal() []byte { return append(w.prefix(), w.sealed...) }

func (w passwordWrap) aad(vaultID []byte) []byte {
	a := append([]byte(labelWrap), vaultID...)
	return append(a, w.prefix()...)
}

func parseWrap(b []byte) (passwordWrap, error) {
	var w passwordWrap
	if len(b) != wrapSize || !bytes.HasPrefix(b, []byte(wrapMagic)) {
		return w, fmt.Errorf("%w: bad password wrap", ErrCorrupt)
	}
	p := b[len(wrapMagic):]
	if p[0] != kdfArgon2id {
		return w, fmt.Errorf("%w: unknown KDF %d", ErrCorrupt, p[0])
	}
	w.kdf = KDFParams{
		Time:      binary.BigEndian.Uint32(p[1:5]),
		MemoryKiB: binary.BigEndian.Uint32(p[5:9]),
		Threads:   p[9],
	}
	if err := checkKDF(w.kdf); err != nil {
		return w, err
	}
	copy(w.salt[:], p[10:10+saltSize])
	w.sealed = append([]byte(nil), b[wrapPrefixLen:]...)
	return w, nil
}

// envelope is one sealed record as stored.
type envelope struct {
	version uint64
	sealed  []byte // nonce || ct
}

func (e envelope) marshal() []byte {
	b := make([]byte, 0, recordPrefix+len(e.sealed))
	b = append(b, recordMagic...)
	b = binary.BigEndian.AppendUint64(b, e.version)
	return append(b, e.sealed...)
}

func parseEnvelope(b []byte) (envelope, error) {
	var e envelope
	if len(b) > MaxRecordSize {
		return e, fmt.Errorf("%w: record larger than %d bytes", ErrCorrupt, MaxRecordSize)
	}
	if len(b) < recordPrefix+xcrypto.NonceSize+xcrypto.Overhead || !bytes.HasPrefix(b, []byte(recordMagic)) {
		return e, fmt.Errorf("%w: bad record envelope", ErrCorrupt)
	}
	e.version = binary.BigEndian.Uint64(b[len(recordMagic):])
	if e.version == 0 {
		return e, fmt.Errorf("%w: record version 0", ErrCorrupt)
	}
	e.sealed = append([]byte(nil), b[recordPrefix:]...)
	return e, nil
}

func recordAAD(vaultID []byte, ns Namespace, name string, version uint64) []byte {
	a := make([]byte, 0, len(labelRecord)+vaultIDSize+len(ns)+len(name)+24)
	a = append(a, labelRecord...)
	a = append(a, vaultID...)
	a = binary.AppendUvarint(a, uint64(len(ns)))
	a = append(a, ns...)
	a = binary.AppendUvarint(a, uint64(len(name)))
	a = append(a, name...)
	return binary.BigEndian.AppendUint64(a, version)
}

// failures is the persisted failed-unlock counter.
type failures struct {
	count    uint32
	lastNano int64
}

func (f failures) marshal() []byte {
	b := binary.BigEndian.AppendUint32(nil, f.count)
	return binary.BigEndian.AppendUint64(b, uint64(f.lastNano))
}

func parseFailures(b []byte) (failures, error) {
	if len(b) != 12 {
		return failures{}, fmt.Errorf("%w: bad failure counter", ErrCorrupt)
	}
	return failures{binary.BigEndian.Uint32(b), int64(binary.BigEndian.Uint64(b[4:]))}, nil
}
