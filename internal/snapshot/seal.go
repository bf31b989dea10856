package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerseal"
)

// BlockSink takes a snapshot's blocks as Seal makes them. data is valid
// only during the call: a sink that keeps it copies it.
type BlockSink interface {
	PutBlock(ctx context.Context, c cid.Cid, data []byte) error
}

// Options says what Seal makes.
type Options struct {
	Resource string    // a capability resource path in the owner's namespace
	Version  uint64    // ≥ 1, above every earlier snapshot of the resource
	Readers  []peer.ID // the current, unrevoked grantees; the owner is added
	Created  time.Time // zero: now
	Expiry   time.Time // after Created, within MaxLifetime
}

// Sealed is what Seal made: the signed manifest and how many blocks it
// handed to the sink (the chunks and the root).
type Sealed struct {
	Manifest *Manifest
	Signed   *Signed
	Blocks   int
}

// Seal reads src to its end and seals it as one snapshot (doc.go "Sealing"):
// age-encrypted under a fresh file key to the readers and the owner,
// cut into chunks handed to sink in order, then the root, then the
// manifest signed with the owner's key. Memory: one chunk and age's
// 64 KiB, whatever src's size.
func Seal(ctx context.Context, owner *keys.PeerKey, src io.Reader, opt Options, sink BlockSink) (*Sealed, error) {
	if opt.Created.IsZero() {
		opt.Created = time.Now()
	}
	to := append([]peer.ID{owner.ID()}, opt.Readers...)
	slices.Sort(to)
	to = slices.Compact(to)
	if len(to) > MaxRecipients {
		return nil, fmt.Errorf("snapshot: %d recipients, cap %d", len(to), MaxRecipients)
	}
	m := Manifest{Owner: owner.ID(), Resource: opt.Resource, Version: opt.Version,
		Created: opt.Created, Expiry: opt.Expiry, Root: CIDOf(nil), Size: 1}
	for _, id := range to {
		k, err := KeyIDOf(id)
		if err != nil {
			return nil, fmt.Errorf("snapshot: recipient %s: %w", id, err)
		}
		m.Recipients = append(m.Recipients, k)
	}
	slices.SortFunc(m.Recipients, func(a, b KeyID) int { return bytes.Compare(a[:], b[:]) })
	// Check every field before any work: the placeholders above pass.
	if _, err := Sign(owner, m); err != nil {
		return nil, err
	}

	ch := &chunker{ctx: ctx, sink: sink, buf: make([]byte, 0, ChunkSize)}
	enc, err := peerseal.Encrypt(ch, to)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(enc, ctxReader{ctx, src}); err != nil {
		return nil, fmt.Errorf("snapshot: sealing: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("snapshot: sealing: %w", err)
	}
	if err := ch.flush(); err != nil {
		return nil, fmt.Errorf("snapshot: sealing: %w", err)
	}
	root := Root{Size: ch.size, Chunks: ch.digests}
	rb, err := root.Marshal()
	if err != nil {
		return nil, err
	}
	m.Root, m.Size = CIDOf(rb), ch.size
	if err := sink.PutBlock(ctx, m.Root, rb); err != nil {
		return nil, fmt.Errorf("snapshot: storing the root: %w", err)
	}
	signed, err := Sign(owner, m)
	if err != nil {
		return nil, err
	}
	return &Sealed{Manifest: &m, Signed: signed, Blocks: len(ch.digests) + 1}, nil
}

// chunker cuts the sealed stream into ChunkSize blocks.
type chunker struct {
	ctx     context.Context
	sink    BlockSink
	buf     []byte
	size    uint64
	digests [][DigestSize]byte
}

func (c *chunker) Write(p []byte) (int, error) {
	n := len(p)
	if c.size+uint64(n) > MaxSealedBytes {
		return 0, fmt.Errorf("%w: sealed content over %d bytes", ErrTooLarge, uint64(MaxSealedBytes))
	}
	for len(p) > 0 {
		k := copy(c.buf[len(c.buf):cap(c.buf)], p)
		c.buf = c.buf[:len(c.buf)+k]
		p = p[k:]
		if len(c.buf) == cap(c.buf) {
			if err := c.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	c.size += uint64(n)
	return n, nil
}

func (c *chunker) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	d := sha256.Sum256(c.buf)
	if err := c.sink.PutBlock(c.ctx, cidOfDigest(d), c.buf); err != nil {
		return fmt.Errorf("storing chunk %d: %w", len(c.digests), err)
	}
	c.digests = append(c.digests, d)
	c.buf = c.buf[:0]
	return nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
