package node

import (
	"bytes"
	"context"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/cached"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/resume"
	"github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/grant"
	protosnap "github.com/ocmt/mesh/protocols/snapshot"
	"github.com/ocmt/mesh/vault"
)

// Signer is the node's one use of its peer key. It issues capabilities and
// revocations only while the vault is unlocked: a locked node grants and
// takes back nothing, even though its key (which is also its libp2p
// identity) stays loaded so the node remains reachable.
type Signer struct {
	key   keys.PeerKey
	vault *vault.Vault
}

func newSigner(k keys.PeerKey, v *vault.Vault) *Signer { return &Signer{key: k, vault: v} }

// ID returns the node's peer ID.
func (s *Signer) ID() peer.ID { return s.key.ID() }

// unlocked returns vault.ErrLocked while the vault is locked.
func (s *Signer) unlocked() error {
	if s.vault.Locked() {
		return vault.ErrLocked
	}
	return nil
}

// Issue signs a capability token.
func (s *Signer) Issue(p capability.Params) (*capability.Token, error) {
	if err := s.unlocked(); err != nil {
		return nil, err
	}
	return capability.Issue(&s.key, p)
}

// Revoke signs a revocation of tok at time at.
func (s *Signer) Revoke(tok *capability.Token, at time.Time) (*revocation.Revocation, error) {
	if err := s.unlocked(); err != nil {
		return nil, err
	}
	return revocation.New(&s.key, tok, at)
}

// SignRecordWhileLocked signs this node's directory record, locked or not.
// It is the one signature a locked node makes, on purpose: the record only
// says at which relays the node's handle can be reached and grants
// nothing, and a node whose owner is away must stay reachable, so grants
// can be delivered to it and its owner can be asked.
func (s *Signer) SignRecordWhileLocked(r directory.Record) (*directory.SignedRecord, error) {
	return directory.SignRecord(&s.key, r)
}

// OpenMailWhileLocked opens a grant sealed to this node's key in its
// mailbox. It signs nothing; it works while the vault is locked because
// grants arrive while their recipient sleeps, and a grant is not a secret
// (it is bound to this node's peer ID).
func (s *Signer) OpenMailWhileLocked(sealed []byte, now time.Time) (*grant.Received, error) {
	return grant.OpenMail(&s.key, sealed, now)
}

// sealSnapshot seals a snapshot of one of the node's resources
// (internal/cached).
func (s *Signer) sealSnapshot(ctx context.Context, src []byte, opt snapshot.Options, sink snapshot.BlockSink) (*snapshot.Sealed, error) {
	if err := s.unlocked(); err != nil {
		return nil, err
	}
	return snapshot.Seal(ctx, &s.key, bytes.NewReader(src), opt, sink)
}

// fetchSnapshot reads, with h, snapshots sealed to this node from relays'
// caches, recording the versions seen in st: a locked node uses no
// capability it holds.
func (s *Signer) fetchSnapshot(h host.Host, st snapshot.State) cached.FetchFunc {
	return func(ctx context.Context, cache, owner peer.ID, res string, tok []byte, dst io.Writer) (*protosnap.Fetched, error) {
		if err := s.unlocked(); err != nil {
			return nil, err
		}
		return protosnap.Fetch(ctx, h, cache, &s.key, owner, res, tok, st, dst)
	}
}

// resumer prepares and opens the resume file at path (internal/resume),
// with the node's key and vault.
func (s *Signer) resumer(path string, now func() time.Time) (prepare func(context.Context, time.Time) ([]byte, error), open func(context.Context, []byte) error) {
	return func(ctx context.Context, until time.Time) ([]byte, error) {
			return resume.Prepare(ctx, s.vault, &s.key, path, until)
		},
		func(ctx context.Context, half []byte) error {
			return resume.Resume(ctx, s.vault, &s.key, path, half, now())
		}
}

// hostKey is the libp2p identity of the node's host (a copy).
func (s *Signer) hostKey() crypto.PrivKey { return s.key.Libp2pPrivKey() }

// wipe zeroes the key copy.
func (s *Signer) wipe() {
	if s != nil {
		s.key.Wipe()
	}
}
