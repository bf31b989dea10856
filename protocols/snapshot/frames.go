package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/wire"
)

// readBlock reads one block frame (internal/wire "Frames": a minimal
// uvarint length, then the bytes) of at most MaxBlockFrame bytes into buf,
// which it reuses: memory stays one block however many are read. A clean
// end before the frame is io.EOF.
func readBlock(r *bufio.Reader, buf []byte) ([]byte, error) {
	cr := countingReader{r: r}
	n, err := binary.ReadUvarint(&cr)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, err
		}
		return nil, wire.ErrBadFrame
	}
	if n > MaxBlockFrame {
		return nil, fmt.Errorf("%w: a block of %d bytes, cap %d", wire.ErrFrameTooLarge, n, MaxBlockFrame)
	}
	if !minimalPrefix(n, cr.n) {
		return nil, wire.ErrBadFrame
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// minimalPrefix reports whether a frame's length prefix was minimal, read
// from the bytes it took: binary.ReadUvarint accepts padded forms, the
// wire does not.
func minimalPrefix(n uint64, took int) bool { return wire.FrameOverhead(int(n)) == took }

// countingReader counts the bytes a length prefix took.
type countingReader struct {
	r *bufio.Reader
	n int
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// readReply reads one reply frame and decodes its envelope canonically,
// as internal/exchange's client does: a refusal comes back as a
// *wire.Error, and an OK reply's body (nil when it has none).
func readReply(r *bufio.Reader) ([]byte, error) {
	raw, err := wire.ReadFrame(r, maxReply)
	if err != nil {
		return nil, err
	}
	var rep exchange.Reply
	if err := wire.UnmarshalCanonical(raw, &rep); err != nil {
		return nil, err
	}
	if rep.Status != wire.OK {
		if len(rep.Body) != 0 {
			return nil, &wire.Error{Status: wire.BadRequest, Message: "body in a refusal"}
		}
		we := &wire.Error{Status: rep.Status, Message: rep.Message}
		if !we.Status.Known() {
			we.Status = wire.Internal
		}
		return nil, we
	}
	if len(rep.Detail) != 0 {
		return nil, &wire.Error{Status: wire.BadRequest, Message: "detail in an OK reply"}
	}
	return rep.Body, nil
}
