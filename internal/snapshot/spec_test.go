package snapshot

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/testkit"
)

func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"FormatVersion": FormatVersion, "ChunkSize": ChunkSize, "MaxChunks": MaxChunks,
		"DigestSize": DigestSize, "MaxRootBytes": MaxRootBytes, "MaxBlockBytes": MaxBlockBytes,
		"MaxSealedBytes": MaxSealedBytes, "CIDBytes": CIDBytes, "KeyIDSize": KeyIDSize,
		"MaxRecipients": MaxRecipients, "MaxResourceBytes": MaxResourceBytes,
		"MaxPayloadBytes": MaxPayloadBytes, "MaxManifestBytes": MaxManifestBytes,
		"MaxLifetime": testkit.Seconds(MaxLifetime), "Skew": testkit.Seconds(Skew),
	})
	testkit.DocSays(t, doc, `"ocmt-mesh/manifest/v1" || 0x00 || payload`, "01 55 12 20")
}

// The largest root the format allows fits its cap, and one chunk more
// does not fit the count.
func TestTheLargestRootFitsItsCap(t *testing.T) {
	r := Root{Size: MaxSealedBytes, Chunks: make([][DigestSize]byte, MaxChunks)}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxRootBytes || len(b) > MaxBlockBytes {
		t.Fatalf("the largest root is %d bytes, cap %d", len(b), MaxRootBytes)
	}
	if _, err := ParseRoot(b); err != nil {
		t.Fatal(err)
	}
	r.Size++
	if _, err := r.Marshal(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a root over MaxSealedBytes: %v", err)
	}
}

// The largest manifest (every recipient, the longest resource) fits its
// caps.
func TestTheLargestManifestFitsItsCaps(t *testing.T) {
	p := cast(t)
	m := Manifest{Owner: p.alice.ID(), Resource: longResource(), Version: ^uint64(0), Root: CIDOf(nil),
		Size: MaxSealedBytes, Created: t0, Expiry: t0.Add(MaxLifetime)}
	ak, _ := KeyIDOf(p.alice.ID())
	m.Recipients = append(m.Recipients, ak)
	for i := 1; i < MaxRecipients; i++ {
		var k KeyID
		k[0], k[1] = byte(i>>8)|0x80, byte(i)
		m.Recipients = append(m.Recipients, k)
	}
	sortKeyIDs(m.Recipients)
	s, err := Sign(p.alice, m)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := s.Marshal()
	if len(raw) > MaxManifestBytes {
		t.Fatalf("the largest manifest is %d bytes, cap %d", len(raw), MaxManifestBytes)
	}
	if _, _, err := Parse(raw); err != nil {
		t.Fatal(err)
	}
	m.Recipients = append(m.Recipients, KeyID{0xff, 0xff})
	if _, err := Sign(p.alice, m); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a manifest of %d recipients: %v", len(m.Recipients), err)
	}
}

// longResource is the longest resource path: 16 segments, 256 bytes.
func longResource() string {
	s := string(bytes.Repeat([]byte("a"), 16))
	for i := 1; i < 16; i++ {
		s += "/" + string(bytes.Repeat([]byte("a"), 15))
	}
	return s
}

func sortKeyIDs(ks []KeyID) {
	slices.SortFunc(ks, func(a, b KeyID) int { return bytes.Compare(a[:], b[:]) })
}

func openStoreAt(dir string) (*store.Store, error) { return store.Open(dir) }

func TestStateSurvivesAReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := cast(t)
	st1, err := openStoreAt(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := NewDatastoreState(st1)
	if err := s.See(ctx, p.alice.ID(), "calendar/work", 7, [32]byte{1}); err != nil {
		t.Fatal(err)
	}
	st1.Close()
	st2, err := openStoreAt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	s = NewDatastoreState(st2)
	if err := s.See(ctx, p.alice.ID(), "calendar/work", 6, [32]byte{2}); !errors.Is(err, ErrRolledBack) {
		t.Fatalf("version 6 after 7, across a reopen: %v", err)
	}
	if h, _ := s.Highest(ctx, p.alice.ID(), "calendar/work"); h != 7 {
		t.Fatalf("highest %d", h)
	}
	// Another resource and another owner are apart.
	if err := s.See(ctx, p.alice.ID(), "calendar/home", 1, [32]byte{3}); err != nil {
		t.Fatal(err)
	}
	if err := s.See(ctx, p.bob.ID(), "calendar/work", 1, [32]byte{3}); err != nil {
		t.Fatal(err)
	}
}
