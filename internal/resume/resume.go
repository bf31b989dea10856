package resume

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerseal"
	"github.com/ocmt/mesh/internal/xcrypto"
	"github.com/ocmt/mesh/vault"
)

// Actors of the vault's audit records.
const (
	// ActorHibernate writes the vault.resume-prepare record.
	ActorHibernate = "hibernate"
	// ActorWake writes the unlock and vault.resume records of a resume.
	ActorWake = "wake"
)

var (
	// ErrNoResume: there is no resume file (the node hibernated locked,
	// or its resume was used, discarded or expired).
	ErrNoResume = errors.New("no resume is pending: the node comes up locked")
	// ErrDamaged: the resume file is not one, or was altered; it is
	// deleted, since it can never open.
	ErrDamaged = errors.New("the resume file is damaged or was altered")
	// ErrFormat: the resume file is in a format this node does not read.
	ErrFormat = errors.New("the resume file is in a format this node does not read")
	// ErrBadHalf: the wake message's half does not open with this node's
	// key, or was altered on the way.
	ErrBadHalf = errors.New("the wake message's half of the resume key is not sealed to this node, or was altered")
	// ErrOtherHibernation: the half is of another hibernation than the
	// one the resume file is of.
	ErrOtherHibernation = errors.New("the wake message's half of the resume key is from another hibernation")
)

// file is the home file, parsed.
type file struct {
	vaultID [vaultIDSize]byte
	until   int64 // unix nanoseconds
	hibID   [HibernationIDSize]byte
	half    [KeySize]byte
	wrap    []byte
	tag     [TagSize]byte
}

// body is the file up to its tag.
func (f *file) body() []byte {
	b := make([]byte, 0, FileSize)
	b = append(b, magic...)
	b = append(b, f.vaultID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(f.until))
	b = append(b, f.hibID[:]...)
	b = append(b, f.half[:]...)
	return append(b, f.wrap...)
}

func (f *file) marshal() []byte { return append(f.body(), f.tag[:]...) }

func (f *file) wipe() { clear(f.half[:]) }

// tagFor is the file's tag under resume key r.
func (f *file) tagFor(r *[KeySize]byte) [TagSize]byte {
	k := xcrypto.Expand(r[:], f.vaultID[:], labelFile)
	defer clear(k[:])
	body := f.body()
	defer clear(body)
	return xcrypto.MAC(k[:], labelFile, body)
}

// parseFile reads a home file. It never returns a partly filled file.
func parseFile(b []byte) (*file, error) {
	if len(b) < len(magic) || !bytes.HasPrefix(b, []byte(magic[:len(magic)-1])) {
		return nil, fmt.Errorf("%w: it is not a resume file", ErrDamaged)
	}
	if v := b[len(magic)-1]; v != Version {
		return nil, fmt.Errorf("%w (format %d; this node reads format %d)", ErrFormat, v, Version)
	}
	if len(b) != FileSize {
		return nil, fmt.Errorf("%w: it is %d bytes, not %d", ErrDamaged, len(b), FileSize)
	}
	f := &file{}
	p := b[len(magic):]
	p = p[copy(f.vaultID[:], p):]
	f.until = int64(binary.BigEndian.Uint64(p))
	p = p[8:]
	p = p[copy(f.hibID[:], p):]
	p = p[copy(f.half[:], p):]
	f.wrap = bytes.Clone(p[:vault.ResumeWrapSize])
	p = p[vault.ResumeWrapSize:]
	copy(f.tag[:], p)
	// The wrap names the same vault and window as the file.
	if id, u, err := vault.ReadResumeWrap(f.wrap); err != nil || u.UnixNano() != f.until || !bytes.Equal(id, f.vaultID[:]) {
		f.wipe()
		return nil, fmt.Errorf("%w: its master key wrap does not match it", ErrDamaged)
	}
	return f, nil
}

// readFile reads and parses the home file at path.
func readFile(path string) (*file, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoResume
	} else if err != nil {
		return nil, fmt.Errorf("resume: reading the resume file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, int64(FileSize)+1))
	defer clear(b)
	if err != nil {
		return nil, fmt.Errorf("resume: reading the resume file: %w", err)
	}
	return parseFile(b)
}

func random(b []byte) { rand.Read(b) }

// Prepare readies a hibernation of an unlocked vault: it makes a fresh
// resume key R, has the vault wrap its master key under R until until
// (audited), splits R into a home half and a waker's half (R = home XOR
// waker), writes the home file at path (doc.go: a temporary file, fsynced,
// renamed into place, mode 0600, the folder fsynced) and returns the
// waker's half sealed to self's own peer ID, at most MaxSealedHalf bytes.
// A new Prepare replaces the file of an earlier one, whose half then fits
// nothing. until must be after now and at most MaxWindow away. R and both
// halves are wiped before it returns.
func Prepare(ctx context.Context, v *vault.Vault, self *keys.PeerKey, path string, until time.Time) (sealedHalf []byte, err error) {
	if self == nil || self.IsZero() {
		return nil, errors.New("resume: no peer key")
	}
	if d := time.Until(until); d <= 0 {
		return nil, errors.New("resume: the resume window would end before it starts")
	} else if d > MaxWindow {
		return nil, fmt.Errorf("resume: a resume window ends at most %s after the hibernation", windowWords(MaxWindow))
	}
	var r, wake [KeySize]byte
	defer clear(r[:])
	defer clear(wake[:])
	random(r[:])
	f := &file{until: until.UnixNano()}
	defer f.wipe()
	copy(f.vaultID[:], v.ID())
	random(f.hibID[:])
	random(f.half[:])
	subtle.XORBytes(wake[:], r[:], f.half[:])
	if f.wrap, err = v.WrapForResume(ctx, &r, until, ActorHibernate); err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	f.tag = f.tagFor(&r)

	pt := make([]byte, 0, HalfPlaintextSize)
	pt = append(pt, halfVersion)
	pt = append(pt, f.hibID[:]...)
	pt = append(pt, wake[:]...)
	defer clear(pt)
	sealed, err := peerseal.Seal([]peer.ID{self.ID()}, pt)
	if err != nil {
		return nil, fmt.Errorf("resume: sealing the waker's half: %w", err)
	}
	if len(sealed) > MaxSealedHalf {
		return nil, fmt.Errorf("resume: the sealed half is %d bytes, over %d", len(sealed), MaxSealedHalf)
	}
	b := f.marshal()
	defer clear(b)
	if err := home.WriteFileAtomic(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("resume: writing the resume file: %w", err)
	}
	return sealed, nil
}

// Resume unlocks v with the home file at path and the waker's half from
// the wake message, at now. In order:
//
//   - no file: ErrNoResume;
//   - a file that is not a resume file, or altered (its tag): ErrDamaged,
//     and the file is deleted;
//   - a file of another vault: vault.ErrResumeOtherVault (kept);
//   - at or after the window's end: vault.ErrResumeExpired, and the file
//     is deleted;
//   - a half that does not open with self (ErrBadHalf) or is of another
//     hibernation (ErrOtherHibernation): the file is kept, for the right
//     half;
//   - else the file is deleted, then the vault unlocked
//     (vault.UnlockResumed, audited): a resume is used once, and a crash
//     or a failure after the delete leaves the node locked, never a
//     usable file behind.
func Resume(ctx context.Context, v *vault.Vault, self *keys.PeerKey, path string, sealedHalf []byte, now time.Time) error {
	if self == nil || self.IsZero() {
		return errors.New("resume: no peer key")
	}
	f, err := readFile(path)
	if errors.Is(err, ErrDamaged) {
		if derr := Discard(path); derr != nil {
			return errors.Join(err, derr)
		}
		return err
	} else if err != nil {
		return err
	}
	defer f.wipe()
	if !bytes.Equal(f.vaultID[:], v.ID()) {
		return fmt.Errorf("%w: the resume file at %s is another vault's", vault.ErrResumeOtherVault, path)
	}
	until := time.Unix(0, f.until)
	if !now.Before(until) {
		if err := Discard(path); err != nil {
			return err
		}
		return fmt.Errorf("%w (it ended at %s)", vault.ErrResumeExpired, until.UTC().Format(time.RFC3339))
	}
	if len(sealedHalf) > MaxSealedHalf {
		return fmt.Errorf("%w: it is %d bytes, over %d", ErrBadHalf, len(sealedHalf), MaxSealedHalf)
	}
	pt, err := peerseal.Open(self, sealedHalf)
	defer clear(pt)
	if err != nil {
		return ErrBadHalf
	}
	if len(pt) != HalfPlaintextSize || pt[0] != halfVersion {
		return fmt.Errorf("%w: it is not a half of a resume key", ErrBadHalf)
	}
	if subtle.ConstantTimeCompare(pt[1:1+HibernationIDSize], f.hibID[:]) != 1 {
		return ErrOtherHibernation
	}
	var r [KeySize]byte
	defer clear(r[:])
	subtle.XORBytes(r[:], f.half[:], pt[1+HibernationIDSize:])
	tag := f.tagFor(&r)
	if !xcrypto.MACEqual(tag[:], f.tag[:]) {
		err := fmt.Errorf("%w: its tag does not verify under the resume key", ErrDamaged)
		if derr := Discard(path); derr != nil {
			return errors.Join(err, derr)
		}
		return err
	}
	if err := Discard(path); err != nil {
		return fmt.Errorf("resume: the resume file could not be removed, so it was not used: %w", err)
	}
	return v.UnlockResumed(ctx, f.wrap, &r, now, ActorWake)
}

// Discard removes the resume file at path (mesh lock, the window's end)
// and fsyncs its folder. No file is no error. The bytes are not
// overwritten first: on a journalling or copy-on-write file system an
// overwrite does not reach the old blocks; what protects a removed file's
// old blocks is that they are one half of a key whose other half is
// deleted with the window.
func Discard(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("resume: removing the resume file: %w", err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("resume: removing the resume file: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("resume: removing the resume file: %w", err)
	}
	return nil
}

// Pending reports whether a resume file is at path and the end of its
// window (which may have passed: Resume then deletes it). A file that
// does not parse is not pending. The window's end is read, not
// authenticated: only Resume, with the waker's half, checks the file.
func Pending(path string) (until time.Time, ok bool) {
	f, err := readFile(path)
	if err != nil {
		return time.Time{}, false
	}
	f.wipe()
	return time.Unix(0, f.until), true
}

func windowWords(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
