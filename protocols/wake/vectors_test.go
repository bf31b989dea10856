package wake

import (
	"encoding/hex"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// requestVector is one request frame's body and what the server's decode
// makes of it (doc.go "Frames"): the op's name, or the refusal's status.
type requestVector struct {
	Name string `json:"name"`
	Hex  string `json:"hex"`
	Want string `json:"want"` // hibernate, wake, resume, forget, or a status name
}

var opNames = map[Op]string{OpHibernate: "hibernate", OpWake: "wake", OpResume: "resume", OpForget: "forget"}

// smallOrderPeer is a 38-byte Ed25519 peer ID whose key is the identity
// point (small order): the form of a peer ID, refused as an owner.
var smallOrderPeer = append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 0x01}, make([]byte, 31)...)

func buildRequestVectors(t testing.TB) []requestVector {
	alice, bob := testkit.Key(t, "alice"), testkit.Key(t, "bob")
	tok, err := capability.Issue(alice, capability.Params{Audience: bob.ID(), Resource: "notes/*", Actions: capability.Read,
		NotBefore: testkit.Epoch, Expiry: testkit.Epoch.AddDate(1, 0, 0), Rand: testkit.NewRand("wake request vector")})
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v any) string {
		b, err := wire.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	until := testkit.Epoch.Unix() + 3600
	owner := []byte(alice.ID())
	var out []requestVector
	for _, c := range []struct {
		name string
		v    any
	}{
		{"a hibernate", Request{Op: OpHibernate, Handle: "alice"}},
		{"a hibernate with a half", Request{Op: OpHibernate, Handle: "alice", Half: []byte{0xa7, 0xa7}, Until: until}},
		{"a hibernate with a full half", Request{Op: OpHibernate, Handle: "alice", Half: make([]byte, MaxHalfBytes), Until: until}},
		{"a wake", Request{Op: OpWake, Owner: owner, Token: tok.Bytes()}},
		{"a resume", Request{Op: OpResume}},
		{"a forget", Request{Op: OpForget}},
		{"a half one byte too long", Request{Op: OpHibernate, Handle: "alice", Half: make([]byte, MaxHalfBytes+1), Until: until}},
		{"a half without until", Request{Op: OpHibernate, Handle: "alice", Half: []byte{1}}},
		{"an until without a half", Request{Op: OpHibernate, Handle: "alice", Until: until}},
		{"a negative until", Request{Op: OpHibernate, Handle: "alice", Half: []byte{1}, Until: -1}},
		{"a hibernate without a handle", Request{Op: OpHibernate}},
		{"a handle in capitals", Request{Op: OpHibernate, Handle: "Alice"}},
		{"a wake without a token", Request{Op: OpWake, Owner: owner}},
		{"a wake without an owner", Request{Op: OpWake, Token: tok.Bytes()}},
		{"a wake naming a bad owner", Request{Op: OpWake, Owner: []byte{0, 1, 2}, Token: tok.Bytes()}},
		{"a wake with a handle", Request{Op: OpWake, Handle: "alice", Owner: owner, Token: tok.Bytes()}},
		{"a resume naming an owner", Request{Op: OpResume, Owner: owner}},
		{"a forget with a half", Request{Op: OpForget, Half: []byte{1}}},
		{"op 0", Request{Op: 0}},
		{"op 5", Request{Op: 5}},
		{"an empty handle written out", struct {
			Op     Op     `cbor:"1,keyasint"`
			Handle string `cbor:"2,keyasint"`
		}{OpHibernate, ""}},
		{"an unknown field", struct {
			Op Op     `cbor:"1,keyasint"`
			X  uint64 `cbor:"7,keyasint"`
		}{OpResume, 1}},
		// The edges of each field's form (specs/wake/mutants.py).
		{"a handle of 1 byte", Request{Op: OpHibernate, Handle: "a"}},
		{"a handle of 2 bytes", Request{Op: OpHibernate, Handle: "ab"}},
		{"a handle of 32 bytes", Request{Op: OpHibernate, Handle: strings.Repeat("a", directory.MaxHandleLen)}},
		{"a handle of 33 bytes", Request{Op: OpHibernate, Handle: strings.Repeat("a", directory.MaxHandleLen+1)}},
		{"a handle with a digit, a dash and an underscore", Request{Op: OpHibernate, Handle: "a-0_z"}},
		{"a wake whose owner is a small-order key", Request{Op: OpWake, Owner: smallOrderPeer, Token: tok.Bytes()}},
		{"a wake with a token one byte too long", Request{Op: OpWake, Owner: owner, Token: make([]byte, capability.MaxTokenBytes+1)}},
		{"an until of 2^64-1", struct {
			Op     Op     `cbor:"1,keyasint"`
			Handle string `cbor:"2,keyasint"`
			Half   []byte `cbor:"3,keyasint"`
			Until  uint64 `cbor:"4,keyasint"`
		}{OpHibernate, "alice", []byte{1}, 1<<64 - 1}},
		{"a wake with a half too long and an until", Request{Op: OpWake, Owner: owner, Token: tok.Bytes(), Half: make([]byte, MaxHalfBytes+1), Until: until}},
		{"a half too long without an until", Request{Op: OpHibernate, Handle: "alice", Half: make([]byte, MaxHalfBytes+1)}},
		{"a forget with a half and an until", Request{Op: OpForget, Half: []byte{1}, Until: until}},
	} {
		v := requestVector{Name: c.name, Hex: enc(c.v)}
		b, _ := hex.DecodeString(v.Hex)
		r, err := parseRequest(b)
		if err != nil {
			v.Want = wire.ToWire(err).Status.Name()
		} else {
			v.Want = opNames[r.op]
		}
		out = append(out, v)
	}
	return out
}

func TestRequestVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/requests.json", *update, func() []requestVector { return buildRequestVectors(t) })
	want := map[string]string{
		"a hibernate": "hibernate", "a hibernate with a half": "hibernate", "a hibernate with a full half": "hibernate",
		"a wake": "wake", "a resume": "resume", "a forget": "forget",
		"a half one byte too long": "TooLarge", "a half without until": "BadRequest", "an until without a half": "BadRequest",
		"a negative until": "BadRequest", "a wake naming a bad owner": "BadRequest", "a wake with a handle": "BadRequest",
		"op 0": "BadRequest", "an empty handle written out": "BadRequest", "an unknown field": "BadRequest",
	}
	for _, v := range vs {
		if w, ok := want[v.Name]; ok && v.Want != w {
			t.Errorf("%s: %s, want %s", v.Name, v.Want, w)
		}
		b, _ := hex.DecodeString(v.Hex)
		r, err := parseRequest(b)
		switch {
		case err != nil && wire.ToWire(err).Status.Name() != v.Want:
			t.Errorf("%s: %v, want %s", v.Name, err, v.Want)
		case err == nil && opNames[r.op] != v.Want:
			t.Errorf("%s: %s, want %s", v.Name, opNames[r.op], v.Want)
		case err != nil && !errors.Is(err, wire.BadRequest) && !errors.Is(err, wire.TooLarge):
			t.Errorf("%s: %v", v.Name, err)
		}
	}
}
