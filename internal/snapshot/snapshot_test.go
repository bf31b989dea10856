package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

func dsQueryAll() query.Query { return query.Query{KeysOnly: true} }

func seal(t testing.TB, k *keys.PeerKey, content []byte, o Options, b *dsBlocks) *Sealed {
	t.Helper()
	s, err := Seal(context.Background(), k, bytes.NewReader(content), o, b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mapBlocks() *dsBlocks { return &dsBlocks{d: dssync.MutexWrap(ds.NewMapDatastore())} }

func readAll(t testing.TB, k *keys.PeerKey, m *Manifest, src BlockSource) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	_, err := Read(context.Background(), k, m, src, &out)
	return out.Bytes(), err
}

func TestSealedContentReadsBackAtEverySize(t *testing.T) {
	p := cast(t)
	for _, n := range []int{0, 1, 1000, ChunkSize - 300, ChunkSize, ChunkSize + 1, 3*ChunkSize + 12345} {
		content := make([]byte, n)
		io.ReadFull(testkit.Stream(byte(n), int64(n)), content)
		b := mapBlocks()
		s := seal(t, p.alice, content, opts("calendar/work", 1, p.bob.ID()), b)
		if want := int(ChunkCount(s.Manifest.Size)) + 1; s.Blocks != want || b.puts != want {
			t.Fatalf("%d bytes: %d blocks reported, %d put, want %d", n, s.Blocks, b.puts, want)
		}
		// The signed bytes parse back to the same manifest.
		raw, err := s.Signed.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		_, m, err := Check(context.Background(), raw, p.alice.ID(), "calendar/work", p.bob.ID(), t0, nil)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		for _, who := range []*keys.PeerKey{p.bob, p.alice} {
			got, err := readAll(t, who, m, b)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("%d bytes read by %s: %d bytes back, err %v", n, who.ID(), len(got), err)
			}
		}
	}
}

// Every snapshot has a fresh file key: the same content sealed twice shares
// no block, and a reader left out of the second cannot read it, while what
// it read of the first stays readable (it had the key).
func TestEverySnapshotHasAFreshKeyAndExcludesWhoWasLeftOut(t *testing.T) {
	p := cast(t)
	content := bytes.Repeat([]byte("meeting at noon\n"), 200000)
	b := mapBlocks()
	s1 := seal(t, p.alice, content, opts("calendar/work", 1, p.bob.ID(), p.carol.ID()), b)
	before := b.puts
	s2 := seal(t, p.alice, content, opts("calendar/work", 2, p.bob.ID()), b)
	keys1, err := b.d.Query(context.Background(), dsQueryAll())
	if err != nil {
		t.Fatal(err)
	}
	all, _ := keys1.Rest()
	if len(all) != before+s2.Blocks {
		t.Fatalf("the second snapshot shares blocks with the first: %d distinct, want %d", len(all), before+s2.Blocks)
	}
	if _, err := readAll(t, p.carol, s2.Manifest, b); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("carol, left out of version 2, read it: %v", err)
	}
	// Carol's check of the manifest refuses before any block is fetched.
	raw, _ := s2.Signed.Marshal()
	if _, _, err := Check(context.Background(), raw, p.alice.ID(), "calendar/work", p.carol.ID(), t0, nil); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("Check let carol through: %v", err)
	}
	if got, err := readAll(t, p.carol, s1.Manifest, b); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("carol's version 1: %v", err)
	}
	// Even given the manifest's recipient list with her in it (forged by
	// nobody: the signature would break), the sealed header has no stanza
	// for her: Read refuses from the age layer too.
	forged := *s2.Manifest
	ck, _ := KeyIDOf(p.carol.ID())
	forged.Recipients = append([]KeyID{ck}, forged.Recipients...)
	if _, err := readAll(t, p.carol, &forged, b); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("the sealed stream opened for carol: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	content := make([]byte, 2*ChunkSize+777)
	io.ReadFull(testkit.Stream(9, int64(len(content))), content)
	b := mapBlocks()
	v1 := seal(t, p.alice, content, opts("calendar/work", 1, p.bob.ID()), b)
	v2 := seal(t, p.alice, content, opts("calendar/work", 2, p.bob.ID()), b)
	other := seal(t, p.alice, []byte("other"), opts("notes/x", 1, p.bob.ID()), b)
	raw := func(s *Signed) []byte { r, _ := s.Marshal(); return r }

	t.Run("rolled back", func(t *testing.T) {
		st := NewDatastoreState(ds.NewMapDatastore())
		if _, _, err := Check(ctx, raw(v2.Signed), p.alice.ID(), "calendar/work", p.bob.ID(), t0, st); err != nil {
			t.Fatal(err)
		}
		_, _, err := Check(ctx, raw(v1.Signed), p.alice.ID(), "calendar/work", p.bob.ID(), t0, st)
		if !errors.Is(err, ErrRolledBack) || !strings.Contains(err.Error(), "version 1") {
			t.Fatalf("version 1 after 2: %v", err)
		}
		// The same version again is fine; another manifest of it is not.
		if _, _, err := Check(ctx, raw(v2.Signed), p.alice.ID(), "calendar/work", p.bob.ID(), t0, st); err != nil {
			t.Fatalf("version 2 again: %v", err)
		}
		o := opts("calendar/work", 2, p.bob.ID(), p.carol.ID())
		twin := seal(t, p.alice, content, o, mapBlocks())
		if _, _, err := Check(ctx, raw(twin.Signed), p.alice.ID(), "calendar/work", p.bob.ID(), t0, st); !errors.Is(err, ErrRolledBack) {
			t.Fatalf("a second version 2: %v", err)
		}
		if h, _ := st.Highest(ctx, p.alice.ID(), "calendar/work"); h != 2 {
			t.Fatalf("highest %d", h)
		}
	})
	t.Run("swapped", func(t *testing.T) {
		// A chunk of version 1 served where version 2's is asked for.
		swap := swapSource{b, v2.Manifest, 1, v1.Manifest}
		if _, err := readAll(t, p.bob, v2.Manifest, swap); !errors.Is(err, ErrSwapped) || !strings.Contains(err.Error(), "chunk 1 of 3") {
			t.Fatalf("swapped chunk: %v", err)
		}
		// Another root.
		swapRoot := swapSource{b, v2.Manifest, -1, v1.Manifest}
		if _, err := readAll(t, p.bob, v2.Manifest, swapRoot); !errors.Is(err, ErrSwapped) {
			t.Fatalf("swapped root: %v", err)
		}
		// A flipped bit in a stored chunk.
		flip := &flipSource{b, 2}
		if _, err := readAll(t, p.bob, v2.Manifest, flip); !errors.Is(err, ErrSwapped) {
			t.Fatalf("flipped bit: %v", err)
		}
		// The manifest of another resource.
		if _, _, err := Check(ctx, raw(other.Signed), p.alice.ID(), "calendar/work", p.bob.ID(), t0, nil); !errors.Is(err, ErrSwapped) {
			t.Fatalf("another resource's manifest: %v", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		var out bytes.Buffer
		n, err := Read(ctx, p.bob, v2.Manifest, &cutSource{src: b, after: 2}, &out)
		if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "chunk 1 of 3") {
			t.Fatalf("a source that ends early: %v", err)
		}
		if n > ChunkSize {
			t.Fatalf("%d plaintext bytes written from one chunk", n)
		}
		// A root, owner-signed, that lists fewer chunks than its size.
		short := Root{Size: v2.Manifest.Size, Chunks: []([DigestSize]byte){sha256.Sum256(nil)}}
		if _, err := short.Marshal(); !errors.Is(err, ErrTruncated) {
			t.Fatalf("marshal of a short root: %v", err)
		}
		rb, _ := wireRoot(short.Size, short.Chunks)
		if _, err := ParseRoot(rb); !errors.Is(err, ErrTruncated) {
			t.Fatalf("parse of a short root: %v", err)
		}
		m := *v2.Manifest
		m.Root = CIDOf(rb)
		b.PutBlock(ctx, m.Root, rb)
		if _, err := readAll(t, p.bob, &m, b); !errors.Is(err, ErrTruncated) {
			t.Fatalf("read of a short root: %v", err)
		}
	})
	t.Run("signed by someone else", func(t *testing.T) {
		// Mallory signs a manifest naming alice: the envelope's signature
		// does not verify under alice's key.
		s := *v2.Signed
		sig := p.mallory.Sign(keys.ManifestMessage(s.Payload))
		s.Sig = sig[:]
		if _, _, err := Check(ctx, raw(&s), p.alice.ID(), "calendar/work", p.bob.ID(), t0, nil); !errors.Is(err, ErrWrongSigner) {
			t.Fatalf("mallory's signature over alice's manifest: %v", err)
		}
		// Mallory's own, valid manifest for the same resource, presented
		// as alice's.
		mm := seal(t, p.mallory, content, opts("calendar/work", 9, p.bob.ID()), mapBlocks())
		if _, _, err := Check(ctx, raw(mm.Signed), p.alice.ID(), "calendar/work", p.bob.ID(), t0, nil); !errors.Is(err, ErrWrongSigner) {
			t.Fatalf("mallory's manifest as alice's: %v", err)
		}
		if _, err := Sign(p.mallory, *v2.Manifest); !errors.Is(err, ErrWrongSigner) {
			t.Fatalf("signing alice's manifest with mallory's key: %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		late := t0.Add(7*24*time.Hour + Skew + time.Second)
		if _, _, err := Check(ctx, raw(v2.Signed), p.alice.ID(), "calendar/work", p.bob.ID(), late, nil); !errors.Is(err, ErrExpired) {
			t.Fatalf("after expiry: %v", err)
		}
		early := t0.Add(-Skew - time.Second)
		if _, _, err := Check(ctx, raw(v2.Signed), p.alice.ID(), "calendar/work", p.bob.ID(), early, nil); !errors.Is(err, ErrExpired) {
			t.Fatalf("before creation: %v", err)
		}
		if _, _, err := Check(ctx, raw(v2.Signed), p.alice.ID(), "calendar/work", p.bob.ID(), t0.Add(7*24*time.Hour+Skew), nil); err != nil {
			t.Fatalf("within the skew: %v", err)
		}
	})
	t.Run("a refused manifest is not recorded", func(t *testing.T) {
		st := NewDatastoreState(ds.NewMapDatastore())
		late := t0.Add(30 * 24 * time.Hour)
		Check(ctx, raw(v2.Signed), p.alice.ID(), "calendar/work", p.bob.ID(), late, st)
		if h, _ := st.Highest(ctx, p.alice.ID(), "calendar/work"); h != 0 {
			t.Fatalf("an expired manifest moved the state to %d", h)
		}
	})
}

func wireRoot(size uint64, digests [][DigestSize]byte) ([]byte, error) {
	var d []byte
	for _, x := range digests {
		d = append(d, x[:]...)
	}
	return wire.Marshal(rootWire{Format: FormatVersion, Size: size, Digests: d})
}

// swapSource serves block `at` (−1: the root) of `from` where `want`'s is
// asked for.
type swapSource struct {
	src  *dsBlocks
	want *Manifest
	at   int
	from *Manifest
}

func (s swapSource) Block(ctx context.Context, c cid.Cid) ([]byte, error) {
	rootOf := func(m *Manifest) *Root {
		rb, _ := s.src.Block(ctx, m.Root)
		r, _ := ParseRoot(rb)
		return r
	}
	if s.at < 0 && c == s.want.Root {
		return s.src.Block(ctx, s.from.Root)
	}
	if s.at >= 0 && c == rootOf(s.want).CID(s.at) {
		return s.src.Block(ctx, rootOf(s.from).CID(s.at))
	}
	return s.src.Block(ctx, c)
}

// flipSource flips a bit of the n-th block asked for.
type flipSource struct {
	src *dsBlocks
	n   int
}

func (f *flipSource) Block(ctx context.Context, c cid.Cid) ([]byte, error) {
	v, err := f.src.Block(ctx, c)
	if err == nil && f.n == 0 {
		v = append([]byte(nil), v...)
		v[len(v)/2] ^= 1
	}
	f.n--
	return v, err
}

// cutSource ends after `after` blocks, as a stream cut short would.
type cutSource struct {
	src   *dsBlocks
	after int
}

func (c *cutSource) Block(ctx context.Context, id cid.Cid) ([]byte, error) {
	if c.after == 0 {
		return nil, io.EOF
	}
	c.after--
	return c.src.Block(ctx, id)
}
