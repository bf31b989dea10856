package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/ocmt/mesh/internal/xcrypto"
)

// Format constants. Format 1 is what vaults were written as before keyed
// audit chains; it is still read (and migrated at the first unlock).
const (
	headerMagicV1 = "OCMTVLT\x01"
	headerMagic   = "OCMTVLT\x02"
	wrapMagicV1   = "OCMTWRP\x01"
	wrapMagic     = "OCMTWRP\x02"
	recordMagicV1 = "OCMTREC\x01"
	recordMagic   = "OCMTREC\x02"
	headMagic     = "OCMTAHD\x02"
	indexMagic    = "OCMTIDX\x01"
	historyMagic  = "OCMTAKH\x01"
	vaultIDSize   = 16
	saltSize      = 16
	headerSize    = len(headerMagic) + vaultIDSize
	wrapPrefixV1  = len(wrapMagic) + 1 + 4 + 4 + 1 + saltSize
	wrapSizeV1    = wrapPrefixV1 + xcrypto.NonceSize + 32 + xcrypto.Overhead
	wrapPrefixLen = wrapPrefixV1 + 4 // + generation
	wrapSize      = wrapPrefixLen + xcrypto.NonceSize + 32 + xcrypto.Overhead
	recordPrefix  = len(recordMagic) + 8
	headSizeV1    = 8 + 32
	headSize      = len(headMagic) + 8 + 32 + 32 + 32
	indexSize     = len(indexMagic) + 8 + 8 + 32
	auditPubSize  = 4 + 32
	kdfArgon2id   = 1

	labelKEK    = "ocmt-mesh/vault-kek/v1"
	labelWrapV1 = "ocmt-mesh/wrap/v1"
	labelWrap   = "ocmt-mesh/wrap/v2"
	// labelRecord is both the record-key HKDF label prefix (unchanged since
	// format 1) and the AAD label of format-1 envelopes.
	labelRecord   = "ocmt-mesh/record/v1"
	labelRecordV2 = "ocmt-mesh/record/v2"
	// Audit chain and version index (format 2).
	labelAudit        = "ocmt-mesh/audit/v1" // K_audit, and the MAC label of records written unlocked
	labelAuditLocked  = "ocmt-mesh/audit-locked/v1"
	labelAuditSession = "ocmt-mesh/audit-session/v1"
	labelAuditX25519  = "ocmt-mesh/audit-x25519/v1"
	labelAuditHead    = "ocmt-mesh/audit-head/v1"
	labelAuditHistory = "ocmt-mesh/audit-history/v1"
	labelIndex        = "ocmt-mesh/index/v1"
)

// Caps on KDF parameters accepted from disk.
const (
	MaxKDFMemoryKiB = 1 << 20 // 1 GiB: more is a denial of service, not security
	MaxKDFTime      = 16      // passes; beyond this unlock takes minutes
	MaxKDFThreads   = 16      // lanes
	// MaxRecordSize bounds one sealed record (64 MiB), so a corrupted or
	// hostile store cannot make a read allocate without limit.
	MaxRecordSize = 64 << 20
	// MaxRecordPlaintext is the most a record (Put) holds: MaxRecordSize
	// less the envelope's magic, version, nonce and tag.
	MaxRecordPlaintext = MaxRecordSize - recordPrefix - xcrypto.NonceSize - xcrypto.Overhead
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
	format  int // 1 or 2
	vaultID [vaultIDSize]byte
}

func (h header) marshal() []byte {
	m := headerMagic
	if h.format == 1 {
		m = headerMagicV1
	}
	return append([]byte(m), h.vaultID[:]...)
}

func parseHeader(b []byte) (header, error) {
	var h header
	switch {
	case len(b) != headerSize:
		return h, fmt.Errorf("%w: bad vault header", ErrCorrupt)
	case bytes.HasPrefix(b, []byte(headerMagic)):
		h.format = 2
	case bytes.HasPrefix(b, []byte(headerMagicV1)):
		h.format = 1
	default:
		return h, fmt.Errorf("%w: bad vault header", ErrCorrupt)
	}
	copy(h.vaultID[:], b[len(headerMagic):])
	return h, nil
}

// passwordWrap is the master key sealed under a password-derived KEK.
// Format 2 adds the generation of the records the key opens.
type passwordWrap struct {
	format int // 1 or 2
	kdf    KDFParams
	salt   [saltSize]byte
	gen    uint32 // format 2 only
	sealed []byte // nonce || ct, exactly NonceSize+32+Overhead bytes
}

func (w passwordWrap) prefix() []byte {
	b := make([]byte, 0, wrapSize)
	if w.format == 1 {
		b = append(b, wrapMagicV1...)
	} else {
		b = append(b, wrapMagic...)
	}
	b = append(b, kdfArgon2id)
	b = binary.BigEndian.AppendUint32(b, w.kdf.Time)
	b = binary.BigEndian.AppendUint32(b, w.kdf.MemoryKiB)
	b = append(b, w.kdf.Threads)
	b = append(b, w.salt[:]...)
	if w.format != 1 {
		b = binary.BigEndian.AppendUint32(b, w.gen)
	}
	return b
}

func (w passwordWrap) marshal() []byte { return append(w.prefix(), w.sealed...) }

func (w passwordWrap) aad(vaultID []byte) []byte {
	l := labelWrap
	if w.format == 1 {
		l = labelWrapV1
	}
	a := append([]byte(l), vaultID...)
	return append(a, w.prefix()...)
}

func parseWrap(b []byte) (passwordWrap, error) {
	var w passwordWrap
	switch {
	case len(b) == wrapSize && bytes.HasPrefix(b, []byte(wrapMagic)):
		w.format = 2
	case len(b) == wrapSizeV1 && bytes.HasPrefix(b, []byte(wrapMagicV1)):
		w.format = 1
	default:
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
	end := wrapPrefixV1
	if w.format == 2 {
		w.gen = binary.BigEndian.Uint32(p[10+saltSize:])
		end = wrapPrefixLen
	}
	w.sealed = append([]byte(nil), b[end:]...)
	return w, nil
}

// envelope is one sealed record as stored. Format-1 envelopes (written
// before the migration) are still read; every write is format 2.
type envelope struct {
	format  int // 1 or 2
	version uint64
	sealed  []byte // nonce || ct
}

func (e envelope) marshal() []byte {
	b := make([]byte, 0, recordPrefix+len(e.sealed))
	if e.format == 1 {
		b = append(b, recordMagicV1...)
	} else {
		b = append(b, recordMagic...)
	}
	b = binary.BigEndian.AppendUint64(b, e.version)
	return append(b, e.sealed...)
}

func parseEnvelope(b []byte) (envelope, error) {
	var e envelope
	if len(b) > MaxRecordSize {
		return e, fmt.Errorf("%w: record larger than %d bytes", ErrCorrupt, MaxRecordSize)
	}
	if len(b) < recordPrefix+xcrypto.NonceSize+xcrypto.Overhead {
		return e, fmt.Errorf("%w: bad record envelope", ErrCorrupt)
	}
	switch {
	case bytes.HasPrefix(b, []byte(recordMagic)):
		e.format = 2
	case bytes.HasPrefix(b, []byte(recordMagicV1)):
		e.format = 1
	default:
		return e, fmt.Errorf("%w: bad record envelope", ErrCorrupt)
	}
	e.version = binary.BigEndian.Uint64(b[len(recordMagic):])
	if e.version == 0 {
		return e, fmt.Errorf("%w: record version 0", ErrCorrupt)
	}
	e.sealed = append([]byte(nil), b[recordPrefix:]...)
	return e, nil
}

func recordAAD(format int, vaultID []byte, ns Namespace, name string, version uint64) []byte {
	a := make([]byte, 0, len(labelRecordV2)+vaultIDSize+len(ns)+len(name)+24)
	if format == 1 {
		a = append(a, labelRecord...)
	} else {
		a = append(a, labelRecordV2...)
	}
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

// auditHead is the stored head of the audit chain. Format 1 was seq || hash;
// format 2 adds the version index's tag at the time and a tag over all of
// it under the key of the record it names.
type auditHead struct {
	format   int
	seq      uint64
	chain    [32]byte // the named record's chain value (its "hash" field)
	indexTag [32]byte // format 2: the version index tag this head was written with
	tag      [32]byte // format 2
}

func (h auditHead) marshal() []byte {
	if h.format == 1 {
		return append(binary.BigEndian.AppendUint64(nil, h.seq), h.chain[:]...)
	}
	b := make([]byte, 0, headSize)
	b = append(b, headMagic...)
	b = binary.BigEndian.AppendUint64(b, h.seq)
	b = append(b, h.chain[:]...)
	b = append(b, h.indexTag[:]...)
	return append(b, h.tag[:]...)
}

// signed is what the head's tag covers.
func (h auditHead) signed(vaultID []byte) []byte {
	b := append([]byte(nil), vaultID...)
	b = binary.BigEndian.AppendUint64(b, h.seq)
	b = append(b, h.chain[:]...)
	return append(b, h.indexTag[:]...)
}

func parseHead(b []byte) (auditHead, error) {
	var h auditHead
	switch {
	case len(b) == headSizeV1:
		h.format = 1
		h.seq = binary.BigEndian.Uint64(b)
		copy(h.chain[:], b[8:])
	case len(b) == headSize && bytes.HasPrefix(b, []byte(headMagic)):
		h.format = 2
		p := b[len(headMagic):]
		h.seq = binary.BigEndian.Uint64(p)
		copy(h.chain[:], p[8:40])
		copy(h.indexTag[:], p[40:72])
		copy(h.tag[:], p[72:104])
	default:
		return h, fmt.Errorf("%w: audit head", ErrCorrupt)
	}
	if h.seq == 0 {
		return h, fmt.Errorf("%w: audit head names record 0", ErrCorrupt)
	}
	return h, nil
}

// indexState is the stored summary of the version index: the highest
// version ever given out, the number of entries and the tag over them.
type indexState struct {
	counter uint64
	count   uint64
	tag     [32]byte
}

func (x indexState) marshal() []byte {
	b := make([]byte, 0, indexSize)
	b = append(b, indexMagic...)
	b = binary.BigEndian.AppendUint64(b, x.counter)
	b = binary.BigEndian.AppendUint64(b, x.count)
	return append(b, x.tag[:]...)
}

func parseIndexState(b []byte) (indexState, error) {
	var x indexState
	if len(b) != indexSize || !bytes.HasPrefix(b, []byte(indexMagic)) {
		return x, fmt.Errorf("%w: bad version index", ErrCorrupt)
	}
	p := b[len(indexMagic):]
	x.counter = binary.BigEndian.Uint64(p)
	x.count = binary.BigEndian.Uint64(p[8:])
	copy(x.tag[:], p[16:])
	return x, nil
}

// parseVersion reads one index entry: a big-endian non-zero u64.
func parseVersion(b []byte) (uint64, error) {
	if len(b) != 8 || binary.BigEndian.Uint64(b) == 0 {
		return 0, fmt.Errorf("%w: bad version index entry", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(b), nil
}

// auditPub is the X25519 public key records written while locked seal
// their session key to, with the generation it belongs to.
type auditPub struct {
	gen uint32
	pub [32]byte
}

func (p auditPub) marshal() []byte {
	return append(binary.BigEndian.AppendUint32(nil, p.gen), p.pub[:]...)
}

func parseAuditPub(b []byte) (auditPub, error) {
	var p auditPub
	if len(b) != auditPubSize {
		return p, fmt.Errorf("%w: bad audit public key", ErrCorrupt)
	}
	p.gen = binary.BigEndian.Uint32(b)
	copy(p.pub[:], b[4:])
	return p, nil
}

// auditKeyHistory holds the audit keys of earlier generations, so records
// written before a key rotation still verify. Stored sealed under the
// current master key: magic || nonce || Seal(plaintext); the plaintext is
// a list of gen u32 || key (32), strictly increasing gens.
type auditKeyHistory map[uint32][32]byte

// maxHistory bounds the generations kept (one per key rotation).
const maxHistory = 1 << 16

func (h auditKeyHistory) plaintext() []byte {
	gens := make([]uint32, 0, len(h))
	for g := range h {
		gens = append(gens, g)
	}
	slices.Sort(gens)
	b := make([]byte, 0, 36*len(gens))
	for _, g := range gens {
		k := h[g]
		b = binary.BigEndian.AppendUint32(b, g)
		b = append(b, k[:]...)
	}
	return b
}

func parseHistoryPlaintext(b []byte) (auditKeyHistory, error) {
	if len(b)%36 != 0 || len(b)/36 > maxHistory {
		return nil, fmt.Errorf("%w: bad audit key history", ErrCorrupt)
	}
	h := auditKeyHistory{}
	var last int64 = -1
	for p := b; len(p) > 0; p = p[36:] {
		g := binary.BigEndian.Uint32(p)
		if int64(g) <= last {
			return nil, fmt.Errorf("%w: audit key history out of order", ErrCorrupt)
		}
		last = int64(g)
		var k [32]byte
		copy(k[:], p[4:36])
		h[g] = k
	}
	return h, nil
}

func parseHistoryBlob(b []byte) ([]byte, error) {
	if len(b) < len(historyMagic)+xcrypto.NonceSize+xcrypto.Overhead || len(b) > len(historyMagic)+xcrypto.NonceSize+xcrypto.Overhead+36*maxHistory || !bytes.HasPrefix(b, []byte(historyMagic)) {
		return nil, fmt.Errorf("%w: bad audit key history", ErrCorrupt)
	}
	return b[len(historyMagic):], nil
}

// parseGen reads the rotation marker: a big-endian u32 generation.
func parseGen(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("%w: bad rotation marker", ErrCorrupt)
	}
	return binary.BigEndian.Uint32(b), nil
}
