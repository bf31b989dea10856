package snapshot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	snap "github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/wire"
)

// open opens a stream to p, allowing relayed connections, and resets it
// when ctx ends.
func open(ctx context.Context, h host.Host, p peer.ID) (*conn, func(), error) {
	st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "ocmt"), p, ID)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s to %s: %w", ID, p, err)
	}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	c := &conn{st: st, r: bufio.NewReaderSize(st, 64<<10), w: bufio.NewWriterSize(st, 64<<10)}
	return c, func() { stop() }, nil
}

// Push sends a sealed snapshot to a cache: the signed manifest, then its
// root and chunks, read from src in order. A refusal is a *wire.Error
// (errors.Is(err, wire.Forbidden) and so on).
func Push(ctx context.Context, h host.Host, cache peer.ID, signed *snap.Signed, src snap.BlockSource) error {
	m, err := signed.Verify()
	if err != nil {
		return err
	}
	rawManifest, err := signed.Marshal()
	if err != nil {
		return err
	}
	req, err := wire.Marshal(Request{Op: OpPush, Manifest: rawManifest})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, MaxStreamTime)
	defer cancel()
	c, done, err := open(ctx, h, cache)
	if err != nil {
		return err
	}
	defer done()
	send := func() error {
		if err := c.writeFrame(req, MaxRequest); err != nil {
			return err
		}
		rb, err := src.Block(ctx, m.Root)
		if err != nil {
			return fmt.Errorf("reading the root to push: %w", err)
		}
		root, err := snap.ParseRoot(rb)
		if err != nil {
			return err
		}
		if err := c.writeFrame(rb, MaxBlockFrame); err != nil {
			return err
		}
		for i := range root.Chunks {
			b, err := src.Block(ctx, root.CID(i))
			if err != nil {
				return fmt.Errorf("reading chunk %d to push: %w", i, err)
			}
			if err := c.writeFrame(b, MaxBlockFrame); err != nil {
				return err
			}
		}
		return c.st.CloseWrite()
	}
	// The reply is read while the blocks go out: a server that refuses
	// early answers at once, and the rest is not sent (the stream is
	// reset) instead of waiting on a peer that stopped reading.
	var sent atomic.Bool
	replies := make(chan error, 1)
	go func() {
		_, err := readReply(c.r)
		if !sent.Load() {
			c.st.Reset()
		}
		replies <- err
	}()
	sendErr := send()
	sent.Store(true)
	wait := time.NewTimer(FrameTimeout)
	defer wait.Stop()
	var replyErr error
	select {
	case replyErr = <-replies:
	case <-wait.C:
		c.st.Reset()
		replyErr = <-replies
	}
	if replyErr == nil && sendErr != nil {
		replyErr = sendErr
	}
	if replyErr != nil {
		c.st.Reset()
		var we *wire.Error
		if errors.As(replyErr, &we) || sendErr == nil {
			return replyErr
		}
		return fmt.Errorf("pushing to %s: %w", cache, sendErr)
	}
	c.st.Close()
	return nil
}

// Fetched is what a fetch read.
type Fetched struct {
	Manifest *snap.Manifest
	Bytes    int64 // plaintext written
}

// Fetch asks a cache for (owner, resource), presenting token, checks the
// manifest (snapshot.Check, recording its version in st), then reads,
// checks and opens the blocks as they arrive and writes the plaintext to
// dst. Memory: one block and age's 64 KiB. A refusal by the cache is a
// *wire.Error; a manifest or block that fails the reader's checks is one
// of internal/snapshot's errors (ErrRolledBack, ErrSwapped, ...).
func Fetch(ctx context.Context, h host.Host, cache peer.ID, reader *keys.PeerKey, owner peer.ID, resource string, token []byte, st snap.State, dst io.Writer) (*Fetched, error) {
	req, err := wire.Marshal(Request{Op: OpFetch, Owner: []byte(owner), Resource: resource, Token: token})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, MaxStreamTime)
	defer cancel()
	c, done, err := open(ctx, h, cache)
	if err != nil {
		return nil, err
	}
	defer done()
	ok := false
	defer func() {
		if !ok {
			c.st.Reset() // nothing more is wanted from this stream
		}
	}()
	if err := c.writeFrame(req, MaxRequest); err != nil {
		return nil, fmt.Errorf("sending the fetch: %w", err)
	}
	if err := c.st.CloseWrite(); err != nil {
		return nil, err
	}
	c.st.SetReadDeadline(time.Now().Add(FrameTimeout))
	body, err := readReply(c.r)
	if err != nil {
		return nil, err
	}
	fr, err := parseFetchReply(body)
	if err != nil {
		return nil, err
	}
	_, m, err := snap.Check(ctx, fr.Manifest, owner, resource, reader.ID(), time.Now(), st)
	if err != nil {
		return nil, err
	}
	if want := snap.ChunkCount(m.Size) + 1; fr.Blocks != want {
		return nil, fmt.Errorf("%w: the cache announces %d blocks, the manifest needs %d", snap.ErrMalformed, fr.Blocks, want)
	}
	src := &streamSource{c: c, buf: make([]byte, 0, MaxBlockFrame)}
	n, err := snap.Read(ctx, reader, m, src, dst)
	if err != nil {
		return nil, err
	}
	ok = true
	c.st.Close()
	return &Fetched{Manifest: m, Bytes: n}, nil
}

// streamSource gives the blocks of a fetch as they arrive, reusing one
// buffer.
type streamSource struct {
	c   *conn
	buf []byte
}

func (s *streamSource) Block(_ context.Context, _ cid.Cid) ([]byte, error) {
	b, err := s.c.readBlock(s.buf)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, io.EOF
		}
		if errors.Is(err, network.ErrReset) {
			return nil, io.EOF // the cache cut the stream
		}
		return nil, err
	}
	s.buf = b[:0]
	return b, nil
}
