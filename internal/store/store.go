package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	ds "github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

// ErrDiskFull means the store refused a write (or to open) because its
// disk is (nearly) full. Nothing was written; free space and retry.
var ErrDiskFull = errors.New("store: disk full")

// Store is the node's pebble datastore (ds.Batching), guarded against a
// full disk: every write (Put, Delete, a batch's Commit) first checks that
// the disk keeps its tier's floor free, and twice the write's size above
// it (its log record, then its table), and otherwise fails with
// ErrDiskFull, having written nothing. Every write is fsynced before it
// returns, so an acknowledged write survives a crash. Pebble holds a lock
// file: a second process opening the same dir fails.
type Store struct {
	*pebbleds.Datastore
	dir string
	// limits replaces the computed floors (tests).
	limits func(Space) Space
	// stalled is set when pebble met ENOSPC in the background (a flush or
	// a compaction failed: the disk filled up under us), and cleared by
	// its next successful flush or compaction.
	stalled atomic.Bool
	// flushFailing is set while pebble's flushes fail for want of space:
	// Close must then not wait for one.
	flushFailing atomic.Bool
	// noSpace is closed, and replaced, at every ENOSPC pebble meets in the
	// background, for whoever waits on pebble meanwhile (Close, reclaim).
	mu      sync.Mutex
	noSpace chan struct{}
	closed  atomic.Bool
}

var _ ds.Batching = (*Store)(nil)

// Open opens (creating if needed) the pebble datastore in dir, sized for
// a home node (SizingFor(HomeNode)); OpenFor opens an infrastructure
// role's. It refuses with ErrDiskFull, at once, when the disk has less
// than DeleteFloor free beyond the size of the store's write-ahead log
// (which opening replays into a table): pebble's open would otherwise wait
// forever on the full disk.
func Open(dir string) (*Store, error) { return OpenFor(dir, HomeNode) }

// OpenFor is Open with pebble sized for role (SizingFor).
func OpenFor(dir string, role Role) (*Store, error) { return open(dir, SizingFor(role), nil) }

// Sizing is the memory a store's pebble may hold, besides its fixed
// structures (about 200 KiB of log and commit buffers, whatever the
// sizing).
type Sizing struct {
	// MemTable is the largest memtable, pebble's write buffer: the first
	// is min(256 KiB, MemTable), each next one twice the last up to
	// MemTable, and two may be held while one is flushed. A write of
	// about half of it or more skips it (pebble flushes the memtable and
	// adds the write as its own table).
	MemTable uint64
	// Cache is the block cache, blocks of tables read back, filled as
	// tables are read.
	Cache int64
}

// SizingFor returns the sizing of role's store.
//
// A home node holds little (its vault, grants, contacts, a DHT client's
// and the revocation set's state) and writes a few records at a time, so a
// 64 KiB memtable and a 1 MiB cache bound it: with pebble's defaults a
// long-running home node grows to two 4 MiB memtables and an 8 MiB cache.
// A write of about 32 KiB or more (a large resource) is then flushed at
// once to its own table: as durable, and about 1.5 ms slower than a
// buffered one here (vault's BenchmarkSecretPut). Pebble's other settings
// (the write-ahead log, every write synced, level 0's thresholds, which
// Space's floors and wouldStall rely on) are the same for every role.
//
// The bootstrap (the directory, held mail, provider records) and the relay
// take writes from many peers and serve reads to them: they keep pebble's
// defaults, 4 MiB memtables and an 8 MiB cache. The floors (doc.go) are
// sized for those, the largest any role uses.
func SizingFor(role Role) Sizing {
	if role == HomeNode {
		return Sizing{MemTable: 64 << 10, Cache: 1 << 20}
	}
	return Sizing{MemTable: 4 << 20, Cache: 8 << 20}
}

func open(dir string, size Sizing, limits func(Space) Space) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: creating %s: %w", dir, err)
	}
	s := &Store{dir: dir, limits: limits, noSpace: make(chan struct{})}
	floor := uint64(DeleteFloor)
	if sp, err := s.Space(); err == nil {
		floor = sp.DeleteFloor
	}
	if err := roomToOpen(dir, floor); err != nil {
		return nil, err
	}
	opts := &pebble.Options{
		MemTableSize: size.MemTable,
		CacheSize:    size.Cache,
		// Pebble's own log goes nowhere: its messages name files, not
		// secrets, but they would interleave with the CLI's one-line errors.
		Logger: quietLogger{},
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) {
				if errors.Is(err, syscall.ENOSPC) {
					s.stalled.Store(true)
					s.signalNoSpace()
				}
			},
			FlushEnd: func(info pebble.FlushInfo) {
				s.flushFailing.Store(errors.Is(info.Err, syscall.ENOSPC))
			},
			// Only a compaction clears stalled: a small flush that fits says
			// nothing of the compactions that did not.
			CompactionEnd: func(info pebble.CompactionInfo) {
				if info.Err == nil {
					s.stalled.Store(false)
				}
			},
		},
	}
	store, err := pebbleds.NewDatastore(dir, pebbleds.WithPebbleOpts(opts), pebbleds.WithPebbleWriteOptions(pebble.Sync))
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", dir, err)
	}
	s.Datastore = store
	return s, nil
}

// signalNoSpace wakes whoever waits on pebble through noSpaceEvent.
func (s *Store) signalNoSpace() {
	s.mu.Lock()
	close(s.noSpace)
	s.noSpace = make(chan struct{})
	s.mu.Unlock()
}

// noSpaceEvent is closed at the next ENOSPC pebble meets in the background.
func (s *Store) noSpaceEvent() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.noSpace
}

// Space reads the store's disk: what is free and each tier's floor.
func (s *Store) Space() (Space, error) {
	sp, err := SpaceAt(s.dir)
	if err != nil {
		return sp, err
	}
	if s.limits != nil {
		sp = s.limits(sp)
	}
	sp.Stalled = s.stalled.Load()
	return sp, nil
}

// room returns ErrDiskFull (wrapped with the numbers) unless a write of
// tier t and size bytes leaves its floor free.
func (s *Store) room(t Tier, size uint64) error {
	sp, err := s.Space()
	if err != nil {
		return nil // cannot tell: let the write try, and fail on its own
	}
	if t == TierWrite && sp.Stalled {
		if sp.Free < sp.WarnBelow()+2*size {
			return sp.refusal(t, size)
		}
		s.stalled.Store(false) // space was freed; pebble's retries will catch up
	}
	if sp.Free < sp.Floor(t)+2*size {
		return sp.refusal(t, size)
	}
	if sp.Free < sp.WriteReserve && s.Datastore != nil {
		if err := s.wouldStall(sp); err != nil {
			return err
		}
	}
	return nil
}

// wouldStall refuses a write that pebble could make wait for ever: while
// its flushes fail for want of space, the next full memtable blocks every
// commit; and when compactions cannot run, level 0 grows until pebble
// stops commits at L0StopWritesThreshold sublevels. Only checked below
// the write reserve, where that can happen.
func (s *Store) wouldStall(sp Space) error {
	if s.flushFailing.Load() {
		return fmt.Errorf("%w: %s free on the disk holding %s, and the store cannot move its memory table to disk; nothing was written (free some space on that disk and retry)",
			ErrDiskFull, mib(sp.Free), sp.Dir)
	}
	// A level 0 near the stop is a backlog while compactions succeed (a
	// loaded machine): wait for it to drain, a while, before refusing. A
	// compaction that failed for want of space (stalled) is refused at once.
	l0 := s.Datastore.DB.Metrics().Levels[0].Sublevels
	if l0 >= l0StopWrites-2 && !s.stalled.Load() {
		t := time.NewTicker(compactPoll)
		giveUp := time.Now().Add(compactWait)
		for l0 >= l0StopWrites-2 && !s.stalled.Load() && time.Now().Before(giveUp) {
			<-t.C
			l0 = s.Datastore.DB.Metrics().Levels[0].Sublevels
		}
		t.Stop()
	}
	if l0 >= l0StopWrites-2 {
		return fmt.Errorf("%w: %s free on the disk holding %s, too little for the store to compact (%d tables wait at its first level); nothing was written (free some space on that disk and retry)",
			ErrDiskFull, mib(sp.Free), sp.Dir, l0)
	}
	return nil
}

// l0StopWrites is pebble's default L0StopWritesThreshold. Below the write
// reserve, a write waits up to compactWait, looking every compactPoll, for
// a level 0 near it to drain.
const (
	l0StopWrites = 12
	compactWait  = 10 * time.Second
	compactPoll  = 20 * time.Millisecond
)

// Put implements ds.Datastore, in ctx's tier (WithTier).
func (s *Store) Put(ctx context.Context, k ds.Key, v []byte) error {
	if err := s.room(TierOf(ctx), uint64(len(k.String())+len(v))); err != nil {
		return err
	}
	return s.Datastore.Put(ctx, k, v)
}

// Delete implements ds.Datastore, in TierDelete: a tombstone is a few
// bytes, and what it deletes is freed once compacted (reclaim).
func (s *Store) Delete(ctx context.Context, k ds.Key) error {
	if err := s.room(TierDelete, uint64(len(k.String()))); err != nil {
		return err
	}
	if err := s.Datastore.Delete(ctx, k); err != nil {
		return err
	}
	s.reclaim(ctx, [][]byte{k.Bytes()})
	return nil
}

// Sync implements ds.Datastore: every write is fsynced before it returns,
// so there is nothing left to sync. (The datastore's own Sync appends a
// record to pebble's log, which the disk guard would not see.)
func (s *Store) Sync(context.Context, ds.Key) error { return nil }

// Batch implements ds.Batching; the batch's Commit checks the disk first,
// in ctx's tier, or TierDelete for a batch that only deletes.
func (s *Store) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := s.Datastore.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &guardedBatch{Batch: b, s: s}, nil
}

type guardedBatch struct {
	ds.Batch
	s       *Store
	mu      sync.Mutex
	size    uint64
	puts    bool
	deleted [][]byte
}

func (b *guardedBatch) Put(ctx context.Context, k ds.Key, v []byte) error {
	b.mu.Lock()
	b.size += uint64(len(k.String()) + len(v))
	b.puts = true
	b.mu.Unlock()
	return b.Batch.Put(ctx, k, v)
}

func (b *guardedBatch) Delete(ctx context.Context, k ds.Key) error {
	b.mu.Lock()
	b.size += uint64(len(k.String()))
	if len(b.deleted) <= maxReclaimKeys {
		b.deleted = append(b.deleted, k.Bytes())
	}
	b.mu.Unlock()
	return b.Batch.Delete(ctx, k)
}

func (b *guardedBatch) Commit(ctx context.Context) error {
	b.mu.Lock()
	t, size, deleted := TierOf(ctx), b.size, b.deleted
	if !b.puts && len(deleted) > 0 {
		t = TierDelete
	}
	b.mu.Unlock()
	if err := b.s.room(t, size); err != nil {
		return err
	}
	if err := b.Batch.Commit(ctx); err != nil {
		return err
	}
	b.s.reclaim(ctx, deleted)
	return nil
}

// Bounds of reclaim: how many deleted keys it compacts one by one (more
// are compacted as one span), and how long it waits for pebble.
const (
	maxReclaimKeys = 16
	reclaimWait    = 10 * time.Second
)

// reclaim compacts the ranges of keys just deleted when the disk is below
// the write reserve, so that a delete frees space now: pebble would
// otherwise compact them only after more writes, which are refused. The
// compaction rewrites only the tables that hold those keys (what it writes
// is what they hold besides the deleted values); pebble removes the old
// tables right after, in the background (Close waits for it). It is
// bounded by reclaimWait and stops at the first ENOSPC; a failure is not
// the delete's (it is committed), and pebble compacts later on its own.
func (s *Store) reclaim(ctx context.Context, keys [][]byte) {
	if len(keys) == 0 {
		return
	}
	if sp, err := s.Space(); err != nil || sp.Free >= sp.WriteReserve || sp.Free < sp.DeleteFloor {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reclaimWait)
	defer cancel()
	full := s.noSpaceEvent()
	go func() {
		select {
		case <-full:
			cancel()
		case <-ctx.Done():
		}
	}()
	spans := make([][2][]byte, 0, len(keys))
	if len(keys) > maxReclaimKeys {
		lo, hi := keys[0], keys[0]
		for _, k := range keys {
			if bytes.Compare(k, lo) < 0 {
				lo = k
			}
			if bytes.Compare(k, hi) > 0 {
				hi = k
			}
		}
		spans = append(spans, [2][]byte{lo, append(bytes.Clone(hi), 0)})
	} else {
		for _, k := range keys {
			spans = append(spans, [2][]byte{k, append(bytes.Clone(k), 0)})
		}
	}
	for _, sp := range spans {
		if ctx.Err() != nil || s.closed.Load() {
			return
		}
		s.Datastore.DB.Compact(ctx, sp[0], sp[1], false)
	}
}

// Close closes the store. Every acknowledged write is already in pebble's
// write-ahead log; Close flushes the memtable to a table first when the
// disk can take it, and otherwise (less than DeleteFloor free, pebble's
// flushes failing, or the disk filling up during this flush) skips the
// flush, which could never finish: the log is replayed at the next open.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	sp, err := s.Space()
	if err != nil || (sp.Free >= sp.DeleteFloor && !s.flushFailing.Load()) {
		full := s.noSpaceEvent()
		if done, err := s.Datastore.DB.AsyncFlush(); err == nil {
			select {
			case <-done:
				return s.Datastore.Close() // its own flush finds the memtable empty
			case <-full:
			}
		}
	}
	err = s.Datastore.DB.Close()
	if errors.Is(err, syscall.ENOSPC) {
		return nil // closing the newest (empty) log: what was acknowledged is synced
	}
	return err
}

// quietLogger discards pebble's informational and error messages (errors
// that matter reach us as return values) and keeps Fatalf fatal: pebble
// calls it on corruption (a checksum mismatch in a table), where going on
// could serve or build on damaged data.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintln(os.Stderr, fatalMessage(fmt.Sprintf(format, args...)))
	os.Exit(2)
}

// fatalMessage turns pebble's fatal report (an error with its stack) into
// one line: what broke, and what to do.
func fatalMessage(report string) string {
	first, _, _ := strings.Cut(report, "\n")
	if strings.Contains(report, syscall.ENOSPC.Error()) {
		// Not damage: the disk filled up between our check and pebble's
		// write (another process). The write-ahead log ends at the last
		// acknowledged write.
		return "mesh: the disk holding the store filled up under it, and mesh stopped: " + first +
			" (every acknowledged write is in the store's log: free some space on that disk and start again)"
	}
	return "mesh: the store is damaged and mesh stopped rather than use it: " + first +
		" (restore this folder from a backup)"
}

// Busy reports whether opening a store failed on pebble's lock: another
// process has it open.
func Busy(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
}
