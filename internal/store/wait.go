package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// LockWait is how long a command opening a home's store directly waits
// for another one (pebble's lock is exclusive) before giving up; LockPoll
// is how often it tries again meanwhile. Polling is not a queue: with
// many commands at once, one can lose the race many times in a row, so
// the wait is generous (20 parallel commands on a loaded 2-core machine
// took up to 14 s). (The timeouts of the node's dependencies are their own
// packages': protocols, meshnet, homehost.)
const (
	LockWait = 30 * time.Second
	LockPoll = 25 * time.Millisecond
)

// OpenHome opens the store of the home folder dir (dir/store), waiting
// while another short-lived mesh process holds its lock, up to LockWait,
// with words for what went wrong: the folder in use, a full disk, or
// another failure. The wait is in real time (a timer), not on a node's
// clock: it is about another process.
func OpenHome(ctx context.Context, dir string) (*Store, error) {
	st, err := openWaiting(ctx, filepath.Join(dir, "store"))
	switch {
	case err == nil:
		return st, nil
	case Busy(err): // a node, or another command opening the vault directly
		return nil, fmt.Errorf("%s is in use by another mesh process (a node that is starting or stopping, or another command); retry, or start `mesh node` so commands share it", dir)
	case errors.Is(err, ErrDiskFull):
		return nil, err // says what is free and what is needed
	}
	return nil, fmt.Errorf("%w (is a mesh node using %s?)", err, dir)
}

func openWaiting(ctx context.Context, path string) (*Store, error) {
	giveUp := time.NewTimer(LockWait)
	defer giveUp.Stop()
	for {
		st, err := Open(path)
		if !Busy(err) {
			return st, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-giveUp.C:
			return nil, err
		case <-time.After(LockPoll):
		}
	}
}
