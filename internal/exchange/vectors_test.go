package exchange

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// sampleBody is the body type of the reply vectors that expect one: the
// sample message of internal/wire/testdata/README.md.
type sampleBody struct {
	A uint64   `cbor:"1,keyasint"`
	B string   `cbor:"2,keyasint,omitempty"`
	C []byte   `cbor:"3,keyasint,omitempty"`
	D []string `cbor:"4,keyasint,omitempty"`
}

// replyVector is one reply frame body and what a client makes of it
// (testdata/README.md).
type replyVector struct {
	Name    string `json:"name"`
	Hex     string `json:"hex,omitempty"`
	Parts   []any  `json:"parts,omitempty"`
	Expect  string `json:"expect"` // none or sample
	Want    string `json:"want"`   // ok or a status name
	Message string `json:"message,omitempty"`
	Detail  string `json:"detail,omitempty"` // hex: the detail the refusal keeps
	A       uint64 `json:"a,omitempty"`      // expect sample, ok: field a of the body
}

func buildReplyVectors(t testing.TB) []replyVector {
	enc := func(r Reply) string {
		b, err := wire.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	body, _ := wire.Marshal(sampleBody{A: 5, B: "hi"})
	// A detail of exactly n bytes: a byte string with a 2-byte length head.
	detailOf := func(n int) []byte {
		return append([]byte{0x59, byte((n - 3) >> 8), byte(n - 3)}, bytes.Repeat([]byte{0xdd}, n-3)...)
	}
	nested := func(n int) []byte { return append(bytes.Repeat([]byte{0x81}, n), 0x01) }
	refusal := func(name string, st wire.Status) replyVector {
		return replyVector{Name: name, Hex: enc(Reply{Status: st, Message: "why"}), Expect: "none", Want: st.Name(), Message: "why"}
	}
	vs := []replyVector{
		{Name: "OK without a body", Hex: "a10100", Expect: "none", Want: "OK"},
		{Name: "OK with a message", Hex: enc(Reply{Status: wire.OK, Message: "fine"}), Expect: "none", Want: "OK"},
		{Name: "OK with a body where none is expected", Hex: enc(Reply{Status: wire.OK, Body: body}), Expect: "none", Want: "BadRequest"},
		{Name: "OK with the expected body", Hex: enc(Reply{Status: wire.OK, Body: body}), Expect: "sample", Want: "OK", A: 5},
		{Name: "OK without the expected body", Hex: "a10100", Expect: "sample", Want: "BadRequest"},
		{Name: "OK with a non-canonical body", Hex: "a2010003a1011805", Expect: "sample", Want: "BadRequest"},
		{Name: "OK with a body of the wrong type", Hex: "a201000341aa", Expect: "sample", Want: "BadRequest"},
		{Name: "OK with a body holding null", Hex: "a2010003a2010502f6", Expect: "sample", Want: "BadRequest"},
		{Name: "OK with a detail", Hex: "a3010003a1010504a10101", Expect: "sample", Want: "BadRequest"},
		{Name: "OK with a detail and no body", Hex: "a201000401", Expect: "none", Want: "BadRequest"},
	}
	for st := wire.BadRequest; st.Known(); st++ {
		vs = append(vs, refusal(fmt.Sprintf("status %d (%s)", st, st.Name()), st))
	}
	vs = append(vs,
		replyVector{Name: "a refusal without a message", Hex: "a10104", Expect: "none", Want: "NotFound"},
		replyVector{Name: "a refusal where a body is expected", Hex: "a10104", Expect: "sample", Want: "NotFound"},
		replyVector{Name: "status 13, unknown, is Internal", Hex: enc(Reply{Status: 13, Message: "new"}), Expect: "none", Want: "Internal", Message: "new"},
		replyVector{Name: "status 65535, unknown, is Internal", Hex: "a10119ffff", Expect: "none", Want: "Internal"},
		replyVector{Name: "status 65536 is over uint16", Hex: "a1011a00010000", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "a refusal keeps its detail", Hex: enc(Reply{Status: wire.Revoked, Detail: []byte{0xa1, 0x01, 0x01}}), Expect: "none", Want: "Revoked", Detail: "a10101"},
		replyVector{Name: "a detail of MaxDetail bytes is kept", Hex: enc(Reply{Status: wire.Revoked, Detail: detailOf(MaxDetail)}), Expect: "none", Want: "Revoked", Detail: hex.EncodeToString(detailOf(MaxDetail))},
		replyVector{Name: "a detail of MaxDetail + 1 bytes is dropped; the refusal stands", Hex: enc(Reply{Status: wire.Revoked, Detail: detailOf(MaxDetail + 1)}), Expect: "none", Want: "Revoked"},
		replyVector{Name: "an unknown status drops its detail", Hex: enc(Reply{Status: 99, Detail: []byte{0x01}}), Expect: "none", Want: "Internal"},
		replyVector{Name: "a refusal with a body", Hex: enc(Reply{Status: wire.NotFound, Body: body}), Expect: "sample", Want: "BadRequest"},
		replyVector{Name: "a non-canonical detail is kept as its bytes", Hex: "a2010704a1011801", Expect: "none", Want: "Revoked", Detail: "a1011801"},
		replyVector{Name: "a detail with unsorted and repeated keys is kept", Hex: "a2010704a3020101010101", Expect: "none", Want: "Revoked", Detail: "a3020101010101"},
		replyVector{Name: "a detail that is null is kept", Hex: "a2010704f6", Expect: "none", Want: "Revoked", Detail: "f6"},
		replyVector{Name: "a detail with invalid UTF-8 is kept", Hex: "a2010704 62fffe", Expect: "none", Want: "Revoked", Detail: "62fffe"},
		replyVector{Name: "a detail with an indefinite length", Hex: "a2010704bf0101ff", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "a detail with a tag", Hex: "a2010704c101", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "a detail with a two-byte simple value below 32", Hex: "a2010704f810", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "a detail nested to level 16 (the envelope is level 1)", Hex: "a2010704" + hex.EncodeToString(nested(15)), Expect: "none", Want: "Revoked", Detail: hex.EncodeToString(nested(15))},
		replyVector{Name: "a detail nested to level 17", Hex: "a2010704" + hex.EncodeToString(nested(16)), Expect: "none", Want: "BadRequest"},
		replyVector{Name: "a detail array of MaxArrayElements elements", Parts: []any{"a20107049904" + "00", []any{"00", wire.MaxArrayElements}}, Expect: "none", Want: "Revoked"},
		replyVector{Name: "a detail array of MaxArrayElements + 1 elements", Parts: []any{"a20107049904" + "01", []any{"00", wire.MaxArrayElements + 1}}, Expect: "none", Want: "BadRequest"},
		replyVector{Name: "a detail map of MaxMapPairs pairs", Hex: "a2010704b840" + mapPairs(wire.MaxMapPairs), Expect: "none", Want: "Revoked", Detail: "b840" + mapPairs(wire.MaxMapPairs)},
		replyVector{Name: "a detail map of MaxMapPairs + 1 pairs", Hex: "a2010704b841" + mapPairs(wire.MaxMapPairs+1), Expect: "none", Want: "BadRequest"},
		replyVector{Name: "an explicit empty message", Hex: "a201040260", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "no status", Hex: "a1026161", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "OK written as 18 00", Hex: "a1011800", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "a negative status", Hex: "a10120", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "a message that is not text", Hex: "a201040241aa", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "a message with invalid UTF-8", Hex: "a20104 0262fffe", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "an unknown field 5", Hex: "a201040501", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "keys out of order", Hex: "a2026161 0104", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "a byte after the envelope", Hex: "a1010000", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "an empty reply frame", Hex: "", Expect: "none", Want: "BadRequest"},
		replyVector{Name: "a reply that is not a map", Hex: "00", Expect: "none", Want: "BadRequest"},
	)
	for i := range vs {
		vs[i].Hex = strings.ReplaceAll(vs[i].Hex, " ", "")
	}
	return vs
}

// mapPairs is n pairs of a CBOR map with keys 0..n-1, sorted, values 0.
func mapPairs(n int) string {
	var b []byte
	for i := 0; i < n; i++ {
		if i < 24 {
			b = append(b, byte(i))
		} else {
			b = append(b, 0x18, byte(i))
		}
		b = append(b, 0x00)
	}
	return hex.EncodeToString(b)
}

// TestReplyVectors checks testdata/replies.json against the client's
// decoding of a reply (-update rewrites the file).
func TestReplyVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/replies.json", *update, func() []replyVector { return buildReplyVectors(t) })
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			var body sampleBody
			var resp any
			if v.Expect == "sample" {
				resp = &body
			}
			err := decodeReply(testkit.VectorBytes(t, v.Hex, v.Parts), resp)
			if got := wire.StatusOf(err).Name(); got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
			var we *wire.Error
			if errors.As(err, &we) && v.Want != "BadRequest" {
				if we.Message != v.Message || hex.EncodeToString(we.Detail) != v.Detail {
					t.Fatalf("message %q, detail %x", we.Message, []byte(we.Detail))
				}
			}
			if err == nil && v.Expect == "sample" && body.A != v.A {
				t.Fatalf("body %+v", body)
			}
		})
	}
}

// requestVector is what a client writes before closing its side, and
// what the server answers (testdata/README.md).
type requestVector struct {
	Name       string `json:"name"`
	Hex        string `json:"hex"`
	MaxRequest int    `json:"max_request"`
	Want       string `json:"want"` // handled, BadRequest, TooLarge or none (no reply)
}

func buildRequestVectors() []requestVector {
	return []requestVector{
		{Name: "a frame reaches the handler", Hex: "03a10100", MaxRequest: 64, Want: "handled"},
		{Name: "an empty frame reaches the handler", Hex: "00", MaxRequest: 64, Want: "handled"},
		{Name: "a frame at the cap reaches the handler", Hex: "40" + strings.Repeat("00", 64), MaxRequest: 64, Want: "handled"},
		{Name: "a second frame is never read", Hex: "03a10100ffffffff", MaxRequest: 64, Want: "handled"},
		{Name: "a declared length over the cap is TooLarge", Hex: "41" + strings.Repeat("00", 65), MaxRequest: 64, Want: "TooLarge"},
		{Name: "a huge declared length is TooLarge without the body", Hex: "ffffffff0f", MaxRequest: 64, Want: "TooLarge"},
		{Name: "a non-minimal prefix is BadRequest", Hex: "830000", MaxRequest: 64, Want: "BadRequest"},
		{Name: "a six-byte prefix is BadRequest", Hex: "808080808001", MaxRequest: 64, Want: "BadRequest"},
		{Name: "a truncated body gets no reply", Hex: "05a101", MaxRequest: 64, Want: "none"},
		{Name: "a truncated prefix gets no reply", Hex: "80", MaxRequest: 64, Want: "none"},
		{Name: "no request at all gets no reply", Hex: "", MaxRequest: 64, Want: "none"},
	}
}

// TestRequestVectors runs testdata/requests.json through Serve on a
// loopback stream: the server's answer to each request stream.
func TestRequestVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/requests.json", *update, buildRequestVectors)
	server, client := newHost(t), newHost(t)
	client.Peerstore().AddAddrs(server.ID(), server.Addrs(), time.Minute)
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			proto := protoID("/requests/" + fmt.Sprint(v.MaxRequest))
			lim := Limits{MaxRequest: v.MaxRequest, MaxResponse: 256, Timeout: 5 * time.Second}
			server.SetStreamHandler(proto, func(s network.Stream) {
				Serve(s, lim, nil, func(context.Context, peer.ID, []byte) (any, error) { return nil, nil })
			})
			ctx := testkit.Context(t, 10*time.Second)
			s, err := client.NewStream(ctx, server.ID(), proto)
			if err != nil {
				t.Fatal(err)
			}
			in, _ := hex.DecodeString(v.Hex)
			if len(in) > 0 {
				if _, err := s.Write(in); err != nil {
					t.Fatal(err)
				}
			}
			s.CloseWrite()
			out, err := io.ReadAll(s)
			got := "none"
			if err == nil && len(out) > 0 {
				body, ferr := wire.ReadFrame(bytes.NewReader(out), 256)
				if ferr != nil {
					t.Fatalf("reply frame: %v", ferr)
				}
				var rep Reply
				if err := wire.UnmarshalCanonical(body, &rep); err != nil {
					t.Fatal(err)
				}
				got = rep.Status.Name()
				if rep.Status == wire.OK {
					got = "handled"
				}
			}
			if got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
		})
	}
}

// TestDocNumbersMatchTheConstants: doc.go's Limits table and every "Name
// (value)" are the constants.
func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxDetail":      MaxDetail,
		"ReplySlack":     ReplySlack,
		"DefaultTimeout": testkit.Seconds(DefaultTimeout),
	})
	testkit.DocSays(t, doc, "an OK reply without body is a1 01 00", "(13 to 65535)")
	if !wire.Status(12).Known() || wire.Status(13).Known() {
		t.Error("doc.go says statuses 13 to 65535 are unknown")
	}
}

// TestIndependentDecoderAgrees runs specs/exchange/check.py, written from
// doc.go alone, on the committed vectors.
func TestIndependentDecoderAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/exchange/check.py") }
