package snapshot

import "errors"

// The refusals a reader can meet. Each is a sentinel for errors.Is; the
// error returned wraps it with what was found (versions, the block's
// index), never key material or plaintext.
var (
	// ErrRolledBack: the manifest's version is below the highest this
	// reader has seen for (owner, resource), or equal to it with other
	// bytes. A cache is serving an old snapshot.
	ErrRolledBack = errors.New("snapshot: the manifest is older than one already seen for this resource (rolled back)")
	// ErrSwapped: a block's bytes do not hash to the CID the owner signed
	// for it. The cache served other content, or its copy is corrupt.
	ErrSwapped = errors.New("snapshot: a block does not match the CID the owner signed (swapped or corrupted)")
	// ErrTruncated: the chunk list ended before the size the owner signed
	// (blocks missing from the stream, or a root listing too few).
	ErrTruncated = errors.New("snapshot: the content ends before the signed size (truncated chunk list)")
	// ErrWrongSigner: the manifest's signature does not verify under the
	// owner's key, or it names another owner than the one asked for.
	ErrWrongSigner = errors.New("snapshot: the manifest is not signed by the owner")
	// ErrExpired: the manifest's expiry has passed (beyond Skew), or its
	// creation is in the future.
	ErrExpired = errors.New("snapshot: the manifest has expired")
	// ErrNotRecipient: the reader's key is not among the manifest's
	// recipients, so the file key was not wrapped to it.
	ErrNotRecipient = errors.New("snapshot: this peer is not a recipient of the snapshot")
	// ErrMalformed: bytes that break the format (doc.go).
	ErrMalformed = errors.New("snapshot: malformed")
	// ErrTooLarge: content over MaxSealedBytes once sealed.
	ErrTooLarge = errors.New("snapshot: content too large")
)
