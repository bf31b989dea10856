package snapshot

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errName is the sentinel's name in the vectors.
func errName(err error) string {
	for _, e := range []struct {
		name string
		err  error
	}{
		{"RolledBack", ErrRolledBack}, {"Swapped", ErrSwapped}, {"Truncated", ErrTruncated},
		{"WrongSigner", ErrWrongSigner}, {"Expired", ErrExpired}, {"NotRecipient", ErrNotRecipient},
		{"Malformed", ErrMalformed},
	} {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	if err == nil {
		return "ok"
	}
	return "other: " + err.Error()
}

// manifestVector is one signed manifest and what Check says of it.
type manifestVector struct {
	Name     string `json:"name"`
	Hex      string `json:"hex"`
	Owner    string `json:"owner"`    // the owner asked for
	Resource string `json:"resource"` // the resource asked for
	Reader   string `json:"reader"`
	Now      string `json:"now"`
	Want     string `json:"want"` // ok or an error name
	Version  uint64 `json:"version,omitempty"`
}

var vecNow = testkit.Epoch.Add(time.Hour)

func vecRoot() []byte {
	r := Root{Size: ChunkSize + 10, Chunks: [][DigestSize]byte{{1}, {2}}}
	b, _ := r.Marshal()
	return b
}

// vecPayload is a valid payload: alice's calendar/work, version 3, for
// alice and bob, created at the epoch, a week long.
func vecPayload(t testing.TB) payload {
	p := cast(t)
	ak, _ := KeyIDOf(p.alice.ID())
	bk, _ := KeyIDOf(p.bob.ID())
	r := [][]byte{ak[:], bk[:]}
	if bytes.Compare(r[0], r[1]) > 0 {
		r[0], r[1] = r[1], r[0]
	}
	return payload{Format: 1, Owner: []byte(p.alice.ID()), Resource: "calendar/work", Version: 3,
		Root: CIDOf(vecRoot()).Bytes(), Size: ChunkSize + 10, Recipients: r,
		Created: testkit.Epoch.Unix(), Expiry: testkit.Epoch.Add(7 * 24 * time.Hour).Unix()}
}

// signRaw signs any payload, valid or not, as k.
func signRaw(t testing.TB, k *keys.PeerKey, p any) []byte {
	pb, err := wire.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	sig := k.Sign(keys.ManifestMessage(pb))
	env, err := wire.Marshal(Signed{Payload: pb, Sig: sig[:]})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func manifestVectorsFor(t testing.TB) []manifestVector {
	p := cast(t)
	alice := p.alice.ID().String()
	now := vecNow.Format(time.RFC3339)
	v := func(name string, env []byte, reader *keys.PeerKey, want string) manifestVector {
		return manifestVector{Name: name, Hex: hex.EncodeToString(env), Owner: alice, Resource: "calendar/work",
			Reader: reader.ID().String(), Now: now, Want: want}
	}
	mod := func(f func(*payload)) []byte {
		pl := vecPayload(t)
		f(&pl)
		return signRaw(t, p.alice, pl)
	}
	good := signRaw(t, p.alice, vecPayload(t))
	var out []manifestVector
	add := func(mv manifestVector) { out = append(out, mv) }
	ok := v("valid, read by a grantee", good, p.bob, "ok")
	ok.Version = 3
	add(ok)
	ow := v("valid, read by the owner", good, p.alice, "ok")
	ow.Version = 3
	add(ow)
	add(v("a reader not among the recipients", good, p.carol, "NotRecipient"))
	forged := signRaw(t, p.mallory, vecPayload(t))
	add(v("alice's payload signed by mallory", forged, p.bob, "WrongSigner"))
	mm := vecPayload(t)
	mk, _ := KeyIDOf(p.mallory.ID())
	bk, _ := KeyIDOf(p.bob.ID())
	mm.Owner = []byte(p.mallory.ID())
	mm.Recipients = [][]byte{mk[:], bk[:]}
	if bytes.Compare(mk[:], bk[:]) > 0 {
		mm.Recipients = [][]byte{bk[:], mk[:]}
	}
	add(v("mallory's own manifest, asked as alice's", signRaw(t, p.mallory, mm), p.bob, "WrongSigner"))
	add(v("another resource of alice's", mod(func(pl *payload) { pl.Resource = "calendar/home" }), p.bob, "Swapped"))
	exp := v("expired", good, p.bob, "Expired")
	exp.Now = testkit.Epoch.Add(7*24*time.Hour + Skew + time.Second).Format(time.RFC3339)
	add(exp)
	edge := v("expired but within the skew", good, p.bob, "ok")
	edge.Now, edge.Version = testkit.Epoch.Add(7*24*time.Hour+Skew).Format(time.RFC3339), 3
	add(edge)
	fut := v("created in the future", good, p.bob, "Expired")
	fut.Now = testkit.Epoch.Add(-Skew - time.Second).Format(time.RFC3339)
	add(fut)
	add(v("version 0", mod(func(pl *payload) { pl.Version = 0 }), p.bob, "Malformed"))
	add(v("format 2", mod(func(pl *payload) { pl.Format = 2 }), p.bob, "Malformed"))
	add(v("recipients out of order", mod(func(pl *payload) { pl.Recipients[0], pl.Recipients[1] = pl.Recipients[1], pl.Recipients[0] }), p.bob, "Malformed"))
	add(v("a recipient twice", mod(func(pl *payload) { pl.Recipients[1] = pl.Recipients[0] }), p.bob, "Malformed"))
	add(v("a key ID of 15 bytes", mod(func(pl *payload) { pl.Recipients[1] = pl.Recipients[1][:15] }), p.bob, "Malformed"))
	add(v("the owner not among the recipients", mod(func(pl *payload) {
		pl.Recipients = [][]byte{bk[:]}
	}), p.bob, "Malformed"))
	add(v("a dag-cbor root CID", mod(func(pl *payload) { pl.Root[1] = 0x71 }), p.bob, "Malformed"))
	add(v("a root CID with a byte more", mod(func(pl *payload) { pl.Root = append(pl.Root, 0) }), p.bob, "Malformed"))
	add(v("size 0", mod(func(pl *payload) { pl.Size = 0 }), p.bob, "Malformed"))
	add(v("expiry at created", mod(func(pl *payload) { pl.Expiry = pl.Created }), p.bob, "Malformed"))
	add(v("a lifetime over MaxLifetime", mod(func(pl *payload) { pl.Expiry = pl.Created + int64(MaxLifetime/time.Second) + 1 }), p.bob, "Malformed"))
	add(v("a wildcard resource", mod(func(pl *payload) { pl.Resource = "calendar/*" }), p.bob, "Malformed"))
	add(v("trailing byte after the envelope", append(append([]byte(nil), good...), 0), p.bob, "Malformed"))
	type extra struct {
		Payload []byte `cbor:"1,keyasint"`
		Sig     []byte `cbor:"2,keyasint"`
		X       uint64 `cbor:"3,keyasint"`
	}
	var sg Signed
	wire.UnmarshalCanonical(good, &sg)
	ex, _ := wire.Marshal(extra{sg.Payload, sg.Sig, 1})
	add(v("an unknown envelope field", ex, p.bob, "Malformed"))
	add(v("a 63-byte signature", mustMarshal(t, Signed{sg.Payload, sg.Sig[:63]}), p.bob, "Malformed"))
	return out
}

func mustMarshal(t testing.TB, v any) []byte {
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestManifestVectors(t *testing.T) {
	for _, v := range testkit.Vectors(t, "testdata/manifests.json", *update, func() []manifestVector { return manifestVectorsFor(t) }) {
		owner, _ := keys.DecodePeerID(v.Owner)
		reader, _ := keys.DecodePeerID(v.Reader)
		now, _ := time.Parse(time.RFC3339, v.Now)
		_, m, err := Check(context.Background(), mustHex(t, v.Hex), owner, v.Resource, reader, now, nil)
		if got := errName(err); got != v.Want {
			t.Errorf("%s: %s (%v), want %s", v.Name, got, err, v.Want)
		} else if err == nil && m.Version != v.Version {
			t.Errorf("%s: version %d, want %d", v.Name, m.Version, v.Version)
		}
	}
}

// rootVector is one root block and what ParseRoot says of it.
type rootVector struct {
	Name   string   `json:"name"`
	Hex    string   `json:"hex"`
	Want   string   `json:"want"`
	Size   uint64   `json:"size,omitempty"`
	Chunks []string `json:"chunks,omitempty"` // each chunk's CID, text form
	Sizes  []int    `json:"sizes,omitempty"`
}

func buildRootVectors(t testing.TB) []rootVector {
	digests := func(n int) []byte {
		var d []byte
		for i := 0; i < n; i++ {
			x := [32]byte{byte(i + 1)}
			d = append(d, x[:]...)
		}
		return d
	}
	enc := func(w any) string { return hex.EncodeToString(mustMarshal(t, w)) }
	var out []rootVector
	for _, c := range []struct {
		name string
		w    any
	}{
		{"one chunk of 10 bytes", rootWire{1, 10, digests(1)}},
		{"two chunks, the second of 10 bytes", rootWire{1, ChunkSize + 10, digests(2)}},
		{"two full chunks", rootWire{1, 2 * ChunkSize, digests(2)}},
		{"a chunk missing", rootWire{1, ChunkSize + 10, digests(1)}},
		{"no chunk", rootWire{1, 10, nil}},
		{"a chunk too many", rootWire{1, 10, digests(2)}},
		{"size 0", rootWire{1, 0, nil}},
		{"digests not a multiple of 32", rootWire{1, 10, digests(1)[:31]}},
		{"format 2", rootWire{2, 10, digests(1)}},
		{"a field missing", struct {
			F uint64 `cbor:"1,keyasint"`
			S uint64 `cbor:"2,keyasint"`
		}{1, 10}},
	} {
		raw := mustMarshal(t, c.w)
		r, err := ParseRoot(raw)
		v := rootVector{Name: c.name, Hex: enc(c.w), Want: errName(err)}
		if err == nil {
			v.Size = r.Size
			for i := range r.Chunks {
				v.Chunks = append(v.Chunks, r.CID(i).String())
				v.Sizes = append(v.Sizes, ChunkLen(r.Size, i))
			}
		}
		out = append(out, v)
	}
	return out
}

func TestRootVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/roots.json", *update, func() []rootVector { return buildRootVectors(t) })
	want := map[string]string{"one chunk of 10 bytes": "ok", "a chunk missing": "Truncated", "no chunk": "Truncated",
		"a chunk too many": "Malformed", "format 2": "Malformed"}
	for _, v := range vs {
		if w, ok := want[v.Name]; ok && v.Want != w {
			t.Errorf("%s: %s, want %s", v.Name, v.Want, w)
		}
		r, err := ParseRoot(mustHex(t, v.Hex))
		if errName(err) != v.Want || (err == nil && r.Size != v.Size) {
			t.Errorf("%s: %v", v.Name, err)
		}
	}
}

// keyIDVector is a peer and its key ID.
type keyIDVector struct {
	Peer  string `json:"peer"`
	KeyID string `json:"key_id"`
}

func TestKeyIDVectors(t *testing.T) {
	build := func() []keyIDVector {
		var out []keyIDVector
		for _, name := range []string{"alice", "bob", "carol"} {
			id := testkit.Key(t, name).ID()
			k, err := KeyIDOf(id)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, keyIDVector{id.String(), hex.EncodeToString(k[:])})
		}
		return out
	}
	for _, v := range testkit.Vectors(t, "testdata/keyids.json", *update, build) {
		id, _ := keys.DecodePeerID(v.Peer)
		k, _ := KeyIDOf(id)
		if hex.EncodeToString(k[:]) != v.KeyID {
			t.Errorf("%s: key ID %x, want %s", v.Peer, k, v.KeyID)
		}
	}
}

// sealedVector is a whole small snapshot: its manifest, its blocks in
// order (root first) and what bob reads from it.
type sealedVector struct {
	Name       string   `json:"name"`
	Manifest   string   `json:"manifest"`
	Blocks     []string `json:"blocks"` // root first, then the chunks
	ReaderSeed string   `json:"reader_seed"`
	Plaintext  string   `json:"plaintext"`
}

func buildSealedVectors(t *testing.T) []sealedVector {
	cryptotest.SetGlobalRandom(t, 2026)
	p := cast(t)
	var out []sealedVector
	for _, c := range []struct{ name, text string }{
		{"a calendar entry, for bob", "2026-03-02 09:00 standup\n"},
		{"empty content, for bob", ""},
	} {
		b := mapBlocks()
		o := opts("calendar/work", 1, p.bob.ID())
		o.Created, o.Expiry = testkit.Epoch, testkit.Epoch.Add(24*time.Hour)
		s := seal(t, p.alice, []byte(c.text), o, b)
		raw, _ := s.Signed.Marshal()
		v := sealedVector{Name: c.name, Manifest: hex.EncodeToString(raw), ReaderSeed: hex.EncodeToString(p.bob.Seed()), Plaintext: hex.EncodeToString([]byte(c.text))}
		rb, _ := b.Block(context.Background(), s.Manifest.Root)
		v.Blocks = append(v.Blocks, hex.EncodeToString(rb))
		r, _ := ParseRoot(rb)
		for i := range r.Chunks {
			cb, _ := b.Block(context.Background(), r.CID(i))
			v.Blocks = append(v.Blocks, hex.EncodeToString(cb))
		}
		out = append(out, v)
	}
	return out
}

// seqSource gives blocks in order, as a stream does.
type seqSource [][]byte

func (s *seqSource) Block(context.Context, cidT) ([]byte, error) {
	if len(*s) == 0 {
		return nil, errEOF
	}
	b := (*s)[0]
	*s = (*s)[1:]
	return b, nil
}

func TestSealedVectors(t *testing.T) {
	const path = "testdata/sealed.json"
	if *update {
		t.Run("update", func(t *testing.T) {
			testkit.Vectors(t, path, true, func() []sealedVector { return buildSealedVectors(t) })
		})
	}
	for _, v := range testkit.ReadVectors[sealedVector](t, path) {
		seed := mustHex(t, v.ReaderSeed)
		k, err := keys.PeerKeyFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		_, m, err := Check(context.Background(), mustHex(t, v.Manifest), testkit.Key(t, "alice").ID(), "calendar/work", k.ID(), testkit.Epoch, nil)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		var src seqSource
		for _, b := range v.Blocks {
			src = append(src, mustHex(t, b))
		}
		var out bytes.Buffer
		if _, err := Read(context.Background(), &k, m, &src, &out); err != nil || hex.EncodeToString(out.Bytes()) != v.Plaintext {
			t.Errorf("%s: %q, %v", v.Name, out.Bytes(), err)
		}
	}
}

// TestIndependentCheckerAgrees runs specs/snapshot/check.py, written from
// doc.go, on every vector of this package and of protocols/snapshot.
func TestIndependentCheckerAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/snapshot/check.py") }
