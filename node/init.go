package node

import (
	"context"
	"errors"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/vault"
)

// InitOptions configure a new home.
type InitOptions struct {
	Password []byte
	KDF      vault.KDFParams // zero: vault.DefaultKDF()
	// Handle, when set, is stored as the node's handle; the node claims it
	// at the bootstrap when it starts.
	Handle string
}

// Init creates the vault and the peer key in h. It refuses a folder that
// already holds an identity. The key is written last, so a failed Init
// leaves a folder Init can be run on again.
func Init(ctx context.Context, h Home, opts InitOptions) (peer.ID, error) {
	if len(opts.Password) == 0 {
		return "", errors.New("a password is required")
	}
	if opts.Handle != "" {
		if _, err := directory.ParseHandle(opts.Handle); err != nil {
			return "", err
		}
	}
	if h.Exists() {
		return "", errors.New(string(h) + " already holds a mesh identity")
	}
	if opts.KDF == (vault.KDFParams{}) {
		opts.KDF = vault.DefaultKDF()
	}
	lock, err := home.Lock(h)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	st, err := store.Open(h.StorePath())
	if err != nil {
		return "", err
	}
	defer st.Close()
	v, err := vault.Create(ctx, vault.Config{Store: st}, opts.Password, opts.KDF, "cli")
	if err != nil {
		return "", err
	}
	defer v.Close()
	if opts.Handle != "" {
		if err := meshstate.New(st, v, "cli", nil).SetHandle(ctx, opts.Handle); err != nil {
			return "", err
		}
	}
	k, err := home.CreateIdentity(h)
	if err != nil {
		return "", err
	}
	defer k.Wipe()
	return k.ID(), nil
}
