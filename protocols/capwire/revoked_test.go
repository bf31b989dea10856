package capwire

import (
	"bytes"
	"encoding/hex"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// vector is one committed encoding of a Revoked detail.
type vector struct {
	Name  string `json:"name"`
	Hex   string `json:"hex"`
	Valid bool   `json:"valid"`
	Token string `json:"token,omitempty"`
	Link  int    `json:"link,omitempty"`
	Of    int    `json:"of,omitempty"`
	By    string `json:"by,omitempty"`
	At    int64  `json:"at,omitempty"`
}

func vectorToken() capability.ID {
	var id capability.ID
	testkit.NewRand("revoked detail token").Read(id[:])
	return id
}

func buildVectors(t testing.TB) []vector {
	id, by := vectorToken(), testkit.Key(t, "alice").ID()
	good := func(name string, d RevokedDetail) vector {
		b, err := d.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v := vector{Name: name, Hex: hex.EncodeToString(b), Valid: true, Token: hex.EncodeToString(d.Token[:]), Link: d.Link, Of: d.Of}
		if d.By != "" {
			v.By = d.By.String()
		}
		if !d.At.IsZero() {
			v.At = d.At.Unix()
		}
		return v
	}
	bad := func(name string, w revokedWire) vector {
		b, err := wire.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		return vector{Name: name, Hex: hex.EncodeToString(b)}
	}
	full := revokedWire{Token: id[:], Link: 2, Of: 3, By: []byte(by), At: testkit.Epoch.Unix()}
	with := func(f func(*revokedWire)) revokedWire { w := full; f(&w); return w }
	fb, _ := wire.Marshal(full)
	return append([]vector{
		good("revoker and time known", RevokedDetail{Token: id, Link: 2, Of: 3, By: by, At: testkit.Epoch}),
		good("revoker unknown", RevokedDetail{Token: id, Link: 1, Of: 1}),
		good("longest chain, leaf revoked", RevokedDetail{Token: id, Link: capability.MaxDepth, Of: capability.MaxDepth, By: by}),
		bad("short token ID", with(func(w *revokedWire) { w.Token = id[:31] })),
		bad("link zero", with(func(w *revokedWire) { w.Link = 0 })),
		bad("link past the chain", with(func(w *revokedWire) { w.Link = 4 })),
		bad("chain over MaxDepth", with(func(w *revokedWire) { w.Link, w.Of = 1, capability.MaxDepth+1 })),
		bad("revoker is not a peer ID", with(func(w *revokedWire) { w.By = []byte("nope") })),
		bad("revoker over its cap", with(func(w *revokedWire) { w.By = bytes.Repeat([]byte{1}, MaxPeerIDBytes+1) })),
		bad("time before 1970", with(func(w *revokedWire) { w.At = -1 })),
		{Name: "unknown field 6", Hex: hex.EncodeToString(append([]byte{0xa6}, append(fb[1:], 0x06, 0x01)...))},
		{Name: "non-canonical link (two-byte uint)", Hex: hex.EncodeToString(bytes.Replace(fb, []byte{0x02, 0x02, 0x03}, []byte{0x02, 0x18, 0x02, 0x03}, 1))},
		{Name: "empty revoker present", Hex: hex.EncodeToString(bytes.Replace(fb, append([]byte{0x04, 0x58, byte(len(by))}, by...), []byte{0x04, 0x40}, 1))},
		{Name: "trailing bytes", Hex: hex.EncodeToString(append(fb, 0x00))},
	}, moreVectors(t, id, by, full)...)
}

func TestRevokedDetailVectors(t *testing.T) {
	vs := testkit.Vectors(t, filepath.Join("testdata", "revoked.json"), *update, func() []vector { return buildVectors(t) })
	if len(vs) < 10 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			raw, err := hex.DecodeString(v.Hex)
			if err != nil {
				t.Fatal(err)
			}
			d, err := ParseRevokedDetail(raw)
			if v.Valid != (err == nil) {
				t.Fatalf("valid=%v but err=%v", v.Valid, err)
			}
			if !v.Valid {
				return
			}
			if hex.EncodeToString(d.Token[:]) != v.Token || d.Link != v.Link || d.Of != v.Of || string(d.By) != string(peerOf(t, v.By)) || unix(d.At) != v.At {
				t.Fatalf("decoded %+v", d)
			}
			again, err := d.Marshal()
			if err != nil || !bytes.Equal(again, raw) {
				t.Fatalf("re-encoding differs: %x, %v", again, err)
			}
		})
	}
}

func peerOf(t *testing.T, s string) peer.ID {
	t.Helper()
	if s == "" {
		return ""
	}
	id, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func unix(at time.Time) int64 {
	if at.IsZero() {
		return 0
	}
	return at.Unix()
}

func FuzzParseRevokedDetail(f *testing.F) {
	for _, v := range buildVectors(f) {
		b, _ := hex.DecodeString(v.Hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseRevokedDetail(in)
		if err != nil {
			return
		}
		out, err := d.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("accepted a detail that does not re-encode identically: %x", in)
		}
		if len(out) > exchange.MaxDetail {
			t.Fatalf("accepted a %d-byte detail, over exchange.MaxDetail", len(out))
		}
		if _, ok := Revoked(&wire.Error{Status: wire.Revoked, Detail: in}); !ok {
			t.Fatal("Revoked refused a detail ParseRevokedDetail accepted")
		}
	})
}
