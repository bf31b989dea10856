// Package resume keeps a home node's vault unlocked across a hibernation,
// for a bounded window, without leaving on any one machine what opens it.
//
// A node that hibernates while unlocked (Prepare) makes a fresh resume key
// R, has the vault seal its master key under R (vault.WrapForResume,
// audited as vault.resume-prepare) and splits R in two: R = H XOR W, with
// H and W random-looking 32 bytes each. H stays in the node's home, in the
// resume file, with the wrapped master key; W goes to the waker (the relay
// that wakes the node), sealed to the node's own peer ID, so the relay
// keeps a blob it cannot read. The wake message carries the sealed W back;
// the woken node opens it with its peer key, recombines R and comes up
// unlocked (Resume, vault.UnlockResumed). Neither half alone opens
// anything: the home without W holds H and a wrap under R, the relay
// without the home holds W sealed to a key it does not have (and, opened,
// W is as random as H).
//
// The window ends at until, the unlock session's maximum after the
// hibernation (DefaultWindow, at most MaxWindow), or at a `mesh lock`
// (Discard). After it the node comes up locked: Resume deletes the file,
// and the waker deletes W.
//
// This comment is the specification of the home file and of the waker's
// half. The wrapped master key inside the file is the vault's resume wrap
// (vault/resume.go); it is opaque here.
//
// # Limits
//
// Every number of the format, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name               value   unit     what it bounds
//	Version            1       version  the home file's format, the last byte of its magic
//	KeySize            32      bytes    the resume key R, and each half
//	HibernationIDSize  16      bytes    one hibernation's random identifier
//	TagSize            32      bytes    the home file's tag
//	FileSize           220     bytes    the home file, exactly
//	HalfPlaintextSize  49      bytes    the waker's half before it is sealed
//	MaxSealedHalf      256     bytes    the sealed waker's half (Prepare's are 249)
//	DefaultWindow      43200   seconds  the resume window when none is configured (12 h)
//	MaxWindow          604800  seconds  the longest resume window Prepare accepts (7 days)
//
// # Home file (format 1)
//
// Integers are big-endian; "||" is concatenation.
//
//	magic "OCMTRSM\x01" (8) || vault ID (16) || until unix-nano i64 (8)
//	|| hibernation ID (16) || home half H (32) || resume wrap (108) || tag (32)
//
//	K_file = HKDF-SHA256(IKM R, salt vault ID, info "ocmt-mesh/resume-file/v1")
//	tag    = HMAC-SHA256(K_file, "ocmt-mesh/resume-file/v1" || 0x00 || every byte before the tag)
//
// FileSize (220) bytes in all. The resume wrap (vault.ResumeWrapSize, 108
// bytes) names the same vault ID and until as the file, or the file is
// damaged. The tag is checked only once R is known, so it proves that
// this file is the one Prepare wrote with this half: an edit anywhere
// (H, until, the wrap) is ErrDamaged, not a wrong key.
//
// It is written as internal/home writes files: a temporary file in the
// same folder with mode 0600, written and fsynced, renamed over path, and
// the folder fsynced, so a crash leaves the old file or the new one.
//
// # Waker's half
//
//	plaintext = 0x01 (1) || hibernation ID (16) || W (32)        HalfPlaintextSize (49) bytes
//	sealed    = internal/peerseal Seal to the node's own peer ID   249 bytes
//
// The hibernation ID is 16 random bytes of this hibernation, also in the
// home file: a half of an earlier hibernation is refused as such
// (ErrOtherHibernation) before anything is combined, and the file is
// kept for the right half. Since only the node reads the sealed half,
// only it and its home know the ID: a half someone else sealed to the
// node's public peer ID does not get past this check.
//
// # Resume, in order
//
//  1. read the file: none is ErrNoResume; a file whose eighth byte is not
//     Version, after the seven bytes "OCMTRSM", is ErrFormat (kept),
//     whatever its length; one that does not begin with "OCMTRSM" (one
//     shorter than 8 bytes included), or is not FileSize bytes, or whose
//     wrap names another vault or until, is ErrDamaged and is deleted;
//  2. the file's vault ID must be the vault's (vault.ErrResumeOtherVault);
//  3. now must be before until, or the file is deleted and the error is
//     vault.ErrResumeExpired;
//  4. the sealed half, at most MaxSealedHalf (256) bytes, must open with
//     the node's peer key and be a half (ErrBadHalf) of this hibernation
//     (ErrOtherHibernation); the file is kept in both cases;
//  5. R = H XOR W, and the tag must verify under K_file (else ErrDamaged,
//     the file is deleted);
//  6. the file is deleted and its folder fsynced — a resume is used once;
//     if it cannot be deleted the resume is not used;
//  7. vault.UnlockResumed opens the wrap with R (audited: vault.unlock,
//     then vault.resume, target "resume"). If it fails the node is locked
//     and the password unlocks it as always.
//
// R, H, W and the half's plaintext are wiped from memory once used.
// Discard removes the file without overwriting it first: on ext4 (a
// journal) or a copy-on-write file system an overwrite does not reach the
// old blocks, and a recovered H is useless once W is deleted.
package resume
