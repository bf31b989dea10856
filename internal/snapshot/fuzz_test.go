package snapshot

import (
	"context"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// FuzzParse: any bytes either fail Parse or are a manifest that encodes
// back to the same envelope.
func FuzzParse(f *testing.F) {
	p := cast(f)
	s := seal(f, p.alice, []byte("seed"), opts("calendar/work", 3, p.bob.ID()), mapBlocks())
	raw, _ := s.Signed.Marshal()
	f.Add(raw)
	f.Add([]byte{0xa2, 0x01, 0x40, 0x02, 0x40})
	for _, v := range manifestVectorsFor(f) {
		f.Add(mustHex(f, v.Hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sg, m, err := Parse(b)
		if err != nil {
			return
		}
		again, err := sg.Marshal()
		if err != nil || string(again) != string(b) {
			t.Fatalf("a parsed manifest does not encode back: %v", err)
		}
		if m.Version == 0 || len(m.Recipients) == 0 || !m.Expiry.After(m.Created) {
			t.Fatalf("a parsed manifest breaks a rule: %+v", m)
		}
		// Check never records what it refuses, and never panics.
		st := NewDatastoreState(ds.NewMapDatastore())
		Check(context.Background(), b, m.Owner, m.Resource, m.Owner, m.Created, st)
	})
}

// FuzzParseRoot: any bytes either fail ParseRoot or are a root whose
// chunk list fits its size and that encodes back to the same bytes.
func FuzzParseRoot(f *testing.F) {
	r := Root{Size: 3*ChunkSize + 5, Chunks: make([][DigestSize]byte, 4)}
	b, _ := r.Marshal()
	f.Add(b)
	f.Add([]byte{0xa3, 0x01, 0x01, 0x02, 0x01, 0x03, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRoot(b)
		if err != nil {
			return
		}
		if uint64(len(r.Chunks)) != ChunkCount(r.Size) || len(r.Chunks) > MaxChunks {
			t.Fatalf("root of %d bytes with %d chunks", r.Size, len(r.Chunks))
		}
		again, err := r.Marshal()
		if err != nil || string(again) != string(b) {
			t.Fatalf("a parsed root does not encode back: %v", err)
		}
	})
}

// FuzzParseCID: only the format's CIDs parse, and they round-trip.
func FuzzParseCID(f *testing.F) {
	f.Add(CIDOf([]byte("x")).Bytes())
	f.Add([]byte{0x01, 0x71, 0x12, 0x20})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCID(b)
		if err != nil {
			return
		}
		if string(c.Bytes()) != string(b) {
			t.Fatal("a parsed CID does not encode back")
		}
	})
}
