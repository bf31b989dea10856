package backup

import (
	"bufio"
	"context"
	"crypto/cipher"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/xcrypto"
	"github.com/ocmt/mesh/vault"
)

// identityPEMType is internal/home's PEM type for identity.key. Restore
// reads the file back with home.LoadIdentity, so a difference is caught.
const identityPEMType = "OCMT MESH PEER KEY"

// RestoreInfo describes a restored home.
type RestoreInfo struct {
	// ID names the backup (the vault.backup and vault.restore records).
	ID      string
	VaultID []byte
	PeerID  peer.ID
	// Created is when the backup was taken.
	Created time.Time
	// Entries is the number of store entries restored.
	Entries uint64
	// Secrets and Resources count the vault's records by namespace;
	// Records is every vault record that opened and matched the version
	// index.
	Secrets, Resources, Records int
	// AuditRecords is the restored audit log's length, the vault.restore
	// record included; AuditCheck how far it was verified.
	AuditRecords int
	AuditCheck   vault.AuditCheck
	// Problems says what the restored vault's checks found: the audit
	// chain, the version index or records that do not verify. The backup
	// is authenticated, so these were in the vault when it was taken. The
	// home is restored all the same: it is what the vault was.
	Problems []string
}

// restoreOpts are Restore's knobs for tests.
type restoreOpts struct {
	actor string
	now   func() time.Time
	// recovery, when set, opens the backup with a recovery method's key
	// instead of the password, and sets a new password.
	recovery *Recovering
}

// Recovering is what RestoreRecovering opens a backup with: a recovery
// method's key (internal/recovery produces it), and the new password it
// sets on the restored vault.
type Recovering struct {
	Method      string
	Key         *[32]byte
	NewPassword []byte
	KDF         vault.KDFParams
}

// RestoreRecovering is Restore for an owner who lost the password: the
// backup is opened with the recovery wrap of rec.Method it carries, and
// the restored vault gets rec.NewPassword (vault.OpenRestoredRecovery).
// Everything else is as Restore.
func RestoreRecovering(ctx context.Context, r io.Reader, dst home.Home, rec Recovering) (RestoreInfo, error) {
	if rec.Key == nil {
		return RestoreInfo{}, errors.New("backup: no recovery key")
	}
	return restore(ctx, r, dst, nil, restoreOpts{recovery: &rec})
}

// Restore restores the backup read from r into the home folder dst, which
// must not hold a home (no identity.key, no store/) and must not be locked
// by a running process. password is the vault password the backup was
// taken under.
//
// Nothing is written before the header, the password and the first chunk
// check out. The home is then built in a temporary folder (a sibling of
// dst when dst does not exist, or inside dst when it does: a mount point)
// and moved into place only once the whole stream authenticated, the peer
// key read back, and the vault opened with the password: identity.key is
// moved last, so a crash never leaves a folder that looks like a home but
// is not whole (doc.go: "Restore"). On any error the temporary folder is
// removed and dst is left as it was (an existing dst may gain a node.lock).
//
// The restored vault is unlocked once, every record is checked against
// the version index, the audit chain is verified, and a vault.restore
// record is appended; what does not verify is in RestoreInfo.Problems.
func Restore(ctx context.Context, r io.Reader, dst home.Home, password []byte) (RestoreInfo, error) {
	return restore(ctx, r, dst, password, restoreOpts{})
}

func restore(ctx context.Context, r io.Reader, dst home.Home, password []byte, o restoreOpts) (RestoreInfo, error) {
	if o.actor == "" {
		o.actor = "restore"
	}
	if o.now == nil {
		o.now = time.Now
	}
	abs, err := filepath.Abs(string(dst))
	if err != nil {
		return RestoreInfo{}, err
	}
	dst = home.Home(abs)
	br := bufio.NewReaderSize(r, 1<<16)
	hdr, raw, err := readHeader(br)
	if err != nil {
		return RestoreInfo{}, err
	}
	exists, err := checkDestination(dst)
	if err != nil {
		return RestoreInfo{}, err
	}
	var aead cipher.AEAD
	if rec := o.recovery; rec != nil {
		aead, err = vault.OpenBackupKeyRecovery(hdr.Wraps, hdr.VaultID, rec.Method, rec.Key, hdr.Salt)
	} else {
		aead, err = vault.OpenBackupKey(hdr.Wraps, hdr.VaultID, password, hdr.Salt)
	}
	switch {
	case errors.Is(err, vault.ErrRecoveryKey), errors.Is(err, vault.ErrNoRecovery):
		return RestoreInfo{}, fmt.Errorf("backup: %w", err)
	case errors.Is(err, vault.ErrBadPassword):
		return RestoreInfo{}, fmt.Errorf("backup: %w (or the backup's key wrap was altered)", err)
	case errors.Is(err, vault.ErrCorrupt):
		return RestoreInfo{}, fmt.Errorf("%w: its password wrap: %v", ErrHeader, err)
	case err != nil:
		return RestoreInfo{}, fmt.Errorf("backup: %w", err)
	}
	cr := newChunkReader(br, aead, headerAAD(raw), hdr.ChunkSize)
	if err := cr.prime(); err != nil {
		return RestoreInfo{}, err
	}

	tmp, lock, err := prepare(dst, exists)
	if err != nil {
		return RestoreInfo{}, err
	}
	defer lock.Close()
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(string(tmp))
		}
	}()
	info, err := build(ctx, cr, tmp, hdr, password, o)
	if err != nil {
		return RestoreInfo{}, err
	}
	if err := commit(tmp, dst, exists); err != nil {
		return RestoreInfo{}, err
	}
	committed = true
	return info, nil
}

// checkDestination refuses a folder that holds a home or that a process
// has locked. It writes nothing. It reports whether dst exists.
func checkDestination(dst home.Home) (bool, error) {
	st, err := os.Stat(string(dst))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if !st.IsDir() {
		return false, fmt.Errorf("backup: %s exists and is not a folder", dst)
	}
	if err := holdsHome(dst); err != nil {
		return true, err
	}
	return true, lockFree(dst.LockPath())
}

// holdsHome refuses a folder with an identity or a store.
func holdsHome(dst home.Home) error {
	if _, err := os.Lstat(dst.IdentityPath()); err == nil {
		return fmt.Errorf("%w: %s holds a mesh identity (identity.key); restore into a new folder", ErrLiveHome, dst)
	}
	if _, err := os.Lstat(dst.StorePath()); err == nil {
		return fmt.Errorf("%w: %s holds a store but no identity: if a restore into it was interrupted, remove %s and restore again", ErrLiveHome, dst, dst.StorePath())
	}
	return nil
}

// lockFree reports home.ErrAlreadyRunning when path is flocked by another
// holder, without creating it.
func lockFree(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("backup: %w (%s)", home.ErrAlreadyRunning, filepath.Dir(path))
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// Temporary folders: DIR/../.BASE.restore-* when DIR does not exist (each
// holds its own node.lock while in use, which moves with it into place),
// and DIR/.restore-* when it does (DIR's own lock is held meanwhile).
func tmpPattern(dst home.Home, exists bool) (dir, pattern string) {
	if exists {
		return string(dst), ".restore-"
	}
	return filepath.Dir(string(dst)), "." + filepath.Base(string(dst)) + ".restore-"
}

// prepare locks the destination (or, when it does not exist yet, the
// temporary folder that will become it), removes what interrupted
// restores left (their lock is free), and makes the temporary folder.
func prepare(dst home.Home, exists bool) (home.Home, *os.File, error) {
	dir, pattern := tmpPattern(dst, exists)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	var lock *os.File
	if exists {
		l, err := home.Lock(dst)
		if err != nil {
			return "", nil, fmt.Errorf("backup: %w", err)
		}
		lock = l
		if err := holdsHome(dst); err != nil { // again, under the lock
			lock.Close()
			return "", nil, err
		}
	}
	// With dst locked, no other restore into it runs: every leftover in it
	// is dead. Beside dst, a running restore holds its folder's lock.
	removeLeftovers(dir, pattern, exists)
	t, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return "", nil, err
	}
	tmp := home.Home(t)
	if !exists {
		l, err := home.Lock(tmp) // moves with the folder into place
		if err != nil {
			os.RemoveAll(t)
			return "", nil, err
		}
		lock = l
	}
	return tmp, lock, nil
}

// removeLeftovers deletes the temporary folders of restores that stopped
// (crashed) before their commit: all of them (all dead), or those whose
// lock is free (a running restore holds its own).
func removeLeftovers(dir, pattern string, all bool) {
	ms, _ := filepath.Glob(filepath.Join(dir, pattern+"*"))
	for _, m := range ms {
		if st, err := os.Lstat(m); err != nil || !st.IsDir() {
			continue
		}
		h := home.Home(m)
		if all {
			os.RemoveAll(m)
			continue
		}
		if _, err := os.Stat(h.LockPath()); err != nil {
			continue // not locked yet (an empty folder), or not ours
		}
		if l, err := home.Lock(h); err == nil {
			os.RemoveAll(m)
			l.Close()
		}
	}
}

// build restores the stream into tmp: the store, then identity.key, then
// the vault's checks and its vault.restore record.
func build(ctx context.Context, cr *chunkReader, tmp home.Home, hdr Header, password []byte, o restoreOpts) (RestoreInfo, error) {
	info := RestoreInfo{ID: hdr.ID, VaultID: hdr.VaultID, Created: hdr.Created}
	st, err := store.Open(tmp.StorePath())
	if err != nil {
		return info, err
	}
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	ld := &loader{ctx: ctx, st: st}
	defer clear(ld.seed[:])
	if info.Entries, _, err = decode(cr, ld); err != nil {
		return info, err
	}
	if !ld.hasSeed {
		return info, fmt.Errorf("%w: no identity", ErrMalformed)
	}
	if err := ld.flush(); err != nil {
		return info, err
	}

	k, err := keys.PeerKeyFromSeed(ld.seed[:])
	if err != nil {
		return info, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	info.PeerID = k.ID()
	k.Wipe()
	block := pem.EncodeToMemory(&pem.Block{Type: identityPEMType, Bytes: ld.seed[:]})
	err = home.WriteFileAtomic(tmp.IdentityPath(), block, 0o600)
	clear(block)
	if err != nil {
		return info, err
	}
	back, err := home.LoadIdentity(tmp)
	if err != nil {
		return info, fmt.Errorf("backup: the restored identity.key does not read back: %w", err)
	}
	same := back.ID() == info.PeerID
	back.Wipe()
	if !same {
		return info, errors.New("backup: the restored identity.key reads back as another peer key")
	}

	detail := fmt.Sprintf("restored from backup %s taken %s", hdr.ID, hdr.Created.Format(time.RFC3339))
	var v *vault.Vault
	var rep vault.RestoreReport
	if rec := o.recovery; rec != nil {
		v, rep, err = vault.OpenRestoredRecovery(ctx, vault.Config{Store: st, Now: o.now}, rec.Method, rec.Key, rec.NewPassword, rec.KDF, o.actor, hdr.ID, detail)
	} else {
		v, rep, err = vault.OpenRestored(ctx, vault.Config{Store: st, Now: o.now}, password, o.actor, hdr.ID, detail)
	}
	if err != nil {
		return info, fmt.Errorf("backup: opening the restored vault: %w", err)
	}
	defer v.Close()
	if string(v.ID()) != string(hdr.VaultID) {
		return info, fmt.Errorf("%w: the restored vault is not the header's", ErrMalformed)
	}
	info.Records, info.Problems = rep.Records, rep.Problems
	recs, check, aerr := v.VerifyAudit(ctx)
	info.AuditRecords, info.AuditCheck = len(recs), check
	if aerr != nil {
		info.Problems = append(info.Problems, aerr.Error())
	}
	for ns, n := range map[vault.Namespace]*int{vault.NSSecrets: &info.Secrets, vault.NSResources: &info.Resources} {
		names, err := v.List(ctx, ns)
		if err != nil {
			return info, err
		}
		*n = len(names)
	}
	v.Close()
	err = st.Close()
	st = nil
	return info, err
}

// loader is the sink of a restore: entries go to the store in batches of
// restoreBatchBytes.
type loader struct {
	ctx     context.Context
	st      *store.Store
	b       ds.Batch
	pending int
	seed    [seedSize]byte
	hasSeed bool
}

func (l *loader) identity(seed []byte) error {
	copy(l.seed[:], seed)
	l.hasSeed = true
	return nil
}

func (l *loader) entry(key, value []byte) error {
	if l.b == nil {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		b, err := l.st.Batch(l.ctx)
		if err != nil {
			return err
		}
		l.b = b
	}
	// checkEntry (in decode) made key a valid datastore key; the batch
	// copies key and value.
	if err := l.b.Put(l.ctx, ds.RawKey(string(key)), value); err != nil {
		return err
	}
	if l.pending += len(key) + len(value); l.pending >= restoreBatchBytes {
		return l.flush()
	}
	return nil
}

func (l *loader) flush() error {
	if l.b == nil {
		return nil
	}
	err := l.b.Commit(l.ctx)
	l.b, l.pending = nil, 0
	if err != nil {
		return fmt.Errorf("backup: writing the restored store: %w", err)
	}
	return nil
}

// commit moves the restored home into place. When dst does not exist,
// one rename of the whole folder. When it does, store/ first, then
// identity.key by a hard link (it never replaces a file), which makes the
// folder a home.
func commit(tmp, dst home.Home, exists bool) error {
	if !exists {
		if err := os.Rename(string(tmp), string(dst)); err != nil {
			return fmt.Errorf("backup: moving the restored home into place: %w", err)
		}
		return syncDir(filepath.Dir(string(dst)))
	}
	if err := os.Rename(tmp.StorePath(), dst.StorePath()); err != nil {
		return fmt.Errorf("backup: moving the restored store into place: %w", err)
	}
	if err := syncDir(string(dst)); err != nil {
		return err
	}
	if err := os.Link(tmp.IdentityPath(), dst.IdentityPath()); err != nil {
		return fmt.Errorf("backup: moving the restored identity into place (the store is at %s): %w", dst.StorePath(), err)
	}
	if err := syncDir(string(dst)); err != nil {
		return err
	}
	return os.RemoveAll(string(tmp))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Inspect reads a backup's header and walks its chunks without the
// password: the format version, the vault ID, when it was taken, its key
// wraps' kinds, its size and number of chunks. Nothing is authenticated:
// only a restore (with the password) shows the file is whole and genuine.
func Inspect(r io.Reader) (Header, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	hdr, raw, err := readHeader(br)
	if err != nil {
		return hdr, err
	}
	body, err := io.Copy(io.Discard, br)
	if err != nil {
		return hdr, err
	}
	chunk := int64(hdr.ChunkSize + xcrypto.Overhead)
	hdr.Size = int64(len(raw)) + body
	hdr.Chunks = (body + chunk - 1) / chunk
	switch rest := body % chunk; {
	case body == 0:
		return hdr, fmt.Errorf("%w: it holds no chunk after its header", ErrTruncated)
	case rest != 0 && rest <= xcrypto.Overhead:
		return hdr, fmt.Errorf("%w: its last chunk is %d bytes, too short to hold anything", ErrAltered, rest)
	}
	return hdr, nil
}

// String renders the header for `mesh backup inspect`.
func (h Header) String() string {
	kinds := make([]string, len(h.Wraps))
	for i, w := range h.Wraps {
		kinds[i] = w.Kind
	}
	return fmt.Sprintf("mesh backup %s: format %d, vault %x, taken %s, opens with: %s; %d bytes in %d chunks of %d",
		h.ID, h.Version, h.VaultID, h.Created.Format(time.RFC3339), strings.Join(kinds, ", "), h.Size, h.Chunks, h.ChunkSize)
}
