package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxVarintLen is the most bytes a frame length prefix may take. Frames are
// capped far below 2^35, so five bytes are always enough.
const MaxVarintLen = 5

var (
	// ErrFrameTooLarge is returned when a frame's declared length is over the cap.
	ErrFrameTooLarge = &Error{Status: TooLarge, Message: "frame too large"}
	// ErrBadFrame is returned for a malformed length prefix.
	ErrBadFrame = &Error{Status: BadRequest, Message: "malformed frame"}
)

// ReadFrame reads one frame of at most max bytes. It reads the prefix a byte
// at a time (so no byte past the frame is consumed) and allocates only after
// the length passed the check. A clean EOF before the first byte is io.EOF;
// EOF inside a frame is io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, max int) ([]byte, error) { return ReadFrameReserve(r, max, nil) }

// ReadFrameReserve is ReadFrame that calls reserve with the declared length
// after it passed the cap and before the buffer is allocated, so a server
// can charge exactly what a frame costs to its resource manager. An error
// from reserve is returned as is.
func ReadFrameReserve(r io.Reader, max int, reserve func(n int) error) ([]byte, error) {
	n, err := readLen(r)
	if err != nil {
		return nil, err
	}
	if max < 0 || n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", ErrFrameTooLarge, n, max)
	}
	if reserve != nil {
		if err := reserve(int(n)); err != nil {
			return nil, err
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

func readLen(r io.Reader) (uint64, error) {
	var (
		x     uint64
		shift uint
		b     [1]byte
	)
	br, _ := r.(io.ByteReader)
	for i := 0; i < MaxVarintLen; i++ {
		var c byte
		if br != nil {
			var err error
			if c, err = br.ReadByte(); err != nil {
				return 0, eofIn(err, i)
			}
		} else if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, eofIn(err, i)
		} else {
			c = b[0]
		}
		if c < 0x80 {
			if i > 0 && c == 0 { // non-minimal encoding
				return 0, ErrBadFrame
			}
			return x | uint64(c)<<shift, nil
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, ErrBadFrame
}

func eofIn(err error, i int) error {
	if i > 0 && errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteFrame writes b as one frame. It refuses frames over max so a sender
// never emits what its peer must reject.
func WriteFrame(w io.Writer, b []byte, max int) error {
	if len(b) > max {
		return fmt.Errorf("%w: %d bytes, cap %d", ErrFrameTooLarge, len(b), max)
	}
	var pre [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(pre[:], uint64(len(b)))
	if bw, ok := w.(*bufio.Writer); ok {
		bw.Write(pre[:n])
		bw.Write(b)
		return bw.Flush()
	}
	// One write, so the frame goes out in one stream write.
	out := make([]byte, 0, n+len(b))
	out = append(append(out, pre[:n]...), b...)
	_, err := w.Write(out)
	return err
}

// FrameOverhead is the largest prefix added to a body of n bytes.
func FrameOverhead(n int) int {
	var pre [binary.MaxVarintLen64]byte
	return binary.PutUvarint(pre[:], uint64(n))
}
