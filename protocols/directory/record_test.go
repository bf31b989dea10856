package directory

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

func seedKey(t testing.TB, b byte) *keys.PeerKey {
	t.Helper()
	k, err := keys.PeerKeyFromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

var issued = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func sampleRecord(t testing.TB, k *keys.PeerKey) Record {
	t.Helper()
	relay := ma.StringCast("/ip4/203.0.113.7/tcp/4001/p2p/" + seedKey(t, 9).ID().String() + "/p2p-circuit")
	return Record{Handle: "alice", Relays: []ma.Multiaddr{relay}, Name: "Alice Liddell", Seq: 1, Issued: issued}
}

func TestHandleValidation(t *testing.T) {
	good := []string{"al", "alice", "bob-2", "x_y", "0123456789abcdefghijklmnopqrstuv"}
	bad := []string{"", "a", "Alice", "al ice", "al.ice", "ålice", "0123456789abcdefghijklmnopqrstuvw", "bob\x00", "@bob"}
	for _, s := range good {
		if _, err := ParseHandle(s); err != nil {
			t.Errorf("%q refused: %v", s, err)
		}
	}
	for _, s := range bad {
		if _, err := ParseHandle(s); !errors.Is(err, ErrBadHandle) {
			t.Errorf("%q accepted (%v)", s, err)
		}
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	k := seedKey(t, 1)
	sr, err := SignRecord(k, sampleRecord(t, k))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sr.Marshal()
	_, rec, err := ParseSignedRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Peer != k.ID() || rec.Handle != "alice" || rec.Seq != 1 || !rec.Issued.Equal(issued) || len(rec.Relays) != 1 {
		t.Fatalf("fields lost: %+v", rec)
	}
}

func TestSignRefusesOtherPeer(t *testing.T) {
	k, other := seedKey(t, 1), seedKey(t, 2)
	r := sampleRecord(t, k)
	r.Peer = other.ID()
	if _, err := SignRecord(k, r); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("signed a record for another peer: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	k, mallory := seedKey(t, 1), seedKey(t, 2)
	good, _ := SignRecord(k, sampleRecord(t, k))

	// Mallory re-signs alice's payload: the payload names alice's ID, so
	// mallory's signature does not verify under it.
	forged := &SignedRecord{Payload: good.Payload, Sig: sigBytes(mallory.Sign(keys.DirectoryMessage(good.Payload)))}
	wrongLabel := &SignedRecord{Payload: good.Payload, Sig: sigBytes(k.Sign(keys.TokenMessage(good.Payload)))}
	tampered := &SignedRecord{Payload: bytes.Replace(good.Payload, []byte("Alice"), []byte("Alicf"), 1), Sig: good.Sig}
	shortSig := &SignedRecord{Payload: good.Payload, Sig: good.Sig[:63]}

	for name, sr := range map[string]*SignedRecord{
		"a signature by another key":       forged,
		"a signature under another domain": wrongLabel,
		"a tampered payload":               tampered,
		"a truncated signature":            shortSig,
		"an empty envelope":                {},
	} {
		t.Run(name+" is refused", func(t *testing.T) {
			if _, err := sr.Verify(); err == nil {
				t.Fatal("verified")
			} else if !errors.Is(err, wire.BadRequest) {
				t.Fatalf("status: %v", err)
			}
		})
	}
}

func sigBytes(s keys.Signature) []byte { return s[:] }

// signRaw signs an arbitrary payload struct, to build malformed vectors.
func signRaw(t testing.TB, k *keys.PeerKey, p payload) *SignedRecord {
	b, err := wire.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return &SignedRecord{Payload: b, Sig: sigBytes(k.Sign(keys.DirectoryMessage(b)))}
}

type vector struct {
	Name   string `json:"name"`
	Hex    string `json:"hex"`
	Valid  bool   `json:"valid"`
	Handle string `json:"handle,omitempty"`
	Peer   string `json:"peer,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
}

func buildVectors(t *testing.T) []vector {
	k := seedKey(t, 1)
	good, _ := SignRecord(k, sampleRecord(t, k))
	minimal, _ := SignRecord(k, Record{Handle: "zz", Seq: 7, Issued: issued})
	base := payload{V: 1, Handle: "alice", Peer: []byte(k.ID()), Seq: 1, Issued: issued.Unix()}
	mod := func(f func(*payload)) *SignedRecord { p := base; f(&p); return signRaw(t, k, p) }
	enc := func(sr *SignedRecord) string { b, _ := wire.Marshal(sr); return hex.EncodeToString(b) }

	vs := []vector{
		{Name: "full record", Hex: enc(good), Valid: true, Handle: "alice", Peer: k.ID().String(), Seq: 1},
		{Name: "minimal record", Hex: enc(minimal), Valid: true, Handle: "zz", Peer: k.ID().String(), Seq: 7},
		{Name: "version 2", Hex: enc(mod(func(p *payload) { p.V = 2 }))},
		{Name: "uppercase handle", Hex: enc(mod(func(p *payload) { p.Handle = "Alice" }))},
		{Name: "sequence zero", Hex: enc(mod(func(p *payload) { p.Seq = 0 }))},
		{Name: "no issued time", Hex: enc(mod(func(p *payload) { p.Issued = 0 }))},
		{Name: "peer is not a peer ID", Hex: enc(mod(func(p *payload) { p.Peer = []byte("nope") }))},
		{Name: "relay is not a multiaddr", Hex: enc(mod(func(p *payload) { p.Relays = [][]byte{{0xff, 0xff}} }))},
		{Name: "too many relays", Hex: enc(mod(func(p *payload) {
			for i := 0; i <= MaxRelays; i++ {
				p.Relays = append(p.Relays, ma.StringCast("/ip4/1.2.3.4/tcp/1").Bytes())
			}
		}))},
		{Name: "name with a control character", Hex: enc(mod(func(p *payload) { p.Name = "bell\a" }))},
		{Name: "name over the cap", Hex: enc(mod(func(p *payload) { p.Name = strings.Repeat("n", MaxNameBytes+1) }))},
		{Name: "signature over another domain", Hex: enc(&SignedRecord{Payload: good.Payload, Sig: sigBytes(k.Sign(keys.TokenMessage(good.Payload)))})},
		{Name: "signature by another key", Hex: enc(&SignedRecord{Payload: good.Payload, Sig: sigBytes(seedKey(t, 2).Sign(keys.DirectoryMessage(good.Payload)))})},
	}
	// A payload that decodes but is not in canonical form (seq 1 written as
	// a two-byte uint), correctly signed over those exact bytes: refused,
	// so every record has exactly one byte form.
	pb, _ := wire.Marshal(base)
	nonCanon := bytes.Replace(pb, []byte{0x06, 0x01}, []byte{0x06, 0x18, 0x01}, 1)
	vs = append(vs, vector{Name: "signed non-canonical payload", Hex: enc(&SignedRecord{Payload: nonCanon, Sig: sigBytes(k.Sign(keys.DirectoryMessage(nonCanon)))})})
	// Envelope-level malformations.
	gb, _ := wire.Marshal(good)
	dup := append([]byte{0xa3}, gb[1:]...)
	dup = append(dup, 0x01, 0x40)
	vs = append(vs, vector{Name: "envelope with a duplicate key", Hex: hex.EncodeToString(dup)})
	vs = append(vs, vector{Name: "envelope with trailing bytes", Hex: hex.EncodeToString(append(gb, 0x00))})
	vs = append(vs, smallOrderVectors(t, k)...)
	return append(vs, moreRecordVectors(t, k)...)
}

func TestVectors(t *testing.T) {
	vs := testkit.Vectors(t, filepath.Join("testdata", "records.json"), *update, func() []vector { return buildVectors(t) })
	if len(vs) < 10 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			raw, err := hex.DecodeString(v.Hex)
			if err != nil {
				t.Fatal(err)
			}
			_, rec, err := ParseSignedRecord(raw)
			if v.Valid != (err == nil) {
				t.Fatalf("valid=%v but err=%v", v.Valid, err)
			}
			if v.Valid && (string(rec.Handle) != v.Handle || rec.Peer.String() != v.Peer || rec.Seq != v.Seq) {
				t.Fatalf("decoded %+v", rec)
			}
		})
	}
}

func FuzzParseSignedRecord(f *testing.F) {
	k := seedKey(f, 1)
	good, _ := SignRecord(k, sampleRecord(f, k))
	gb, _ := good.Marshal()
	f.Add(gb)
	f.Add(good.Payload)
	f.Add([]byte{0xa2, 0x01, 0x40, 0x02, 0x40})
	f.Fuzz(func(t *testing.T, in []byte) {
		sr, rec, err := ParseSignedRecord(in)
		if err != nil {
			return
		}
		out, err := sr.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatal("accepted envelope does not re-encode identically")
		}
		if rec.Handle.Validate() != nil {
			t.Fatal("accepted an invalid handle")
		}
	})
}

func TestPeerLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newPeerLimiter(1, 2, 4)
	a := peer.ID("a")
	for i := 0; i < 2; i++ {
		if !l.allow(a, now) {
			t.Fatalf("event %d of the burst of 2 refused", i+1)
		}
	}
	if l.allow(a, now) {
		t.Fatal("burst of 2 not enforced")
	}
	if !l.allow("b", now) {
		t.Fatal("buckets are not per peer")
	}
	if !l.allow(a, now.Add(time.Second)) {
		t.Fatal("bucket did not refill")
	}
	t.Run("memory stays bounded under many peers", func(t *testing.T) {
		for i := 0; i < 1000; i++ {
			l.allow(peer.ID(rune(i)), now.Add(time.Duration(i)*time.Millisecond))
			if len(l.buckets) > 4 {
				t.Fatalf("%d buckets tracked", len(l.buckets))
			}
		}
	})
}

func BenchmarkVerifyRecord(b *testing.B) {
	k := seedKey(b, 1)
	sr, _ := SignRecord(k, sampleRecord(b, k))
	pub := ed25519.PublicKey(k.Public().Bytes())
	msg := append([]byte(keys.LabelDirectory+"\x00"), sr.Payload...)
	b.Run("baseline raw ed25519.Verify", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(pub, msg, sr.Sig)
		}
	})
	b.Run("SignedRecord.Verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := sr.Verify(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
