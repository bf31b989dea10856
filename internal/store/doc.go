// Package store opens the pebble datastore every role keeps in its home
// folder, guarded against a full disk and a damaged table, and documents
// (layout.go) which namespace of it holds what for each role.
//
// Every write is fsynced before it returns. Pebble's lock makes a second
// process opening the same folder fail; Busy recognises that failure.
//
// # A full disk
//
// Pebble cannot live on a full disk: a flush that meets ENOSPC is retried
// for ever (so its Close, which flushes, and its Open, which replays the
// write-ahead log into a table, never return), a compaction that cannot
// finish leaves level 0 to grow until pebble stops every commit, and a
// log write that fails ends the process. So the store stops writing
// early, by tiers: a write is refused with ErrDiskFull, having written
// nothing, unless the disk keeps its tier's floor free, plus twice the
// write's own size (its log record, then the table it is flushed to).
//
//	tier        who                                         stops below
//	TierWrite   everything that adds data (the default)    5 % of the disk, at least 64 MiB, at most 1 GiB
//	TierRead    a read's audit record, an unlock, a failed  16 MiB
//	            unlock's count
//	TierDelete  a delete with its audit record, the lock    8 MiB
//	            record; any batch of deletes only
//
// The numbers:
//
//   - 64 MiB (MinWriteReserve) is what a default pebble compaction may
//     need while it runs: it writes its output before it deletes its
//     input, and an L0→base compaction takes L0's files (4 of up to a 4 MiB
//     memtable each) and the overlapping base-level files, expanded up to
//     25 target files of 2 MiB (pebble's expandedCompactionByteSizeLimit).
//     Writes stopping there keep the store able to compact what was
//     written before.
//   - 5 % (WriteReserveDivisor) makes the reserve grow with the disk, as
//     other programs' use of it does, so a big disk warns (Warning: under
//     twice the reserve) and stops writes while there is still time to
//     act. Capped at 1 GiB (MaxWriteReserve): no compaction of a home
//     node's or an infrastructure role's store comes near it, and more
//     would only be withheld from the user. On a disk under 1.25 GiB the
//     64 MiB floor applies (on an 80 MiB volume, writes stop with 64 MiB
//     free: such a disk is mostly reserve, and mesh status says so).
//   - 16 MiB (ReadFloor) is four memtables: audit records are a few
//     hundred bytes, so thousands of reads, unlocks and locks fit between
//     the write reserve and here, with every flush still fitting. Reads
//     stop 8 MiB above deletes so that a full disk always leaves the owner
//     a way out.
//   - 8 MiB (DeleteFloor) is two memtables: pebble can always flush its
//     memtable (at most 4 MiB of table) and start the next log. Nothing
//     writes below it. Opening a store needs it too, plus the size of the
//     write-ahead log it replays (Open refuses at once with ErrDiskFull
//     rather than hang).
//
// A caller puts its writes in a tier with WithTier (the vault does for
// reads, unlocks, deletes and the lock); Delete and a batch holding only
// deletes are in TierDelete whatever the context says.
//
// A delete frees space only once pebble compacts the deleted value away,
// and below the write reserve no write would come to trigger that. So a
// delete committed below the write reserve compacts the deleted keys'
// ranges before it returns (reclaim, bounded to 10 s and stopped at
// ENOSPC); pebble removes the old tables right after (and Close waits for
// that).
//
// Below the write reserve, a write is also refused while pebble's flushes
// fail for want of space or level 0 is within two sublevels of pebble's
// stop (12): either would make the commit wait for ever. When pebble meets
// ENOSPC in the background (another process filled the disk), writes wait
// for twice the write reserve free, or for a compaction to succeed
// (Space.Stalled).
//
// Close flushes the memtable when it can and otherwise skips the flush:
// with less than DeleteFloor free, while flushes fail, or when the disk
// fills during the flush. Every acknowledged write is already in the
// write-ahead log, which the next Open replays. A log write that fails
// anyway (the disk filled between the check and the write) ends the
// process with one line saying the disk is full, not that the store is
// damaged.
//
// Space reads the disk as the store sees it; Space.Warning words it for
// mesh status.
//
// # Memory
//
// Pebble's buffers are sized per role (SizingFor): a home node's store
// keeps memtables of at most 64 KiB and a 1 MiB block cache, where the
// bootstrap's and the relay's keep pebble's 4 MiB and 8 MiB. The floors
// above are sized for the larger. Besides those, pebble holds about
// 200 KiB per open store whatever its options (its log writer's and
// commit pipeline's queues and record buffers).
package store
