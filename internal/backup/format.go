package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ocmt/mesh/internal/xcrypto"
	"github.com/ocmt/mesh/vault"
)

// Errors callers branch on. A wrong password is vault.ErrBadPassword.
var (
	// ErrNotBackup: the file does not start with the backup magic.
	ErrNotBackup = errors.New("backup: not a mesh backup file")
	// ErrVersion: a backup in a format version this mesh does not know.
	ErrVersion = errors.New("backup: unknown backup format version (made by a newer mesh?)")
	// ErrHeader: the header breaks the format or its limits.
	ErrHeader = errors.New("backup: the header is malformed")
	// ErrAltered: a chunk does not authenticate under the key the header
	// and password give: the file (header or chunks) was altered,
	// reordered, spliced from another backup, or cut inside a chunk.
	ErrAltered = errors.New("backup: the file does not authenticate: it was altered or damaged")
	// ErrTruncated: the file ends before the backup does (at a chunk
	// boundary, or inside the header).
	ErrTruncated = errors.New("backup: the file is cut short")
	// ErrMalformed: the content authenticates but breaks the format. Only
	// a faulty writer, or someone holding the key, can cause it.
	ErrMalformed = errors.New("backup: the content is malformed")
	// ErrTooLarge: a store entry over MaxKeySize or MaxValueSize.
	ErrTooLarge = errors.New("backup: too large")
	// ErrLiveHome: the destination already holds a home (an identity or a
	// store); restore never overwrites one.
	ErrLiveHome = errors.New("backup: the destination already holds a mesh home")
)

const (
	magicPrefix = "OCMTBAK"
	// fixedHeader is the header up to the wrap count: magic (8), length (2),
	// vault ID (16), created (8), salt (32), chunk log (1), wrap count (1).
	fixedHeader = 8 + 2 + vaultIDSize + 8 + vault.BackupSaltSize + 1 + 1
	vaultIDSize = 16
	// minWrap is the smallest wrap entry: kind length, one byte of kind,
	// data length, one byte of data.
	minWrap = 1 + 1 + 2 + 1
)

// Header is a backup file's header: everything anyone can read without the
// password. Inspect also fills the fields after Wraps.
type Header struct {
	// Version is the format version (the magic's last byte).
	Version int
	// VaultID is the vault's random identifier (not secret).
	VaultID []byte
	// Created is when the backup was taken, to the second (UTC).
	Created time.Time
	// Salt is the backup's key salt; its first 8 bytes name the backup (ID).
	Salt []byte
	// ChunkSize is the plaintext bytes per chunk.
	ChunkSize int
	// Wraps are the vault's key wraps as they were, sorted by kind.
	Wraps []vault.BackupWrap

	// ID names the backup in audit records: the salt's first 8 bytes, hex.
	ID string
	// HeaderSize is the header's length in bytes.
	HeaderSize int
	// Size is the whole file's length (Inspect only).
	Size int64
	// Chunks is the number of chunks (Inspect only).
	Chunks int64
}

// backupID is the name of the backup with salt.
func backupID(salt []byte) string { return hex.EncodeToString(salt[:8]) }

// marshal encodes h, checking every limit a reader checks.
func (h *Header) marshal() ([]byte, error) {
	log := chunkLog(h.ChunkSize)
	switch {
	case len(h.VaultID) != vaultIDSize || len(h.Salt) != vault.BackupSaltSize:
		return nil, fmt.Errorf("%w: vault ID %d bytes, salt %d", ErrHeader, len(h.VaultID), len(h.Salt))
	case log < MinChunkLog || log > MaxChunkLog:
		return nil, fmt.Errorf("%w: chunk size %d", ErrHeader, h.ChunkSize)
	case len(h.Wraps) < 1 || len(h.Wraps) > MaxWraps:
		return nil, fmt.Errorf("%w: %d key wraps (1 to %d)", ErrHeader, len(h.Wraps), MaxWraps)
	}
	b := make([]byte, 0, MaxHeaderSize)
	b = append(b, magicPrefix...)
	b = append(b, Version)
	b = append(b, 0, 0) // length, set below
	b = append(b, h.VaultID...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Created.Unix()))
	b = append(b, h.Salt...)
	b = append(b, byte(log), byte(len(h.Wraps)))
	prev := ""
	for _, w := range h.Wraps {
		if !validKind(w.Kind) || len(w.Data) < 1 || len(w.Data) > MaxWrapSize || w.Kind <= prev {
			return nil, fmt.Errorf("%w: key wrap %q (%d bytes): kinds are [a-z0-9-]{1,%d}, sorted, once each; data 1 to %d bytes", ErrHeader, w.Kind, len(w.Data), MaxWrapKind, MaxWrapSize)
		}
		prev = w.Kind
		b = append(b, byte(len(w.Kind)))
		b = append(b, w.Kind...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(w.Data)))
		b = append(b, w.Data...)
	}
	if len(b) > MaxHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrHeader, len(b), MaxHeaderSize)
	}
	binary.BigEndian.PutUint16(b[8:10], uint16(len(b)))
	return b, nil
}

func chunkLog(size int) int {
	for l := MinChunkLog; l <= MaxChunkLog; l++ {
		if size == 1<<l {
			return l
		}
	}
	return 0
}

func validKind(k string) bool {
	if k == "" || len(k) > MaxWrapKind {
		return false
	}
	for _, c := range []byte(k) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// readHeader reads and parses the header from r: the magic and length
// first (at most MaxHeaderSize bytes are then read), then the rest. It
// returns the header and its bytes.
func readHeader(r io.Reader) (Header, []byte, error) {
	var pre [10]byte
	n, err := io.ReadFull(r, pre[:])
	switch {
	case n < len(magicPrefix) && !bytes.HasPrefix([]byte(magicPrefix), pre[:n]), n >= len(magicPrefix) && string(pre[:len(magicPrefix)]) != magicPrefix:
		return Header{}, nil, ErrNotBackup
	case n == 0:
		return Header{}, nil, fmt.Errorf("%w: the file is empty", ErrNotBackup)
	case n > len(magicPrefix) && pre[len(magicPrefix)] != Version:
		return Header{}, nil, fmt.Errorf("%w: version %d, this mesh reads version %d", ErrVersion, pre[len(magicPrefix)], Version)
	case err != nil:
		return Header{}, nil, fmt.Errorf("%w: it ends inside the header", ErrTruncated)
	}
	size := int(binary.BigEndian.Uint16(pre[8:]))
	if size < fixedHeader+minWrap || size > MaxHeaderSize {
		return Header{}, nil, fmt.Errorf("%w: header length %d (%d to %d)", ErrHeader, size, fixedHeader+minWrap, MaxHeaderSize)
	}
	b := make([]byte, size)
	copy(b, pre[:])
	if _, err := io.ReadFull(r, b[len(pre):]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Header{}, nil, fmt.Errorf("%w: it ends inside the header", ErrTruncated)
		}
		return Header{}, nil, err
	}
	h, err := parseHeader(b)
	return h, b, err
}

// parseHeader parses exactly one header.
func parseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < fixedHeader || !bytes.HasPrefix(b, []byte(magicPrefix)) {
		return h, ErrNotBackup
	}
	if b[len(magicPrefix)] != Version {
		return h, fmt.Errorf("%w: version %d, this mesh reads version %d", ErrVersion, b[len(magicPrefix)], Version)
	}
	if int(binary.BigEndian.Uint16(b[8:])) != len(b) || len(b) > MaxHeaderSize {
		return h, fmt.Errorf("%w: its length field does not match", ErrHeader)
	}
	p := b[10:]
	h.Version = Version
	h.VaultID = bytes.Clone(p[:vaultIDSize])
	p = p[vaultIDSize:]
	h.Created = time.Unix(int64(binary.BigEndian.Uint64(p)), 0).UTC()
	p = p[8:]
	h.Salt = bytes.Clone(p[:vault.BackupSaltSize])
	p = p[vault.BackupSaltSize:]
	log, n := int(p[0]), int(p[1])
	p = p[2:]
	if log < MinChunkLog || log > MaxChunkLog {
		return h, fmt.Errorf("%w: chunk size 2^%d (2^%d to 2^%d)", ErrHeader, log, MinChunkLog, MaxChunkLog)
	}
	h.ChunkSize = 1 << log
	if n < 1 || n > MaxWraps {
		return h, fmt.Errorf("%w: %d key wraps (1 to %d)", ErrHeader, n, MaxWraps)
	}
	prev := ""
	for range n {
		if len(p) < 1 || int(p[0]) > len(p)-1 {
			return h, fmt.Errorf("%w: a key wrap's kind runs past the header", ErrHeader)
		}
		kind := string(p[1 : 1+p[0]])
		p = p[1+len(kind):]
		if !validKind(kind) || kind <= prev {
			return h, fmt.Errorf("%w: key wrap kind %q: [a-z0-9-]{1,%d}, sorted, once each", ErrHeader, kind, MaxWrapKind)
		}
		prev = kind
		if len(p) < 2 {
			return h, fmt.Errorf("%w: a key wrap's length runs past the header", ErrHeader)
		}
		size := int(binary.BigEndian.Uint16(p))
		p = p[2:]
		if size < 1 || size > MaxWrapSize || size > len(p) {
			return h, fmt.Errorf("%w: key wrap %q of %d bytes (1 to %d, within the header)", ErrHeader, kind, size, MaxWrapSize)
		}
		h.Wraps = append(h.Wraps, vault.BackupWrap{Kind: kind, Data: bytes.Clone(p[:size])})
		p = p[size:]
	}
	if len(p) != 0 {
		return h, fmt.Errorf("%w: %d bytes after the last key wrap", ErrHeader, len(p))
	}
	h.ID = backupID(h.Salt)
	h.HeaderSize = len(b)
	return h, nil
}

// headerAAD is every chunk's associated data: SHA-256 of the header's
// bytes, so any change to the header fails the first chunk.
func headerAAD(raw []byte) []byte {
	d := sha256.Sum256(raw)
	return d[:]
}

// chunkNonce writes chunk counter's nonce: 15 zero bytes, the counter
// (u64 big-endian), and 0x01 on the last chunk, 0x00 otherwise.
func chunkNonce(n *[xcrypto.NonceSize]byte, counter uint64, last bool) {
	*n = [xcrypto.NonceSize]byte{}
	binary.BigEndian.PutUint64(n[15:23], counter)
	if last {
		n[23] = 1
	}
}
