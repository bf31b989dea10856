package backup

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/xcrypto"
	"github.com/ocmt/mesh/vault"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// vector is one committed backup file (testdata/NAME.meshbak) and what a
// restore of it with Password must give (testdata/README.md).
type vector struct {
	Name     string `json:"name"`
	Comment  string `json:"comment"`
	Password string `json:"password"`
	// Error names the error; "" is success, and the fields below must
	// then be what the restore gives.
	Error string `json:"error,omitempty"`
	// On success:
	PeerID      string `json:"peer_id,omitempty"`
	VaultID     string `json:"vault_id,omitempty"`
	SecretName  string `json:"secret_name,omitempty"`
	SecretValue string `json:"secret_value,omitempty"`
	Handle      string `json:"handle,omitempty"`
	ID          string `json:"id,omitempty"`
	Created     string `json:"created,omitempty"`
	ChunkSize   int    `json:"chunk_size,omitempty"`
	Chunks      int64  `json:"chunks,omitempty"`
	Entries     uint64 `json:"entries,omitempty"`
	Kinds       string `json:"kinds,omitempty"`
}

var vectorErrors = map[string]error{
	"bad_password": vault.ErrBadPassword,
	"altered":      ErrAltered,
	"truncated":    ErrTruncated,
	"header":       ErrHeader,
	"not_backup":   ErrNotBackup,
	"version":      ErrVersion,
	"malformed":    ErrMalformed,
}

const (
	vectorPassword = "vector password"
	vectorSecret   = "ghp_vector0123456789abcdefghijklmnopqrstu"
)

// vectorSet collects the vectors and their files as they are built.
type vectorSet struct {
	t     *testing.T
	vs    []vector
	files map[string][]byte
}

func (s *vectorSet) add(name string, file []byte, v vector) {
	s.t.Helper()
	if old, ok := s.files[name]; ok && !bytes.Equal(old, file) {
		s.t.Fatalf("two files named %s", name)
	}
	v.Name = name
	if v.Password == "" {
		v.Password = vectorPassword
	}
	s.files[name] = file
	s.vs = append(s.vs, v)
}

func (s *vectorSet) fail(name, comment, err string, file []byte) {
	s.t.Helper()
	s.add(name, file, vector{Comment: comment, Error: err})
}

// content is a backup's plaintext decoded: the seed and the entries.
type content struct {
	seed    []byte
	entries [][2][]byte
}

func (c content) encode(t testing.TB) []byte {
	var buf bytes.Buffer
	enc := &encoder{w: &buf}
	if err := enc.identity(c.seed); err != nil {
		t.Fatal(err)
	}
	for _, e := range c.entries {
		if err := enc.entry(e[0], e[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.end(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// plaintextOf opens a backup with the password: its header's fields, raw
// header, key and plaintext.
func plaintextOf(t testing.TB, file []byte, password string) (Header, []byte, cipher.AEAD, []byte) {
	t.Helper()
	br := bytes.NewReader(file)
	h, raw, err := readHeader(br)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := vault.OpenBackupKey(h.Wraps, h.VaultID, []byte(password), h.Salt)
	if err != nil {
		t.Fatal(err)
	}
	var pt []byte
	n := h.ChunkSize + xcrypto.Overhead
	rest := file[len(raw):]
	for i := 0; len(rest) > 0; i++ {
		k := min(n, len(rest))
		var nonce [xcrypto.NonceSize]byte
		chunkNonce(&nonce, uint64(i), k == len(rest))
		p, err := aead.Open(nil, nonce[:], rest[:k], headerAAD(raw))
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		pt, rest = append(pt, p...), rest[k:]
	}
	return h, raw, aead, pt
}

// sealPieces seals the plaintext pieces as chunks 0, 1, ... after raw;
// last[i] is chunk i's last flag (nil: only the final piece is last).
func sealPieces(aead cipher.AEAD, raw []byte, pieces [][]byte, last []bool) []byte {
	out := bytes.Clone(raw)
	for i, p := range pieces {
		var nonce [xcrypto.NonceSize]byte
		l := i == len(pieces)-1
		if last != nil {
			l = last[i]
		}
		chunkNonce(&nonce, uint64(i), l)
		out = aead.Seal(out, nonce[:], p, headerAAD(raw))
	}
	return out
}

// cut splits pt into chunks of size bytes, the last one short.
func cut(pt []byte, size int) [][]byte {
	var ps [][]byte
	for len(pt) > 0 {
		k := min(size, len(pt))
		ps, pt = append(ps, pt[:k]), pt[k:]
	}
	return ps
}

// rawFields are a header's fields, encoded without the checks of marshal
// so the vectors can break each rule alone. The length field is the
// header's own length unless setSize.
type rawFields struct {
	magic    string
	version  byte
	size     int // the length field, when setSize
	setSize  bool
	vaultID  []byte
	created  int64
	salt     []byte
	chunkLog byte
	count    int // -1: len(wraps)
	wraps    []vault.BackupWrap
}

func (f rawFields) bytes() []byte {
	b := append([]byte(f.magic), f.version, 0, 0)
	b = append(b, f.vaultID...)
	b = binary.BigEndian.AppendUint64(b, uint64(f.created))
	b = append(b, f.salt...)
	count := f.count
	if count < 0 {
		count = len(f.wraps)
	}
	b = append(b, f.chunkLog, byte(count))
	for _, w := range f.wraps {
		b = append(b, byte(len(w.Kind)))
		b = append(b, w.Kind...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(w.Data)))
		b = append(b, w.Data...)
	}
	size := len(b)
	if f.setSize {
		size = f.size
	}
	binary.BigEndian.PutUint16(b[8:10], uint16(size))
	return b
}

func fieldsOf(h Header) rawFields {
	return rawFields{magic: magicPrefix, version: Version, vaultID: h.VaultID, created: h.Created.Unix(), salt: h.Salt,
		chunkLog: byte(chunkLog(h.ChunkSize)), count: -1, wraps: slices.Clone(h.Wraps)}
}

// saltFor is the salt of a resealed vector: its own, so no two vectors
// seal different plaintexts under one key and nonce.
func saltFor(name string) []byte {
	d := sha256.Sum256([]byte("backup vector salt " + name))
	return d[:]
}

func wrap(kind string, size int) vault.BackupWrap {
	return vault.BackupWrap{Kind: kind, Data: bytes.Repeat([]byte{0x5a}, size)}
}

// buildVectors makes the vectors from scratch: a small home (1 KiB chunks,
// so it spans several), made with deterministic randomness, a fixed peer
// key, clock and salt; its damaged variants; and files sealed under the
// same vault's key (vault.OpenBackupKey with the password) that break one
// rule of doc.go each, or keep to a limit.
func buildVectors(t *testing.T) ([]vector, map[string][]byte) {
	cryptotest.SetGlobalRandom(t, 2026)
	ctx := context.Background()
	alice := newLiveHome(t, "vector-alice", vectorPassword)
	putSecret(t, alice.v, "github", []byte(vectorSecret))
	putSecret(t, alice.v, "notes/long", secretValue("long", 0, 3000))
	if err := alice.v.Put(ctx, vault.NSResources, "calendar/work", []byte(`{"kind":"calendar"}`), vault.AuditEntry{Actor: "t", Op: "resource.write"}); err != nil {
		t.Fatal(err)
	}
	alice.st.Put(ctx, ds.NewKey("/mesh/profile/handle"), []byte("alice"))
	src := alice.source()
	src.Rand, src.chunkLog = testkit.NewRand("vector salt"), 10
	var buf bytes.Buffer
	info, err := Write(ctx, &buf, src)
	if err != nil {
		t.Fatal(err)
	}
	good := bytes.Clone(buf.Bytes())

	bob := newLiveHome(t, "vector-bob", vectorPassword)
	src = bob.source()
	src.Rand, src.chunkLog = testkit.NewRand("vector salt bob"), 10
	buf.Reset()
	if _, err := Write(ctx, &buf, src); err != nil {
		t.Fatal(err)
	}
	bobHdr, _ := chunks(t, buf.Bytes())

	hdr, cs := chunks(t, good)
	if len(cs) < 4 {
		t.Fatalf("the vector backup has %d chunks; it needs 4", len(cs))
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x01; return b }
	s := &vectorSet{t: t, files: map[string][]byte{}}
	ok := func(name, comment string, file []byte, kinds string, entries uint64) {
		t.Helper()
		h, err := Inspect(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s.add(name, file, vector{Comment: comment, PeerID: alice.key.ID().String(), VaultID: hexs(alice.v.ID()),
			SecretName: "github", SecretValue: vectorSecret, Handle: "alice", ID: h.ID, Created: h.Created.Format(time.RFC3339),
			ChunkSize: h.ChunkSize, Chunks: h.Chunks, Entries: entries, Kinds: kinds})
	}

	// The first seven, as they were first committed.
	ok("good", "a home: 2 secrets, 1 resource, a handle; 1 KiB chunks", good, "password", info.Entries)
	s.add("good", good, vector{Comment: "the good file with a wrong password", Password: "wrong password", Error: "bad_password"})
	s.fail("flipped-byte", "one bit of chunk 1's ciphertext flipped", "altered", join(hdr, slices.Concat(cs[:1], [][]byte{flip(cs[1], 17)}, cs[2:])...))
	s.fail("truncated", "the last chunk dropped: the file ends at a chunk boundary", "truncated", join(hdr, cs[:len(cs)-1]...))
	s.fail("reordered", "chunks 1 and 2 swapped", "altered", join(hdr, slices.Concat(cs[:1], [][]byte{cs[2], cs[1]}, cs[3:])...))
	s.fail("other-vault-header", "another vault's header (same password) on this backup's chunks", "altered", join(bobHdr, cs...))
	s.fail("tampered-header", "one bit of the header's time flipped", "altered", flip(good, 8+2+16+7))

	h0, _, _, pt := plaintextOf(t, good, vectorPassword)
	f0 := fieldsOf(h0)
	pw := h0.Wraps[0]
	chunk0 := cs[0]
	// reseal seals plaintext pt after the header of fields f, under the
	// vault's key for f's salt, in chunks of f's size.
	reseal := func(f rawFields, pt []byte) []byte {
		raw := f.bytes()
		aead, err := vault.OpenBackupKey([]vault.BackupWrap{pw}, f.vaultID, []byte(vectorPassword), f.salt)
		if err != nil {
			t.Fatal(err)
		}
		return sealPieces(aead, raw, cut(pt, 1<<f.chunkLog), nil)
	}
	own := func(name string, edit func(f *rawFields)) rawFields {
		f := f0
		f.wraps = slices.Clone(f0.wraps)
		f.salt = saltFor(name)
		if edit != nil {
			edit(&f)
		}
		return f
	}
	// headerOnly is a header vector: its header and one chunk (a reader
	// refuses it before the chunks).
	headerOnly := func(name, comment, err string, edit func(f *rawFields)) {
		t.Helper()
		s.fail(name, comment, err, append(own(name, edit).bytes(), chunk0...))
	}

	// The magic and version.
	s.fail("empty", "an empty file", "not_backup", []byte{})
	s.fail("magic-prefix-only", "the first 4 bytes of the magic, then the end: a cut backup", "truncated", []byte("OCMT"))
	s.fail("magic-prefix-wrong", "4 bytes that do not begin the magic, then the end", "not_backup", []byte("OCMX"))
	s.fail("magic-wrong", "the good file with its first byte changed", "not_backup", append([]byte{'X'}, good[1:]...))
	s.fail("text", "a text file", "not_backup", []byte("hello, this is not a backup at all\n"))
	s.fail("version-2", "the good file with version 2", "version", append(append(bytes.Clone(good[:7]), 2), good[8:]...))
	s.fail("version-0", "the good file with version 0", "version", append(append(bytes.Clone(good[:7]), 0), good[8:]...))
	s.fail("version-2-cut", "magic and version 2, then the end: the version is read first", "version", []byte("OCMTBAK\x02"))
	s.fail("version-cut", "magic and version 1, then the end", "truncated", []byte("OCMTBAK\x01"))
	s.fail("length-cut", "the good file's first 9 bytes", "truncated", bytes.Clone(good[:9]))
	s.fail("header-cut", "the good file's header less its last byte", "truncated", bytes.Clone(hdr[:len(hdr)-1]))
	s.fail("header-only", "the good file's header, no chunk", "truncated", bytes.Clone(hdr))

	// The header length.
	length := func(n int) func(f *rawFields) { return func(f *rawFields) { f.size, f.setSize = n, true } }
	headerOnly("length-0", "header length 0", "header", length(0))
	headerOnly("length-72", "header length 72, one below the least (68 + 5)", "header", length(72))
	headerOnly("length-4097", "header length 4097 (MaxHeaderSize + 1)", "header", length(MaxHeaderSize+1))
	headerOnly("length-short", "header length one less than its wraps take: the last wrap runs past it", "header", length(68+1+8+2+len(pw.Data)-1))
	headerOnly("length-long", "header length one more than its wraps take: a byte after the last wrap", "header", length(68+1+8+2+len(pw.Data)+1))

	// The chunk log.
	headerOnly("chunk-log-9", "chunk log 9 (MinChunkLog - 1)", "header", func(f *rawFields) { f.chunkLog = MinChunkLog - 1 })
	headerOnly("chunk-log-21", "chunk log 21 (MaxChunkLog + 1)", "header", func(f *rawFields) { f.chunkLog = MaxChunkLog + 1 })
	f := own("chunk-log-20", func(f *rawFields) { f.chunkLog = MaxChunkLog })
	ok("chunk-log-20", "the good file's content in one chunk of 2^20 (MaxChunkLog) bytes", reseal(f, pt), "password", info.Entries)
	f = own("chunk-log-16", func(f *rawFields) { f.chunkLog = DefaultChunkLog })
	ok("chunk-log-16", "the good file's content in one chunk of 2^16 bytes (DefaultChunkLog, what Write uses)", reseal(f, pt), "password", info.Entries)

	// A plaintext of a multiple of the chunk size ends with a full chunk.
	c := contentOf(t, pt)
	var padded []byte
	for n := 0; ; n++ {
		c2 := c.with([]byte("/mesh/zz-padding"), bytes.Repeat([]byte{'p'}, n))
		if padded = c2.encode(t); len(padded)%1024 == 0 {
			break
		}
	}
	ok("full-last-chunk", fmt.Sprintf("a plaintext of exactly %d KiB (a store entry /mesh/zz-padding added): %[1]d full chunks, the last sealed as last", len(padded)/1024),
		reseal(own("full-last-chunk", nil), padded), "password", info.Entries+1)

	// The wraps.
	headerOnly("wraps-0", "wrap count 0", "header", func(f *rawFields) { f.count, f.wraps = 0, nil })
	// Kinds in bytewise order: "-" < digits < letters, and a kind before
	// the longer kinds it begins.
	kinds := []string{"0", "a", "a-", "a0", "ab", "b", "c", "d"}
	extra := func(n int) []vault.BackupWrap {
		var ws []vault.BackupWrap
		for _, k := range kinds[:n] {
			ws = append(ws, wrap(k, 8))
		}
		return append(ws, pw)
	}
	f = own("wraps-8", func(f *rawFields) { f.wraps = extra(MaxWraps - 1) })
	ok("wraps-8", "8 wraps (MaxWraps): 0, a, a-, a0, ab, b, c, then password: bytewise order", reseal(f, pt), strings.Join(kinds[:MaxWraps-1], ",")+",password", info.Entries)
	headerOnly("wraps-9", "9 wraps (MaxWraps + 1), each valid", "header", func(f *rawFields) { f.wraps = extra(MaxWraps) })
	headerOnly("wrap-count-over", "wrap count 2, one wrap: the second runs past the header", "header", func(f *rawFields) { f.count = 2 })
	headerOnly("kind-empty", "a wrap of kind length 0 before password", "header", func(f *rawFields) { f.wraps = []vault.BackupWrap{wrap("", 8), pw} })
	headerOnly("kind-uppercase", "a wrap of kind \"Extra\" before password", "header", func(f *rawFields) { f.wraps = []vault.BackupWrap{wrap("Extra", 8), pw} })
	headerOnly("kind-underscore", "a wrap of kind \"a_b\" before password", "header", func(f *rawFields) { f.wraps = []vault.BackupWrap{wrap("a_b", 8), pw} })
	headerOnly("kind-33", "a wrap kind of 33 bytes (MaxWrapKind + 1)", "header", func(f *rawFields) { f.wraps = []vault.BackupWrap{wrap(strings.Repeat("k", MaxWrapKind+1), 8), pw} })
	f = own("kind-32", func(f *rawFields) {
		f.wraps = []vault.BackupWrap{wrap(strings.Repeat("-", 2)+strings.Repeat("9", MaxWrapKind-2), 8), pw}
	})
	ok("kind-32", "a wrap kind of 32 bytes (MaxWrapKind), \"--9...9\": any of [a-z0-9-] anywhere", reseal(f, pt), "--"+strings.Repeat("9", MaxWrapKind-2)+",password", info.Entries)
	headerOnly("kinds-unsorted", "wraps password then backup: kinds not increasing", "header", func(f *rawFields) { f.wraps = []vault.BackupWrap{pw, wrap("backup", 8)} })
	headerOnly("kinds-repeated", "the password wrap twice", "header", func(f *rawFields) { f.wraps = []vault.BackupWrap{pw, pw} })
	headerOnly("kinds-longer-first", "wraps ab then a: a kind sorts before the longer kinds it begins", "header", func(f *rawFields) {
		f.wraps = []vault.BackupWrap{wrap("ab", 8), wrap("a", 8), pw}
	})
	headerOnly("wrap-data-0", "a wrap of 0 bytes before password", "header", func(f *rawFields) { f.wraps = []vault.BackupWrap{wrap("a", 0), pw} })
	headerOnly("wrap-data-1025", "a wrap of 1025 bytes (MaxWrapSize + 1) before password", "header", func(f *rawFields) { f.wraps = []vault.BackupWrap{wrap("a", MaxWrapSize+1), pw} })
	// 68 + 4 wraps of kind 1 (1 + 1 + 2 + data) + password (1 + 8 + 2 + 110) = 4096.
	big := func(last int) []vault.BackupWrap {
		return []vault.BackupWrap{wrap("a", MaxWrapSize), wrap("b", MaxWrapSize), wrap("c", MaxWrapSize), wrap("d", last), pw}
	}
	f = own("header-4096", func(f *rawFields) {
		f.wraps = big(MaxHeaderSize - 68 - 4*4 - 3*MaxWrapSize - (1 + 8 + 2 + len(pw.Data)))
	})
	if n := len(f.bytes()); n != MaxHeaderSize {
		t.Fatalf("header-4096 is %d bytes", n)
	}
	ok("header-4096", "a header of 4096 bytes (MaxHeaderSize): wraps a, b, c of 1024 bytes (MaxWrapSize), d, password", reseal(f, pt), "a,b,c,d,password", info.Entries)
	headerOnly("header-4097", "a header of 4097 bytes, every wrap valid", "header", func(f *rawFields) {
		f.wraps = big(MaxHeaderSize - 68 - 4*4 - 3*MaxWrapSize - (1 + 8 + 2 + len(pw.Data)) + 1)
	})

	// The password wrap (vault/doc.go's format, read by vault.OpenBackupKey).
	pwWith := func(edit func(b []byte) []byte) []vault.BackupWrap {
		return []vault.BackupWrap{{Kind: "password", Data: edit(bytes.Clone(pw.Data))}}
	}
	headerOnly("no-password-wrap", "one wrap, recovery, and no password wrap", "header", func(f *rawFields) { f.wraps = []vault.BackupWrap{wrap("recovery", 110)} })
	headerOnly("password-wrap-short", "a password wrap of 109 bytes", "header", func(f *rawFields) { f.wraps = pwWith(func(b []byte) []byte { return b[:109] }) })
	headerOnly("password-wrap-kdf-2", "a password wrap naming KDF 2", "header", func(f *rawFields) { f.wraps = pwWith(func(b []byte) []byte { b[8] = 2; return b }) })
	headerOnly("password-wrap-memory-over-cap", "a password wrap asking for 1 GiB + 1 KiB of memory: refused before any Argon2id work", "header",
		func(f *rawFields) {
			f.wraps = pwWith(func(b []byte) []byte { binary.BigEndian.PutUint32(b[13:], vault.MaxKDFMemoryKiB+1); return b })
		})
	headerOnly("password-wrap-time-0", "a password wrap asking for 0 passes", "header", func(f *rawFields) {
		f.wraps = pwWith(func(b []byte) []byte { binary.BigEndian.PutUint32(b[9:], 0); return b })
	})
	headerOnly("password-wrap-flipped", "the last byte of the password wrap's sealed master key flipped", "bad_password", func(f *rawFields) {
		f.wraps = pwWith(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
	})
	headerOnly("vault-id-flipped", "one bit of the vault ID flipped: the password wrap's AAD", "bad_password", func(f *rawFields) { f.vaultID = flip(f.vaultID, 0) })
	s.fail("salt-flipped", "one bit of the backup's salt flipped: another key, chunk 0 fails", "altered", flip(good, 8+2+16+8))

	// The chunks.
	last := cs[len(cs)-1]
	s.fail("cut-inside-last-chunk", "the good file less its last 5 bytes", "altered", bytes.Clone(good[:len(good)-5]))
	s.fail("cut-inside-chunk-2", "the good file cut 500 bytes into chunk 2", "altered", bytes.Clone(good[:len(hdr)+2*len(chunk0)+500]))
	s.fail("last-chunk-16-bytes", "the last chunk cut to 16 bytes, a tag's worth", "altered", join(hdr, append(slices.Clone(cs[:len(cs)-1]), last[:16])...))
	s.fail("appended-byte", "one byte after the last chunk", "altered", append(bytes.Clone(good), 0))
	s.fail("appended-chunk", "the last chunk twice", "altered", join(hdr, append(slices.Clone(cs), last)...))
	s.fail("chunk-repeated", "chunk 1 twice", "altered", join(hdr, slices.Concat(cs[:2], cs[1:])...))
	s.fail("chunk-dropped", "chunk 1 dropped", "altered", join(hdr, slices.Concat(cs[:1], cs[2:])...))
	pieces := cut(pt, 1024)
	f = own("last-sealed-not-last", nil)
	aead, err := vault.OpenBackupKey(f.wraps, f.vaultID, []byte(vectorPassword), f.salt)
	if err != nil {
		t.Fatal(err)
	}
	s.fail("last-sealed-not-last", "every chunk sealed as not last: the file ends on a chunk that opens only as not last", "truncated",
		sealPieces(aead, f.bytes(), pieces, make([]bool, len(pieces))))
	f = own("middle-sealed-last", nil)
	aead, _ = vault.OpenBackupKey(f.wraps, f.vaultID, []byte(vectorPassword), f.salt)
	flags := make([]bool, len(pieces))
	flags[1], flags[len(flags)-1] = true, true
	s.fail("middle-sealed-last", "chunk 1 sealed as last, more after it", "altered", sealPieces(aead, f.bytes(), pieces, flags))
	f = own("empty-last-chunk", nil)
	aead, _ = vault.OpenBackupKey(f.wraps, f.vaultID, []byte(vectorPassword), f.salt)
	s.fail("empty-last-chunk", fmt.Sprintf("a plaintext of %d KiB sealed as %[1]d full chunks and an empty last one (16 bytes)", len(padded)/1024), "altered",
		sealPieces(aead, f.bytes(), append(cut(padded, 1024), nil), nil))

	// The content: each file authenticates, and its plaintext is the good
	// file's with one rule broken, so a reader without that rule would
	// restore it.
	rec := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	u32 := func(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	u64 := func(n int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }
	ident := rec([]byte{recIdentity}, c.seed)
	entries := func(es [][2][]byte) []byte {
		var b []byte
		for _, e := range es {
			b = rec(b, []byte{recEntry}, u32(len(e[0])), e[0], u32(len(e[1])), e[1])
		}
		return b
	}
	end := func(n, size int) []byte { return rec([]byte{recEnd}, u64(n), u64(size)) }
	endFor := func(es [][2][]byte) []byte {
		size := 0
		for _, e := range es {
			size += len(e[0]) + len(e[1])
		}
		return end(len(es), size)
	}
	full := func(es [][2][]byte) []byte { return rec(ident, entries(es), endFor(es)) }
	es := c.entries
	n, size := len(es), 0
	for _, e := range es {
		size += len(e[0]) + len(e[1])
	}
	plus := func(kvs ...string) [][2][]byte { // es with entries added, in key order
		x := c
		for i := 0; i < len(kvs); i += 2 {
			x = x.with([]byte(kvs[i]), []byte(kvs[i+1]))
		}
		return x.entries
	}
	swap := func(es [][2][]byte, a, b string) [][2][]byte {
		es = slices.Clone(es)
		i := slices.IndexFunc(es, func(e [2][]byte) bool { return string(e[0]) == a })
		j := slices.IndexFunc(es, func(e [2][]byte) bool { return string(e[0]) == b })
		es[i], es[j] = es[j], es[i]
		return es
	}
	if !bytes.Equal(full(es), pt) {
		t.Fatal("the content helpers do not re-encode the good file's content")
	}
	malformed := func(name, comment string, plain []byte) {
		t.Helper()
		s.fail(name, comment, "malformed", reseal(own(name, nil), plain))
	}
	malformed("content-entry-first", "the first entry before the identity", rec(entries(es[:1]), ident, entries(es[1:]), endFor(es)))
	malformed("content-identity-twice", "the identity twice", rec(ident, full(es)))
	malformed("content-no-identity", "no identity: the entries and the end record", rec(entries(es), endFor(es)))
	malformed("content-record-4", "a record of type 4 before the end record", rec(ident, entries(es), []byte{4}, endFor(es)))
	malformed("content-record-0", "a record of type 0 before the end record", rec(ident, entries(es), []byte{0}, endFor(es)))
	malformed("content-keys-unsorted", "the first two entries swapped", full(swap(es, string(es[0][0]), string(es[1][0]))))
	malformed("content-key-repeated", "the first entry twice", full(slices.Concat(es[:1], es)))
	malformed("content-key-prefix-order", "/mesh/zzz then /mesh/zz: bytewise, a key sorts before the longer keys it begins",
		full(swap(plus("/mesh/zz", "1", "/mesh/zzz", "1"), "/mesh/zz", "/mesh/zzz")))
	malformed("content-key-no-slash", "an entry zz (no \"/\" first)", full(plus("zz", "1")))
	malformed("content-key-trailing-slash", "an entry /mesh/zz/ (\"/\" last)", full(plus("/mesh/zz/", "1")))
	malformed("content-key-empty", "an entry with a key of 0 bytes", full(plus("", "1")))
	bigKey := func(n int) string { return "/mesh/" + strings.Repeat("k", n-len("/mesh/")) }
	oneBig := [][2][]byte{{[]byte(bigKey(MaxKeySize + 1)), []byte("1")}}
	malformed("content-key-65537", "the identity and one entry with a key of 65537 bytes (MaxKeySize + 1), all there, and the end record", full(oneBig))
	ok("content-key-65536", "an entry with a key of 65536 bytes (MaxKeySize)", reseal(own("content-key-65536", nil), full(plus(bigKey(MaxKeySize), "1"))), "password", info.Entries+1)
	ok("content-keys-any-datastore-key", "entries / and /mesh//x: a key is checked for its first and last \"/\" only", reseal(own("content-keys-any-datastore-key", nil), full(plus("/", "", "/mesh//x", "1"))), "password", info.Entries+2)
	malformed("content-value-over-max", "a value length of 67108865 (MaxValueSize + 1) declared, then the end of the content",
		rec(ident, entries(es), []byte{recEntry}, u32(8), []byte("/mesh/zz"), u32(MaxValueSize+1), []byte("v")))
	malformed("content-end-entries-wrong", "the end record counts one entry too many", rec(ident, entries(es), end(n+1, size)))
	malformed("content-end-bytes-wrong", "the end record counts one byte too few", rec(ident, entries(es), end(n, size-1)))
	malformed("content-after-end", "a byte after the end record", rec(full(es), []byte{0}))
	malformed("content-no-end", "the content ends after the last entry", rec(ident, entries(es)))
	malformed("content-cut-in-end", "the content ends inside the end record", full(es)[:len(full(es))-8])
	lastValue := len(es[n-1][1])
	if lastValue < 2 {
		t.Fatal("the last entry's value is too short to cut")
	}
	malformed("content-cut-in-value", "the content ends inside the last value", rec(ident, entries(es))[:len(rec(ident, entries(es)))-lastValue/2])
	malformed("content-cut-in-seed", "the content ends inside the identity", ident[:20])
	return s.vs, s.files
}

// contentOf decodes a plaintext.
func contentOf(t testing.TB, pt []byte) content {
	t.Helper()
	m := &memSink{}
	if _, _, err := decode(bytes.NewReader(pt), m); err != nil {
		t.Fatal(err)
	}
	return content{seed: m.seed, entries: m.entries}
}

// with returns c with the entry k = v added in key order.
func (c content) with(k, v []byte) content {
	es := append(slices.Clone(c.entries), [2][]byte{k, v})
	sort.Slice(es, func(i, j int) bool { return bytes.Compare(es[i][0], es[j][0]) < 0 })
	return content{seed: c.seed, entries: es}
}

func hexs(b []byte) string { return hex.EncodeToString(b) }

// TestVectorsAreCurrent regenerates the vectors and compares them with the
// committed ones (-update rewrites them). It fails when the format, or
// what the vault writes, changed: review the diff, then update.
func TestVectorsAreCurrent(t *testing.T) {
	vs, files := buildVectors(t)
	js, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	js = append(js, '\n')
	files["vectors.json"] = js
	for name, b := range files {
		path := filepath.Join("testdata", name)
		if name != "vectors.json" {
			path += ".meshbak"
		}
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		committed, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (generate with -update)", err)
		}
		if !bytes.Equal(committed, b) {
			t.Errorf("%s is stale: rerun with -update and review the diff", path)
		}
	}
	// No file in testdata/ that no vector names.
	es, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		name, isBak := strings.CutSuffix(e.Name(), ".meshbak")
		if _, ok := files[name]; isBak && !ok {
			t.Errorf("testdata/%s is no vector's file", e.Name())
		}
	}
}

// TestVectors restores every committed vector and checks its outcome.
func TestVectors(t *testing.T) {
	vs := testkit.ReadVectors[vector](t, filepath.Join("testdata", "vectors.json"))
	if len(vs) < 7 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, vec := range vs {
		t.Run(vec.Name+"/"+vec.Comment, func(t *testing.T) {
			ctx := context.Background()
			file, err := os.ReadFile(filepath.Join("testdata", vec.Name+".meshbak"))
			if err != nil {
				t.Fatal(err)
			}
			dst := freshDst(t)
			info, err := Restore(ctx, bytes.NewReader(file), dst, []byte(vec.Password))
			if vec.Error != "" {
				if want := vectorErrors[vec.Error]; want == nil || !errors.Is(err, want) {
					t.Fatalf("%v, want %s", err, vec.Error)
				}
				if left := entriesOf(t, filepath.Dir(string(dst))); len(left) != 0 {
					t.Fatalf("left at the destination: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.PeerID.String() != vec.PeerID || hexs(info.VaultID) != vec.VaultID || len(info.Problems) != 0 ||
				info.ID != vec.ID || info.Created.Format(time.RFC3339) != vec.Created || info.Entries != vec.Entries {
				t.Fatalf("restored %+v", info)
			}
			h, err := Inspect(bytes.NewReader(file))
			if err != nil || h.ChunkSize != vec.ChunkSize || h.Chunks != vec.Chunks {
				t.Fatalf("inspect: %+v, %v", h, err)
			}
			var kinds []string
			for _, w := range h.Wraps {
				kinds = append(kinds, w.Kind)
			}
			if strings.Join(kinds, ",") != vec.Kinds {
				t.Fatalf("wraps %v, want %s", kinds, vec.Kinds)
			}
			_, st, v := openRestored(t, dst, []byte(vec.Password))
			s, err := v.GetSecret(ctx, vec.SecretName, "t")
			if err != nil || string(s.Value) != vec.SecretValue {
				t.Fatalf("secret %s: %v", vec.SecretName, err)
			}
			if h, err := st.Get(ctx, ds.NewKey("/mesh/profile/handle")); err != nil || string(h) != vec.Handle {
				t.Fatalf("handle %q, %v", h, err)
			}
			if _, _, err := v.VerifyAudit(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
