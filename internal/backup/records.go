package backup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Record types of the plaintext (doc.go: "Content").
const (
	recIdentity byte = 1
	recEntry    byte = 2
	recEnd      byte = 3
)

const seedSize = 32

// encoder writes the content records.
type encoder struct {
	w       io.Writer
	scratch [1 + 8 + 8]byte
	last    []byte // the previous entry's key, to keep the order strict
	started bool
	entries uint64
	bytes   uint64
}

func (e *encoder) identity(seed []byte) error {
	if len(seed) != seedSize {
		return fmt.Errorf("backup: a peer key seed is %d bytes", seedSize)
	}
	if _, err := e.w.Write([]byte{recIdentity}); err != nil {
		return err
	}
	_, err := e.w.Write(seed)
	e.started = true
	return err
}

func (e *encoder) entry(key, value []byte) error {
	if err := checkEntry(key, len(value)); err != nil {
		return err
	}
	if e.entries > 0 && bytes.Compare(e.last, key) >= 0 {
		return fmt.Errorf("backup: store keys out of order")
	}
	e.last = append(e.last[:0], key...)
	b := append(e.scratch[:0], recEntry)
	b = binary.BigEndian.AppendUint32(b, uint32(len(key)))
	if _, err := e.w.Write(b); err != nil {
		return err
	}
	if _, err := e.w.Write(key); err != nil {
		return err
	}
	if _, err := e.w.Write(binary.BigEndian.AppendUint32(e.scratch[:0], uint32(len(value)))); err != nil {
		return err
	}
	if _, err := e.w.Write(value); err != nil {
		return err
	}
	e.entries++
	e.bytes += uint64(len(key) + len(value))
	return nil
}

func (e *encoder) end() error {
	b := append(e.scratch[:0], recEnd)
	b = binary.BigEndian.AppendUint64(b, e.entries)
	b = binary.BigEndian.AppendUint64(b, e.bytes)
	_, err := e.w.Write(b)
	return err
}

// checkEntry applies the limits and the key syntax a restore applies:
// a go-datastore key ("/" first, no "/" last unless it is "/").
func checkEntry(key []byte, valueLen int) error {
	switch {
	case len(key) > MaxKeySize:
		return fmt.Errorf("%w: a store key of %d bytes (at most %d)", ErrTooLarge, len(key), MaxKeySize)
	case valueLen > MaxValueSize:
		return fmt.Errorf("%w: a store value of %d bytes (at most %d)", ErrTooLarge, valueLen, MaxValueSize)
	case len(key) == 0 || key[0] != '/' || (len(key) > 1 && key[len(key)-1] == '/'):
		return fmt.Errorf("backup: a store key that is not a datastore key (%d bytes)", len(key))
	}
	return nil
}

// sink receives the decoded content. key and value are the decoder's
// buffers, valid only during the call.
type sink interface {
	identity(seed []byte) error
	entry(key, value []byte) error
}

// decode reads the content records from r (the chunk stream's plaintext)
// into s and checks the end record. Every length is checked before
// anything is allocated for it; buffers are reused, so memory is one key
// and the largest value. Errors of r (ErrAltered, ErrTruncated) come back
// as they are; content that breaks the format is ErrMalformed.
func decode(r io.Reader, s sink) (entries, size uint64, err error) {
	var hdr [1 + 8 + 8]byte
	read := func(p []byte, what string) error {
		if _, err := io.ReadFull(r, p); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: the content ends inside %s", ErrMalformed, what)
			}
			return err
		}
		return nil
	}
	if err := read(hdr[:1], "its first record"); err != nil {
		return 0, 0, err
	}
	if hdr[0] != recIdentity {
		return 0, 0, fmt.Errorf("%w: the content starts with record type %d, not the identity", ErrMalformed, hdr[0])
	}
	var seed [seedSize]byte
	defer clear(seed[:])
	if err := read(seed[:], "the identity"); err != nil {
		return 0, 0, err
	}
	if err := s.identity(seed[:]); err != nil {
		return 0, 0, err
	}
	var key, prev, value []byte
	for {
		if err := read(hdr[:1], "a record"); err != nil {
			return entries, size, err
		}
		switch hdr[0] {
		case recEntry:
		case recEnd:
			if err := read(hdr[1:], "the end record"); err != nil {
				return entries, size, err
			}
			n, b := binary.BigEndian.Uint64(hdr[1:9]), binary.BigEndian.Uint64(hdr[9:17])
			if n != entries || b != size {
				return entries, size, fmt.Errorf("%w: the end record counts %d entries of %d bytes, the content held %d of %d", ErrMalformed, n, b, entries, size)
			}
			var one [1]byte
			if k, err := io.ReadFull(r, one[:]); k != 0 {
				return entries, size, fmt.Errorf("%w: content follows the end record", ErrMalformed)
			} else if !errors.Is(err, io.EOF) {
				return entries, size, err
			}
			clear(value[:cap(value)])
			return entries, size, nil
		default:
			return entries, size, fmt.Errorf("%w: unknown record type %d", ErrMalformed, hdr[0])
		}
		if err := read(hdr[:4], "an entry"); err != nil {
			return entries, size, err
		}
		klen := binary.BigEndian.Uint32(hdr[:4])
		if klen == 0 || klen > MaxKeySize {
			return entries, size, fmt.Errorf("%w: a key of %d bytes (1 to %d)", ErrMalformed, klen, MaxKeySize)
		}
		prev, key = key, grow(prev, int(klen))
		if err := read(key, "a key"); err != nil {
			return entries, size, err
		}
		if err := checkEntry(key, 0); err != nil {
			return entries, size, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if entries > 0 && bytes.Compare(prev, key) >= 0 {
			return entries, size, fmt.Errorf("%w: keys out of order or repeated", ErrMalformed)
		}
		if err := read(hdr[:4], "an entry"); err != nil {
			return entries, size, err
		}
		vlen := binary.BigEndian.Uint32(hdr[:4])
		if vlen > MaxValueSize {
			return entries, size, fmt.Errorf("%w: a value of %d bytes (at most %d)", ErrMalformed, vlen, MaxValueSize)
		}
		if value, err = readValue(r, value, int(vlen)); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return entries, size, fmt.Errorf("%w: the content ends inside a value", ErrMalformed)
			}
			return entries, size, err
		}
		if err := s.entry(key, value); err != nil {
			return entries, size, err
		}
		entries++
		size += uint64(klen) + uint64(vlen)
	}
}

// valueStep is how much of a value is read before the buffer grows again:
// a declared length never allocates more than what arrived plus this.
const valueStep = 1 << 20

// readValue reads n bytes into buf (reused), growing it as bytes arrive.
func readValue(r io.Reader, buf []byte, n int) ([]byte, error) {
	buf = buf[:0]
	for len(buf) < n {
		step := min(n-len(buf), valueStep)
		if cap(buf)-len(buf) < step {
			nb := make([]byte, len(buf), min(max(2*cap(buf), len(buf)+step), n))
			copy(nb, buf)
			buf = nb
		}
		k, err := io.ReadFull(r, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+k]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// grow returns b resized to n, reallocating only when it is too small.
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]byte, n, max(n, 2*cap(b)))
}
