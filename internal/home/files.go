package home

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteFileAtomic writes via a temp file in the same folder, fsyncs it,
// renames it into place and fsyncs the folder, so a crash leaves the old
// file or the new one, never a torn or empty one.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteAddrs records a running service's /p2p addresses in h's addrs
// file, for the operator's commands to reach it; the returned func
// removes the file (at shutdown).
func WriteAddrs(h Home, addrs []string) (remove func() error, err error) {
	data := strings.Join(addrs, "\n") + "\n"
	if err := WriteFileAtomic(h.AddrsPath(), []byte(data), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", h.AddrsPath(), err)
	}
	return func() error { return os.Remove(h.AddrsPath()) }, nil
}

// WriteReachable records that a running peer that is not a home node (a
// group vault) has claimed its handle and holds a relay slot, for mesh
// addrs --reachable; the returned func removes the file (at shutdown).
func WriteReachable(h Home, handle string) (remove func() error, err error) {
	if err := WriteFileAtomic(h.ReachablePath(), []byte(handle+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", h.ReachablePath(), err)
	}
	return func() error { return os.Remove(h.ReachablePath()) }, nil
}

// ReadAddrs returns the addresses a running service wrote with WriteAddrs.
func ReadAddrs(h Home) ([]string, error) {
	data, err := os.ReadFile(h.AddrsPath())
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}
