package blockcache

// Defaults and caps, each with its reason; doc.go's Limits table gives
// them with their values.
const (
	// DefaultMaxBytes is a relay's cache unless its operator says
	// otherwise (mesh relay --cache-max-bytes): a thousand chunks.
	DefaultMaxBytes = 1 << 30
	// DefaultPerPusher bounds what one pusher holds, so one owner's
	// snapshots cannot take the whole cache from the others.
	DefaultPerPusher = 256 << 20
	// MaxBlockBytes is the largest block taken: a snapshot chunk
	// (internal/snapshot's MaxBlockBytes).
	MaxBlockBytes = 1 << 20
	// MinCharge is what the smallest block costs against the caps, so
	// the in-memory index stays at most MaxBytes / MinCharge entries
	// (65,536 for 1 GiB, about 10 MiB of index).
	MinCharge = 16 << 10
	// TouchBatch is how many reads' recency are written in one batch; a
	// crash forgets at most this many reads' place in the LRU order.
	TouchBatch = 64
)
