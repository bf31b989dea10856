// Package home is a role's folder on disk: the paths inside it, the peer
// key file, the lock a running process holds, and atomic file writes.
//
// Layout:
//
//	identity.key   Ed25519 peer key, PEM, mode 0600
//	store/         pebble datastore (internal/store documents its key map)
//	api.sock       a running home node's local API socket, mode 0600
//	node.lock      held (flock) by the running process; holds its PID
//	addrs          a running bootstrap's or relay's /p2p addresses, one per
//	               line, so the operator's commands can reach it
//	audit.log      a bootstrap's or relay's audit log (metadata only, keyed
//	               hash chain; audit.log.head names its last record)
package home

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ocmt/mesh/internal/keys"
)

// Home is a role's folder.
type Home string

// Paths inside a home folder.
func (h Home) IdentityPath() string { return filepath.Join(string(h), "identity.key") }
func (h Home) StorePath() string    { return filepath.Join(string(h), "store") }
func (h Home) SocketPath() string   { return filepath.Join(string(h), "api.sock") }
func (h Home) AgentSocket() string  { return filepath.Join(string(h), "agent.sock") }
func (h Home) LockPath() string     { return filepath.Join(string(h), "node.lock") }
func (h Home) AddrsPath() string    { return filepath.Join(string(h), "addrs") }

// ReachablePath is the file a group vault writes once it is in the
// directory and holds a relay slot (WriteReachable).
func (h Home) ReachablePath() string { return filepath.Join(string(h), "reachable") }
func (h Home) ResumePath() string    { return filepath.Join(string(h), "resume") }
func (h Home) SleptAtPath() string   { return filepath.Join(string(h), "slept-at") }

const pemType = "OCMT MESH PEER KEY"

// ErrNoHome means the folder has no identity yet.
var ErrNoHome = errors.New("no mesh identity here (run mesh init)")

// Exists reports whether h holds a peer key.
func (h Home) Exists() bool {
	_, err := os.Stat(h.IdentityPath())
	return err == nil
}

// LoadIdentity reads the peer key. It refuses a key file readable by others.
func LoadIdentity(h Home) (keys.PeerKey, error) {
	st, err := os.Stat(h.IdentityPath())
	if errors.Is(err, os.ErrNotExist) {
		return keys.PeerKey{}, fmt.Errorf("%s: %w", h, ErrNoHome)
	} else if err != nil {
		return keys.PeerKey{}, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return keys.PeerKey{}, fmt.Errorf("%s is accessible by other users (mode %v); run chmod 600 on it", h.IdentityPath(), st.Mode().Perm())
	}
	b, err := os.ReadFile(h.IdentityPath())
	if err != nil {
		return keys.PeerKey{}, err
	}
	defer clear(b)
	block, rest := pem.Decode(b)
	if block == nil || block.Type != pemType || len(rest) != 0 {
		return keys.PeerKey{}, fmt.Errorf("%s is not a mesh peer key", h.IdentityPath())
	}
	defer clear(block.Bytes)
	k, err := keys.PeerKeyFromSeed(block.Bytes)
	if err != nil {
		return keys.PeerKey{}, fmt.Errorf("%s: %w", h.IdentityPath(), err)
	}
	return k, nil
}

// CreateIdentity generates a peer key and writes it to h (created, mode
// 0700, if missing). It refuses to overwrite an existing key.
func CreateIdentity(h Home) (keys.PeerKey, error) {
	if err := os.MkdirAll(string(h), 0o700); err != nil {
		return keys.PeerKey{}, fmt.Errorf("creating %s: %w", h, err)
	}
	if h.Exists() {
		return keys.PeerKey{}, fmt.Errorf("%s already holds a mesh identity", h)
	}
	k := keys.GeneratePeerKey()
	seed := k.Seed()
	defer clear(seed)
	block := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: seed})
	defer clear(block)
	if err := WriteFileAtomic(h.IdentityPath(), block, 0o600); err != nil {
		k.Wipe()
		return keys.PeerKey{}, err
	}
	return k, nil
}

// LoadOrCreateIdentity returns the peer key in h, creating it (and h) on
// first use. Infrastructure peers have no vault: their key is their only
// secret, and it must stay stable so their addresses do too.
func LoadOrCreateIdentity(h Home) (keys.PeerKey, error) {
	k, err := LoadIdentity(h)
	if err == nil || !errors.Is(err, ErrNoHome) {
		return k, err
	}
	return CreateIdentity(h)
}
