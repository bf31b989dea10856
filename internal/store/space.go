package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// The free space a store leaves on its disk, by tier (doc.go says why
// these numbers).
const (
	// MinWriteReserve is the least free space a write leaves: room for a
	// default pebble compaction (L0's files plus the overlapping base-level
	// files, up to about 64 MiB) to finish, so the store keeps working.
	MinWriteReserve = 64 << 20
	// MaxWriteReserve caps the write reserve on large disks.
	MaxWriteReserve = 1 << 30
	// WriteReserveDivisor makes the write reserve 1/20 (5 %) of the disk.
	WriteReserveDivisor = 20
	// ReadFloor is the least free space an audited read (its audit record),
	// an unlock or a failed unlock leaves: four memtables' worth, so reads
	// stop while deletes and lock still have room of their own.
	ReadFloor = 16 << 20
	// DeleteFloor is the least free space anything leaves, deletes and the
	// lock record included: two memtables' worth (pebble's default
	// memtable is 4 MiB), so a memtable can always be flushed to a table.
	// Opening a store needs it too, plus the size of its write-ahead log.
	DeleteFloor = 8 << 20
)

// WriteReserve is the write reserve on a disk of total bytes: 5 % of it,
// at least MinWriteReserve, at most MaxWriteReserve.
func WriteReserve(total uint64) uint64 {
	return min(max(total/WriteReserveDivisor, MinWriteReserve), MaxWriteReserve)
}

// Tier says what a write is for, and so how much free space it must leave.
// Writes stop first; audited reads keep working below the write reserve,
// and deletes and lock below that, so the owner can always read, lock and
// free space.
type Tier int

// Tiers, from the strictest.
const (
	// TierWrite is the default: anything that adds data (ReserveWrite).
	TierWrite Tier = iota
	// TierRead is a read's audit record, an unlock, a failed unlock's
	// count: a few KiB that the owner's access depends on (ReadFloor).
	TierRead
	// TierDelete is a delete (with its audit record) or the lock record:
	// what frees space or ends access (DeleteFloor). A batch that only
	// deletes, and Store.Delete, are in this tier whatever ctx says.
	TierDelete
)

func (t Tier) String() string {
	switch t {
	case TierRead:
		return "audited reads"
	case TierDelete:
		return "deletes"
	}
	return "writes"
}

type tierKey struct{}

// WithTier returns ctx carrying t: the store's writes under that context
// (Put, a batch's Commit) keep t's floor instead of the write reserve.
func WithTier(ctx context.Context, t Tier) context.Context {
	return context.WithValue(ctx, tierKey{}, t)
}

// TierOf is the tier ctx carries (TierWrite when none).
func TierOf(ctx context.Context) Tier {
	t, _ := ctx.Value(tierKey{}).(Tier)
	return t
}

// Space is a store's disk as the store sees it: its size, what is free,
// and where each tier stops.
type Space struct {
	// Dir is the store's folder.
	Dir string `json:"dir"`
	// Total and Free are the disk's size and the bytes free to mesh.
	Total uint64 `json:"total"`
	Free  uint64 `json:"free"`
	// WriteReserve, ReadFloor and DeleteFloor are where writes, audited
	// reads and deletes stop (free space they must leave).
	WriteReserve uint64 `json:"write_reserve"`
	ReadFloor    uint64 `json:"read_floor"`
	DeleteFloor  uint64 `json:"delete_floor"`
	// Stalled is set when pebble met a full disk in the background (a flush
	// or a compaction failed): writes then wait for 2×WriteReserve free, or
	// for pebble to write successfully again.
	Stalled bool `json:"stalled,omitempty"`
}

// SpaceAt reads the disk holding dir (or its nearest existing parent).
func SpaceAt(dir string) (Space, error) {
	var st syscall.Statfs_t
	p := dir
	for {
		err := syscall.Statfs(p, &st)
		if err == nil {
			break
		}
		parent := filepath.Dir(p)
		if !os.IsNotExist(err) || parent == p {
			return Space{}, fmt.Errorf("store: reading free space at %s: %w", dir, err)
		}
		p = parent
	}
	bs := uint64(st.Bsize)
	total := st.Blocks * bs
	return Space{Dir: dir, Total: total, Free: st.Bavail * bs,
		WriteReserve: WriteReserve(total), ReadFloor: ReadFloor, DeleteFloor: DeleteFloor}, nil
}

// Floor is the free space a write of tier t must leave.
func (sp Space) Floor(t Tier) uint64 {
	switch t {
	case TierRead:
		return sp.ReadFloor
	case TierDelete:
		return sp.DeleteFloor
	}
	return sp.WriteReserve
}

// WarnBelow is the free space under which Warning speaks: twice the write
// reserve, so there is time to act before writes stop.
func (sp Space) WarnBelow() uint64 { return 2 * sp.WriteReserve }

// Warning says, in one line, how close the disk is to stopping the
// store's writes, reads and deletes; "" while more than WarnBelow is free.
func (sp Space) Warning() string {
	stops := fmt.Sprintf("writes stop at %s, audited reads at %s, deletes and lock at %s", mib(sp.WriteReserve), mib(sp.ReadFloor), mib(sp.DeleteFloor))
	const act = "free space on that disk, or delete what you no longer need"
	switch {
	case sp.Stalled && sp.Free < sp.WarnBelow():
		return fmt.Sprintf("disk full: %s free, and the store could not write in the background; writes wait for %s free (%s): %s", mib(sp.Free), mib(sp.WarnBelow()), stops, act)
	case sp.Free >= sp.WarnBelow():
		return ""
	case sp.Free >= sp.WriteReserve:
		return fmt.Sprintf("disk nearly full: %s free; %s", mib(sp.Free), stops)
	case sp.Free >= sp.ReadFloor:
		return fmt.Sprintf("disk full for writes: %s free; %s: %s", mib(sp.Free), stops, act)
	case sp.Free >= sp.DeleteFloor:
		return fmt.Sprintf("disk full for writes and reads: %s free; %s: %s", mib(sp.Free), stops, act)
	}
	return fmt.Sprintf("disk full: %s free; %s, so nothing can be written: free space on that disk", mib(sp.Free), stops)
}

// refusal is the ErrDiskFull a write of tier t and size bytes gets.
func (sp Space) refusal(t Tier, size uint64) error {
	var why string
	switch t {
	case TierWrite:
		why = fmt.Sprintf("writes stop at %s free (audited reads go on down to %s, deletes to %s)", mib(sp.WriteReserve), mib(sp.ReadFloor), mib(sp.DeleteFloor))
	case TierRead:
		why = fmt.Sprintf("audited reads stop at %s free (deletes go on down to %s)", mib(sp.ReadFloor), mib(sp.DeleteFloor))
	default:
		why = fmt.Sprintf("even deletes stop at %s free, the room the store needs to work in", mib(sp.DeleteFloor))
	}
	if size >= 1<<20 {
		why += fmt.Sprintf(", and this write of %s needs %s above that", mib(size), mib(2*size))
	}
	if sp.Stalled && t == TierWrite {
		why = fmt.Sprintf("the store could not write in the background, and writes wait for %s free", mib(sp.WarnBelow()))
	}
	return fmt.Errorf("%w: %s free on the disk holding %s, and %s; nothing was written (free some space, or delete what you no longer need, and retry)",
		ErrDiskFull, mib(sp.Free), sp.Dir, why)
}

// mib renders bytes as whole MiB, rounded down ("63 MiB").
func mib(n uint64) string { return fmt.Sprintf("%d MiB", n>>20) }

// walBytes is the size of the write-ahead logs in dir: what opening the
// store replays and may flush to tables before it returns.
func walBytes(dir string) uint64 {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var n uint64
	for _, l := range logs {
		if fi, err := os.Stat(l); err == nil {
			n += uint64(fi.Size())
		}
	}
	return n
}

// roomToOpen refuses to open the store in dir when its disk cannot take
// what opening writes: pebble replays the write-ahead log and flushes it
// to a table, and a flush that meets a full disk retries forever, so the
// open would never return (and would hold the lock meanwhile).
func roomToOpen(dir string, floor uint64) error {
	sp, err := SpaceAt(dir)
	if err != nil {
		return nil // cannot tell: let pebble try
	}
	wal := walBytes(dir)
	if sp.Free >= floor+wal {
		return nil
	}
	return fmt.Errorf("%w: %s free on the disk holding %s, and opening the store needs %s (%s for the store to work in, and %s to move its write-ahead log into a table); nothing was opened (free some space on that disk and retry)",
		ErrDiskFull, mib(sp.Free), dir, mibUp(floor+wal), mib(floor), mibUp(wal))
}

// mibUp renders bytes as MiB, rounded up.
func mibUp(n uint64) string { return fmt.Sprintf("%d MiB", (n+1<<20-1)>>20) }
