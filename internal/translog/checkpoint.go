package translog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/ocmt/mesh/internal/keys"
)

// OriginPrefix begins every log's origin; the bootstrap's peer ID follows.
const OriginPrefix = "ocmt-mesh/directory/"

// ErrBadCheckpoint is returned for a checkpoint that is malformed, names
// another log or is not signed by the bootstrap's key.
var ErrBadCheckpoint = errors.New("translog: not a checkpoint signed by this bootstrap")

// Origin is the log origin, and the note key name, of bootstrap's log.
func Origin(bootstrap peer.ID) string { return OriginPrefix + bootstrap.String() }

// Checkpoint is a verified signed checkpoint. Only ParseCheckpoint makes
// one; the fields are copies for reading.
type Checkpoint struct {
	Bootstrap peer.ID
	Size      uint64
	Root      [HashSize]byte
	signed    []byte
}

// Signed returns the signed note, as gossiped and kept as evidence.
func (c *Checkpoint) Signed() []byte { return append([]byte(nil), c.signed...) }

// String is the form `mesh status` shows: size and the root's first bytes.
func (c *Checkpoint) String() string {
	return fmt.Sprintf("checkpoint %d %x", c.Size, c.Root[:6])
}

// noteSigner signs a note with a peer key's Ed25519 private key.
type noteSigner struct {
	name string
	hash uint32
	priv ed25519.PrivateKey
}

func (s *noteSigner) Name() string                    { return s.name }
func (s *noteSigner) KeyHash() uint32                 { return s.hash }
func (s *noteSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.priv, msg), nil }

func verifierFor(bootstrap peer.ID) (note.Verifier, error) {
	pub, err := keys.PeerPublicFromID(bootstrap)
	if err != nil {
		return nil, fmt.Errorf("%w: the bootstrap's peer ID: %v", ErrBadCheckpoint, err)
	}
	vkey, err := note.NewEd25519VerifierKey(Origin(bootstrap), ed25519.PublicKey(pub.Bytes()))
	if err != nil {
		return nil, err
	}
	return note.NewVerifier(vkey)
}

// SignCheckpoint signs the checkpoint of the key's log at size with root,
// as a signed note. The note's text is the checkpoint of
// transparency-dev/formats; its one signature line is by the key named
// Origin(key.ID()).
func SignCheckpoint(key *keys.PeerKey, size uint64, root []byte) ([]byte, error) {
	if len(root) != HashSize {
		return nil, fmt.Errorf("translog: a root of %d bytes, not %d", len(root), HashSize)
	}
	if key.IsZero() {
		return nil, errors.New("translog: signing with a zero key")
	}
	v, err := verifierFor(key.ID())
	if err != nil {
		return nil, err
	}
	seed := key.Seed()
	s := &noteSigner{name: v.Name(), hash: v.KeyHash(), priv: ed25519.NewKeyFromSeed(seed)}
	clear(seed)
	defer clear(s.priv)
	text := flog.Checkpoint{Origin: Origin(key.ID()), Size: size, Hash: root}.Marshal()
	return note.Sign(&note.Note{Text: string(text)}, s)
}

// ParseCheckpoint verifies a signed checkpoint of bootstrap's log. It
// accepts only the form SignCheckpoint writes: no extension lines and
// exactly one signature, the bootstrap's.
func ParseCheckpoint(b []byte, bootstrap peer.ID) (*Checkpoint, error) {
	if len(b) > MaxCheckpointBytes {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadCheckpoint, len(b), MaxCheckpointBytes)
	}
	v, err := verifierFor(bootstrap)
	if err != nil {
		return nil, err
	}
	cp, rest, n, err := flog.ParseCheckpoint(b, Origin(bootstrap), v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	if len(rest) != 0 || len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 || len(cp.Hash) != HashSize {
		return nil, fmt.Errorf("%w: not in the one form this log signs", ErrBadCheckpoint)
	}
	// The canonical bytes: the checkpoint text, a blank line and one
	// signature line. Anything else (another base64 form, trailing
	// bytes) is refused so that a checkpoint has one encoding.
	want := string(cp.Marshal()) + "\n\u2014 " + v.Name() + " " +
		base64.StdEncoding.EncodeToString(append(binary.BigEndian.AppendUint32(nil, n.Sigs[0].Hash), sigBytes(n.Sigs[0])...)) + "\n"
	if want != string(b) {
		return nil, fmt.Errorf("%w: not in the one form this log signs", ErrBadCheckpoint)
	}
	if cp.Size == 0 && !bytes.Equal(cp.Hash, hasher.EmptyRoot()) {
		return nil, fmt.Errorf("%w: an empty tree with a root that is not the empty root", ErrBadCheckpoint)
	}
	c := &Checkpoint{Bootstrap: bootstrap, Size: cp.Size, signed: append([]byte(nil), b...)}
	copy(c.Root[:], cp.Hash)
	return c, nil
}

// sigBytes returns the raw signature of a note signature line.
func sigBytes(s note.Signature) []byte {
	raw, err := base64.StdEncoding.DecodeString(s.Base64)
	if err != nil || len(raw) < 4 {
		return nil
	}
	return raw[4:]
}

// parseAnyCheckpoint parses a checkpoint of whichever bootstrap its origin
// names, for evidence and gossip where the log is not known beforehand.
func parseAnyCheckpoint(b []byte) (*Checkpoint, error) {
	first, _, _ := bytes.Cut(b, []byte("\n"))
	s, ok := strings.CutPrefix(string(first), OriginPrefix)
	if !ok || len(b) > MaxCheckpointBytes {
		return nil, fmt.Errorf("%w: no origin of this mesh", ErrBadCheckpoint)
	}
	id, err := keys.DecodePeerID(s)
	if err != nil {
		return nil, fmt.Errorf("%w: the origin's peer ID: %v", ErrBadCheckpoint, err)
	}
	return ParseCheckpoint(b, id)
}

// ParseGossipedCheckpoint parses a checkpoint from gossip: it is verified
// against the key of the bootstrap its origin names, and the caller then
// decides whether it follows that bootstrap's log.
func ParseGossipedCheckpoint(b []byte) (*Checkpoint, error) { return parseAnyCheckpoint(b) }
