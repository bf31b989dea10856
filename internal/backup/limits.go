package backup

import "github.com/ocmt/mesh/vault"

// Limits. A reader checks each length against its limit before it
// allocates anything for it; a writer refuses to write what a reader would
// refuse, so every backup Write makes can be restored.
const (
	// Version is the format version this package writes, and the only one
	// it reads.
	Version = 1
	// MaxHeaderSize bounds the header, magic and length field included.
	MaxHeaderSize = 4096
	// MaxWraps bounds the key wraps a header carries (one per kind).
	MaxWraps = 8
	// MaxWrapKind bounds a wrap kind's name (the KIND of /meta/wrap/KIND).
	MaxWrapKind = 32
	// MaxWrapSize bounds one wrap's bytes (a password wrap is 110).
	MaxWrapSize = 1024
	// MinChunkLog and MaxChunkLog bound the chunk size, 2^log bytes of
	// plaintext: 1 KiB to 1 MiB.
	MinChunkLog = 10
	MaxChunkLog = 20
	// DefaultChunkLog is the chunk size Write uses: 64 KiB.
	DefaultChunkLog = 16
	// MaxKeySize bounds one store key.
	MaxKeySize = 64 << 10
	// MaxValueSize bounds one store value: the largest value a home's
	// store holds is a vault record (vault.MaxRecordSize, 64 MiB).
	MaxValueSize = vault.MaxRecordSize
)

// restoreBatchBytes is how many bytes of entries one restore batch holds
// before it is committed (fsynced): memory stays bounded by this plus one
// value. A variable so tests can make a restore take many batches.
var restoreBatchBytes = 4 << 20
