package backup

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/xcrypto"
	"github.com/ocmt/mesh/vault"
)

// The fuzz targets run the decoder with a fixed key in place of the one a
// password opens (an Argon2id run per input would leave no time to fuzz),
// so inputs sealed with it reach past the chunks' authentication.
var fuzzKey = bytes.Repeat([]byte{7}, xcrypto.KeySize)

type memSink struct {
	seed    []byte
	entries [][2][]byte
}

func (m *memSink) identity(seed []byte) error { m.seed = bytes.Clone(seed); return nil }
func (m *memSink) entry(k, v []byte) error {
	m.entries = append(m.entries, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
	return nil
}

func fuzzHeader(chunkLog int) []byte {
	h := Header{VaultID: bytes.Repeat([]byte{1}, 16), Created: time.Unix(1700000000, 0), Salt: bytes.Repeat([]byte{2}, 32),
		ChunkSize: 1 << chunkLog, Wraps: []vault.BackupWrap{{Kind: "password", Data: bytes.Repeat([]byte{3}, 110)}}}
	raw, err := h.marshal()
	if err != nil {
		panic(err)
	}
	return raw
}

// sealWith seals the content (a seed and entries) after header raw, as
// Write does, under fuzzKey.
func sealWith(raw []byte, seed []byte, entries [][2][]byte) ([]byte, error) {
	h, err := parseHeader(raw)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write(raw)
	sw := newChunkWriter(&buf, xcrypto.NewAEAD(fuzzKey), headerAAD(raw), h.ChunkSize)
	enc := &encoder{w: sw}
	if err := enc.identity(seed); err != nil {
		return nil, err
	}
	for _, e := range entries {
		if err := enc.entry(e[0], e[1]); err != nil {
			return nil, err
		}
	}
	if err := enc.end(); err != nil {
		return nil, err
	}
	if err := sw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// openFixed is Restore's decoding under fuzzKey, into memory.
func openFixed(file []byte) (*memSink, []byte, error) {
	br := bufio.NewReader(bytes.NewReader(file))
	h, raw, err := readHeader(br)
	if err != nil {
		return nil, nil, err
	}
	cr := newChunkReader(br, xcrypto.NewAEAD(fuzzKey), headerAAD(raw), h.ChunkSize)
	m := &memSink{}
	_, _, err = decode(cr, m)
	return m, raw, err
}

func fuzzSeeds(f *testing.F) {
	seed := bytes.Repeat([]byte{9}, seedSize)
	big := bytes.Repeat([]byte("v"), 3000)
	for _, c := range []struct {
		log     int
		entries [][2][]byte
	}{
		{10, nil},
		{10, [][2][]byte{{[]byte("/a"), []byte("1")}, {[]byte("/b"), nil}, {[]byte("/c/d"), big}}},
		{10, [][2][]byte{{[]byte("/x"), bytes.Repeat([]byte{0}, 1024-seedSize-1-1-4-2-4-17)}}}, // exactly one full chunk
		{16, [][2][]byte{{[]byte("/meta/header"), []byte("OCMTVLT\x02")}}},
	} {
		file, err := sealWith(fuzzHeader(c.log), seed, c.entries)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(file)
		f.Add(file[:len(file)-1])
		f.Add(append(bytes.Clone(file), 0))
	}
	// Every committed vector (testdata/README.md): each breaks one rule.
	files, _ := filepath.Glob(filepath.Join("testdata", "*.meshbak"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
}

// FuzzHeader: a header parses only if it re-encodes to the same bytes.
func FuzzHeader(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, raw, err := readHeader(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(raw) > MaxHeaderSize || len(h.Wraps) > MaxWraps {
			t.Fatalf("accepted a header beyond the limits: %d bytes, %d wraps", len(raw), len(h.Wraps))
		}
		again, err := h.marshal()
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("re-encoding: %v, or the bytes differ", err)
		}
	})
}

// FuzzOpen: the whole decoder, header, chunks and records. Whatever it
// accepts re-seals to exactly the same file, so it accepts one encoding
// of each content; whatever it refuses is refused with one of the
// package's errors.
func FuzzOpen(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, file []byte) {
		m, raw, err := openFixed(file)
		if err != nil {
			for _, e := range []error{ErrNotBackup, ErrVersion, ErrHeader, ErrAltered, ErrTruncated, ErrMalformed} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("an error of no kind: %v", err)
		}
		again, err := sealWith(raw, m.seed, m.entries)
		if err != nil || !bytes.Equal(again, file) {
			t.Fatalf("accepted a file that does not re-seal to itself (%v)", err)
		}
	})
}

// FuzzRecords: the content decoder alone, on plaintext.
func FuzzRecords(f *testing.F) {
	plain := func(seed []byte, entries ...[2][]byte) []byte {
		var buf bytes.Buffer
		enc := &encoder{w: &buf}
		enc.identity(seed)
		for _, e := range entries {
			enc.entry(e[0], e[1])
		}
		enc.end()
		return buf.Bytes()
	}
	seed := bytes.Repeat([]byte{9}, seedSize)
	f.Add(plain(seed))
	f.Add(plain(seed, [2][]byte{[]byte("/a"), []byte("1")}, [2][]byte{[]byte("/b/c"), nil}))
	f.Add([]byte{recIdentity})
	f.Add(append(plain(seed)[:33], recEntry, 0, 0, 0, 2, '/', 'a', 0x04, 0, 0, 0)) // a 64 MiB value declared, none there
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &memSink{}
		if _, _, err := decode(bytes.NewReader(b), m); err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("an error of no kind: %v", err)
			}
			return
		}
		if again := plain(m.seed, m.entries...); !bytes.Equal(again, b) {
			t.Fatal("accepted content that does not re-encode to itself")
		}
	})
}
