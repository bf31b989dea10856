package agentsock

import (
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/internal/keys"
)

// pemType is the PEM block type of an agent key file (doc.go "Key file").
const pemType = "OCMT MESH AGENT KEY"

// Key is an agent's private key, loaded from its key file. It never
// prints its bytes.
type Key struct {
	agent string
	id    peer.ID
	priv  crypto.PrivKey
}

// Agent is the agent name the key file was written for (informative: the
// node names the agent from its key).
func (k *Key) Agent() string { return k.agent }

// ID is the agent key's peer ID.
func (k *Key) ID() peer.ID { return k.id }

// String never prints key bytes.
func (k *Key) String() string { return "agentkey:" + k.agent + ":" + k.id.String() + ":<private>" }

// GoString never prints key bytes.
func (k *Key) GoString() string { return k.String() }

// CreateKeyFile makes a new Ed25519 agent key and writes it to path, mode
// 0600, for the agent named name; it refuses to replace an existing file.
// It returns the key's peer ID: the private key never leaves the file.
func CreateKeyFile(path, name string) (peer.ID, error) {
	if _, err := agent.ParseName(name); err != nil {
		return "", err
	}
	k := keys.GeneratePeerKey()
	defer k.Wipe()
	seed := k.Seed()
	defer clear(seed)
	block := pem.EncodeToMemory(&pem.Block{Type: pemType, Headers: map[string]string{"Agent": name}, Bytes: seed})
	defer clear(block)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("%s already exists; remove it or choose another path for the agent key", path)
	} else if err != nil {
		return "", fmt.Errorf("creating the agent key file: %w", err)
	}
	if _, err = f.Write(block); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("writing the agent key file %s failed", path)
	}
	return k.ID(), nil
}

// LoadKey reads an agent key file. It refuses a file others can read or
// write, and never shows the file's content in an error.
func LoadKey(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no agent key file at %s (mesh agent add prints its path)", path)
		}
		return nil, fmt.Errorf("the agent key file %s cannot be opened", path)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not an agent key file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible by other users (mode %v); run chmod 600 on it", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxKeyFile+1))
	if err != nil || len(b) > MaxKeyFile {
		clear(b)
		return nil, fmt.Errorf("%s is not an agent key file", path)
	}
	defer clear(b)
	block, rest := pem.Decode(b)
	if block == nil || block.Type != pemType || strings.TrimSpace(string(rest)) != "" || len(block.Headers) != 1 {
		return nil, fmt.Errorf("%s is not an agent key file", path)
	}
	defer clear(block.Bytes)
	name, err := agent.ParseName(block.Headers["Agent"])
	if err != nil {
		return nil, fmt.Errorf("%s is not an agent key file: its Agent line is not an agent's name", path)
	}
	pk, err := keys.PeerKeyFromSeed(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s is not an agent key file: its key has the wrong length", path)
	}
	defer pk.Wipe()
	return &Key{agent: name, id: pk.ID(), priv: pk.Libp2pPrivKey()}, nil
}
