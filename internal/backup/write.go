package backup

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/vault"
)

// Source is the home a backup is taken from: the running node's own open
// store and vault (or a CLI command's, when no node runs).
type Source struct {
	// Home is the home folder; the peer key is read from its identity.key.
	Home home.Home
	// Store is the home's open store; the backup is a snapshot of it.
	Store *store.Store
	// Vault is the vault over Store. It must be unlocked.
	Vault *vault.Vault
	// Actor names who takes the backup in the audit record. Default "backup".
	Actor string
	// Now is the clock of the header's time. Default time.Now.
	Now func() time.Time
	// Rand is the salt's source. Default crypto/rand.
	Rand io.Reader

	chunkLog int // tests: 0 is DefaultChunkLog
}

// Info describes a backup just written.
type Info struct {
	// ID names the backup (also in the vault.backup audit record).
	ID      string
	VaultID []byte
	Created time.Time
	// AuditSeq is the last audit record the backup holds: the live vault's
	// vault.backup record is the one after it.
	AuditSeq uint64
	// Entries is the number of store entries; Size the bytes written.
	Entries uint64
	Size    int64
}

// Write writes a backup of src to w: the header, then the chunk stream of
// the peer key and every key and value of a snapshot of the store taken
// when Write starts. Writes to the store go on meanwhile and are not in
// the backup. Memory is bounded (one chunk, one key and value) whatever
// the store's size. The vault must be unlocked: the backup's key is
// derived from its master key, and the vault audits the backup
// (vault.OpBackup) right after the snapshot, before any byte is written.
//
// On an error, what was written to w is not a backup: restoring it fails.
// Cancel ctx to stop; close the store only after Write returns.
func Write(ctx context.Context, w io.Writer, src Source) (Info, error) {
	if src.Store == nil || src.Vault == nil {
		return Info{}, errors.New("backup: no store or vault to back up")
	}
	if src.Actor == "" {
		src.Actor = "backup"
	}
	if src.Now == nil {
		src.Now = time.Now
	}
	if src.Rand == nil {
		src.Rand = rand.Reader
	}
	if src.chunkLog == 0 {
		src.chunkLog = DefaultChunkLog
	}
	pk, err := home.LoadIdentity(src.Home)
	if err != nil {
		return Info{}, fmt.Errorf("backup: %w", err)
	}
	seed := pk.Seed()
	pk.Wipe()
	defer clear(seed)

	salt := make([]byte, vault.BackupSaltSize)
	if _, err := io.ReadFull(src.Rand, salt); err != nil {
		return Info{}, fmt.Errorf("backup: salt: %w", err)
	}
	id := backupID(salt)
	var snap *store.Snapshot
	defer func() {
		if snap != nil {
			snap.Close()
		}
	}()
	sealer, err := src.Vault.BackupSealer(ctx, salt, src.Actor, id, func() (ds.Read, error) {
		snap = src.Store.Snapshot()
		return snap, nil
	})
	if err != nil {
		return Info{}, fmt.Errorf("backup: %w", err)
	}
	hdr := Header{Version: Version, VaultID: sealer.VaultID, Created: src.Now().UTC().Truncate(time.Second),
		Salt: salt, ChunkSize: 1 << src.chunkLog, Wraps: sealer.Wraps}
	raw, err := hdr.marshal()
	if err != nil {
		return Info{}, err
	}
	cw := &countingWriter{w: w}
	if _, err := cw.Write(raw); err != nil {
		return Info{}, err
	}
	sw := newChunkWriter(cw, sealer.AEAD, headerAAD(raw), hdr.ChunkSize)
	enc := &encoder{w: sw}
	if err := enc.identity(seed); err != nil {
		return Info{}, err
	}
	if err := snap.Each(ctx, enc.entry); err != nil {
		return Info{}, err
	}
	if err := enc.end(); err != nil {
		return Info{}, err
	}
	if err := sw.Close(); err != nil {
		return Info{}, err
	}
	return Info{ID: id, VaultID: sealer.VaultID, Created: hdr.Created, AuditSeq: sealer.AuditSeq, Entries: enc.entries, Size: cw.n}, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
