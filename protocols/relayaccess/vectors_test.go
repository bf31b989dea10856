package relayaccess

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/directory"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// vector is one request or reply frame body (testdata/README.md).
type vector struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // request, reply, registration, voucher-request, voucher-reply
	Hex    string `json:"hex"`
	Prefix bool   `json:"prefix,omitempty"`
	Want   string `json:"want"`
	// Registration and voucher-reply vectors: the authenticated node, the
	// bootstrap the relay trusts (or the node asked), and the checker's
	// clock (unix seconds).
	Remote    string `json:"remote,omitempty"`
	Bootstrap string `json:"bootstrap,omitempty"`
	Now       int64  `json:"now,omitempty"`
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
	return append([]vector{
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
	}, registrationVectors(t)...)
}

// The registration vectors' parties and times (testdata/README.md).
var (
	vIssued = testkit.Epoch
	vNow    = testkit.Epoch.Add(time.Hour)
)

func registrationVectors(t testing.TB) []vector {
	nk, bk, ok, uk := testkit.Key(t, "node"), testkit.Key(t, "bootstrap"), testkit.Key(t, "other"), testkit.Key(t, "untrusted bootstrap")
	rec, rec2, otherRec := signedRecord(t, nk, "node", 1), signedRecord(t, nk, "node", 2), signedRecord(t, ok, "other", 1)
	sum := func(sr *directory.SignedRecord) []byte { h := sha256.Sum256(sr.Payload); return h[:] }
	good := voucher{V: VoucherVersion, Peer: []byte(nk.ID()), Bootstrap: []byte(bk.ID()), Record: sum(rec),
		Issued: vIssued.Unix(), Expires: vIssued.Add(VoucherTTL).Unix()}
	marshal := func(v any) []byte {
		b, err := wire.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sign := func(k *keys.PeerKey, payload []byte) []byte {
		sig, err := k.Libp2pPrivKey().Sign(VoucherMessage(payload))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	reg := func(sr *directory.SignedRecord, v any, k *keys.PeerKey) Registration {
		p := marshal(v)
		return Registration{Record: sr, Voucher: p, Sig: sign(k, p)}
	}
	with := func(f func(*voucher)) voucher { v := good; f(&v); return v }
	type vouchExtra struct {
		voucher
		Extra uint64 `cbor:"7,keyasint"`
	}
	type regNoSig struct {
		Record  *directory.SignedRecord `cbor:"1,keyasint"`
		Voucher []byte                  `cbor:"2,keyasint"`
	}
	type regExtra struct {
		Registration
		Extra uint64 `cbor:"4,keyasint"`
	}
	ok1 := reg(rec, good, bk)
	badSig := ok1
	badSig.Sig = append([]byte(nil), ok1.Sig...)
	badSig.Sig[0] ^= 1
	shortSig := ok1
	shortSig.Sig = ok1.Sig[:63]
	forged := *rec
	forged.Sig = append([]byte(nil), rec.Sig...)
	forged.Sig[5] ^= 1
	unsigned := reg(&forged, with(func(v *voucher) { v.Record = sum(&forged) }), bk)
	long := with(func(v *voucher) { v.Expires = v.Issued + int64(MaxVoucherLifetime/time.Second) })
	tooLong := with(func(v *voucher) { v.Expires = v.Issued + int64(MaxVoucherLifetime/time.Second) + 1 })
	node, boot := nk.ID().String(), bk.ID().String()
	r := func(name string, body []byte, now time.Time, want string) vector {
		return vector{Name: name, Kind: "registration", Hex: hex.EncodeToString(body), Want: want, Remote: node, Bootstrap: boot, Now: now.Unix()}
	}
	skew := directory.MaxClockSkew
	vs := []vector{
		r("a registration", marshal(ok1), vNow, "OK"),
		r("a registration at issued − MaxClockSkew", marshal(ok1), vIssued.Add(-skew), "OK"),
		r("a registration a second before issued − MaxClockSkew", marshal(ok1), vIssued.Add(-skew-time.Second), "Expired"),
		r("a registration a second before it expires", marshal(ok1), vIssued.Add(VoucherTTL-time.Second), "OK"),
		r("a registration when it expires", marshal(ok1), vIssued.Add(VoucherTTL), "Expired"),
		r("a voucher of MaxVoucherLifetime", marshal(reg(rec, long, bk)), vNow, "OK"),
		r("a voucher of MaxVoucherLifetime + 1 s", marshal(reg(rec, tooLong, bk)), vNow, "BadRequest"),
		r("another peer's record and voucher", marshal(reg(otherRec, with(func(v *voucher) { v.Peer, v.Record = []byte(ok.ID()), sum(otherRec) }), bk)), vNow, "Forbidden"),
		r("a voucher for another peer", marshal(reg(rec, with(func(v *voucher) { v.Peer = []byte(ok.ID()) }), bk)), vNow, "Forbidden"),
		r("a voucher for another record of the same peer", marshal(reg(rec, with(func(v *voucher) { v.Record = sum(rec2) }), bk)), vNow, "Forbidden"),
		r("a voucher from a bootstrap the relay does not trust", marshal(reg(rec, with(func(v *voucher) { v.Bootstrap = []byte(uk.ID()) }), uk)), vNow, "Forbidden"),
		r("a voucher naming the trusted bootstrap, signed by another key", marshal(reg(rec, good, uk)), vNow, "Forbidden"),
		r("a voucher with a bad signature", marshal(badSig), vNow, "Forbidden"),
		r("an expired voucher for another peer (the peer is checked first)", marshal(reg(rec, with(func(v *voucher) { v.Peer = []byte(ok.ID()) }), bk)), vIssued.Add(VoucherTTL), "Forbidden"),
		r("a signature of 63 bytes", marshal(shortSig), vNow, "BadRequest"),
		r("a record whose owner signature fails", marshal(unsigned), vNow, "BadRequest"),
		r("an empty voucher", marshal(Registration{Record: rec, Voucher: []byte{}, Sig: ok1.Sig}), vNow, "BadRequest"),
		r("a voucher of MaxVoucherBytes + 1 bytes", marshal(Registration{Record: rec, Voucher: make([]byte, MaxVoucherBytes+1), Sig: ok1.Sig}), vNow, "BadRequest"),
		r("voucher version 2", marshal(reg(rec, with(func(v *voucher) { v.V = 2 }), bk)), vNow, "BadRequest"),
		r("a record hash of 31 bytes", marshal(reg(rec, with(func(v *voucher) { v.Record = v.Record[:31] }), bk)), vNow, "BadRequest"),
		r("a voucher peer that is not a peer ID", marshal(reg(rec, with(func(v *voucher) { v.Peer = v.Peer[:37] }), bk)), vNow, "BadRequest"),
		r("expires equal to issued", marshal(reg(rec, with(func(v *voucher) { v.Expires = v.Issued }), bk)), vIssued, "BadRequest"),
		r("issued 0", marshal(reg(rec, with(func(v *voucher) { v.Issued, v.Expires = 0, 3600 }), bk)), time.Unix(60, 0), "BadRequest"),
		r("a voucher with an unknown field 7", marshal(reg(rec, vouchExtra{good, 1}, bk)), vNow, "BadRequest"),
		r("a registration without field 3 (sig)", marshal(regNoSig{Record: rec, Voucher: ok1.Voucher}), vNow, "BadRequest"),
		r("a registration with an unknown field 4", marshal(regExtra{ok1, 1}), vNow, "BadRequest"),
		r("a byte after the registration", append(marshal(ok1), 0), vNow, "BadRequest"),
		r("an empty body", nil, vNow, "BadRequest"),
	}
	prefix := func(n int) string { return hex.EncodeToString(binary.AppendUvarint(nil, uint64(n))) }
	vq := func(name, h, want string) vector {
		return vector{Name: name, Kind: "voucher-request", Hex: strings.ReplaceAll(h, " ", ""), Want: want}
	}
	vs = append(vs,
		vq("a voucher request", "a0", "pass"),
		vq("a voucher request with a field", "a1 0100", "BadRequest"),
		vq("a voucher request that is an array", "80", "BadRequest"),
		vq("a voucher request with a byte after it", "a0 00", "BadRequest"),
		vq("an empty voucher request", "", "BadRequest"),
		vector{Name: "a voucher request frame of maxVoucherRequest bytes is read", Kind: "voucher-request", Hex: prefix(maxVoucherRequest), Prefix: true, Want: "read"},
		vector{Name: "a voucher request frame of maxVoucherRequest + 1 bytes", Kind: "voucher-request", Hex: prefix(maxVoucherRequest + 1), Prefix: true, Want: "TooLarge"},
		vector{Name: "a register request frame of maxRegistration bytes is read", Kind: "registration", Hex: prefix(maxRegistration), Prefix: true, Want: "read"},
		vector{Name: "a register request frame of maxRegistration + 1 bytes", Kind: "registration", Hex: prefix(maxRegistration + 1), Prefix: true, Want: "TooLarge"},
		vector{Name: "a voucher reply frame of maxVoucherResponse bytes is read", Kind: "voucher-reply", Hex: prefix(maxVoucherResponse), Prefix: true, Want: "read"},
		vector{Name: "a voucher reply frame of maxVoucherResponse + 1 bytes", Kind: "voucher-reply", Hex: prefix(maxVoucherResponse + 1), Prefix: true, Want: "TooLarge"},
	)
	refuse := func(st wire.Status, msg string) []byte { return marshal(exchange.Reply{Status: st, Message: msg}) }
	vr := func(name string, body []byte, want string) vector {
		return vector{Name: name, Kind: "voucher-reply", Hex: hex.EncodeToString(body), Want: want, Remote: node, Bootstrap: boot, Now: vNow.Unix()}
	}
	okBody := marshal(ok1)
	return append(vs,
		vr("a voucher", marshal(exchange.Reply{Status: wire.OK, Body: okBody}), "OK"),
		vr("a voucher for another peer", marshal(exchange.Reply{Status: wire.OK, Body: marshal(reg(rec, with(func(v *voucher) { v.Peer = []byte(ok.ID()) }), bk))}), "BadRequest"),
		vr("a voucher signed by another bootstrap", marshal(exchange.Reply{Status: wire.OK, Body: marshal(reg(rec, with(func(v *voucher) { v.Bootstrap = []byte(uk.ID()) }), uk))}), "BadRequest"),
		vr("a voucher with a bad signature", marshal(exchange.Reply{Status: wire.OK, Body: marshal(badSig)}), "BadRequest"),
		vr("OK without a body", must(hex.DecodeString("a10100")), "BadRequest"),
		vr("not registered", refuse(wire.NotFound, "not found"), "NotFound"),
		vr("slow down", refuse(wire.RateLimited, "slow down"), "RateLimited"),
		vr("the bootstrap failed", must(hex.DecodeString("a1010a")), "Internal"),
	)
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// registrationOutcome is the relay's reading of a register request body
// (steps 2 and 3 of relay-register/1) at the vector's clock.
func registrationOutcome(t *testing.T, v vector, in []byte) string {
	remote, err := peer.Decode(v.Remote)
	if err != nil {
		t.Fatal(err)
	}
	boot, err := peer.Decode(v.Bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	var reg Registration
	if err := wire.UnmarshalCanonical(in, &reg); err != nil {
		return wire.StatusOf(err).Name()
	}
	_, err = reg.Verify(remote, func(p peer.ID) bool { return p == boot }, time.Unix(v.Now, 0))
	return wire.StatusOf(err).Name()
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
	nodeH, bootH := testkit.Host(t, testkit.Key(t, "node")), testkit.Host(t, testkit.Key(t, "bootstrap"))
	testkit.Connect(t, nodeH, bootH)
	bootH.SetStreamHandler(VoucherID, func(s network.Stream) {
		defer s.Close()
		if _, err := wire.ReadFrame(s, maxVoucherRequest); err != nil {
			s.Reset()
			return
		}
		wire.WriteFrame(s, current, maxVoucherResponse)
	})
	tok, err := capability.Decode(vectorToken(t))
	if err != nil {
		t.Fatal(err)
	}
	caps := map[string]int{"request": maxRequest, "reply": maxResponse, "registration": maxRegistration,
		"voucher-request": maxVoucherRequest, "voucher-reply": maxVoucherResponse}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			in, _ := hex.DecodeString(v.Hex)
			if v.Prefix {
				if got := prefixOutcome(in, caps[v.Kind]); got != v.Want {
					t.Fatalf("got %s, want %s", got, v.Want)
				}
				return
			}
			var got string
			switch v.Kind {
			case "registration":
				got = registrationOutcome(t, v, in)
			case "voucher-request":
				got = "pass"
				if err := wire.UnmarshalCanonical(in, &voucherRequest{}); err != nil {
					got = wire.StatusOf(err).Name()
				}
			case "voucher-reply":
				current = in
				_, err := fetchVoucher(testkit.Context(t, 10*time.Second), nodeH, bootH.ID(), time.Unix(v.Now, 0))
				got = wire.StatusOf(err).Name()
			}
			if got != "" {
				if got != v.Want {
					t.Fatalf("got %s, want %s", got, v.Want)
				}
				return
			}
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

		"VoucherVersion":     VoucherVersion,
		"MaxVoucherBytes":    MaxVoucherBytes,
		"VoucherTTL":         testkit.Seconds(VoucherTTL),
		"MaxVoucherLifetime": testkit.Seconds(MaxVoucherLifetime),
		"MaxClockSkew":       testkit.Seconds(directory.MaxClockSkew),
		"MaxRecordBytes":     directory.MaxRecordBytes,
		"maxRegistration":    maxRegistration,
		"maxVoucherRequest":  maxVoucherRequest,
		"maxVoucherResponse": maxVoucherResponse,
		"MaxRegistrations":   MaxRegistrations,
		"RegisterRate":       RegisterRate,
		"RegisterBurst":      RegisterBurst,
		"RegisterTotalRate":  RegisterTotalRate,
		"RegisterTotalBurst": RegisterTotalBurst,
		"VoucherRate":        VoucherRate,
		"VoucherBurst":       VoucherBurst,
		"VoucherTotalRate":   VoucherTotalRate,
		"VoucherTotalBurst":  VoucherTotalBurst,
		"maxTrackedPeers":    maxTrackedPeers,
	})
	testkit.DocSays(t, doc, "/ocmt/relay-access/1", `"relay/access"`, VoucherID, RegisterID, `"`+VoucherLabel+`" || 0x00 || voucher`,
		"(MaxRecordBytes + MaxVoucherBytes + 128)", "(maxRegistration + 16 + 64)")
	if ID != "/ocmt/relay-access/1" || Resource != "relay/access" || VoucherID != "/ocmt/relay-voucher/1" ||
		RegisterID != "/ocmt/relay-register/1" || VoucherLabel != "ocmt-mesh/relay-voucher/v1" {
		t.Error("a protocol ID, the resource or the voucher label changed")
	}
}

// TestIndependentDecoderAgrees runs specs/relayaccess/check.py, written
// from doc.go alone, on the committed vectors.
func TestIndependentDecoderAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/relayaccess/check.py") }
