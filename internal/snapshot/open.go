package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerseal"
)

// BlockSource gives a snapshot's blocks to Read, which asks for them in
// order: the root, then chunk 0, 1, ... A source that has nothing more
// to give (a stream that ended) returns io.EOF, which Read reports as
// ErrTruncated. The returned slice may be reused after the next call.
type BlockSource interface {
	Block(ctx context.Context, c cid.Cid) ([]byte, error)
}

// Check decodes and verifies a manifest presented for (owner, resource)
// to reader, in doc.go's order ("Reading"), and records its version in st
// when every other check held: ErrMalformed, ErrWrongSigner (a signature
// that does not verify, or another owner), ErrSwapped (another resource),
// ErrExpired, ErrNotRecipient, ErrRolledBack.
func Check(ctx context.Context, raw []byte, owner peer.ID, resource string, reader peer.ID, now time.Time, st State) (*Signed, *Manifest, error) {
	s, m, err := Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	if m.Owner != owner {
		return nil, nil, fmt.Errorf("%w: signed by %s, asked for %s's", ErrWrongSigner, m.Owner, owner)
	}
	if m.Resource != resource {
		return nil, nil, fmt.Errorf("%w: the manifest is for %q, asked for %q", ErrSwapped, m.Resource, resource)
	}
	if err := m.CheckTime(now); err != nil {
		return nil, nil, err
	}
	k, err := KeyIDOf(reader)
	if err != nil {
		return nil, nil, err
	}
	if !m.HasRecipient(k) {
		return nil, nil, fmt.Errorf("%w: %s is not among the %d recipients of version %d of %s", ErrNotRecipient, reader, len(m.Recipients), m.Version, resource)
	}
	if st != nil {
		if err := st.See(ctx, owner, resource, m.Version, s.Hash()); err != nil {
			return nil, nil, err
		}
	}
	return s, m, nil
}

// Read fetches m's root and chunks from src in order, checks each against
// its CID, opens the sealed stream with the reader's key and writes the
// plaintext to dst. Nothing reaches dst that has not been authenticated
// (peerseal: chunk by chunk). Memory: one block and age's 64 KiB. It
// returns the plaintext bytes written.
func Read(ctx context.Context, reader *keys.PeerKey, m *Manifest, src BlockSource, dst io.Writer) (int64, error) {
	k, err := KeyIDOf(reader.ID())
	if err != nil {
		return 0, err
	}
	if !m.HasRecipient(k) {
		return 0, fmt.Errorf("%w: %s is not among the recipients of version %d of %s", ErrNotRecipient, reader.ID(), m.Version, m.Resource)
	}
	rb, err := src.Block(ctx, m.Root)
	if err != nil {
		return 0, fetchErr(err, "the root")
	}
	if !CheckBlock(m.Root, rb) {
		return 0, fmt.Errorf("%w: the root block", ErrSwapped)
	}
	root, err := ParseRoot(rb)
	if err != nil {
		return 0, err
	}
	if root.Size != m.Size {
		return 0, fmt.Errorf("%w: the root says %d sealed bytes, the manifest %d", ErrMalformed, root.Size, m.Size)
	}
	br := &blockReader{ctx: ctx, src: src, root: root}
	plain, err := peerseal.Decrypt(reader, br)
	if err != nil {
		return 0, br.explain(err)
	}
	n, err := io.Copy(dst, plain)
	if err != nil {
		return n, br.explain(err)
	}
	if br.next != len(root.Chunks) || len(br.rest) != 0 {
		return n, fmt.Errorf("%w: the sealed stream ended before chunk %d of %d", ErrMalformed, br.next, len(root.Chunks))
	}
	return n, nil
}

func fetchErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the source ended before %s", ErrTruncated, what)
	}
	return fmt.Errorf("snapshot: fetching %s: %w", what, err)
}

// blockReader is the sealed stream, read block by block from a source.
type blockReader struct {
	ctx  context.Context
	src  BlockSource
	root *Root
	next int    // the next chunk to fetch
	rest []byte // unread bytes of the current chunk
	err  error  // the first failure of the source or of a check
}

func (b *blockReader) Read(p []byte) (int, error) {
	for len(b.rest) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.next == len(b.root.Chunks) {
			return 0, io.EOF
		}
		c := b.root.CID(b.next)
		blk, err := b.src.Block(b.ctx, c)
		if err != nil {
			b.err = fetchErr(err, fmt.Sprintf("chunk %d of %d", b.next, len(b.root.Chunks)))
			return 0, b.err
		}
		if !CheckBlock(c, blk) {
			b.err = fmt.Errorf("%w: chunk %d of %d", ErrSwapped, b.next, len(b.root.Chunks))
			return 0, b.err
		}
		if want := ChunkLen(b.root.Size, b.next); len(blk) != want {
			b.err = fmt.Errorf("%w: chunk %d is %d bytes, the root implies %d", ErrMalformed, b.next, len(blk), want)
			return 0, b.err
		}
		b.rest = blk
		b.next++
	}
	n := copy(p, b.rest)
	b.rest = b.rest[n:]
	return n, nil
}

// explain turns a failure of the open into the format's errors: the
// source's or a check's own failure first, then the age layer's.
func (b *blockReader) explain(err error) error {
	if b.err != nil {
		return b.err
	}
	if errors.Is(err, peerseal.ErrNotRecipient) {
		return fmt.Errorf("%w: no stanza of the sealed header opens with this key", ErrNotRecipient)
	}
	return fmt.Errorf("%w: the sealed stream does not open: %v", ErrMalformed, err)
}
