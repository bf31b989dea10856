package peerseal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"testing/cryptotest"

	"filippo.io/age"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

// keyVector is one derivation (testdata/README.md).
type keyVector struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`           // recipient or identity
	Peer      string `json:"peer,omitempty"` // recipient: the peer ID's bytes, hex
	Seed      string `json:"seed,omitempty"` // identity: the Ed25519 seed, hex
	Want      string `json:"want"`           // ok or refused
	Recipient string `json:"recipient,omitempty"`
	Identity  string `json:"identity,omitempty"`
}

func seedOf(k *keys.PeerKey) string { s := k.Seed(); defer clear(s); return hex.EncodeToString(s) }

func buildKeyVectors(t testing.TB) []keyVector {
	var vs []keyVector
	for _, name := range []string{"alice", "bob", "carol"} {
		k := testkit.Key(t, name)
		r, err := Recipient(k.ID())
		if err != nil {
			t.Fatal(err)
		}
		id, err := Identity(k)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs,
			keyVector{Name: name + "'s recipient", Kind: "recipient", Peer: hex.EncodeToString([]byte(k.ID())), Want: "ok", Recipient: r.String()},
			keyVector{Name: name + "'s identity", Kind: "identity", Seed: seedOf(k), Want: "ok", Identity: id.String(), Recipient: id.Recipient().String()})
	}
	refused := func(name string, b []byte) keyVector {
		if _, err := Recipient(peer.ID(b)); !errors.Is(err, ErrBadRecipient) {
			t.Fatalf("%s: %v", name, err)
		}
		return keyVector{Name: name, Kind: "recipient", Peer: hex.EncodeToString(b), Want: "refused"}
	}
	prefix := []byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}
	withKey := func(key []byte) []byte { return append(append([]byte(nil), prefix...), key...) }
	y := func(b byte) []byte { k := make([]byte, 32); k[0] = b; return k }
	offCurve := func() []byte {
		for b := byte(2); ; b++ {
			k := y(b)
			if _, err := Recipient(peer.ID(withKey(k))); err != nil && keys.CheckPeerPublic(k) == nil {
				return k
			}
		}
	}()
	nonCanon := append(bytes.Repeat([]byte{0xff}, 31), 0x7f)
	nonCanon[0] = 0xee
	order8, _ := hex.DecodeString("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	return append(vs,
		refused("the identity point (y = 1)", withKey(y(1))),
		refused("a point of order 4 (y = 0)", withKey(y(0))),
		refused("a point of order 8", withKey(order8)),
		refused("a non-canonical key (y ≥ p)", withKey(nonCanon)),
		refused("a key that is no curve point", withKey(offCurve)),
		refused("a hashed (SHA-256 multihash) peer ID", append([]byte{0x12, 0x20}, bytes.Repeat([]byte{1}, 32)...)),
		refused("a peer ID one byte short", withKey(y(9))[:37]),
	)
}

// sealedVector is one sealed message and what opening it with the peer
// key of Seed gives (testdata/README.md).
type sealedVector struct {
	Name      string `json:"name"`
	Hex       string `json:"hex,omitempty"`
	Parts     []any  `json:"parts,omitempty"`
	Seed      string `json:"seed"`
	Want      string `json:"want"` // ok, not-recipient or refused
	Plaintext string `json:"plaintext,omitempty"`
	Len       int    `json:"len,omitempty"`
}

// stanzas is an age.Recipient that writes fixed stanzas, to build headers
// Seal never writes (unknown types, malformed X25519 stanzas, many).
type stanzas []*age.Stanza

func (s stanzas) Wrap([]byte) ([]*age.Stanza, error) { return s, nil }

func recipientOf(t testing.TB, k *keys.PeerKey) age.Recipient {
	r, err := Recipient(k.ID())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sealWith(t testing.TB, plaintext []byte, rs ...age.Recipient) []byte {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plaintext)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// headerEnd is the offset after the header's closing line.
func headerEnd(t testing.TB, ct []byte) int {
	i := bytes.Index(ct, []byte("\n--- "))
	if i < 0 {
		t.Fatal("no closing line")
	}
	return i + 1 + bytes.IndexByte(ct[i+1:], '\n') + 1
}

func buildSealedVectors(t *testing.T) []sealedVector {
	cryptotest.SetGlobalRandom(t, 2026)
	alice, bob, carol := testkit.Key(t, "alice"), testkit.Key(t, "bob"), testkit.Key(t, "carol")
	msg := []byte("an invitation from alice")
	seal := func(pt []byte, to ...*keys.PeerKey) []byte {
		ids := make([]peer.ID, len(to))
		for i, k := range to {
			ids[i] = k.ID()
		}
		ct, err := Seal(ids, pt)
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	v := func(name string, ct []byte, k *keys.PeerKey, want string, pt []byte) sealedVector {
		sv := sealedVector{Name: name, Hex: hex.EncodeToString(ct), Seed: seedOf(k), Want: want}
		if want == "ok" {
			sv.Len = len(pt)
			if len(pt) <= 256 {
				sv.Plaintext = hex.EncodeToString(pt)
			}
		}
		return sv
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 1; return b }
	good := seal(msg, bob)
	hend := headerEnd(t, good)
	big := bytes.Repeat([]byte{0x5a}, 64<<10)
	two := seal(append(bytes.Clone(big), 1), bob)
	full := seal(big, bob)
	unknown := &age.Stanza{Type: "ssh-ed25519", Args: []string{"AAAA", "BBBB"}, Body: []byte("not for us")}
	badX := &age.Stanza{Type: "X25519", Args: []string{"AAAA", "BBBB"}, Body: make([]byte, 32)}
	zeroShare := &age.Stanza{Type: "X25519", Args: []string{strings.Repeat("A", 43)}, Body: make([]byte, 32)}
	shortBody := &age.Stanza{Type: "X25519", Args: []string{"9" + strings.Repeat("A", 42)}, Body: make([]byte, 31)}
	// A share whose last base64 character has a non-zero unused bit.
	nonCanonShare := &age.Stanza{Type: "X25519", Args: []string{strings.Repeat("B", 43)}, Body: make([]byte, 32)}
	// The intro line changed: the MAC is left as it was.
	otherIntro := bytes.Replace(good, []byte("age-encryption.org/v1\n"), []byte("age-encryption.org/v2\n"), 1)
	// A stanza body line of 64 characters with no short line after it.
	longBody := sealWith(t, msg, stanzas{{Type: "x", Body: make([]byte, 48)}}, recipientOf(t, bob))
	longBody = bytes.Replace(longBody, []byte(strings.Repeat("A", 64)+"\n\n"), []byte(strings.Repeat("A", 64)+"\n"), 1)
	// Two spaces between stanza arguments.
	twoSpaces := bytes.Replace(sealWith(t, msg, stanzas{unknown}, recipientOf(t, bob)), []byte("AAAA BBBB"), []byte("AAAA  BBBB"), 1)

	vs := []sealedVector{
		v("one recipient", good, bob, "ok", msg),
		v("an empty plaintext", seal(nil, bob), bob, "ok", nil),
		v("ChunkSize bytes: one full chunk, the last", full, bob, "ok", big),
		v("ChunkSize + 1 bytes: a full chunk and a last of 1 byte", two, bob, "ok", append(bytes.Clone(big), 1)),
		v("three recipients, opened by the second", seal(msg, alice, bob, carol), bob, "ok", msg),
		v("a repeated recipient is written once", seal(msg, bob, bob), bob, "ok", msg),
		v("not a recipient", good, carol, "not-recipient", nil),
		v("an unknown stanza type before ours is skipped", sealWith(t, msg, stanzas{unknown}, recipientOf(t, bob)), bob, "ok", msg),
		v("another X25519 recipient's stanza is skipped", sealWith(t, msg, recipientOf(t, alice), recipientOf(t, bob)), bob, "ok", msg),
		v("a malformed X25519 stanza (two arguments) before ours", sealWith(t, msg, stanzas{badX}, recipientOf(t, bob)), bob, "refused", nil),
		v("a malformed X25519 stanza after ours is not looked at", sealWith(t, msg, recipientOf(t, bob), stanzas{badX}), bob, "ok", msg),
		v("an X25519 stanza whose share is the zero point", sealWith(t, msg, stanzas{zeroShare}, recipientOf(t, bob)), bob, "refused", nil),
		v("an X25519 stanza with a 31-byte body", sealWith(t, msg, stanzas{shortBody}, recipientOf(t, bob)), bob, "refused", nil),
		v("an X25519 share in non-canonical base64", sealWith(t, msg, stanzas{nonCanonShare}, recipientOf(t, bob)), bob, "refused", nil),
		v("the header MAC altered", flip(good, hend-10), bob, "refused", nil),
		v("our stanza body altered: it no longer opens", flip(good, bytes.Index(good, []byte("\n--- "))-10), bob, "not-recipient", nil),
		v("the nonce altered", flip(good, hend+3), bob, "refused", nil),
		v("the last chunk altered", flip(good, len(good)-1), bob, "refused", nil),
		v("the last chunk dropped", two[:len(two)-17], bob, "refused", nil),
		v("cut inside a chunk", good[:len(good)-5], bob, "refused", nil),
		v("cut inside the nonce", good[:hend+8], bob, "refused", nil),
		v("cut after the header", good[:hend], bob, "refused", nil),
		v("a byte after the last chunk", append(bytes.Clone(good), 0), bob, "refused", nil),
		v("another intro line", otherIntro, bob, "refused", nil),
		v("an empty file", nil, bob, "refused", nil),
		v("no stanza", append([]byte("age-encryption.org/v1\n"), good[bytes.Index(good, []byte("--- ")):]...), bob, "refused", nil),
		v("a body line of 64 characters with no short line after it", longBody, bob, "refused", nil),
		v("two spaces between stanza arguments", twoSpaces, bob, "refused", nil),
	}
	// MaxRecipientStanzas: ours after 1023 and 1024 others.
	many := func(n int) sealedVector {
		others := make(stanzas, n)
		for i := range others {
			others[i] = &age.Stanza{Type: "x"}
		}
		ct := sealWith(t, msg, others, recipientOf(t, bob))
		rep := []byte("-> x\n\n")
		start := len("age-encryption.org/v1\n")
		if !bytes.Equal(ct[start:start+n*len(rep)], bytes.Repeat(rep, n)) {
			t.Fatal("the stanzas are not where expected")
		}
		want := "ok"
		if n+1 > 1024 {
			want = "refused"
		}
		return sealedVector{Name: fmt.Sprintf("%d stanzas", n+1), Seed: seedOf(bob), Want: want, Len: map[string]int{"ok": len(msg)}[want],
			Parts: []any{hex.EncodeToString(ct[:start]), []any{hex.EncodeToString(rep), n}, hex.EncodeToString(ct[start+n*len(rep):])}}
	}
	vs = append(vs, many(1023), many(1024))
	vs = append(vs, headerOfSize(t, msg, bob, 2<<20, "ok"), headerOfSize(t, msg, bob, 2<<20+1, "refused"))
	return vs
}

// headerOfSize seals msg to k with a header of exactly size bytes: ours,
// then one stanza of type "x" whose body is base64 lines of "A", and a few
// empty stanzas of type "y" to land on the byte.
func headerOfSize(t *testing.T, msg []byte, k *keys.PeerKey, size int, want string) sealedVector {
	b64len := func(n int) int { return (n*4 + 2) / 3 }
	const fixed = 22 + 98 + 5 + 48 // intro, our stanza, "-> x\n", closing line
	for extra := 0; extra < 16; extra++ {
		for rem := 0; rem < 48; rem++ {
			rest := size - fixed - 6*extra - (b64len(rem) + 1)
			if rest < 0 || rest%65 != 0 {
				continue
			}
			lines := rest / 65
			ss := stanzas{{Type: "x", Body: make([]byte, 48*lines+rem)}}
			for range extra {
				ss = append(ss, &age.Stanza{Type: "y"})
			}
			ct := sealWith(t, msg, recipientOf(t, k), ss)
			if end := headerEnd(t, ct); end != size {
				t.Fatalf("header of %d bytes, want %d", end, size)
			}
			line := []byte(strings.Repeat("A", 64) + "\n")
			start := 22 + 98 + 5
			if !bytes.Equal(ct[start:start+lines*65], bytes.Repeat(line, lines)) {
				t.Fatal("the body lines are not where expected")
			}
			sv := sealedVector{Name: fmt.Sprintf("a header of %d bytes", size), Seed: seedOf(k), Want: want,
				Parts: []any{hex.EncodeToString(ct[:start]), []any{hex.EncodeToString(line), lines}, hex.EncodeToString(ct[start+lines*65:])}}
			if want == "ok" {
				sv.Len, sv.Plaintext = len(msg), hex.EncodeToString(msg)
			}
			return sv
		}
	}
	t.Fatalf("no header layout of %d bytes", size)
	return sealedVector{}
}

func keyOfSeed(t testing.TB, s string) *keys.PeerKey {
	b, _ := hex.DecodeString(s)
	k, err := keys.PeerKeyFromSeed(b)
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

// TestKeyVectors checks testdata/keys.json against Recipient and Identity.
func TestKeyVectors(t *testing.T) {
	for _, v := range testkit.Vectors(t, "testdata/keys.json", *update, func() []keyVector { return buildKeyVectors(t) }) {
		t.Run(v.Name, func(t *testing.T) {
			switch v.Kind {
			case "recipient":
				b, _ := hex.DecodeString(v.Peer)
				r, err := Recipient(peer.ID(b))
				if (err == nil) != (v.Want == "ok") || err == nil && r.String() != v.Recipient {
					t.Fatalf("got %v, %v", r, err)
				}
			case "identity":
				id, err := Identity(keyOfSeed(t, v.Seed))
				if err != nil || id.String() != v.Identity || id.Recipient().String() != v.Recipient {
					t.Fatalf("got %v, %v", id, err)
				}
			}
		})
	}
}

// TestSealedVectors opens every message of testdata/sealed.json. The
// file is written by -update with deterministic randomness and read as
// committed otherwise: its bytes depend on age's use of randomness, not
// only on this format, so it is not regenerated and compared.
func TestSealedVectors(t *testing.T) {
	path := "testdata/sealed.json"
	if *update {
		testkit.Vectors(t, path, true, func() []sealedVector { return buildSealedVectors(t) })
	}
	vs := testkit.ReadVectors[sealedVector](t, path)
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			pt, err := Open(keyOfSeed(t, v.Seed), testkit.VectorBytes(t, v.Hex, v.Parts))
			got := "ok"
			switch {
			case errors.Is(err, ErrNotRecipient):
				got = "not-recipient"
			case err != nil:
				got = "refused"
			}
			if got != v.Want {
				t.Fatalf("got %s (%v), want %s", got, err, v.Want)
			}
			if err == nil && (len(pt) != v.Len || v.Plaintext != "" && hex.EncodeToString(pt) != v.Plaintext) {
				t.Fatalf("plaintext of %d bytes", len(pt))
			}
		})
	}
}

// TestDocNumbersMatchTheConstants: doc.go's Limits table is this
// package's constant and age's format constants (age keeps its own
// unexported: the sizes are checked here on a message it writes, and its
// header caps by the vectors at and past them).
func TestDocNumbersMatchTheConstants(t *testing.T) {
	doc := testkit.DocNumbers(t, map[string]int64{
		"MaxRecipients":       MaxRecipients,
		"FileKeySize":         16,
		"ShareSize":           32,
		"MACSize":             32,
		"NonceSize":           16,
		"ChunkSize":           64 << 10,
		"TagSize":             16,
		"ColumnsPerLine":      64,
		"MaxHeaderBytes":      2 << 20,
		"MaxRecipientStanzas": 1024,
	})
	// One X25519 stanza: a 43-character share (32 bytes) and a 43-character
	// body (32 bytes); a 43-character MAC; a 16-byte nonce and one chunk of
	// the plaintext plus a 16-byte tag.
	ct, err := Seal([]peer.ID{testkit.Key(t, "bob").ID()}, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(ct), "\n", 5)
	if len(lines[1]) != len("-> X25519 ")+43 || len(lines[2]) != 43 || len(lines[3]) != len("--- ")+43 || len(lines[4]) != 16+1+16 {
		t.Fatalf("the sealed layout is not doc.go's: %q", lines[:4])
	}
	testkit.DocSays(t, doc, `"age-encryption.org/v1/X25519"`, `info = "header"`, `info = "payload"`, `"AGE-SECRET-KEY-"`)
}

// TestIndependentDecoderAgrees runs specs/peerseal/check.py, written from
// doc.go alone, on the committed vectors.
func TestIndependentDecoderAgrees(t *testing.T) { testkit.SpecCheck(t, "specs/peerseal/check.py") }
