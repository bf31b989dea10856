package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/ocmt/mesh/internal/testkit"
)

func randVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// bruteForce is the reference: every note scored in float64, sorted.
func bruteForce(notes map[string][]float32, q []float32, k int) []string {
	type s struct {
		id    string
		score float64
	}
	norm := func(v []float32) float64 {
		var n float64
		for _, f := range v {
			n += float64(f) * float64(f)
		}
		return math.Sqrt(n)
	}
	var all []s
	for id, v := range notes {
		var d float64
		for i := range v {
			d += float64(v[i]) * float64(q[i])
		}
		all = append(all, s{id, d / norm(v) / norm(q)})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score > all[j].score
		}
		return all[i].id < all[j].id
	})
	var out []string
	for _, x := range all[:min(k, len(all))] {
		out = append(out, x.id)
	}
	return out
}

// Search finds what a float64 brute force finds, through adds, replaces
// and removes.
func TestSearchMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const dim = 37
	x, _ := NewIndex(dim)
	notes := map[string][]float32{}
	for i := range 500 {
		id := fmt.Sprintf("memory/n%03d", i)
		v := randVec(r, dim)
		notes[id] = v
		if err := x.Add(id, v); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 500; i += 3 { // remove a third
		id := fmt.Sprintf("memory/n%03d", i)
		if !x.Remove(id) {
			t.Fatalf("%s was not there", id)
		}
		delete(notes, id)
	}
	for i := 1; i < 500; i += 7 { // replace some
		id := fmt.Sprintf("memory/n%03d", i)
		if _, ok := notes[id]; !ok {
			continue
		}
		notes[id] = randVec(r, dim)
		if err := x.Add(id, notes[id]); err != nil {
			t.Fatal(err)
		}
	}
	if x.Remove("memory/n000") || x.Len() != len(notes) {
		t.Fatalf("Len %d, want %d", x.Len(), len(notes))
	}
	for range 50 {
		q := randVec(r, dim)
		for _, k := range []int{1, 10, MaxK} {
			hits, err := x.Search(q, k)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, h := range hits {
				got = append(got, h.ID)
				if i > 0 && better(h, hits[i-1]) {
					t.Fatal("hits out of order")
				}
			}
			if want := bruteForce(notes, q, k); !slices.Equal(got, want) {
				t.Fatalf("k=%d: got %v, want %v", k, got, want)
			}
		}
	}
}

// Equal scores come back by ID; a search of an index with fewer notes
// than k returns them all.
func TestSearchTiesAndSmallIndexes(t *testing.T) {
	x, _ := NewIndex(2)
	for _, id := range []string{"c", "a", "b"} {
		x.Add(id, []float32{1, 0})
	}
	x.Add("d", []float32{0, 1})
	hits, err := x.Search([]float32{2, 0}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.ID)
	}
	if !slices.Equal(ids, []string{"a", "b", "c", "d"}) || hits[0].Score != 1 || hits[3].Score != 0 {
		t.Fatalf("%v", hits)
	}
	empty, _ := NewIndex(2)
	if hits, err := empty.Search([]float32{1, 1}, 5); err != nil || len(hits) != 0 {
		t.Fatalf("%v %v", hits, err)
	}
}

// What the index refuses, in words.
func TestIndexRefusals(t *testing.T) {
	_, err := NewIndex(MaxDimension + 1)
	testkit.Sentence(t, "a large dimension", err, "1 to 4096, not 4097", ErrIndex)
	_, err = NewIndex(0)
	testkit.Sentence(t, "dimension 0", err, "not 0", ErrIndex)
	x, _ := NewIndex(3)
	for _, c := range []struct {
		id   string
		v    []float32
		want string
	}{
		{"a", []float32{1, 2}, "dimension 2 given to an index of dimension 3"},
		{"a", []float32{0, 0, 0}, "no direction"},
		{"a", []float32{1, float32(math.NaN()), 0}, "not a finite number"},
		{"a", []float32{1, float32(math.Inf(-1)), 0}, "not a finite number"},
		{"", []float32{1, 0, 0}, "1 to 512 bytes"},
		{strings.Repeat("a", MaxIDBytes+1), []float32{1, 0, 0}, "1 to 512 bytes"},
		{"\xff", []float32{1, 0, 0}, "UTF-8"},
	} {
		testkit.Sentence(t, c.want, x.Add(c.id, c.v), c.want, ErrIndex)
	}
	x.Add("a", []float32{1, 0, 0})
	for _, k := range []int{0, MaxK + 1} {
		_, err := x.Search([]float32{1, 0, 0}, k)
		testkit.Sentence(t, "k", err, "1 to 100 notes", ErrIndex)
	}
	_, err = x.Search([]float32{0, 0, 0}, 1)
	testkit.Sentence(t, "a zero query", err, "no direction", ErrIndex)
}

// The size the index keeps is the encoding's length, and the documented
// capacity holds: 10,000 notes of 1536 fit one vault record, 20,000 not.
func TestIndexSizeIsTheEncodingsLength(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 23, 24, 300} {
		x, _ := NewIndex(30)
		for i := range n {
			x.Add(fmt.Sprintf("memory/%s", strings.Repeat("x", i)), randVec(r, 30))
		}
		b, err := x.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != x.size(x.Len(), x.idBytes) {
			t.Fatalf("%d notes: encoding %d bytes, size %d", n, len(b), x.size(x.Len(), x.idBytes))
		}
	}
	x, _ := NewIndex(1536)
	id := textLen("memory/2026-11-29-0001")
	if x.size(10000, 10000*id) > MaxEncodedBytes || x.size(20000, 20000*id) <= MaxEncodedBytes {
		t.Fatal("doc.go's capacity example no longer holds")
	}
}

// An index fills up at one vault record, and refuses the next note in
// words; the full index encodes within the cap.
func TestIndexFillsAtOneVaultRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 128 MiB")
	}
	x, _ := NewIndex(MaxDimension)
	v := randVec(rand.New(rand.NewPCG(5, 6)), MaxDimension)
	var err error
	n := 0
	for ; err == nil; n++ {
		err = x.Add(fmt.Sprintf("memory/%05d", n), v)
	}
	testkit.Sentence(t, "a full index", err, "one vault record holds", ErrIndex)
	b, encErr := x.Encode()
	if encErr != nil || len(b) > MaxEncodedBytes || len(b)+MaxDimension*4+20 <= MaxEncodedBytes {
		t.Fatalf("full at %d notes, %d bytes: %v", x.Len(), len(b), encErr)
	}
	// Replacing a note in a full index is fine.
	if err := x.Add("memory/00000", randVec(rand.New(rand.NewPCG(7, 8)), MaxDimension)); err != nil {
		t.Fatal(err)
	}
}

// The encoding is canonical: the same notes added in any order encode
// the same bytes, which decode to an index that searches alike.
func TestEncodingRoundTripsCanonically(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	ids := []string{"memory/b", "memory/a", "memory/é", "memory/c/d", "memory/A"}
	vecs := map[string][]float32{}
	for _, id := range ids {
		vecs[id] = randVec(r, 16)
	}
	var encs [][]byte
	for range 5 {
		r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		x, _ := NewIndex(16)
		for _, id := range ids {
			x.Add(id, vecs[id])
		}
		x.Add("memory/gone", randVec(r, 16))
		x.Remove("memory/gone")
		b, _ := x.Encode()
		encs = append(encs, b)
	}
	for _, b := range encs[1:] {
		if !bytes.Equal(b, encs[0]) {
			t.Fatal("the same notes encode two ways")
		}
	}
	y, err := DecodeIndex(encs[0])
	if err != nil {
		t.Fatal(err)
	}
	again, _ := y.Encode()
	if !bytes.Equal(again, encs[0]) || y.Dim() != 16 || y.Len() != 5 {
		t.Fatal("a decoded index does not encode back")
	}
	q := randVec(r, 16)
	h1, _ := y.Search(q, 5)
	if want := bruteForce(vecs, q, 5); h1[0].ID != want[0] {
		t.Fatalf("decoded index finds %v, want %v", h1, want)
	}
	// A decoded index takes adds and removes like a built one.
	if !y.Remove("memory/a") || y.Remove("memory/a") || y.Add("memory/z", q) != nil {
		t.Fatal("a decoded index's map is off")
	}
	if h, _ := y.Search(q, 1); h[0].ID != "memory/z" {
		t.Fatalf("%v", h)
	}
	empty, _ := NewIndex(4)
	b, _ := empty.Encode()
	if e, err := DecodeIndex(b); err != nil || e.Len() != 0 || e.Dim() != 4 {
		t.Fatalf("an empty index: %v", err)
	}
}

// rawIndex encodes what it is given, right or wrong.
func rawIndex(t testing.TB, w any) []byte {
	t.Helper()
	b, err := indexEnc.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func floats(fs ...float32) []byte {
	b := make([]byte, 4*len(fs))
	for i, f := range fs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// A stored index that Encode would not have written is refused in words.
func TestHostileEncodingsAreRefused(t *testing.T) {
	good := wireIndex{Version: 1, Dim: 2, IDs: []string{"a", "b"}, Vectors: floats(1, 0, 0, 1)}
	if _, err := DecodeIndex(rawIndex(t, good)); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(w *wireIndex)) []byte {
		w := good
		w.IDs = slices.Clone(good.IDs)
		w.Vectors = slices.Clone(good.Vectors)
		f(&w)
		return rawIndex(t, w)
	}
	type extra struct {
		wireIndex
		X uint `cbor:"5,keyasint"`
	}
	longer := rawIndex(t, good)
	nonCanon := slices.Clone(longer)
	nonCanon[2] = 0x18 // version 1 in a two-byte head
	nonCanon = slices.Insert(nonCanon, 3, 1)
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"version 2", mod(func(w *wireIndex) { w.Version = 2 }), "version 2"},
		{"dimension 0", mod(func(w *wireIndex) { w.Dim = 0; w.IDs = nil; w.Vectors = nil }), "dimension 0"},
		{"dimension too large", mod(func(w *wireIndex) { w.Dim = MaxDimension + 1; w.IDs = nil; w.Vectors = nil }), "dimension 4097"},
		{"vectors short", mod(func(w *wireIndex) { w.Vectors = w.Vectors[:12] }), "do not match its 2 notes"},
		{"unsorted", mod(func(w *wireIndex) { w.IDs = []string{"b", "a"} }), "not in ID order"},
		{"repeated", mod(func(w *wireIndex) { w.IDs = []string{"a", "a"} }), "not in ID order"},
		{"empty ID", mod(func(w *wireIndex) { w.IDs = []string{"", "a"} }), "1 to 512 bytes"},
		{"NaN", mod(func(w *wireIndex) { w.Vectors = floats(float32(math.NaN()), 0, 0, 1) }), "not a finite number"},
		{"not unit", mod(func(w *wireIndex) { w.Vectors = floats(2, 0, 0, 1) }), "not of length 1"},
		{"zero", mod(func(w *wireIndex) { w.Vectors = floats(0, 0, 0, 1) }), "not of length 1"},
		{"unknown key", rawIndex(t, extra{good, 1}), "malformed"},
		{"trailing bytes", append(rawIndex(t, good), 0), "malformed"},
		{"non-canonical head", nonCanon, "not in its canonical form"},
		{"not CBOR", []byte("hello"), "malformed"},
		{"empty", nil, "malformed"},
	} {
		_, err := DecodeIndex(c.b)
		testkit.Sentence(t, c.name, err, c.want, ErrIndex)
	}
	// A missing key.
	m, _ := cbor.Marshal(map[int]any{1: 1, 2: 2, 3: []string{}})
	if _, err := DecodeIndex(m); err == nil {
		t.Fatal("an index without its vectors key was taken")
	} else if !errors.Is(err, ErrIndex) {
		t.Fatal(err)
	}
}
