package backup

import (
	"bufio"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ocmt/mesh/internal/xcrypto"
)

// chunkWriter seals a plaintext stream into chunks (doc.go: "Chunks"). It
// holds one chunk of plaintext and one of ciphertext, whatever the size
// of the stream. A full chunk is sealed only when more data comes, so the
// last chunk is never empty; Close seals it with the last-chunk flag.
type chunkWriter struct {
	w       io.Writer
	aead    cipher.AEAD
	ad      []byte
	buf     []byte // plaintext of the chunk being filled, cap = chunk size
	out     []byte
	counter uint64
	err     error
}

func newChunkWriter(w io.Writer, aead cipher.AEAD, ad []byte, size int) *chunkWriter {
	return &chunkWriter{w: w, aead: aead, ad: ad, buf: make([]byte, 0, size), out: make([]byte, 0, size+xcrypto.Overhead)}
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n := len(p)
	for len(p) > 0 {
		if len(c.buf) == cap(c.buf) {
			if err := c.seal(false); err != nil {
				return n - len(p), err
			}
		}
		k := copy(c.buf[len(c.buf):cap(c.buf)], p)
		c.buf = c.buf[:len(c.buf)+k]
		p = p[k:]
	}
	return n, nil
}

// Close seals the last chunk. The stream must not be empty.
func (c *chunkWriter) Close() error {
	if c.err != nil {
		return c.err
	}
	if len(c.buf) == 0 {
		return errors.New("backup: an empty stream") // the encoder always writes records
	}
	err := c.seal(true)
	if err == nil {
		c.err = errors.New("backup: stream closed")
	}
	clear(c.buf[:cap(c.buf)])
	return err
}

func (c *chunkWriter) seal(last bool) error {
	if c.counter == math.MaxUint64 {
		c.err = errors.New("backup: too many chunks")
		return c.err
	}
	var nonce [xcrypto.NonceSize]byte
	chunkNonce(&nonce, c.counter, last)
	c.out = c.aead.Seal(c.out[:0], nonce[:], c.buf, c.ad)
	if _, err := c.w.Write(c.out); err != nil {
		c.err = err
		return err
	}
	c.counter++
	c.buf = c.buf[:0]
	return nil
}

// chunkReader opens a chunk stream (doc.go: "Chunks") and reads its
// plaintext. It returns io.EOF only after a chunk that authenticates with
// the last-chunk flag and is followed by the end of the file; anything
// else is ErrAltered or ErrTruncated. Memory: one chunk in, one out.
type chunkReader struct {
	r       *bufio.Reader
	aead    cipher.AEAD
	ad      []byte
	in      []byte // ciphertext, chunk size + overhead
	out     []byte
	pt      []byte // unread plaintext of the current chunk
	counter uint64
	done    bool // the last chunk is open
	err     error
}

func newChunkReader(r *bufio.Reader, aead cipher.AEAD, ad []byte, size int) *chunkReader {
	return &chunkReader{r: r, aead: aead, ad: ad, in: make([]byte, size+xcrypto.Overhead), out: make([]byte, 0, size)}
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.pt) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
		if c.err = c.next(); c.err != nil {
			clear(c.out[:cap(c.out)])
			return 0, c.err
		}
	}
	n := copy(p, c.pt)
	c.pt = c.pt[n:]
	return n, nil
}

// next reads and opens one chunk.
func (c *chunkReader) next() error {
	n, err := io.ReadFull(c.r, c.in)
	last := false
	switch {
	case err == nil:
		// A full chunk is the last one when the file ends right after it.
		if _, perr := c.r.Peek(1); errors.Is(perr, io.EOF) {
			last = true
		} else if perr != nil {
			return perr
		}
	case errors.Is(err, io.EOF): // nothing at all where a chunk should be
		if c.counter == 0 {
			return fmt.Errorf("%w: it holds no chunk after its header", ErrTruncated)
		}
		return fmt.Errorf("%w: it ends before chunk %d", ErrTruncated, c.counter) // unreachable: the previous chunk would have been the last
	case errors.Is(err, io.ErrUnexpectedEOF):
		last = true
	default:
		return err
	}
	ct := c.in[:n]
	if len(ct) <= xcrypto.Overhead {
		return fmt.Errorf("%w: chunk %d is %d bytes, too short to hold anything", ErrAltered, c.counter, len(ct))
	}
	var nonce [xcrypto.NonceSize]byte
	chunkNonce(&nonce, c.counter, last)
	pt, oerr := c.aead.Open(c.out[:0], nonce[:], ct, c.ad)
	if oerr != nil {
		// Say which of the two flags it would open with, if any: a chunk
		// that is not the last where the file ends is a cut at a chunk
		// boundary; a last chunk with more after it is data appended.
		chunkNonce(&nonce, c.counter, !last)
		if _, e := c.aead.Open(c.out[:0], nonce[:], ct, c.ad); e == nil {
			if last {
				return fmt.Errorf("%w: it ends after chunk %d, which is not the last", ErrTruncated, c.counter)
			}
			return fmt.Errorf("%w: data follows the last chunk (%d)", ErrAltered, c.counter)
		}
		if c.counter == 0 {
			return fmt.Errorf("%w: the first chunk does not open with the key of this header (the header was altered, or belongs to another backup)", ErrAltered)
		}
		return fmt.Errorf("%w: chunk %d does not authenticate (altered, reordered, or cut inside a chunk)", ErrAltered, c.counter)
	}
	c.pt, c.done = pt, last
	c.counter++
	return nil
}

// prime opens the first chunk, so a header that does not match the
// chunks is refused before anything is written.
func (c *chunkReader) prime() error {
	if len(c.pt) > 0 || c.done || c.err != nil {
		return c.err
	}
	c.err = c.next()
	return c.err
}
