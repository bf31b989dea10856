package home

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ErrAlreadyRunning means another mesh process holds the home folder.
var ErrAlreadyRunning = errors.New("another mesh process is already running on this home folder")

// Lock takes an exclusive flock on DIR/node.lock (creating h if needed)
// and records our PID in it, for the message another process gets. The
// lock lasts until the returned file is closed or the process ends.
func Lock(h Home) (*os.File, error) {
	if err := os.MkdirAll(string(h), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(h.LockPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		k, _ := f.ReadAt(b, 0)
		f.Close()
		pid := strings.TrimSpace(string(b[:k]))
		if _, perr := strconv.Atoi(pid); perr == nil {
			return nil, fmt.Errorf("%w (%s, pid %s)", ErrAlreadyRunning, h, pid)
		}
		return nil, fmt.Errorf("%w (%s)", ErrAlreadyRunning, h)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// LockExisting is Lock for a folder that must already hold an identity
// (a home node's, made by mesh init).
func LockExisting(h Home) (*os.File, error) {
	if !h.Exists() {
		return nil, fmt.Errorf("%s: %w", h, ErrNoHome)
	}
	return Lock(h)
}

// Holder returns the PID recorded in h's lock file and whether that
// process is alive, without taking the lock (taking it, even for a moment,
// would make a role starting at that instant fail as already running).
// A PID reused by another process after a crash reads as alive; callers
// use it as a hint and fall back on the lock.
func Holder(h Home) (pid int, alive bool) {
	b, err := os.ReadFile(h.LockPath())
	if err != nil {
		return 0, false
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	err = syscall.Kill(pid, 0)
	return pid, err == nil || errors.Is(err, syscall.EPERM)
}
