package capability

import "time"

// Every cap the decoder, issuer and verifier enforce, each with its reason.
// Changing one changes which tokens the mesh accepts, so it is a format
// change: update doc.go and the vectors in testdata/ together with it.
const (
	// Version is the only payload version; it pins Ed25519 over
	// "ocmt-mesh/token/v1" || 0x00 || payload, so there is no algorithm field.
	Version = 1

	// MaxTokenBytes caps a whole envelope, embedded parents included: a
	// depth-4 chain with maximal resources fits in about 2.2 KiB, and the
	// decoder rejects anything longer before it allocates.
	MaxTokenBytes = 4096

	// MaxTextLen caps the text form: the prefix plus base64url of
	// MaxTokenBytes, checked before base64 decoding allocates.
	MaxTextLen = len(TextPrefix) + (MaxTokenBytes*8+5)/6

	// MaxDepth caps the tokens in a chain (a root alone has depth 1): four
	// hops cover owner → person → device → agent, and each hop costs one
	// signature verification for every request.
	MaxDepth = 4

	// MaxResourceLen caps a resource pattern or path in bytes, so a chain
	// of maximal tokens still fits under MaxTokenBytes.
	MaxResourceLen = 256

	// MaxResourceSegments caps the '/'-separated segments, which bounds the
	// work of matching and containment to a few dozen comparisons.
	MaxResourceSegments = 16

	// MaxSegmentLen caps one segment: names, not content, live in paths.
	MaxSegmentLen = 64

	// MaxMaxUses caps the max-uses field: a larger count is not a
	// single-use budget any more, and the replay store keeps a counter per
	// token for its whole lifetime.
	MaxMaxUses = 1 << 20

	// NonceSize is the random nonce length: 128 bits make two tokens with
	// equal fields (and so an equal ID) practically impossible.
	NonceSize = 16

	// DefaultSkew is the clock tolerance on not-before and expiry, UCAN's
	// recommended ±60 s buffer.
	DefaultSkew = 60 * time.Second

	// MaxSkew caps Config.Skew. Replay stores keep a use record until the
	// token's expiry plus MaxSkew (plus a second), whatever skew the
	// verifier runs with, so raising the skew up to this cap (even across
	// a restart with a persistent store) never outlives a record. It is
	// the directory's MaxClockSkew too.
	MaxSkew = 5 * time.Minute

	// DefaultMaxReplayEntries caps the in-memory replay store (about 100 B
	// an entry, so 10 MiB); when full it refuses new counted tokens rather
	// than forget spent ones.
	DefaultMaxReplayEntries = 100_000

	// DefaultCacheEntries caps the chains a verifier's default ChainCache
	// remembers: the tokens a busy node's grantees present again within
	// minutes, with room to spare. A lookup is a map access either way.
	DefaultCacheEntries = 8192

	// DefaultCacheBytes caps the memory those chains keep (16 MiB): a
	// root token keeps under 1 KiB decoded, the largest chain (a
	// MaxTokenBytes envelope) about 10 KiB, so the entry cap binds first
	// for ordinary tokens and this one for chains built to be large.
	DefaultCacheBytes = 16 << 20
)

// CBOR decoder caps. fxamacker/cbor's minimums are 4 levels, 16 elements
// and 16 pairs; a payload is one flat map of at most 11 pairs and an
// envelope a flat map of 2, and parents are nested as byte strings, so
// the minimums are already generous.
const (
	cborMaxNestedLevels  = 4
	cborMaxArrayElements = 16
	cborMaxMapPairs      = 16
)
