package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	ds "github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"
)

// DiskReserve is the free space a store keeps on its disk: a write that
// would start with less than this free is refused before pebble sees it.
// Pebble needs room to flush its memtable and compact; a pebble that runs
// out of it mid-flush retries forever and never closes, so the only safe
// full disk is one we stop writing to early.
const DiskReserve = 64 << 20

// ErrDiskFull means the store refused a write because its disk is (nearly)
// full. Nothing was written; free space and retry.
var ErrDiskFull = errors.New("store: disk full")

// Store is the node's pebble datastore (ds.Batching), guarded against a
// full disk: every write (Put, Delete, a batch's Commit) first checks that
// the disk keeps DiskReserve free and otherwise fails with ErrDiskFull,
// having written nothing. Every write is fsynced before it returns, so an
// acknowledged write survives a crash. Pebble holds a lock file: a second
// process opening the same dir fails.
type Store struct {
	*pebbleds.Datastore
	dir     string
	reserve uint64
	// noSpace is set when pebble itself met ENOSPC in the background (the
	// disk filled up under us): Close must then not wait for a flush that
	// cannot finish.
	noSpace atomic.Bool
}

var _ ds.Batching = (*Store)(nil)

// Open opens (creating if needed) the pebble datastore in dir.
func Open(dir string) (*Store, error) { return open(dir, DiskReserve) }

func open(dir string, reserve uint64) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: creating %s: %w", dir, err)
	}
	s := &Store{dir: dir, reserve: reserve}
	opts := &pebble.Options{
		// Pebble's own log goes nowhere: its messages name files, not
		// secrets, but they would interleave with the CLI's one-line errors.
		Logger: quietLogger{},
		EventListener: &pebble.EventListener{BackgroundError: func(err error) {
			if errors.Is(err, syscall.ENOSPC) {
				s.noSpace.Store(true)
			}
		}},
	}
	store, err := pebbleds.NewDatastore(dir, pebbleds.WithPebbleOpts(opts), pebbleds.WithPebbleWriteOptions(pebble.Sync))
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", dir, err)
	}
	s.Datastore = store
	return s, nil
}

// room returns ErrDiskFull (wrapped with the numbers) unless the disk
// keeps the reserve free.
func (s *Store) room() error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return nil // cannot tell: let the write try, and fail on its own
	}
	free := st.Bavail * uint64(st.Bsize)
	if free >= s.reserve && !s.noSpace.Load() {
		return nil
	}
	if free >= 2*s.reserve {
		s.noSpace.Store(false) // space was freed; pebble's retries will catch up
		return nil
	}
	return fmt.Errorf("%w: %d MiB free on the disk holding %s, and mesh keeps %d MiB in reserve; nothing was written (free some space and retry)",
		ErrDiskFull, free>>20, s.dir, s.reserve>>20)
}

// Put implements ds.Datastore.
func (s *Store) Put(ctx context.Context, k ds.Key, v []byte) error {
	if err := s.room(); err != nil {
		return err
	}
	return s.Datastore.Put(ctx, k, v)
}

// Delete implements ds.Datastore.
func (s *Store) Delete(ctx context.Context, k ds.Key) error {
	if err := s.room(); err != nil {
		return err
	}
	return s.Datastore.Delete(ctx, k)
}

// Batch implements ds.Batching; the batch's Commit checks the disk first.
func (s *Store) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := s.Datastore.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return guardedBatch{b, s}, nil
}

type guardedBatch struct {
	ds.Batch
	s *Store
}

func (b guardedBatch) Commit(ctx context.Context) error {
	if err := b.s.room(); err != nil {
		return err
	}
	return b.Batch.Commit(ctx)
}

// Close closes the store. Every acknowledged write is already in pebble's
// write-ahead log; when the disk filled up under pebble, Close skips the
// final flush (which could never finish) and the log is replayed at the
// next open.
func (s *Store) Close() error {
	if s.noSpace.Load() {
		return s.Datastore.DB.Close()
	}
	return s.Datastore.Close()
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
	return "mesh: the store is damaged and mesh stopped rather than use it: " + first +
		" (restore this folder from a backup)"
}

// Busy reports whether opening a store failed on pebble's lock: another
// process has it open.
func Busy(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
}
