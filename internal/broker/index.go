package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// ErrIndex: a note, a query or an encoded index is refused.
var ErrIndex = errors.New("memory index")

// Index holds memory notes' vectors in memory and answers
// nearest-neighbour queries by cosine similarity. Vectors are stored
// normalized, so a score is a dot product. It is safe for concurrent use.
type Index struct {
	mu      sync.RWMutex
	dim     int
	ids     []string
	vecs    []float32 // len(ids)*dim, note i at [i*dim, (i+1)*dim)
	pos     map[string]int
	idBytes int // the ids' share of the encoding
}

// Hit is one search result.
type Hit struct {
	ID    string
	Score float32 // cosine similarity, -1 to 1
}

// NewIndex makes an empty index of vectors of dimension dim.
func NewIndex(dim int) (*Index, error) {
	if dim < 1 || dim > MaxDimension {
		return nil, fmt.Errorf("%w: a vector's dimension is 1 to %d, not %d", ErrIndex, MaxDimension, dim)
	}
	return &Index{dim: dim, pos: map[string]int{}}, nil
}

// Dim is the vectors' dimension.
func (x *Index) Dim() int { return x.dim }

// Len is the number of notes.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.ids)
}

// Has reports whether id has a vector.
func (x *Index) Has(id string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.pos[id]
	return ok
}

// IDs returns the notes' IDs, in the index's order.
func (x *Index) IDs() []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return append([]string(nil), x.ids...)
}

func checkID(id string) error {
	if id == "" || len(id) > MaxIDBytes || !utf8.ValidString(id) {
		return fmt.Errorf("%w: a note's ID is 1 to %d bytes of UTF-8", ErrIndex, MaxIDBytes)
	}
	return nil
}

// unit returns v scaled to length 1, refusing a wrong dimension, a value
// that is not finite, and the zero vector.
func (x *Index) unit(v []float32) ([]float32, error) {
	if len(v) != x.dim {
		return nil, fmt.Errorf("%w: a vector of dimension %d given to an index of dimension %d", ErrIndex, len(v), x.dim)
	}
	var sum float64
	for _, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, fmt.Errorf("%w: a vector holds a value that is not a finite number", ErrIndex)
		}
		sum += float64(f) * float64(f)
	}
	if sum == 0 || math.IsInf(sum, 0) {
		return nil, fmt.Errorf("%w: a vector has no direction (all zeros) or overflows", ErrIndex)
	}
	inv := 1 / math.Sqrt(sum)
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(float64(f) * inv)
	}
	return out, nil
}

// Add stores vec as id's vector, replacing the one it had.
func (x *Index) Add(id string, vec []float32) error {
	if err := checkID(id); err != nil {
		return err
	}
	u, err := x.unit(vec)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if i, ok := x.pos[id]; ok {
		copy(x.vecs[i*x.dim:], u)
		return nil
	}
	if len(x.ids) >= MaxNotes {
		return fmt.Errorf("%w: the index holds at most %d notes", ErrIndex, MaxNotes)
	}
	if x.size(len(x.ids)+1, x.idBytes+textLen(id)) > MaxEncodedBytes {
		return fmt.Errorf("%w: the index is full: %d notes of dimension %d is what one vault record holds", ErrIndex, len(x.ids), x.dim)
	}
	x.pos[id] = len(x.ids)
	x.ids = append(x.ids, id)
	x.vecs = append(x.vecs, u...)
	x.idBytes += textLen(id)
	return nil
}

// Remove drops id's vector and reports whether there was one.
func (x *Index) Remove(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	i, ok := x.pos[id]
	if !ok {
		return false
	}
	last := len(x.ids) - 1
	if i != last {
		x.ids[i] = x.ids[last]
		x.pos[x.ids[i]] = i
		copy(x.vecs[i*x.dim:(i+1)*x.dim], x.vecs[last*x.dim:])
	}
	x.ids = x.ids[:last]
	x.vecs = x.vecs[:last*x.dim]
	delete(x.pos, id)
	x.idBytes -= textLen(id)
	return true
}

// Search returns the k notes most similar to q, best first (equal scores
// by ID).
func (x *Index) Search(q []float32, k int) ([]Hit, error) {
	if k < 1 || k > MaxK {
		return nil, fmt.Errorf("%w: a search returns 1 to %d notes, not %d", ErrIndex, MaxK, k)
	}
	u, err := x.unit(q)
	if err != nil {
		return nil, err
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	h := make(topK, 0, min(k, len(x.ids)))
	for i := range x.ids {
		s := dot(u, x.vecs[i*x.dim:(i+1)*x.dim])
		if len(h) < k {
			h.push(Hit{x.ids[i], s})
		} else if better(Hit{x.ids[i], s}, h[0]) {
			h[0] = Hit{x.ids[i], s}
			h.down(0)
		}
	}
	out := []Hit(h)
	sort.Slice(out, func(i, j int) bool { return better(out[i], out[j]) })
	return out, nil
}

// dot is the dot product of two vectors of the same length, summed in
// eight lanes.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
		s4 += a[i+4] * b[i+4]
		s5 += a[i+5] * b[i+5]
		s6 += a[i+6] * b[i+6]
		s7 += a[i+7] * b[i+7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// better orders hits: higher score first, then smaller ID.
func better(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.ID < b.ID
}

// topK is a min-heap of the best hits so far: its root is the worst.
type topK []Hit

func (h *topK) push(x Hit) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !better(s[p], s[i]) {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h topK) down(i int) {
	for {
		l, w := 2*i+1, i
		if l < len(h) && better(h[w], h[l]) {
			w = l
		}
		if r := l + 1; r < len(h) && better(h[w], h[r]) {
			w = r
		}
		if w == i {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}

// The encoding (doc.go, "Vector set").

const indexVersion = 1

type wireIndex struct {
	Version uint     `cbor:"1,keyasint"`
	Dim     uint     `cbor:"2,keyasint"`
	IDs     []string `cbor:"3,keyasint"`
	Vectors []byte   `cbor:"4,keyasint"`
}

var (
	indexEnc = func() cbor.EncMode {
		o := cbor.CoreDetEncOptions()
		o.NilContainers = cbor.NilContainerAsEmpty
		m, err := o.EncMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
	indexDec = func() cbor.DecMode {
		m, err := cbor.DecOptions{
			DupMapKey:         cbor.DupMapKeyEnforcedAPF,
			IndefLength:       cbor.IndefLengthForbidden,
			TagsMd:            cbor.TagsForbidden,
			MaxArrayElements:  MaxNotes,
			MaxMapPairs:       16,
			MaxNestedLevels:   4,
			ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
			UTF8:              cbor.UTF8RejectInvalid,
		}.DecMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
)

// head is the length of a CBOR head for the argument n.
func head(n int) int {
	switch {
	case n < 24:
		return 1
	case n < 1<<8:
		return 2
	case n < 1<<16:
		return 3
	case n <= math.MaxUint32:
		return 5
	}
	return 9
}

func textLen(id string) int { return head(len(id)) + len(id) }

// size is the encoding's length for n notes whose IDs take idBytes.
func (x *Index) size(n, idBytes int) int {
	vec := n * x.dim * 4
	return 1 + 2 + 1 + head(x.dim) + 1 + head(n) + idBytes + 1 + head(vec) + vec
}

// Encode returns the index in its canonical encoding: notes in ID order,
// so one set of notes has one byte form whatever order they were added
// in. The node seals it in its vault.
func (x *Index) Encode() ([]byte, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	order := make([]int, len(x.ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(x.ids[a], x.ids[b]) })
	w := wireIndex{Version: indexVersion, Dim: uint(x.dim), IDs: make([]string, len(order)), Vectors: make([]byte, len(x.vecs)*4)}
	for j, i := range order {
		w.IDs[j] = x.ids[i]
		for d, f := range x.vecs[i*x.dim : (i+1)*x.dim] {
			binary.LittleEndian.PutUint32(w.Vectors[(j*x.dim+d)*4:], math.Float32bits(f))
		}
	}
	b, err := indexEnc.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("%w: the index could not be encoded", ErrIndex)
	}
	return b, nil
}

// DecodeIndex reads an encoded index, refusing every byte form Encode
// would not write and every value Add would not take.
func DecodeIndex(b []byte) (*Index, error) {
	if len(b) > MaxEncodedBytes {
		return nil, fmt.Errorf("%w: a stored index is at most %d bytes", ErrIndex, MaxEncodedBytes)
	}
	var w wireIndex
	if err := indexDec.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: the stored index is malformed", ErrIndex)
	}
	if w.Version != indexVersion {
		return nil, fmt.Errorf("%w: the stored index is version %d; this node reads version %d", ErrIndex, w.Version, indexVersion)
	}
	if w.Dim < 1 || w.Dim > MaxDimension {
		return nil, fmt.Errorf("%w: the stored index has dimension %d (1 to %d)", ErrIndex, w.Dim, MaxDimension)
	}
	dim := int(w.Dim)
	if len(w.IDs) > MaxNotes || len(w.Vectors) != len(w.IDs)*dim*4 {
		return nil, fmt.Errorf("%w: the stored index's vectors do not match its %d notes", ErrIndex, len(w.IDs))
	}
	x := &Index{dim: dim, ids: w.IDs, vecs: make([]float32, len(w.IDs)*dim), pos: make(map[string]int, len(w.IDs))}
	for i, id := range w.IDs {
		if err := checkID(id); err != nil {
			return nil, err
		}
		if i > 0 && w.IDs[i-1] >= id {
			return nil, fmt.Errorf("%w: the stored index's notes are not in ID order, or repeat", ErrIndex)
		}
		x.pos[id] = i
		x.idBytes += textLen(id)
		var sum float64
		for d := range dim {
			f := math.Float32frombits(binary.LittleEndian.Uint32(w.Vectors[(i*dim+d)*4:]))
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return nil, fmt.Errorf("%w: the stored vector of note %d holds a value that is not a finite number", ErrIndex, i+1)
			}
			x.vecs[i*dim+d] = f
			sum += float64(f) * float64(f)
		}
		if math.Abs(sum-1) > 1e-3 {
			return nil, fmt.Errorf("%w: the stored vector of note %d is not of length 1", ErrIndex, i+1)
		}
	}
	if again, err := indexEnc.Marshal(w); err != nil || string(again) != string(b) {
		return nil, fmt.Errorf("%w: the stored index is not in its canonical form", ErrIndex)
	}
	return x, nil
}
