package snapshot

import (
	"time"

	"github.com/ocmt/mesh/capability"
	snap "github.com/ocmt/mesh/internal/snapshot"
)

// Caps of the protocol, each with its reason. doc.go's Limits table gives
// them with their values.
const (
	// MaxRequest bounds the request frame: a manifest (push) or an owner,
	// a resource and a token (fetch), and the map around them.
	MaxRequest = snap.MaxManifestBytes + capability.MaxTokenBytes + 512
	// maxReply bounds the reply frame: the envelope, a message and the
	// fetch body (a manifest and a count).
	maxReply = snap.MaxManifestBytes + 1024
	// MaxBlockFrame bounds a block frame: the largest block.
	MaxBlockFrame = snap.MaxBlockBytes
	// FrameTimeout bounds the wait for any one frame, each way: a slow
	// link moves a 1 MiB block in far less, a stalled peer gives up its
	// slot after it.
	FrameTimeout = 30 * time.Second
	// MaxStreamTime bounds a whole push or fetch: 16 GiB at 10 MB/s is
	// about half an hour.
	MaxStreamTime = 30 * time.Minute
	// DefaultMaxStreams bounds the pushes and fetches a server runs at
	// once; each holds one block (1 MiB) at a time.
	DefaultMaxStreams = 64
	// DefaultMaxStreamsPerPeer bounds one peer's share of them.
	DefaultMaxStreamsPerPeer = 4
	// DefaultMaxManifests bounds the manifests a server keeps (each at
	// most MaxManifestBytes: 100 MiB at worst).
	DefaultMaxManifests = 16384
	// DefaultMaxManifestsPerOwner bounds one owner's.
	DefaultMaxManifestsPerOwner = 1024
	// peerRate and peerBurst bound how often one peer opens a stream: a
	// reader fetches a few resources a second at most, an owner pushes on
	// each change.
	peerRate  = 10
	peerBurst = 40
	// maxLimited bounds the peers the rate limiter remembers.
	maxLimited = 4096
)
