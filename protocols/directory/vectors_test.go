package directory

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// component builds one binary multiaddr component: the code's varint and
// the value, length-prefixed when lp is set.
func component(code uint64, value []byte, lp bool) []byte {
	out := binary.AppendUvarint(nil, code)
	if lp {
		out = binary.AppendUvarint(out, uint64(len(value)))
	}
	return append(out, value...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	ip4     = component(4, []byte{203, 0, 113, 7}, false)
	tcp4001 = component(6, []byte{0x0f, 0xa1}, false)
	udp4001 = component(273, []byte{0x0f, 0xa1}, false)
	quicV1  = component(461, nil, false)
	circuit = component(290, nil, false)
)

func p2p(id peer.ID) []byte { return component(421, []byte(id), true) }

// insertField adds key and value (already encoded) to a canonical CBOR
// map's bytes, keeping the keys sorted: for vectors no struct can encode.
func insertField(t testing.TB, m []byte, key byte, value []byte) []byte {
	t.Helper()
	n := int(m[0] & 0x1f)
	if m[0]>>5 != 5 || n >= 23 {
		t.Fatalf("not a small map: %x", m[:1])
	}
	// Walk the pairs; every key is a small uint, so a key is one byte.
	pos := 1
	for i := 0; i < n; i++ {
		if m[pos] > key {
			break
		}
		pos++
		pos = skipItem(t, m, pos)
	}
	out := append([]byte{m[0] + 1}, m[1:pos]...)
	out = append(out, key)
	out = append(out, value...)
	return append(out, m[pos:]...)
}

// skipItem returns the offset after the data item at pos (definite
// lengths only: what wire.Marshal writes).
func skipItem(t testing.TB, b []byte, pos int) int {
	t.Helper()
	major, ai := b[pos]>>5, b[pos]&0x1f
	pos++
	var arg uint64
	switch {
	case ai < 24:
		arg = uint64(ai)
	case ai <= 27:
		size := 1 << (ai - 24)
		for _, c := range b[pos : pos+size] {
			arg = arg<<8 | uint64(c)
		}
		pos += size
	default:
		t.Fatalf("indefinite item at %d", pos)
	}
	switch major {
	case 2, 3:
		return pos + int(arg)
	case 4:
		for i := uint64(0); i < arg; i++ {
			pos = skipItem(t, b, pos)
		}
	case 5:
		for i := uint64(0); i < 2*arg; i++ {
			pos = skipItem(t, b, pos)
		}
	}
	return pos
}

// moreRecordVectors are the record vectors added with the complete
// doc.go: each limit at and past its value, each rule of the payload and
// relay tables, and the signature's own rules.
func moreRecordVectors(t *testing.T, k *keys.PeerKey) []vector {
	relayID := seedKey(t, 9).ID()
	base := payload{V: 1, Handle: "alice", Peer: []byte(k.ID()), Seq: 1, Issued: issued.Unix()}
	mod := func(f func(*payload)) *SignedRecord { p := base; f(&p); return signRaw(t, k, p) }
	enc := func(sr *SignedRecord) string { b, _ := wire.Marshal(sr); return hex.EncodeToString(b) }
	signBytes := func(pb []byte) *SignedRecord {
		sig := k.Sign(keys.DirectoryMessage(pb))
		return &SignedRecord{Payload: pb, Sig: sig[:]}
	}
	ok := func(name string, sr *SignedRecord, handle string, seq uint64) vector {
		if _, _, err := ParseSignedRecord(mustMarshal(t, sr)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return vector{Name: name, Hex: enc(sr), Valid: true, Handle: handle, Peer: k.ID().String(), Seq: seq}
	}
	relays := func(rs ...[]byte) func(*payload) { return func(p *payload) { p.Relays = rs } }
	dns := func(code uint64, name string) []byte { return component(code, []byte(name), true) }
	basePB, _ := wire.Marshal(base)

	eight := make([][]byte, MaxRelays)
	for i := range eight {
		eight[i] = cat(ip4, tcp4001, p2p(relayID), circuit)
	}
	full := payload{V: 1, Handle: strings.Repeat("z", MaxHandleLen), Peer: []byte(k.ID()), Name: strings.Repeat("n", MaxNameBytes),
		Seq: 1<<64 - 1, Issued: 1<<63 - 1}
	for range MaxRelays {
		full.Relays = append(full.Relays, cat(dns(54, strings.Repeat("a", 250)), component(6, []byte{0, 1}, false)))
	}
	fullSR := signRaw(t, k, full)
	if len(full.Relays[0]) != MaxAddrBytes {
		t.Fatalf("the at-cap relay is %d bytes", len(full.Relays[0]))
	}

	good, _ := SignRecord(k, sampleRecord(t, k))
	s := new(big.Int).SetBytes(reverse(good.Sig[32:]))
	s.Add(s, ed25519Order)
	highS := append(append([]byte(nil), good.Sig[:32]...), reverse(s.FillBytes(make([]byte, 32)))...)
	nonCanonPeer := append([]byte("\x00\x24\x08\x01\x12\x20\xee"), bytes.Repeat([]byte{0xff}, 30)...)
	nonCanonPeer = append(nonCanonPeer, 0x7f)
	hashedPeer := append([]byte{0x12, 0x20}, bytes.Repeat([]byte{7}, 32)...)
	garbage := func(n int) *SignedRecord { return &SignedRecord{Payload: bytes.Repeat([]byte{0xa0}, n), Sig: good.Sig} }

	return []vector{
		ok("every field at its cap", fullSR, full.Handle, full.Seq),
		ok("MaxRelays relays", mod(relays(eight...)), "alice", 1),
		ok("a DNS relay over QUIC", mod(relays(cat(dns(54, "relay-1.example.org"), udp4001, quicV1, p2p(relayID), circuit))), "alice", 1),
		ok("an IPv6 relay, dns and dns6 names", mod(relays(cat(component(41, net16(), false), tcp4001, p2p(relayID), circuit),
			cat(dns(53, "R.EXAMPLE"), tcp4001), cat(dns(55, "a.b-c"), udp4001, quicV1))), "alice", 1),
		ok("a DNS name of MaxDNSNameBytes", mod(relays(dns(54, strings.Repeat("d", MaxDNSNameBytes)))), "alice", 1),
		ok("a handle of MinHandleLen", mod(func(p *payload) { p.Handle = "a-" }), "a-", 1),
		ok("a handle of every allowed kind of character", mod(func(p *payload) { p.Handle = "a_z-0_9" }), "a_z-0_9", 1),
		ok("a printable name in several scripts", mod(func(p *payload) { p.Name = "Zoë Åsa 李 ‘x’ €5 🙂" }), "alice", 1),
		ok("the largest seq", mod(func(p *payload) { p.Seq = 1<<64 - 1 }), "alice", 1<<64-1),
		{Name: "a relay of MaxAddrBytes + 1 bytes", Hex: enc(mod(relays(cat(dns(54, strings.Repeat("a", 251)), component(6, []byte{0, 1}, false)))))},
		{Name: "a DNS name of MaxDNSNameBytes + 1", Hex: enc(mod(relays(dns(54, strings.Repeat("d", MaxDNSNameBytes+1)))))},
		{Name: "a DNS name with an underscore", Hex: enc(mod(relays(cat(dns(54, "_relay.example"), tcp4001))))},
		{Name: "a DNS name with a slash", Hex: enc(mod(relays(cat(dns(54, "a/b"), tcp4001))))},
		{Name: "an empty DNS name", Hex: enc(mod(relays(cat(dns(54, ""), tcp4001))))},
		{Name: "a websocket relay (ws is not allowed)", Hex: enc(mod(relays(cat(ip4, tcp4001, component(477, nil, false)))))},
		{Name: "a unix-socket relay (unix is not allowed)", Hex: enc(mod(relays(component(400, []byte("/tmp/s"), true))))},
		{Name: "an IPv6 zone (ip6zone is not allowed)", Hex: enc(mod(relays(cat(component(42, []byte("eth0"), true), component(41, net16(), false)))))},
		{Name: "a relay whose protocol code is not minimally encoded", Hex: enc(mod(relays(cat([]byte{0x84, 0x00}, ip4[1:], tcp4001))))},
		{Name: "a relay whose p2p length is not minimally encoded", Hex: enc(mod(relays(cat(ip4, []byte{0xa5, 0x03, 0xa6, 0x00}, []byte(relayID)))))},
		{Name: "a relay p2p component with a hashed peer ID", Hex: enc(mod(relays(cat(ip4, tcp4001, component(421, hashedPeer, true)))))},
		{Name: "a relay cut inside a component", Hex: enc(mod(relays(ip4[:3])))},
		{Name: "an empty relay", Hex: enc(mod(relays([]byte{})))},
		{Name: "relays present and empty", Hex: enc(signBytes(insertField(t, basePB, 4, []byte{0x80})))},
		{Name: "a name present and empty", Hex: enc(signBytes(insertField(t, basePB, 5, []byte{0x60})))},
		{Name: "a name of MaxNameBytes + 1 multi-byte bytes", Hex: enc(mod(func(p *payload) { p.Name = strings.Repeat("é", MaxNameBytes/2) + "x" }))},
		{Name: "a name with a no-break space", Hex: enc(mod(func(p *payload) { p.Name = "a\u00a0b" }))},
		{Name: "a name with a zero-width space (a format character)", Hex: enc(mod(func(p *payload) { p.Name = "a\u200bb" }))},
		{Name: "a name with an unassigned code point", Hex: enc(mod(func(p *payload) { p.Name = "a\U000E0080b" }))},
		{Name: "a name with a line feed", Hex: enc(mod(func(p *payload) { p.Name = "a\nb" }))},
		{Name: "a name with invalid UTF-8", Hex: enc(signBytes(insertField(t, basePB, 5, []byte{0x62, 0xc3, 0x28})))},
		{Name: "a handle of MaxHandleLen + 1", Hex: enc(mod(func(p *payload) { p.Handle = strings.Repeat("z", MaxHandleLen+1) }))},
		{Name: "a handle of one character", Hex: enc(mod(func(p *payload) { p.Handle = "a" }))},
		{Name: "a handle with a non-ASCII letter", Hex: enc(mod(func(p *payload) { p.Handle = "ålice" }))},
		{Name: "a handle with a dot", Hex: enc(mod(func(p *payload) { p.Handle = "al.ice" }))},
		{Name: "a negative issued time", Hex: enc(mod(func(p *payload) { p.Issued = -1 }))},
		{Name: "a peer ID with a non-canonical key", Hex: enc(mod(func(p *payload) { p.Peer = nonCanonPeer }))},
		{Name: "a hashed (SHA-256 multihash) peer ID", Hex: enc(mod(func(p *payload) { p.Peer = hashedPeer }))},
		{Name: "a version written 18 01", Hex: enc(signBytes(bytes.Replace(basePB, []byte{0x01, 0x01, 0x02}, []byte{0x01, 0x18, 0x01, 0x02}, 1)))},
		{Name: "an unknown payload field 8", Hex: enc(signBytes(insertField(t, basePB, 8, []byte{0x01})))},
		{Name: "the handle missing", Hex: enc(signBytes(deleteField(t, basePB, 2)))},
		{Name: "the issued time missing", Hex: enc(signBytes(deleteField(t, basePB, 7)))},
		{Name: "a signature with S + ℓ (S not below the group order)", Hex: enc(&SignedRecord{Payload: good.Payload, Sig: highS})},
		{Name: "a signature of 65 bytes", Hex: enc(&SignedRecord{Payload: good.Payload, Sig: append(append([]byte(nil), good.Sig...), 0)})},
		{Name: "an empty payload", Hex: enc(&SignedRecord{Payload: []byte{}, Sig: good.Sig})},
		{Name: "a payload of MaxPayloadBytes + 1 bytes", Hex: enc(garbage(MaxPayloadBytes + 1))},
		{Name: "an envelope of MaxRecordBytes + 1 bytes", Hex: enc(garbage(MaxRecordBytes + 1 - 3 - 3 - 66))},
		{Name: "an envelope with an unknown field 3", Hex: hex.EncodeToString(insertField(t, mustMarshal(t, good), 3, []byte{0x01}))},
		{Name: "an envelope whose payload is text", Hex: "a2016161025840" + hex.EncodeToString(good.Sig)},
		{Name: "an envelope without a signature", Hex: hex.EncodeToString(deleteField(t, mustMarshal(t, good), 2))},
		{Name: "an envelope whose signature is null", Hex: hex.EncodeToString(insertField(t, deleteField(t, mustMarshal(t, good), 2), 2, []byte{0xf6}))},
	}
}

var ed25519Order, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}

func net16() []byte { return append(make([]byte, 15), 1) }

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deleteField removes key from a canonical CBOR map of small keys.
func deleteField(t testing.TB, m []byte, key byte) []byte {
	t.Helper()
	n := int(m[0] & 0x1f)
	pos := 1
	for i := 0; i < n; i++ {
		if m[pos] == key {
			end := skipItem(t, m, pos+1)
			return append(append([]byte{m[0] - 1}, m[1:pos]...), m[end:]...)
		}
		pos = skipItem(t, m, pos+1)
	}
	t.Fatalf("no key %d", key)
	return nil
}

// requestVector is one request frame body and what the server answers
// for the remote peer Remote, before its stores decide (testdata/README.md).
type requestVector struct {
	Name   string `json:"name"`
	Hex    string `json:"hex,omitempty"`
	Parts  []any  `json:"parts,omitempty"`
	Prefix bool   `json:"prefix,omitempty"` // hex is a frame's length prefix only
	Remote string `json:"remote,omitempty"`
	Want   string `json:"want"` // pass, read (prefix) or a status name
}

func buildRequestVectors(t *testing.T) []requestVector {
	alice, bob := seedKey(t, 1), seedKey(t, 2)
	remote := alice.ID().String()
	enc := func(r request) string { return hex.EncodeToString(mustMarshal(t, r)) }
	good, _ := SignRecord(alice, sampleRecord(t, alice))
	bobs, _ := SignRecord(bob, Record{Handle: "bob", Seq: 1, Issued: issued})
	badSig := &SignedRecord{Payload: good.Payload, Sig: append([]byte(nil), good.Sig...)}
	badSig.Sig[0] ^= 1
	ids := func(n, size int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = bytes.Repeat([]byte{byte(i + 1)}, size)
		}
		return out
	}
	req := func(name string, r request, want string) requestVector {
		return requestVector{Name: name, Hex: enc(r), Remote: remote, Want: want}
	}
	raw := func(name, h, want string) requestVector {
		return requestVector{Name: name, Hex: strings.ReplaceAll(h, " ", ""), Remote: remote, Want: want}
	}
	put := request{Op: OpMailboxPut, Peer: []byte(bob.ID()), Sealed: []byte("sealed blob")}
	with := func(r request, f func(*request)) request { f(&r); return r }
	small := rawPeerID(identityKey)
	sealedAt := func(n int) []any {
		head := mustMarshal(t, request{Op: OpMailboxPut, Peer: []byte(bob.ID()), Sealed: []byte{0xee}})
		head = head[:len(head)-2] // drop the one-byte blob (head 41 and its byte)
		head = append(head, 0x59, byte(n>>8), byte(n))
		return []any{hex.EncodeToString(head), []any{"ee", n}}
	}
	prefix := func(n int) string { return hex.EncodeToString(binary.AppendUvarint(nil, uint64(n))) }
	lookupFor := func(h string) request { return request{Op: OpLookup, Handle: h} }

	return []requestVector{
		req("publish the remote peer's own record", request{Op: OpPublish, Record: good}, "pass"),
		req("publish another peer's record", request{Op: OpPublish, Record: bobs}, "Forbidden"),
		req("publish a record with a bad signature", request{Op: OpPublish, Record: badSig}, "BadRequest"),
		req("publish without a record", request{Op: OpPublish}, "BadRequest"),
		req("publish with a handle too", request{Op: OpPublish, Record: good, Handle: "alice"}, "BadRequest"),
		req("publish naming tokens", request{Op: OpPublish, Record: good, Tokens: ids(1, 32)}, "BadRequest"),
		raw("publish with a record that is not a map", "a2 0101 02 41aa", "BadRequest"),
		req("look up a handle", lookupFor("alice"), "pass"),
		req("look up a handle of MaxHandleLen", lookupFor(strings.Repeat("h", MaxHandleLen)), "pass"),
		req("look up a handle of MaxHandleLen + 1", lookupFor(strings.Repeat("h", MaxHandleLen+1)), "BadRequest"),
		req("look up an uppercase handle", lookupFor("Alice"), "BadRequest"),
		req("look up a one-character handle", lookupFor("a"), "BadRequest"),
		req("look up without a handle", request{Op: OpLookup}, "BadRequest"),
		raw("look up an explicit empty handle", "a2 0102 0360", "BadRequest"),
		req("look up with a peer too", with(lookupFor("alice"), func(r *request) { r.Peer = []byte(bob.ID()) }), "BadRequest"),
		req("look up a peer", request{Op: OpLookupPeer, Peer: []byte(bob.ID())}, "pass"),
		req("look up a peer that is not a peer ID", request{Op: OpLookupPeer, Peer: []byte("nope")}, "BadRequest"),
		req("look up a small-order peer", request{Op: OpLookupPeer, Peer: []byte(small)}, "BadRequest"),
		req("put mail", put, "pass"),
		req("put mail naming MaxMailTokens tokens", with(put, func(r *request) { r.Tokens = ids(MaxMailTokens, 32) }), "pass"),
		req("put mail naming MaxMailTokens + 1 tokens", with(put, func(r *request) { r.Tokens = ids(MaxMailTokens+1, 32) }), "BadRequest"),
		req("put mail naming a 31-byte token ID", with(put, func(r *request) { r.Tokens = ids(1, 31) }), "BadRequest"),
		req("put mail naming a 33-byte token ID", with(put, func(r *request) { r.Tokens = ids(1, 33) }), "BadRequest"),
		{Name: "put a blob of MaxSealedBytes", Parts: sealedAt(MaxSealedBytes), Remote: remote, Want: "pass"},
		{Name: "put a blob of MaxSealedBytes + 1", Parts: sealedAt(MaxSealedBytes + 1), Remote: remote, Want: "TooLarge"},
		req("put mail without a blob", with(put, func(r *request) { r.Sealed = nil }), "BadRequest"),
		req("put mail without a recipient", with(put, func(r *request) { r.Peer = nil }), "BadRequest"),
		req("put mail for a recipient that is not a peer ID", with(put, func(r *request) { r.Peer = []byte("nope") }), "BadRequest"),
		req("put mail with a handle", with(put, func(r *request) { r.Handle = "bob" }), "BadRequest"),
		raw("put mail with tokens present and empty", hex.EncodeToString(insertField(t, mustMarshal(t, put), 7, []byte{0x80})), "BadRequest"),
		req("fetch mail", request{Op: OpMailboxFetch}, "pass"),
		req("fetch naming a peer", request{Op: OpMailboxFetch, Peer: []byte(bob.ID())}, "BadRequest"),
		req("ack one item", request{Op: OpMailboxAck, IDs: ids(1, MailIDLen)}, "pass"),
		req("ack MaxFetchItems items", request{Op: OpMailboxAck, IDs: ids(MaxFetchItems, MailIDLen)}, "pass"),
		req("ack MaxFetchItems + 1 items", request{Op: OpMailboxAck, IDs: ids(MaxFetchItems+1, MailIDLen)}, "BadRequest"),
		req("ack a 15-byte ID", request{Op: OpMailboxAck, IDs: ids(1, MailIDLen-1)}, "BadRequest"),
		req("ack without IDs", request{Op: OpMailboxAck}, "BadRequest"),
		raw("ack with IDs present and empty", "a2 0106 0680", "BadRequest"),
		raw("op 0", "a1 0100", "BadRequest"),
		raw("op 7", "a1 0107", "BadRequest"),
		raw("op 255", "a1 0118ff", "BadRequest"),
		raw("op 256 (over uint8)", "a1 01190100", "BadRequest"),
		raw("no op", "a1 0361 6c", "BadRequest"),
		raw("an empty map", "a0", "BadRequest"),
		raw("op 5 written 18 05", "a1 011805", "BadRequest"),
		raw("an unknown field 8", "a2 0105 0801", "BadRequest"),
		raw("a byte after the request", "a1 0105 00", "BadRequest"),
		raw("an empty body", "", "BadRequest"),
		{Name: "a request frame of MaxRequest bytes is read", Hex: prefix(MaxRequest), Prefix: true, Want: "read"},
		{Name: "a request frame of MaxRequest + 1 bytes", Hex: prefix(MaxRequest + 1), Prefix: true, Want: "TooLarge"},
	}
}

// prefixOutcome reads only a frame's length prefix: "read" when the
// reader would go on to read the body, else the status.
func prefixOutcome(b []byte, max int) string {
	errRead := errors.New("read")
	_, err := wire.ReadFrameReserve(bytes.NewReader(b), max, func(int) error { return errRead })
	if errors.Is(err, errRead) {
		return "read"
	}
	return wire.StatusOf(err).Name()
}

// TestRequestVectors checks testdata/requests.json against the server:
// "pass" means the request reached its op's store.
func TestRequestVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/requests.json", *update, func() []requestVector { return buildRequestVectors(t) })
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			in := testkit.VectorBytes(t, v.Hex, v.Parts)
			if v.Prefix {
				if got := prefixOutcome(in, MaxRequest); got != v.Want {
					t.Fatalf("got %s, want %s", got, v.Want)
				}
				return
			}
			remote, err := keys.DecodePeerID(v.Remote)
			if err != nil {
				t.Fatal(err)
			}
			st := &recStore{}
			_, err = testServer(st, true).serve(context.Background(), remote, in)
			got := "pass"
			if c := st.take(); len(c) == 0 {
				got = wire.StatusOf(err).Name()
				if err == nil {
					got = "OK without reaching the store"
				}
			}
			if got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
		})
	}
}

// replyVector is one reply frame body a client reads for an op, and what
// the client function returns (testdata/README.md).
type replyVector struct {
	Name   string `json:"name"`
	Op     string `json:"op"`
	Asked  string `json:"asked,omitempty"` // lookup: the handle; lookup-peer: the peer ID
	Hex    string `json:"hex,omitempty"`
	Parts  []any  `json:"parts,omitempty"`
	Prefix bool   `json:"prefix,omitempty"`
	Want   string `json:"want"`
	Handle string `json:"handle,omitempty"`
	Peer   string `json:"peer,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	Items  int    `json:"items,omitempty"`
}

func buildReplyVectors(t *testing.T) []replyVector {
	alice, bob := seedKey(t, 1), seedKey(t, 2)
	good, _ := SignRecord(alice, sampleRecord(t, alice))
	bobs, _ := SignRecord(bob, Record{Handle: "bob", Seq: 3, Issued: issued})
	badSig := &SignedRecord{Payload: good.Payload, Sig: append([]byte(nil), good.Sig...)}
	badSig.Sig[5] ^= 1
	ok := func(body any) string {
		return hex.EncodeToString(mustMarshal(t, exchange.Reply{Status: wire.OK, Body: mustMarshal(t, body)}))
	}
	refuse := func(st wire.Status, msg string) string {
		return hex.EncodeToString(mustMarshal(t, exchange.Reply{Status: st, Message: msg}))
	}
	item := func(i int) mailItem {
		return mailItem{ID: bytes.Repeat([]byte{byte(i + 1)}, MailIDLen), From: []byte(bob.ID()), Received: issued.Unix(), Sealed: []byte("sealed")}
	}
	items := func(n int) []mailItem {
		out := make([]mailItem, n)
		for i := range out {
			out[i] = item(i)
		}
		return out
	}
	withItem := func(f func(*mailItem)) fetchReply { it := item(0); f(&it); return fetchReply{Items: []mailItem{it}} }
	aliceID, bobID := alice.ID().String(), bob.ID().String()
	env := func(body string) string { return strings.ReplaceAll("a2010003"+body, " ", "") }
	itemHex := hex.EncodeToString(mustMarshal(t, item(0)))
	prefix := func(n int) string { return hex.EncodeToString(binary.AppendUvarint(nil, uint64(n))) }

	return []replyVector{
		{Name: "lookup: the record asked for", Op: "lookup", Asked: "alice", Hex: ok(good), Want: "OK", Handle: "alice", Peer: aliceID, Seq: 1},
		{Name: "lookup: a record for another handle", Op: "lookup", Asked: "bob2", Hex: ok(good), Want: "BadRequest"},
		{Name: "lookup: a record with a bad signature", Op: "lookup", Asked: "alice", Hex: ok(badSig), Want: "BadRequest"},
		{Name: "lookup: no such handle", Op: "lookup", Asked: "carol", Hex: refuse(wire.NotFound, "not found"), Want: "NotFound"},
		{Name: "lookup: OK without a body", Op: "lookup", Asked: "alice", Hex: "a10100", Want: "BadRequest"},
		{Name: "lookup: a record envelope with keys out of order", Op: "lookup", Asked: "alice", Hex: env(hex.EncodeToString(swapEnvelope(t, good))), Want: "BadRequest"},
		{Name: "lookup: a body that is not a record", Op: "lookup", Asked: "alice", Hex: env("a10101"), Want: "BadRequest"},
		{Name: "lookup: rate limited", Op: "lookup", Asked: "alice", Hex: refuse(wire.RateLimited, "slow down"), Want: "RateLimited"},
		{Name: "lookup-peer: the record asked for", Op: "lookup-peer", Asked: bobID, Hex: ok(bobs), Want: "OK", Handle: "bob", Peer: bobID, Seq: 3},
		{Name: "lookup-peer: another peer's record", Op: "lookup-peer", Asked: bobID, Hex: ok(good), Want: "BadRequest"},
		{Name: "lookup-peer: no record", Op: "lookup-peer", Asked: bobID, Hex: refuse(wire.NotFound, ""), Want: "NotFound"},
		{Name: "publish: OK", Op: "publish", Hex: "a10100", Want: "OK"},
		{Name: "publish: handle taken", Op: "publish", Hex: refuse(wire.Conflict, "handle taken by another key"), Want: "Conflict"},
		{Name: "publish: record for another peer", Op: "publish", Hex: refuse(wire.Forbidden, ""), Want: "Forbidden"},
		{Name: "publish: directory full", Op: "publish", Hex: refuse(wire.TooLarge, "directory full"), Want: "TooLarge"},
		{Name: "publish: OK with a body", Op: "publish", Hex: ok(good), Want: "BadRequest"},
		{Name: "publish: server failure", Op: "publish", Hex: "a1010a", Want: "Internal"},
		{Name: "publish: server busy", Op: "publish", Hex: "a1010c", Want: "Unavailable"},
		{Name: "publish: bad request", Op: "publish", Hex: "a10101", Want: "BadRequest"},
		{Name: "mailbox-put: OK", Op: "mailbox-put", Hex: "a10100", Want: "OK"},
		{Name: "mailbox-put: a revoked capability", Op: "mailbox-put", Hex: refuse(wire.Revoked, "the mail carries a revoked capability"), Want: "Revoked"},
		{Name: "mailbox-put: a Revoked refusal with a detail the protocol does not define", Op: "mailbox-put", Hex: "a3010702616e0401", Want: "Revoked"},
		{Name: "mailbox-put: mailbox full", Op: "mailbox-put", Hex: refuse(wire.TooLarge, "mailbox full"), Want: "TooLarge"},
		{Name: "mailbox-put: recipient not registered", Op: "mailbox-put", Hex: refuse(wire.NotFound, "recipient not registered"), Want: "NotFound"},
		{Name: "mailbox-fetch: empty", Op: "mailbox-fetch", Hex: ok(fetchReply{Items: []mailItem{}}), Want: "OK"},
		{Name: "mailbox-fetch: two items", Op: "mailbox-fetch", Hex: ok(fetchReply{Items: items(2)}), Want: "OK", Items: 2},
		{Name: "mailbox-fetch: MaxFetchItems items, more to come", Op: "mailbox-fetch", Hex: ok(fetchReply{Items: items(MaxFetchItems), More: true}), Want: "OK", Items: MaxFetchItems},
		{Name: "mailbox-fetch: MaxFetchItems + 1 items", Op: "mailbox-fetch", Hex: ok(fetchReply{Items: items(MaxFetchItems + 1)}), Want: "TooLarge"},
		{Name: "mailbox-fetch: an item ID of 15 bytes", Op: "mailbox-fetch", Hex: ok(withItem(func(m *mailItem) { m.ID = m.ID[:15] })), Want: "BadRequest"},
		{Name: "mailbox-fetch: a sender that is not a peer ID", Op: "mailbox-fetch", Hex: ok(withItem(func(m *mailItem) { m.From = []byte("nope") })), Want: "BadRequest"},
		{Name: "mailbox-fetch: an empty blob is read as sent", Op: "mailbox-fetch", Hex: ok(withItem(func(m *mailItem) { m.Sealed = nil })), Want: "OK", Items: 1},
		{Name: "mailbox-fetch: received time 0", Op: "mailbox-fetch", Hex: ok(withItem(func(m *mailItem) { m.Received = 0 })), Want: "OK", Items: 1},
		{Name: "mailbox-fetch: an item without its received time", Op: "mailbox-fetch", Hex: env("a101 81" + hex.EncodeToString(deleteField(t, mustMarshal(t, item(0)), 3))), Want: "BadRequest"},
		{Name: "mailbox-fetch: more written as false", Op: "mailbox-fetch", Hex: env("a2 01 81" + itemHex + " 02f4"), Want: "BadRequest"},
		{Name: "mailbox-fetch: items missing", Op: "mailbox-fetch", Hex: env("a1 02f5"), Want: "BadRequest"},
		{Name: "mailbox-fetch: items null", Op: "mailbox-fetch", Hex: env("a1 01f6"), Want: "BadRequest"},
		{Name: "mailbox-fetch: an unknown item field", Op: "mailbox-fetch", Hex: env("a101 81" + hex.EncodeToString(insertField(t, mustMarshal(t, item(0)), 5, []byte{0x01}))), Want: "BadRequest"},
		{Name: "mailbox-fetch: no mailbox here", Op: "mailbox-fetch", Hex: refuse(wire.NotFound, "not found"), Want: "NotFound"},
		{Name: "a reply frame of MaxResponse bytes is read", Op: "any", Hex: prefix(MaxResponse), Prefix: true, Want: "read"},
		{Name: "a reply frame of MaxResponse + 1 bytes", Op: "any", Hex: prefix(MaxResponse + 1), Prefix: true, Want: "TooLarge"},
	}
}

// swapEnvelope writes sr with its two keys in the wrong order.
func swapEnvelope(t testing.TB, sr *SignedRecord) []byte {
	b := mustMarshal(t, sr)
	end := skipItem(t, b, 2)
	return append(append([]byte{0xa2}, b[end:]...), b[1:end]...)
}

// TestReplyVectors runs each reply of testdata/replies.json through the
// client function of its op, on loopback hosts: the server writes the
// vector's bytes as the reply to the first request, answers a fetch after
// that with no items and an ack with OK.
func TestReplyVectors(t *testing.T) {
	vs := testkit.Vectors(t, "testdata/replies.json", *update, func() []replyVector { return buildReplyVectors(t) })
	alice := seedKey(t, 1)
	server, client := testkit.Host(t, nil), testkit.Host(t, alice)
	testkit.Connect(t, client, server)
	var current []byte
	server.SetStreamHandler(ID, func(s network.Stream) {
		defer s.Close()
		raw, err := wire.ReadFrame(s, MaxRequest)
		if err != nil {
			s.Reset()
			return
		}
		var req request
		wire.UnmarshalCanonical(raw, &req)
		reply := current
		current = nil
		switch {
		case reply != nil:
		case req.Op == OpMailboxFetch:
			reply = mustMarshal(t, exchange.Reply{Status: wire.OK, Body: mustMarshal(t, fetchReply{Items: []mailItem{}})})
		default:
			reply = []byte{0xa1, 0x01, 0x00}
		}
		wire.WriteFrame(s, reply, MaxResponse)
	})
	good, _ := SignRecord(alice, sampleRecord(t, alice))
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			in := testkit.VectorBytes(t, v.Hex, v.Parts)
			if v.Prefix {
				if got := prefixOutcome(in, MaxResponse); got != v.Want {
					t.Fatalf("got %s, want %s", got, v.Want)
				}
				return
			}
			current = in
			ctx := testkit.Context(t, 10*time.Second)
			var rec *Record
			var mail []Mail
			var err error
			switch v.Op {
			case "lookup":
				rec, err = Lookup(ctx, client, server.ID(), Handle(v.Asked))
			case "lookup-peer":
				id, _ := keys.DecodePeerID(v.Asked)
				rec, err = LookupPeer(ctx, client, server.ID(), id)
			case "publish":
				err = Publish(ctx, client, server.ID(), good)
			case "mailbox-put":
				err = MailboxPut(ctx, client, server.ID(), seedKey(t, 2).ID(), []byte("sealed"))
			case "mailbox-fetch":
				mail, err = MailboxFetch(ctx, client, server.ID())
			default:
				t.Fatalf("op %q", v.Op)
			}
			got := wire.StatusOf(err).Name()
			if got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
			if rec != nil && (string(rec.Handle) != v.Handle || rec.Peer.String() != v.Peer || rec.Seq != v.Seq) {
				t.Fatalf("record %+v", rec)
			}
			if err == nil && len(mail) != v.Items {
				t.Fatalf("%d items", len(mail))
			}
		})
	}
}

func TestDNSNameRule(t *testing.T) {
	for name, want := range map[string]bool{"a": true, "A-1.b": true, "": false, "a_b": false, "a b": false, "é": false,
		strings.Repeat("x", MaxDNSNameBytes): true, strings.Repeat("x", MaxDNSNameBytes+1): false} {
		if validDNSName([]byte(name)) != want {
			t.Errorf("%q: want %v", name, want)
		}
	}
}

// TestIndependentDecoderAgrees runs specs/directory/check.py, written from
// doc.go alone, on the committed vectors.
func TestIndependentDecoderAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/directory/check.py") }

// TestDocRelayTable: doc.go's relay protocol table is what checkRelay
// allows, code for code, and its varints are the codes' encodings; a few
// protocols it does not list are refused.
func TestDocRelayTable(t *testing.T) {
	doc := testkit.SpecDoc(t)
	_, sec, _ := strings.Cut(doc, "\n# Relay addresses\n")
	rows := regexp.MustCompile(`(?m)^\t(\d+)\s+([0-9a-f]+)\s+([a-z0-9-]+)\s`).FindAllStringSubmatch(sec, -1)
	if len(rows) != 10 {
		t.Fatalf("doc.go lists %d relay protocols", len(rows))
	}
	relayID := seedKey(t, 9).ID()
	values := map[string][]byte{"ip4": {1, 2, 3, 4}, "ip6": net16(), "tcp": {0, 1}, "udp": {0, 1},
		"dns": []byte("x.y"), "dns4": []byte("x.y"), "dns6": []byte("x.y"), "p2p": []byte(relayID)}
	for _, r := range rows {
		code, _ := strconv.ParseUint(r[1], 10, 64)
		if got := hex.EncodeToString(binary.AppendUvarint(nil, code)); got != r[2] {
			t.Errorf("%s: varint %s, doc.go says %s", r[3], got, r[2])
		}
		p := ma.ProtocolWithCode(int(code))
		if p.Name != r[3] {
			t.Errorf("code %d is %q in go-multiaddr, %q in doc.go", code, p.Name, r[3])
		}
		a, err := ma.NewMultiaddrBytes(component(code, values[r[3]], p.Size < 0))
		if err != nil {
			t.Fatalf("%s: %v", r[3], err)
		}
		if err := checkRelay(a); err != nil {
			t.Errorf("doc.go allows %s; checkRelay refuses it: %v", r[3], err)
		}
	}
	for _, s := range []string{"/ip4/1.2.3.4/tcp/1/ws", "/ip4/1.2.3.4/tcp/1/tls/ws", "/unix/tmp/x", "/ip6zone/eth0/ip6/::1",
		"/ip4/1.2.3.4/udp/1/quic", "/ip4/1.2.3.4/udp/1/quic-v1/webtransport", "/dnsaddr/example.org", "/ip4/1.2.3.4/tcp/1/http"} {
		if checkRelay(ma.StringCast(s)) == nil {
			t.Errorf("checkRelay allows %s, which doc.go does not list", s)
		}
	}
}

// TestLargestPayload: doc.go says a payload with every field at its cap
// is about 2200 bytes, below MaxPayloadBytes.
func TestLargestPayload(t *testing.T) {
	k := seedKey(t, 1)
	var full *SignedRecord
	for _, v := range moreRecordVectors(t, k) {
		if v.Name == "every field at its cap" {
			b, _ := hex.DecodeString(v.Hex)
			full, _, _ = ParseSignedRecord(b)
		}
	}
	if full == nil || len(full.Payload) > MaxPayloadBytes || len(full.Payload) < 2100 || len(full.Payload) > 2300 {
		t.Fatalf("the largest payload is not about 2200 bytes")
	}
	testkit.DocSays(t, testkit.SpecDoc(t), "about 2200 bytes")
}
