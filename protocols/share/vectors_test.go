package share

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/capwire"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// requestVector is one request frame body and how far the owner takes it
// by this protocol's own rules (testdata/README.md).
type requestVector struct {
	Name   string `json:"name"`
	Hex    string `json:"hex,omitempty"`
	Parts  []any  `json:"parts,omitempty"`
	Prefix bool   `json:"prefix,omitempty"`
	Want   string `json:"want"` // token, read (prefix) or a status name
}

// vectorToken is a fixed token envelope for the vectors: its content is
// the capability package's concern, and the request rules never look in it.
func vectorToken(t testing.TB) []byte {
	owner, bob := testkit.Key(t, "alice"), testkit.Key(t, "bob")
	tok, err := capability.Issue(owner, capability.Params{Audience: bob.ID(), Resource: "calendar/*",
		Actions: capability.Read | capability.List, NotBefore: testkit.Epoch, Expiry: testkit.Epoch.Add(time.Hour),
		Rand: testkit.NewRand("share vector token")})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Bytes()
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func buildRequestVectors(t testing.TB) []requestVector {
	tok := vectorToken(t)
	enc := func(r Request) string { return hex.EncodeToString(mustMarshal(t, r)) }
	req := func(name string, r Request, want string) requestVector {
		return requestVector{Name: name, Hex: enc(r), Want: want}
	}
	raw := func(name, h, want string) requestVector {
		return requestVector{Name: name, Hex: strings.ReplaceAll(h, " ", ""), Want: want}
	}
	tokHex := hex.EncodeToString(mustMarshal(t, tok))
	// dataOf is a write request whose data is n bytes, written in parts.
	dataOf := func(n int) []any {
		head := mustMarshal(t, Request{Op: OpWrite, Path: "calendar/x", Token: tok, Data: []byte{0xdd}})
		head = head[:len(head)-2]
		head = append(head, 0x5a)
		head = binary.BigEndian.AppendUint32(head, uint32(n))
		return []any{hex.EncodeToString(head), []any{"dd", n}}
	}
	prefix := func(n int) string { return hex.EncodeToString(binary.AppendUvarint(nil, uint64(n))) }
	path := func(n int) string { return strings.Repeat("p", n) }
	return []requestVector{
		req("read", Request{Op: OpRead, Path: "calendar/work", Token: tok}, "token"),
		req("list everything", Request{Op: OpList, Token: tok}, "token"),
		req("list under a prefix", Request{Op: OpList, Path: "calendar/", Token: tok}, "token"),
		req("write", Request{Op: OpWrite, Path: "calendar/new", Token: tok, Data: []byte("party")}, "token"),
		req("write an empty resource (no data field)", Request{Op: OpWrite, Path: "calendar/new", Token: tok}, "token"),
		req("delete", Request{Op: OpDelete, Path: "calendar/new", Token: tok}, "token"),
		req("read without a path reaches the token (the path rule comes after it)", Request{Op: OpRead, Token: tok}, "token"),
		req("a path of maxPath bytes", Request{Op: OpList, Path: path(maxPath), Token: tok}, "token"),
		req("a path of maxPath + 1 bytes", Request{Op: OpList, Path: path(maxPath + 1), Token: tok}, "BadRequest"),
		{Name: "write data of MaxData bytes", Parts: dataOf(MaxData), Want: "token"},
		{Name: "write data of MaxData + 1 bytes", Parts: dataOf(MaxData + 1), Want: "TooLarge"},
		req("read with data", Request{Op: OpRead, Path: "calendar/work", Token: tok, Data: []byte("x")}, "BadRequest"),
		req("list with data", Request{Op: OpList, Token: tok, Data: []byte("x")}, "BadRequest"),
		req("delete with data", Request{Op: OpDelete, Path: "calendar/work", Token: tok, Data: []byte("x")}, "BadRequest"),
		req("op 0", Request{Op: 0, Path: "calendar/work", Token: tok}, "BadRequest"),
		req("op 5", Request{Op: 5, Path: "calendar/work", Token: tok}, "BadRequest"),
		req("op 255", Request{Op: 255, Path: "calendar/work", Token: tok}, "BadRequest"),
		raw("op 256 (over uint8)", "a2 01190100 03"+tokHex, "BadRequest"),
		raw("no op", "a1 03"+tokHex, "BadRequest"),
		raw("no token", "a2 0101 026d63616c656e6461722f776f726b", "BadRequest"),
		raw("a token present and empty reaches the token (capability refuses it)", "a2 0101 0340", "token"),
		raw("a token that is text", "a2 0101 0361 61", "BadRequest"),
		raw("a token that is null", "a2 0101 03f6", "BadRequest"),
		raw("a path present and empty", "a3 0102 0260 03"+tokHex, "BadRequest"),
		raw("data present and empty", "a4 0103 0261 78 03"+tokHex+" 0440", "BadRequest"),
		raw("an unknown field 5", "a3 0102 03"+tokHex+" 0501", "BadRequest"),
		raw("op written 18 01", "a2 011801 03"+tokHex, "BadRequest"),
		raw("keys out of order", "a2 03"+tokHex+" 0102", "BadRequest"),
		raw("a byte after the request", enc(Request{Op: OpList, Token: tok})+"00", "BadRequest"),
		raw("an empty body", "", "BadRequest"),
		{Name: "a request frame of MaxRequest bytes is read", Hex: prefix(Limits().MaxRequest), Prefix: true, Want: "read"},
		{Name: "a request frame of MaxRequest + 1 bytes", Hex: prefix(Limits().MaxRequest + 1), Prefix: true, Want: "TooLarge"},
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

// TestRequestVectors checks testdata/requests.json against the owner's
// steps 2 and 3 (doc.go "Message flow"): the canonical decode serve does
// and Request.check, which serve calls before it looks at the token.
func TestRequestVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/requests.json", *update, func() []requestVector { return buildRequestVectors(t) })
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			in := testkit.VectorBytes(t, v.Hex, v.Parts)
			if v.Prefix {
				if got := prefixOutcome(in, Limits().MaxRequest); got != v.Want {
					t.Fatalf("got %s, want %s", got, v.Want)
				}
				return
			}
			var req Request
			err := wire.UnmarshalCanonical(in, &req)
			if err == nil {
				_, err = req.check()
			}
			got := "token"
			if err != nil {
				got = wire.StatusOf(err).Name()
			}
			if got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
		})
	}
}

// replyVector is one reply frame body a grantee reads for an op, and
// what the client function returns (testdata/README.md).
type replyVector struct {
	Name   string        `json:"name"`
	Op     string        `json:"op"`
	Hex    string        `json:"hex,omitempty"`
	Parts  []any         `json:"parts,omitempty"`
	Prefix bool          `json:"prefix,omitempty"`
	Want   string        `json:"want"`
	Data   string        `json:"data,omitempty"`  // read, OK: hex
	Len    int           `json:"len,omitempty"`   // read, OK: the data's length
	Names  []string      `json:"names,omitempty"` // list, OK
	Detail *detailVector `json:"detail,omitempty"`
}

// detailVector is the RevokedDetail a grantee reads off a Revoked refusal.
type detailVector struct {
	Token string `json:"token"`
	Link  int    `json:"link"`
	Of    int    `json:"of"`
	By    string `json:"by,omitempty"`
	At    int64  `json:"at,omitempty"`
}

func buildReplyVectors(t testing.TB) []replyVector {
	ok := func(body any) string {
		return hex.EncodeToString(mustMarshal(t, exchange.Reply{Status: wire.OK, Body: mustMarshal(t, body)}))
	}
	refuse := func(st wire.Status, msg string, detail []byte) string {
		return hex.EncodeToString(mustMarshal(t, exchange.Reply{Status: st, Message: msg, Detail: detail}))
	}
	var id capability.ID
	testkit.NewRand("share revoked token").Read(id[:])
	by := testkit.Key(t, "alice").ID()
	d := capwire.RevokedDetail{Token: id, Link: 2, Of: 2, By: by, At: testkit.Epoch}
	detail, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	short, _ := capwire.RevokedDetail{Token: id, Link: 1, Of: 1}.Marshal()
	env := func(body string) string { return strings.ReplaceAll("a2010003"+body, " ", "") }
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("f/%04d", i)
		}
		return out
	}
	dataAt := func(n int) []any {
		head := mustMarshal(t, exchange.Reply{Status: wire.OK, Body: []byte{0xa1, 0x01, 0x41, 0xdd}})
		head = head[:4] // a2 01 00 03
		body := binary.BigEndian.AppendUint32([]byte{0xa1, 0x01, 0x5a}, uint32(n))
		// The body is an "any" of 3 + 4 + n bytes; the envelope's head
		// before it is a2 01 00 03.
		return []any{hex.EncodeToString(head) + hex.EncodeToString(body), []any{"dd", n}}
	}
	prefix := func(n int) string { return hex.EncodeToString(binary.AppendUvarint(nil, uint64(n))) }
	return []replyVector{
		{Name: "read: the resource", Op: "read", Hex: ok(ReadReply{Data: []byte("standup 9:00")}), Want: "OK", Data: hex.EncodeToString([]byte("standup 9:00")), Len: 12},
		{Name: "read: an empty resource", Op: "read", Hex: ok(ReadReply{Data: []byte{}}), Want: "OK"},
		{Name: "read: an empty resource written null (owners built before)", Op: "read", Hex: env("a101f6"), Want: "BadRequest"},
		{Name: "read: MaxData bytes", Op: "read", Parts: dataAt(MaxData), Want: "OK", Len: MaxData},
		{Name: "read: OK without a body", Op: "read", Hex: "a10100", Want: "BadRequest"},
		{Name: "read: a body without data", Op: "read", Hex: env("a0"), Want: "BadRequest"},
		{Name: "read: data as text", Op: "read", Hex: env("a1016178"), Want: "BadRequest"},
		{Name: "read: a listing body", Op: "read", Hex: ok(ListReply{Names: []string{"a"}}), Want: "BadRequest"},
		{Name: "read: not found", Op: "read", Hex: refuse(wire.NotFound, "no such resource", nil), Want: "NotFound"},
		{Name: "read: locked", Op: "read", Hex: refuse(wire.Locked, "the owner's vault is locked", nil), Want: "Locked"},
		{Name: "read: forbidden", Op: "read", Hex: refuse(wire.Forbidden, "token: ErrNotPermitted", nil), Want: "Forbidden"},
		{Name: "read: expired", Op: "read", Hex: refuse(wire.Expired, "token: ErrExpired", nil), Want: "Expired"},
		{Name: "read: too large", Op: "read", Hex: refuse(wire.TooLarge, "", nil), Want: "TooLarge"},
		{Name: "read: unavailable", Op: "read", Hex: refuse(wire.Unavailable, "catching up", nil), Want: "Unavailable"},
		{Name: "read: rate limited", Op: "read", Hex: refuse(wire.RateLimited, "", nil), Want: "RateLimited"},
		{Name: "read: internal", Op: "read", Hex: refuse(wire.Internal, "", nil), Want: "Internal"},
		{Name: "read: bad request", Op: "read", Hex: refuse(wire.BadRequest, "malformed request", nil), Want: "BadRequest"},
		{Name: "read: revoked, with the detail", Op: "read", Hex: refuse(wire.Revoked, "token: ErrRevoked", detail), Want: "Revoked",
			Detail: &detailVector{Token: hex.EncodeToString(id[:]), Link: 2, Of: 2, By: by.String(), At: testkit.Epoch.Unix()}},
		{Name: "read: revoked, revoker unknown", Op: "read", Hex: refuse(wire.Revoked, "", short), Want: "Revoked",
			Detail: &detailVector{Token: hex.EncodeToString(id[:]), Link: 1, Of: 1}},
		{Name: "read: revoked, without a detail", Op: "read", Hex: refuse(wire.Revoked, "token: ErrRevoked", nil), Want: "Revoked"},
		{Name: "read: revoked, a detail that is not well formed is ignored", Op: "read", Hex: refuse(wire.Revoked, "", []byte{0xa1, 0x01, 0x01}), Want: "Revoked"},
		{Name: "read: revoked, a non-canonical detail is ignored", Op: "read", Hex: refuse(wire.Revoked, "", bytes.Replace(detail, []byte{0x02, 0x02}, []byte{0x02, 0x18, 0x02}, 1)), Want: "Revoked"},
		{Name: "read: a detail on a Forbidden refusal is no revocation", Op: "read", Hex: refuse(wire.Forbidden, "", detail), Want: "Forbidden"},
		{Name: "list: names", Op: "list", Hex: ok(ListReply{Names: []string{"calendar/home", "calendar/work"}}), Want: "OK", Names: []string{"calendar/home", "calendar/work"}},
		{Name: "list: nothing", Op: "list", Hex: ok(ListReply{Names: []string{}}), Want: "OK"},
		{Name: "list: MaxListNames names", Op: "list", Hex: ok(ListReply{Names: names(MaxListNames)}), Want: "OK", Names: names(MaxListNames)},
		{Name: "list: MaxListNames + 1 names", Op: "list", Hex: ok(ListReply{Names: names(MaxListNames + 1)}), Want: "BadRequest"},
		{Name: "list: names null", Op: "list", Hex: env("a101f6"), Want: "BadRequest"},
		{Name: "list: a name that is bytes", Op: "list", Hex: env("a1018141aa"), Want: "BadRequest"},
		{Name: "write: OK", Op: "write", Hex: "a10100", Want: "OK"},
		{Name: "write: OK with a body", Op: "write", Hex: ok(ReadReply{Data: []byte("x")}), Want: "BadRequest"},
		{Name: "write: forbidden", Op: "write", Hex: refuse(wire.Forbidden, "", nil), Want: "Forbidden"},
		{Name: "delete: OK", Op: "delete", Hex: "a10100", Want: "OK"},
		{Name: "delete: not found", Op: "delete", Hex: refuse(wire.NotFound, "", nil), Want: "NotFound"},
		{Name: "a reply frame of MaxResponse bytes is read", Op: "any", Hex: prefix(Limits().MaxResponse), Prefix: true, Want: "read"},
		{Name: "a reply frame of MaxResponse + 1 bytes", Op: "any", Hex: prefix(Limits().MaxResponse + 1), Prefix: true, Want: "TooLarge"},
	}
}

// TestReplyVectors runs each reply of testdata/replies.json through the
// client function of its op, on loopback hosts, the server writing the
// vector's bytes.
func TestReplyVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/replies.json", *update, func() []replyVector { return buildReplyVectors(t) })
	server, client := testkit.Host(t, nil), testkit.Host(t, nil)
	testkit.Connect(t, client, server)
	var current []byte
	server.SetStreamHandler(ID, func(s network.Stream) {
		defer s.Close()
		if _, err := wire.ReadFrame(s, Limits().MaxRequest); err != nil {
			s.Reset()
			return
		}
		wire.WriteFrame(s, current, Limits().MaxResponse)
	})
	tok, err := capability.Decode(vectorToken(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			in := testkit.VectorBytes(t, v.Hex, v.Parts)
			if v.Prefix {
				if got := prefixOutcome(in, Limits().MaxResponse); got != v.Want {
					t.Fatalf("got %s, want %s", got, v.Want)
				}
				return
			}
			current = in
			ctx := testkit.Context(t, 20*time.Second)
			var data []byte
			var names []string
			switch v.Op {
			case "read":
				data, err = Read(ctx, client, server.ID(), tok, "calendar/work")
			case "list":
				names, err = List(ctx, client, server.ID(), tok, "")
			case "write":
				err = Write(ctx, client, server.ID(), tok, "calendar/work", []byte("x"))
			case "delete":
				err = Delete(ctx, client, server.ID(), tok, "calendar/work")
			}
			if got := wire.StatusOf(err).Name(); got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
			if err == nil && (len(data) != v.Len || v.Data != "" && hex.EncodeToString(data) != v.Data || fmt.Sprint(names) != fmt.Sprint(v.Names) && len(names)+len(v.Names) > 0) {
				t.Fatalf("data %d bytes, names %v", len(data), names)
			}
			d, ok := Revoked(err)
			if ok != (v.Detail != nil) {
				t.Fatalf("detail read: %v, want %v", ok, v.Detail != nil)
			}
			if ok {
				got := detailVector{Token: hex.EncodeToString(d.Token[:]), Link: d.Link, Of: d.Of}
				if d.By != "" {
					got.By = d.By.String()
				}
				if !d.At.IsZero() {
					got.At = d.At.Unix()
				}
				if got != *v.Detail {
					t.Fatalf("detail %+v, want %+v", got, *v.Detail)
				}
			}
		})
	}
}

// TestListingIsTheFirstNamesInByteOrder: more names than MaxListNames
// match, and the listing is the first MaxListNames in byte order, which a
// client decodes.
func TestListingIsTheFirstNamesInByteOrder(t *testing.T) {
	w := newWorld(t)
	w.store.mu.Lock()
	for i := MaxListNames + 5; i > 0; i-- {
		w.store.data[capability.ResourcePath(fmt.Sprintf("calendar/n%05d", i))] = []byte("x")
	}
	w.store.mu.Unlock()
	tok := w.grant(t, w.bob.ID(), "calendar/*", capability.List, time.Hour)
	names, err := List(testkit.Context(t, 20*time.Second), w.bob, w.alice.ID(), tok, "")
	if err != nil || len(names) != MaxListNames || names[0] != "calendar/home" || names[MaxListNames-1] != fmt.Sprintf("calendar/n%05d", MaxListNames-1) {
		t.Fatalf("got %d names (%v), err %v", len(names), names[:min(len(names), 3)], err)
	}
	if MaxListNames > wire.MaxArrayElements {
		t.Fatal("a full listing would not decode")
	}
}

// TestDocNumbersMatchTheConstants: doc.go's Limits table and every "Name
// (value)" are the constants.
func TestDocNumbersMatchTheConstants(t *testing.T) {
	lim := Limits()
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxData":       MaxData,
		"MaxListNames":  MaxListNames,
		"maxPath":       maxPath,
		"MaxTokenBytes": capability.MaxTokenBytes,
		"frameSlack":    frameSlack,
		"MaxRequest":    int64(lim.MaxRequest),
		"MaxResponse":   int64(lim.MaxResponse),
		"Timeout":       testkit.Seconds(lim.Timeout),
		"DefaultRate":   DefaultRate,
		"DefaultBurst":  DefaultBurst,
	})
	if lim.MaxRequest != MaxData+capability.MaxTokenBytes+maxPath+frameSlack || lim.MaxResponse != MaxData+frameSlack {
		t.Error("Limits() is not the sums doc.go gives")
	}
	testkit.DocSays(t, doc, "/ocmt/share/2")
	if ID != "/ocmt/share/2" {
		t.Error("the protocol ID changed")
	}
}

// TestIndependentDecoderAgrees runs specs/share/check.py, written from
// doc.go alone, on the committed vectors.
func TestIndependentDecoderAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/share/check.py") }
