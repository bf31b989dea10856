package capwire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// windowVector is one committed encoding of a window detail.
type windowVector struct {
	Name      string `json:"name"`
	Hex       string `json:"hex"`
	Valid     bool   `json:"valid"`
	Side      string `json:"side,omitempty"` // when valid: "not yet valid" or "expired"
	Link      int    `json:"link,omitempty"`
	Of        int    `json:"of,omitempty"`
	NotBefore int64  `json:"not_before,omitempty"`
	Expiry    int64  `json:"expiry,omitempty"`
	Now       int64  `json:"now,omitempty"`
	Skew      int64  `json:"skew,omitempty"`
}

func side(d WindowDetail) string {
	if d.Early() {
		return "not yet valid"
	}
	return "expired"
}

func buildWindowVectors(t testing.TB) []windowVector {
	nbf := testkit.Epoch.Unix()
	exp := nbf + 1 // a one-second token, as `mesh token issue --for 1s` makes
	good := func(name string, w windowWire) windowVector {
		d := WindowDetail{Link: int(w.Link), Of: int(w.Of), NotBefore: time.Unix(int64(w.NotBefore), 0).UTC(),
			Expiry: time.Unix(int64(w.Expiry), 0).UTC(), Now: time.Unix(int64(w.Now), 0).UTC(), Skew: time.Duration(w.Skew) * time.Second}
		b, err := d.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return windowVector{Name: name, Hex: hex.EncodeToString(b), Valid: true, Side: side(d), Link: d.Link, Of: d.Of,
			NotBefore: int64(w.NotBefore), Expiry: int64(w.Expiry), Now: int64(w.Now), Skew: int64(w.Skew)}
	}
	bad := func(name string, w windowWire) windowVector {
		b, err := wire.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		return windowVector{Name: name, Hex: hex.EncodeToString(b)}
	}
	base := windowWire{Link: 1, Of: 1, NotBefore: uint64(nbf), Expiry: uint64(exp), Now: uint64(exp + 61), Skew: 60}
	with := func(f func(*windowWire)) windowWire { w := base; f(&w); return w }
	fb, _ := wire.Marshal(base)
	return []windowVector{
		good("expired: a one-second token 61 s after expiry, with 60 s of skew", base),
		good("expired: exactly at expiry plus skew", with(func(w *windowWire) { w.Now = uint64(exp + 60) })),
		good("not yet valid: 61 s before not-before", with(func(w *windowWire) { w.Now = uint64(nbf - 61) })),
		good("not yet valid: the second link of three, one second of skew", with(func(w *windowWire) {
			w.Link, w.Of, w.Skew, w.Now = 2, 3, 1, uint64(nbf-2)
		})),
		good("a not-before of 0", with(func(w *windowWire) { w.NotBefore = 0 })),
		good("the largest: times at 9999-12-31T23:59:59Z, skew MaxSkew, link 4 of 4", windowWire{Link: 4, Of: 4,
			NotBefore: maxUnix - 1000, Expiry: maxUnix - 300, Now: maxUnix, Skew: 300}),
		bad("inside the window widened by the skew: 59 s after expiry", with(func(w *windowWire) { w.Now = uint64(exp + 59) })),
		bad("inside the window widened by the skew: 60 s before not-before", with(func(w *windowWire) { w.Now = uint64(nbf - 60) })),
		bad("inside the window itself", with(func(w *windowWire) { w.Now = uint64(nbf) })),
		bad("skew zero", with(func(w *windowWire) { w.Skew = 0 })),
		bad("skew over MaxSkew", with(func(w *windowWire) { w.Skew = 301; w.Now = uint64(exp + 400) })),
		bad("an empty window (expiry = not-before)", with(func(w *windowWire) { w.Expiry = w.NotBefore })),
		bad("expiry past 9999", with(func(w *windowWire) { w.Expiry = maxUnix + 1; w.Now = maxUnix + 400 })),
		bad("now past 9999", with(func(w *windowWire) { w.Now = maxUnix + 1 })),
		bad("link zero", with(func(w *windowWire) { w.Link = 0 })),
		bad("link past the chain", with(func(w *windowWire) { w.Link = 2 })),
		bad("chain over MaxDepth", with(func(w *windowWire) { w.Link, w.Of = 1, capability.MaxDepth+1 })),
		{Name: "skew missing", Hex: hex.EncodeToString(append([]byte{0xa5}, bytes.TrimSuffix(fb[1:], []byte{0x06, 0x18, 0x3c})...))},
		{Name: "unknown field 7", Hex: hex.EncodeToString(append([]byte{0xa7}, append(fb[1:], 0x07, 0x01)...))},
		{Name: "non-canonical link (two-byte uint)", Hex: hex.EncodeToString(bytes.Replace(fb, []byte{0x01, 0x01, 0x02}, []byte{0x01, 0x18, 0x01, 0x02}, 1))},
		{Name: "a negative not-before (major type 1)", Hex: hex.EncodeToString(bytes.Replace(fb, append([]byte{0x03, 0x1a}, u32(nbf)...), []byte{0x03, 0x20}, 1))},
	}
}

// u32 is the four big-endian bytes of a CBOR head's argument.
func u32(n int64) []byte { return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} }

func TestWindowDetailVectors(t *testing.T) {
	vs := testkit.Vectors(t, filepath.Join("testdata", "window.json"), *update, func() []windowVector { return buildWindowVectors(t) })
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			raw, err := hex.DecodeString(v.Hex)
			if err != nil {
				t.Fatal(err)
			}
			d, err := ParseWindowDetail(raw)
			if v.Valid != (err == nil) {
				t.Fatalf("valid=%v but err=%v", v.Valid, err)
			}
			if !v.Valid {
				return
			}
			if side(d) != v.Side || d.Link != v.Link || d.Of != v.Of || d.NotBefore.Unix() != v.NotBefore ||
				d.Expiry.Unix() != v.Expiry || d.Now.Unix() != v.Now || int64(d.Skew/time.Second) != v.Skew {
				t.Fatalf("decoded %+v", d)
			}
			if len(raw) > 39 {
				t.Fatalf("%d bytes: doc.go says a detail is at most 39", len(raw))
			}
			again, err := d.Marshal()
			if err != nil || !bytes.Equal(again, raw) {
				t.Fatalf("re-encoding differs: %x, %v", again, err)
			}
			if want := map[bool]error{true: capability.ErrNotYetValid, false: capability.ErrExpired}[d.Early()]; !errors.Is(d.Err(), want) {
				t.Fatalf("Err() = %v, want %v", d.Err(), want)
			}
		})
	}
}

// TestTimeRefusalSaysWhichSide: a verifier's time failure crosses the wire
// as Expired with the window detail, from which the client reads the same
// side, link, window and skew, and the same sentinel.
func TestTimeRefusalSaysWhichSide(t *testing.T) {
	k := testkit.Key(t, "alice")
	nbf := testkit.Epoch
	tok, err := capability.Issue(k, capability.Params{Audience: k.ID(), Resource: "calendar/*", Actions: capability.Read,
		NotBefore: nbf, Expiry: nbf.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		now  time.Time
		skew time.Duration
		want error
	}{
		{"a token used 61.5 s before its start is not valid yet", nbf.Add(-61500 * time.Millisecond), 0, capability.ErrNotYetValid},
		{"one used 61.9 s after its expiry has expired", nbf.Add(62900 * time.Millisecond), 0, capability.ErrExpired},
		{"with a skew of 1.5 s, 2.6 s after expiry", nbf.Add(3600 * time.Millisecond), 1500 * time.Millisecond, capability.ErrExpired},
		{"with a skew of 1.5 s, 1.6 s before the start", nbf.Add(-1600 * time.Millisecond), 1500 * time.Millisecond, capability.ErrNotYetValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := capability.NewVerifier(capability.Config{Clock: func() time.Time { return tc.now }, Skew: tc.skew})
			_, verr := v.Verify(t.Context(), tok, capability.Request{Remote: k.ID(), Owner: k.ID(), Resource: "calendar/x", Action: capability.Read})
			if !errors.Is(verr, tc.want) {
				t.Fatalf("verify: %v, want %v", verr, tc.want)
			}
			we := ToWireDetailed(fmt.Errorf("share: %w", verr), nil)
			if we.Status != wire.Expired || !strings.HasPrefix(we.Message, "token: "+capability.ErrorName(tc.want)+": ") {
				t.Fatalf("got %+v", we)
			}
			if plain := ToWire(verr); plain.Detail != nil || plain.Status != wire.Expired {
				t.Fatalf("ToWire attached a detail: %+v", plain)
			}
			d, ok := Window(fmt.Errorf("client: %w", we))
			if !ok {
				t.Fatalf("no window detail in %+v", we)
			}
			if !errors.Is(d.Err(), tc.want) || d.Link != 1 || d.Of != 1 || !d.NotBefore.Equal(nbf) || d.Skew != v.Skew().Truncate(time.Second) {
				t.Fatalf("detail %+v", d)
			}
			if _, ok := Revoked(we); ok {
				t.Fatal("a window detail read as a revocation")
			}
			if _, ok := Window(&wire.Error{Status: wire.Revoked, Detail: we.Detail}); ok {
				t.Fatal("a window detail read off a Revoked refusal")
			}
		})
	}
}

func FuzzParseWindowDetail(f *testing.F) {
	for _, v := range buildWindowVectors(f) {
		b, _ := hex.DecodeString(v.Hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseWindowDetail(in)
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
		if d.Early() == errors.Is(d.Err(), capability.ErrExpired) {
			t.Fatalf("side and error disagree: %+v", d)
		}
		if _, ok := Window(&wire.Error{Status: wire.Expired, Detail: in}); !ok {
			t.Fatal("Window refused a detail ParseWindowDetail accepted")
		}
	})
}
