// Package blockcache is a content-addressed block store for the cached
// tier: blocks in a go-datastore keyed by CID, every block's hash checked
// on the way in and on the way out, a least-recently-used order with a
// byte cap, and pushes bounded per pusher and admitted by an Authorizer.
// A relay keeps one (by default) for the snapshots its reserved peers
// push (protocols/snapshot); it holds ciphertext only and knows nothing of
// what the blocks are.
//
// # Limits
//
// Every number of the package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name              value       unit    what it bounds
//	DefaultMaxBytes   1073741824  bytes   the cache's cap unless the operator sets one (1 GiB; 0 disables the cache)
//	DefaultPerPusher  268435456   bytes   what one pusher's blocks may take (256 MiB), never above the cap
//	MaxBlockBytes     1048576     bytes   one block (a snapshot chunk)
//	MinCharge         16384       bytes   the least a block is charged against both caps
//	TouchBatch        64          reads   reads whose recency are written in one batch
//
// # Blocks
//
// Only CIDv1, raw codec, sha2-256 blocks are taken (internal/snapshot
// "Blocks and CIDs"); another CID is ErrUnsupportedCID. A block is
// stored only if its bytes hash to its CID (ErrMismatch), and served only
// if they still do: a stored copy that does not (a disk that changed a
// byte, an edit under the cache) is deleted at once and the read fails
// with ErrCorrupt. A corrupt block is never served.
//
// # Caps
//
// A block is charged its size, at least MinCharge (16384) bytes, so the
// in-memory index holds at most MaxBytes / MinCharge entries (65,536 for
// 1 GiB). Put checks, in order: the Authorizer admits the pusher
// (ErrNotAuthorized; a nil Authorizer admits nobody); the CID's form; the
// size, at most MaxBlockBytes (ErrTooLarge); the hash. A block already
// held is only touched (moved to the front of the order; it stays charged
// to its first pusher). Otherwise room is made: while the pusher's blocks
// would exceed PerPusher, its own least recently used blocks go; then,
// while the cache would exceed MaxBytes, anyone's least recently used
// blocks go. The block, its accounting and the evictions are one batch.
// So a stranger stores nothing, and an admitted pusher can take at most
// PerPusher of the cache, and displaces its own old snapshots first.
//
// # Store
//
// Under the namespace the role gives it (a relay: /cache of its store):
//
//	/b/CID   the block's bytes
//	/a/CID   its accounting: recency (u64 big-endian), size (u32
//	         big-endian), the pusher's peer ID (the rest)
//
// CID is the text form (base32, "bafkrei…").
//
// # Restart
//
// The order is kept on disk as each block's recency, a counter that grows
// with every put and read. A put writes it with the block; a read changes
// it in memory and the changes are written in the background in batches
// once TouchBatch (64) reads have gathered, and at Close. Open reads every
// /a/ entry (small: no block is read), rebuilds the order by recency, the
// per-pusher and total charges, deletes entries that do not decode (and
// their blocks), and evicts down to the caps if they shrank. After a
// crash the order is the one last written: at most the last TouchBatch
// reads' places are lost, so the rebuilt order approximates the true one
// by those reads.
package blockcache
