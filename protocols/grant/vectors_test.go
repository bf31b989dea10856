package grant

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/peerseal"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// vectorToken is alice's token for bob, valid from testkit.Epoch to 2100,
// with deterministic nonce: the mail vectors open to it.
func vectorToken(t testing.TB) *capability.Token {
	alice, bob := testkit.Key(t, "alice"), testkit.Key(t, "bob")
	tok, err := capability.Issue(alice, capability.Params{Audience: bob.ID(), Resource: "calendar/*", Actions: capability.Read,
		NotBefore: testkit.Epoch, Expiry: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Rand: testkit.NewRand("grant vector token")})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deliveryVector is one Delivery frame body and how far the receiver
// takes it by this protocol's own rules (testdata/README.md).
type deliveryVector struct {
	Name   string `json:"name"`
	Hex    string `json:"hex"`
	Prefix bool   `json:"prefix,omitempty"`
	Want   string `json:"want"` // token, read (prefix) or a status name
}

func buildDeliveryVectors(t testing.TB) []deliveryVector {
	tok := vectorToken(t).Bytes()
	enc := func(d Delivery) string { return hex.EncodeToString(mustMarshal(t, d)) }
	d := func(name string, dl Delivery, want string) deliveryVector {
		return deliveryVector{Name: name, Hex: enc(dl), Want: want}
	}
	raw := func(name, h, want string) deliveryVector {
		return deliveryVector{Name: name, Hex: strings.ReplaceAll(h, " ", ""), Want: want}
	}
	tokHex := hex.EncodeToString(mustMarshal(t, tok))
	prefix := func(n int) string { return hex.EncodeToString(binary.AppendUvarint(nil, uint64(n))) }
	return []deliveryVector{
		d("a token alone", Delivery{Token: tok}, "token"),
		d("a token, a handle and a note", Delivery{Token: tok, Handle: "alice", Note: "for the standup"}, "token"),
		d("a handle of maxHandle bytes, any text", Delivery{Token: tok, Handle: strings.Repeat("Ä", maxHandle/2)}, "token"),
		d("a handle of maxHandle + 1 bytes", Delivery{Token: tok, Handle: strings.Repeat("h", maxHandle+1)}, "BadRequest"),
		d("a note of MaxNote bytes", Delivery{Token: tok, Note: strings.Repeat("n", MaxNote)}, "token"),
		d("a note of MaxNote + 1 bytes", Delivery{Token: tok, Note: strings.Repeat("n", MaxNote+1)}, "BadRequest"),
		d("an empty token reaches the token check (capability refuses it)", Delivery{Token: []byte{}}, "token"),
		raw("no token", "a1 0265616c696365", "BadRequest"),
		raw("a token that is text", "a1 016178", "BadRequest"),
		raw("a token that is null", "a1 01f6", "BadRequest"),
		raw("a handle present and empty", "a2 01"+tokHex+" 0260", "BadRequest"),
		raw("a note present and empty", "a2 01"+tokHex+" 0360", "BadRequest"),
		raw("a note that is bytes", "a2 01"+tokHex+" 034161", "BadRequest"),
		raw("an unknown field 4", "a2 01"+tokHex+" 0401", "BadRequest"),
		raw("keys out of order", "a2 0361 61 01"+tokHex, "BadRequest"),
		raw("a byte after the delivery", enc(Delivery{Token: tok})+"00", "BadRequest"),
		raw("an array, not a map", "81"+tokHex, "BadRequest"),
		raw("an empty body", "", "BadRequest"),
		{Name: "a request frame of maxDelivery bytes is read", Hex: prefix(maxDelivery), Prefix: true, Want: "read"},
		{Name: "a request frame of maxDelivery + 1 bytes", Hex: prefix(maxDelivery + 1), Prefix: true, Want: "TooLarge"},
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

// TestDeliveryVectors checks testdata/deliveries.json against the
// receiver's steps 2 and 3: the canonical decode serve does and
// Delivery.check, which Check applies before the token.
func TestDeliveryVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/deliveries.json", *update, func() []deliveryVector { return buildDeliveryVectors(t) })
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			in, _ := hex.DecodeString(v.Hex)
			if v.Prefix {
				if got := prefixOutcome(in, maxDelivery); got != v.Want {
					t.Fatalf("got %s, want %s", got, v.Want)
				}
				return
			}
			var d Delivery
			err := wire.UnmarshalCanonical(in, &d)
			if err == nil {
				err = d.check()
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

// mailVector is one mailbox item and what OpenMail gives the peer key of
// Seed (testdata/README.md).
type mailVector struct {
	Name   string `json:"name"`
	Hex    string `json:"hex"`
	Seed   string `json:"seed"`
	Want   string `json:"want"` // ok or refused
	Handle string `json:"handle,omitempty"`
	Note   string `json:"note,omitempty"`
}

func seedOf(k *keys.PeerKey) string { s := k.Seed(); defer clear(s); return hex.EncodeToString(s) }

func buildMailVectors(t *testing.T) []mailVector {
	cryptotest.SetGlobalRandom(t, 2027)
	bob, carol := testkit.Key(t, "bob"), testkit.Key(t, "carol")
	tok := vectorToken(t)
	seal := func(pt []byte, to peer.ID) string {
		b, err := peerseal.Seal([]peer.ID{to}, pt)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	good, err := Seal(tok, "alice", "hi bob")
	if err != nil {
		t.Fatal(err)
	}
	over := bytes.Repeat([]byte{0xab}, maxSealedDelivery+1)
	largest, err := Seal(tok, strings.Repeat("h", maxHandle), strings.Repeat("n", MaxNote))
	if err != nil || len(largest) > maxSealedDelivery {
		t.Fatalf("the largest delivery seals to %d bytes (%v)", len(largest), err)
	}
	return []mailVector{
		{Name: "a sealed delivery", Hex: hex.EncodeToString(good), Seed: seedOf(bob), Want: "ok", Handle: "alice", Note: "hi bob"},
		{Name: "a sealed delivery without handle or note", Hex: seal(mustMarshal(t, Delivery{Token: tok.Bytes()}), bob.ID()), Seed: seedOf(bob), Want: "ok"},
		{Name: "the largest delivery (note and handle at their caps)", Hex: hex.EncodeToString(largest), Seed: seedOf(bob), Want: "ok",
			Note: strings.Repeat("n", MaxNote), Handle: strings.Repeat("h", maxHandle)},
		{Name: "an item of maxSealedDelivery + 1 bytes is refused unopened", Hex: hex.EncodeToString(over), Seed: seedOf(bob), Want: "refused"},
		{Name: "sealed to another peer", Hex: hex.EncodeToString(good), Seed: seedOf(carol), Want: "refused"},
		{Name: "a plaintext that is not a delivery", Hex: seal([]byte("hello"), bob.ID()), Seed: seedOf(bob), Want: "refused"},
		{Name: "a non-canonical delivery", Hex: seal(append([]byte{0xa1, 0x01, 0x59, byte(len(tok.Bytes()) >> 8), byte(len(tok.Bytes()))}, tok.Bytes()...), bob.ID()), Seed: seedOf(bob), Want: "refused"},
		{Name: "a note over MaxNote", Hex: seal(mustMarshal(t, Delivery{Token: tok.Bytes(), Note: strings.Repeat("n", MaxNote+1)}), bob.ID()), Seed: seedOf(bob), Want: "refused"},
		{Name: "a delivery whose token is for another peer", Hex: seal(mustMarshal(t, Delivery{Token: otherToken(t).Bytes()}), bob.ID()), Seed: seedOf(bob), Want: "refused"},
		{Name: "a tampered item", Hex: hex.EncodeToString(append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1)), Seed: seedOf(bob), Want: "refused"},
	}
}

// otherToken is alice's token for carol.
func otherToken(t testing.TB) *capability.Token {
	alice, carol := testkit.Key(t, "alice"), testkit.Key(t, "carol")
	tok, err := capability.Issue(alice, capability.Params{Audience: carol.ID(), Resource: "calendar/*", Actions: capability.Read,
		NotBefore: testkit.Epoch, Expiry: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Rand: testkit.NewRand("grant other token")})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestMailVectors opens every item of testdata/mail.json with OpenMail at
// testkit.Epoch. Like peerseal's, the file is written by -update with
// deterministic randomness and only read otherwise.
func TestMailVectors(t *testing.T) {
	path := "testdata/mail.json"
	if *update {
		testkit.Vectors(t, path, true, func() []mailVector { return buildMailVectors(t) })
	}
	for _, v := range testkit.ReadVectors[mailVector](t, path) {
		t.Run(v.Name, func(t *testing.T) {
			seed, _ := hex.DecodeString(v.Seed)
			k, err := keys.PeerKeyFromSeed(seed)
			if err != nil {
				t.Fatal(err)
			}
			in, _ := hex.DecodeString(v.Hex)
			r, err := OpenMail(&k, in, testkit.Epoch.Add(time.Hour))
			got := "ok"
			if err != nil {
				got = "refused"
			}
			if got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
			if err == nil && (r.Handle != v.Handle || r.Note != v.Note || r.Token.ID() != vectorToken(t).ID()) {
				t.Fatalf("opened %+v", r)
			}
		})
	}
}

// replyVector is one reply frame body the sender reads (testdata/README.md).
type replyVector struct {
	Name   string `json:"name"`
	Hex    string `json:"hex"`
	Prefix bool   `json:"prefix,omitempty"`
	Want   string `json:"want"`
}

func buildReplyVectors(t testing.TB) []replyVector {
	refuse := func(st wire.Status, msg string) string {
		return hex.EncodeToString(mustMarshal(t, exchange.Reply{Status: st, Message: msg}))
	}
	prefix := func(n int) string { return hex.EncodeToString(binary.AppendUvarint(nil, uint64(n))) }
	return []replyVector{
		{Name: "accepted", Hex: "a10100", Want: "OK"},
		{Name: "accepted, with a body", Hex: hex.EncodeToString(mustMarshal(t, exchange.Reply{Status: wire.OK, Body: []byte{0xa0}})), Want: "BadRequest"},
		{Name: "malformed delivery", Hex: refuse(wire.BadRequest, "malformed delivery"), Want: "BadRequest"},
		{Name: "not for this peer", Hex: refuse(wire.Forbidden, "token: ErrWrongAudience"), Want: "Forbidden"},
		{Name: "not sent by its issuer", Hex: refuse(wire.Forbidden, "token was not issued by the sender"), Want: "Forbidden"},
		{Name: "expired", Hex: refuse(wire.Expired, "token: ErrExpired"), Want: "Expired"},
		{Name: "rate limited", Hex: refuse(wire.RateLimited, "too many deliveries"), Want: "RateLimited"},
		{Name: "the receiver failed", Hex: "a1010a", Want: "Internal"},
		{Name: "frame too large", Hex: refuse(wire.TooLarge, "frame too large"), Want: "TooLarge"},
		{Name: "busy", Hex: refuse(wire.Unavailable, "server busy"), Want: "Unavailable"},
		{Name: "a refusal with a detail is still the refusal", Hex: "a20103 0401", Want: "Forbidden"},
		{Name: "a reply frame of maxResponse bytes is read", Hex: prefix(maxResponse), Prefix: true, Want: "read"},
		{Name: "a reply frame of maxResponse + 1 bytes", Hex: prefix(maxResponse + 1), Prefix: true, Want: "TooLarge"},
	}
}

// TestReplyVectors runs each reply through Deliver on loopback hosts, the
// receiver writing the vector's bytes.
func TestReplyVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/replies.json", *update, func() []replyVector { return buildReplyVectors(t) })
	alice, bob := testkit.Key(t, "alice"), testkit.Key(t, "bob")
	sender, receiver := testkit.Host(t, alice), testkit.Host(t, bob)
	testkit.Connect(t, sender, receiver)
	var current []byte
	receiver.SetStreamHandler(ID, func(s network.Stream) {
		defer s.Close()
		if _, err := wire.ReadFrame(s, maxDelivery); err != nil {
			s.Reset()
			return
		}
		wire.WriteFrame(s, current, maxResponse)
	})
	tok := vectorToken(t)
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			in, _ := hex.DecodeString(strings.ReplaceAll(v.Hex, " ", ""))
			if v.Prefix {
				if got := prefixOutcome(in, maxResponse); got != v.Want {
					t.Fatalf("got %s, want %s", got, v.Want)
				}
				return
			}
			current = in
			err := Deliver(testkit.Context(t, 10*time.Second), sender, tok, "alice", "")
			if got := wire.StatusOf(err).Name(); got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
		})
	}
}

// TestDocNumbersMatchTheConstants: doc.go's Limits table and every "Name
// (value)" are the constants.
func TestDocNumbersMatchTheConstants(t *testing.T) {
	lim := Limits()
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxNote":           MaxNote,
		"maxHandle":         maxHandle,
		"MaxTokenBytes":     capability.MaxTokenBytes,
		"maxDelivery":       maxDelivery,
		"maxSealedDelivery": maxSealedDelivery,
		"maxResponse":       maxResponse,
		"timeout":           testkit.Seconds(timeout),
		"senderRate":        senderRate,
		"senderBurst":       senderBurst,
	})
	if lim.MaxRequest != maxDelivery || lim.MaxResponse != maxResponse || lim.Timeout != timeout {
		t.Error("Limits() is not doc.go's")
	}
	testkit.DocSays(t, doc, "(4096 + 256 + 64 + 64)", "(maxDelivery + 1024)", "/ocmt/grant/1")
	if ID != "/ocmt/grant/1" {
		t.Error("the protocol ID changed")
	}
}

// TestIndependentDecoderAgrees runs specs/grant/check.py, written from
// doc.go alone, on the committed vectors.
func TestIndependentDecoderAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/grant/check.py") }
