package resume

import (
	"time"

	"github.com/ocmt/mesh/vault"
)

// Every number of the home file and the waker's half (doc.go, "Limits").
const (
	// Version is the home file's format version, the last byte of its magic.
	Version = 1
	// KeySize is the resume key's size and each half's.
	KeySize = 32
	// HibernationIDSize is the random identifier of one hibernation, in
	// the home file and in the waker's half.
	HibernationIDSize = 16
	// TagSize is the home file's tag.
	TagSize = 32
	// FileSize is the home file's size, exactly.
	FileSize = len(magic) + vaultIDSize + 8 + HibernationIDSize + KeySize + vault.ResumeWrapSize + TagSize
	// HalfPlaintextSize is the waker's half before it is sealed.
	HalfPlaintextSize = 1 + HibernationIDSize + KeySize
	// MaxSealedHalf bounds the sealed waker's half: Prepare never makes a
	// larger one and Resume refuses a larger one before opening it.
	MaxSealedHalf = 256
	// DefaultWindow is the resume window of a node that does not set one:
	// the unlock session's maximum.
	DefaultWindow = 12 * time.Hour
	// MaxWindow caps a window, whatever the configuration says: a resume
	// file is the vault's master key for whoever holds both halves.
	MaxWindow = 7 * 24 * time.Hour
)

const (
	magic       = "OCMTRSM\x01"
	vaultIDSize = 16
	// labelFile is the HKDF label of the file's tag key and the tag's
	// MAC label.
	labelFile = "ocmt-mesh/resume-file/v1"
	// halfVersion is the first byte of the waker's half.
	halfVersion = 1
)
