package snapshot

import (
	"encoding/hex"
	"errors"
	"flag"
	"testing"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// requestVector is one request frame's body and what the server's decode
// makes of it (doc.go "Request").
type requestVector struct {
	Name string `json:"name"`
	Hex  string `json:"hex"`
	Want string `json:"want"` // push, fetch, or BadRequest
}

func buildRequestVectors(t testing.TB) []requestVector {
	alice, bob := testkit.Key(t, "alice"), testkit.Key(t, "bob")
	tok, err := capability.Issue(alice, capability.Params{Audience: bob.ID(), Resource: "calendar/*", Actions: capability.Read,
		NotBefore: testkit.Epoch, Expiry: testkit.Epoch.AddDate(1, 0, 0), Rand: testkit.NewRand("snapshot request vector")})
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
	manifest := []byte{0xa2, 0x01, 0x41, 0x00, 0x02, 0x41, 0x00} // any bytes: the manifest is checked after the decode
	var out []requestVector
	for _, c := range []struct {
		name string
		v    any
	}{
		{"a push", Request{Op: OpPush, Manifest: manifest}},
		{"a fetch", Request{Op: OpFetch, Owner: []byte(alice.ID()), Resource: "calendar/work", Token: tok.Bytes()}},
		{"a push with a token", Request{Op: OpPush, Manifest: manifest, Token: tok.Bytes()}},
		{"a push without a manifest", Request{Op: OpPush}},
		{"a fetch without a token", Request{Op: OpFetch, Owner: []byte(alice.ID()), Resource: "calendar/work"}},
		{"a fetch with a manifest", Request{Op: OpFetch, Manifest: manifest, Owner: []byte(alice.ID()), Resource: "calendar/work", Token: tok.Bytes()}},
		{"a fetch of a pattern", Request{Op: OpFetch, Owner: []byte(alice.ID()), Resource: "calendar/*", Token: tok.Bytes()}},
		{"a fetch naming a bad owner", Request{Op: OpFetch, Owner: []byte{0, 1, 2}, Resource: "calendar/work", Token: tok.Bytes()}},
		{"operation 3", Request{Op: 3}},
		{"an unknown field", struct {
			Op       uint64 `cbor:"1,keyasint"`
			Manifest []byte `cbor:"2,keyasint"`
			X        uint64 `cbor:"6,keyasint"`
		}{OpPush, manifest, 1}},
	} {
		v := requestVector{Name: c.name, Hex: enc(c.v)}
		b, _ := hex.DecodeString(v.Hex)
		r, err := parseRequest(b)
		switch {
		case err != nil:
			v.Want = wire.ToWire(err).Status.Name()
		case r.Op == OpPush:
			v.Want = "push"
		default:
			v.Want = "fetch"
		}
		out = append(out, v)
	}
	return out
}

func TestRequestVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/requests.json", *update, func() []requestVector { return buildRequestVectors(t) })
	want := map[string]string{"a push": "push", "a fetch": "fetch", "a push with a token": "BadRequest", "operation 3": "BadRequest"}
	for _, v := range vs {
		if w, ok := want[v.Name]; ok && v.Want != w {
			t.Errorf("%s: %s, want %s", v.Name, v.Want, w)
		}
		b, _ := hex.DecodeString(v.Hex)
		_, err := parseRequest(b)
		if (err == nil) != (v.Want == "push" || v.Want == "fetch") || (err != nil && !errors.Is(err, wire.BadRequest)) {
			t.Errorf("%s: %v", v.Name, err)
		}
	}
}

// TestIndependentCheckerAgrees runs specs/snapshot/check.py, written from
// doc.go and internal/snapshot's, on every vector of both packages.
func TestIndependentCheckerAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/snapshot/check.py") }
