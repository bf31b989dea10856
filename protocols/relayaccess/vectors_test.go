package relayaccess

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// vector is one request or reply frame body (testdata/README.md).
type vector struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // request or reply
	Hex    string `json:"hex"`
	Prefix bool   `json:"prefix,omitempty"`
	Want   string `json:"want"`
}

func vectorToken(t testing.TB) []byte {
	rk, pk := testkit.Key(t, "relay"), testkit.Key(t, "peer")
	tok, err := capability.Issue(rk, capability.Params{Audience: pk.ID(), Resource: capability.Pattern(Resource), Actions: capability.Use,
		NotBefore: testkit.Epoch, Expiry: testkit.Epoch.Add(24 * time.Hour), Rand: testkit.NewRand("relay-access vector token")})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Bytes()
}

func buildVectors(t testing.TB) []vector {
	tok := vectorToken(t)
	enc := func(v any) string {
		b, err := wire.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	req := func(name, h, want string) vector {
		return vector{Name: name, Kind: "request", Hex: strings.ReplaceAll(h, " ", ""), Want: want}
	}
	rep := func(name, h, want string) vector {
		return vector{Name: name, Kind: "reply", Hex: strings.ReplaceAll(h, " ", ""), Want: want}
	}
	refuse := func(st wire.Status, msg string) string { return enc(exchange.Reply{Status: st, Message: msg}) }
	prefix := func(n int) string { return hex.EncodeToString(binary.AppendUvarint(nil, uint64(n))) }
	tokHex := enc(tok)
	return []vector{
		req("a token", enc(request{Token: tok}), "token"),
		req("an empty token reaches the token check (capability refuses it)", "a1 0140", "token"),
		req("a token of MaxTokenBytes + 1 bytes reaches the token check (capability refuses it)", enc(request{Token: make([]byte, capability.MaxTokenBytes+1)}), "token"),
		req("no token", "a0", "BadRequest"),
		req("a token that is text", "a1 016178", "BadRequest"),
		req("a token that is null", "a1 01f6", "BadRequest"),
		req("an unknown field 2", "a2 01"+tokHex+" 0201", "BadRequest"),
		req("a token with a non-shortest length head", "a1 01 5a"+hex.EncodeToString(binary.BigEndian.AppendUint32(nil, uint32(len(tok))))+hex.EncodeToString(tok), "BadRequest"),
		req("a byte after the request", enc(request{Token: tok})+"00", "BadRequest"),
		req("an empty body", "", "BadRequest"),
		{Name: "a request frame of maxRequest bytes is read", Kind: "request", Hex: prefix(maxRequest), Prefix: true, Want: "read"},
		{Name: "a request frame of maxRequest + 1 bytes", Kind: "request", Hex: prefix(maxRequest + 1), Prefix: true, Want: "TooLarge"},
		rep("admitted", "a10100", "OK"),
		rep("admitted, with a body", enc(exchange.Reply{Status: wire.OK, Body: []byte{0xa0}}), "BadRequest"),
		rep("not a token", refuse(wire.BadRequest, "token: ErrMalformed"), "BadRequest"),
		rep("not an access token for this peer", refuse(wire.Forbidden, "token: ErrWrongAudience"), "Forbidden"),
		rep("revoked", refuse(wire.Revoked, "token: ErrRevoked: token 0123456789ab (link 1 of 1)"), "Revoked"),
		rep("revoked, with a detail this protocol does not define", "a2 0107 04a10101", "Revoked"),
		rep("expired", refuse(wire.Expired, "token: ErrExpired"), "Expired"),
		rep("the access list is full", refuse(wire.RateLimited, "relay access list full"), "RateLimited"),
		rep("the replay store is full", refuse(wire.Unavailable, "token: ErrReplayFull"), "Unavailable"),
		rep("frame too large", refuse(wire.TooLarge, "frame too large"), "TooLarge"),
		rep("the relay failed", "a1010a", "Internal"),
		{Name: "a reply frame of maxResponse bytes is read", Kind: "reply", Hex: prefix(maxResponse), Prefix: true, Want: "read"},
		{Name: "a reply frame of maxResponse + 1 bytes", Kind: "reply", Hex: prefix(maxResponse + 1), Prefix: true, Want: "TooLarge"},
	}
}

func prefixOutcome(b []byte, max int) string {
	errRead := errors.New("read")
	_, err := wire.ReadFrameReserve(bytes.NewReader(b), max, func(int) error { return errRead })
	if errors.Is(err, errRead) {
		return "read"
	}
	return wire.StatusOf(err).Name()
}

// TestVectors checks testdata/vectors.json: a request against the relay's
// step 1 (serve's canonical decode), a reply through Present on loopback
// hosts, the relay writing the vector's bytes.
func TestVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/vectors.json", *update, func() []vector { return buildVectors(t) })
	relayH, peerH := testkit.Host(t, testkit.Key(t, "relay")), testkit.Host(t, testkit.Key(t, "peer"))
	testkit.Connect(t, peerH, relayH)
	var current []byte
	relayH.SetStreamHandler(ID, func(s network.Stream) {
		defer s.Close()
		if _, err := wire.ReadFrame(s, maxRequest); err != nil {
			s.Reset()
			return
		}
		wire.WriteFrame(s, current, maxResponse)
	})
	tok, err := capability.Decode(vectorToken(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			in, _ := hex.DecodeString(v.Hex)
			if v.Prefix {
				max := maxRequest
				if v.Kind == "reply" {
					max = maxResponse
				}
				if got := prefixOutcome(in, max); got != v.Want {
					t.Fatalf("got %s, want %s", got, v.Want)
				}
				return
			}
			var got string
			if v.Kind == "request" {
				var req request
				got = "token"
				if err := wire.UnmarshalCanonical(in, &req); err != nil {
					got = wire.StatusOf(err).Name()
				}
			} else {
				current = in
				got = wire.StatusOf(Present(testkit.Context(t, 10*time.Second), peerH, relayH.ID(), tok)).Name()
			}
			if got != v.Want {
				t.Fatalf("got %s, want %s", got, v.Want)
			}
		})
	}
}

// TestDocNumbersMatchTheConstants: doc.go's Limits table and every "Name
// (value)" are the constants.
func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxTokenBytes": capability.MaxTokenBytes,
		"maxRequest":    maxRequest,
		"maxResponse":   maxResponse,
		"timeout":       testkit.Seconds(timeout),
		"MaxGrants":     MaxGrants,
	})
	testkit.DocSays(t, doc, "/ocmt/relay-access/1", `"relay/access"`)
	if ID != "/ocmt/relay-access/1" || Resource != "relay/access" {
		t.Error("the protocol ID or the resource changed")
	}
}

// TestIndependentDecoderAgrees runs specs/relayaccess/check.py, written
// from doc.go alone, on the committed vectors.
func TestIndependentDecoderAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/relayaccess/check.py") }
