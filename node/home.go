package node

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/vault"
)

// Home is a node's folder. Layout:
//
//	identity.key   Ed25519 peer key, PEM, mode 0600
//	store/         pebble datastore: vault, audit log, grants, contacts
//	api.sock       local API socket while a node runs, mode 0600
//	node.lock      held (flock) by the running node
//	addrs          a running bootstrap's or relay's /p2p addresses, one per
//	               line, so the operator's commands can reach it
type Home string

// Paths inside a home folder.
func (h Home) IdentityPath() string { return filepath.Join(string(h), "identity.key") }
func (h Home) StorePath() string    { return filepath.Join(string(h), "store") }
func (h Home) SocketPath() string   { return filepath.Join(string(h), "api.sock") }
func (h Home) LockPath() string     { return filepath.Join(string(h), "node.lock") }
func (h Home) AddrsPath() string    { return filepath.Join(string(h), "addrs") }

const pemType = "OCMT MESH PEER KEY"

// ErrNoHome means the folder has no identity yet.
var ErrNoHome = errors.New("no mesh identity here (run mesh init)")

// InitOptions configure a new home.
type InitOptions struct {
	Password []byte
	KDF      vault.KDFParams // zero: vault.DefaultKDF()
	// Handle, when set, is stored as the node's handle; the node claims it
	// at the bootstrap when it starts.
	Handle string
}

// Init creates the peer key and the vault in h. It refuses to overwrite an
// existing identity.
func Init(ctx context.Context, h Home, opts InitOptions) (peer.ID, error) {
	if len(opts.Password) == 0 {
		return "", errors.New("a password is required")
	}
	if opts.KDF == (vault.KDFParams{}) {
		opts.KDF = vault.DefaultKDF()
	}
	if err := os.MkdirAll(string(h), 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", h, err)
	}
	if _, err := os.Stat(h.IdentityPath()); err == nil {
		return "", fmt.Errorf("%s already holds a mesh identity", h)
	}
	store, err := vault.OpenStore(h.StorePath())
	if err != nil {
		return "", err
	}
	defer store.Close()
	if opts.Handle != "" {
		if _, err := directory.ParseHandle(opts.Handle); err != nil {
			return "", err
		}
	}
	v, err := vault.Create(ctx, vault.Config{Store: store}, opts.Password, opts.KDF, "cli")
	if err != nil {
		return "", err
	}
	defer v.Close()
	if opts.Handle != "" {
		l := &Local{actor: "cli", store: store, vault: v}
		if err := l.setHandle(ctx, opts.Handle); err != nil {
			return "", err
		}
	}
	k := keys.GeneratePeerKey()
	defer k.Wipe()
	seed := k.Seed()
	defer clear(seed)
	block := pemEncode(seed)
	defer clear(block)
	if err := writeFileAtomic(h.IdentityPath(), block, 0o600); err != nil {
		return "", err
	}
	return k.ID(), nil
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

// writeFileAtomic writes via a temp file in the same folder, fsyncs it,
// renames it into place and fsyncs the folder, so a crash leaves the old
// file or the new one, never a torn or empty one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
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

func pemEncode(seed []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: seed}) }
