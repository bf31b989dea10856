package peerseal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/edwards25519"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

func TestRoundTrip(t *testing.T) {
	alice := testkit.Key(t, "alice")
	msg := []byte("the canary sings at midnight")
	ct, err := Seal([]peer.ID{alice.ID()}, msg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, msg) {
		t.Fatal("plaintext visible in ciphertext")
	}
	if !bytes.HasPrefix(ct, []byte("age-encryption.org/v1\n-> X25519 ")) {
		t.Fatalf("not an age X25519 file: %q", ct[:40])
	}
	got, err := Open(alice, ct)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestDerivedIdentityMatchesRecipient(t *testing.T) {
	for i := 0; i < 20; i++ {
		k := testkit.Key(t, fmt.Sprint("peer ", i))
		id, err := Identity(k)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Recipient(k.ID())
		if err != nil {
			t.Fatal(err)
		}
		if id.Recipient().String() != r.String() {
			t.Fatalf("identity and recipient disagree: %s vs %s", id.Recipient(), r)
		}
	}
}

func TestWrongRecipientFails(t *testing.T) {
	alice, mallory := testkit.Key(t, "alice"), testkit.Key(t, "mallory")
	ct, _ := Seal([]peer.ID{alice.ID()}, []byte("for alice"))
	if _, err := Open(mallory, ct); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("got %v", err)
	}
}

func TestMultiRecipient(t *testing.T) {
	a, b, c, outsider := testkit.Key(t, "a"), testkit.Key(t, "b"), testkit.Key(t, "c"), testkit.Key(t, "outsider")
	msg := []byte("shared snapshot")
	ct, err := Seal([]peer.ID{a.ID(), b.ID(), c.ID(), b.ID()}, msg)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(ct), "-> X25519 "); n != 3 {
		t.Fatalf("want 3 stanzas after folding the duplicate, got %d", n)
	}
	for _, k := range []*keys.PeerKey{a, b, c} {
		if got, err := Open(k, ct); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("recipient could not open: %v", err)
		}
	}
	if _, err := Open(outsider, ct); err == nil {
		t.Fatal("outsider opened")
	}
}

func TestTamperedFails(t *testing.T) {
	alice := testkit.Key(t, "alice")
	ct, _ := Seal([]peer.ID{alice.ID()}, bytes.Repeat([]byte("x"), 1000))
	for _, pos := range []int{30, len(ct) / 2, len(ct) - 1} {
		bad := bytes.Clone(ct)
		bad[pos] ^= 1
		if _, err := Open(alice, bad); err == nil {
			t.Fatalf("flip at %d went unnoticed", pos)
		}
	}
	if _, err := Open(alice, ct[:len(ct)-1]); err == nil {
		t.Fatal("truncation went unnoticed")
	}
}

func TestStreaming(t *testing.T) {
	alice := testkit.Key(t, "alice")
	big := make([]byte, 300<<10) // several 64 KiB STREAM chunks
	rand.Read(big)
	var buf bytes.Buffer
	w, err := Encrypt(&buf, []peer.ID{alice.ID()})
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(big); off += 10000 {
		w.Write(big[off:min(off+10000, len(big))])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Decrypt(alice, &buf)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("stream round trip failed: %v", err)
	}
}

func TestAgeToolInterop(t *testing.T) {
	// The derived identity opens a file sealed with plain age to the derived
	// recipient, and vice versa: our ciphertexts are ordinary age files.
	alice := testkit.Key(t, "alice")
	id, _ := Identity(alice)
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, id.Recipient())
	w.Write([]byte("from plain age"))
	w.Close()
	if got, err := Open(alice, buf.Bytes()); err != nil || string(got) != "from plain age" {
		t.Fatalf("got %q %v", got, err)
	}
	ct, _ := Seal([]peer.ID{alice.ID()}, []byte("to plain age"))
	r, err := age.Decrypt(bytes.NewReader(ct), id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); string(got) != "to plain age" {
		t.Fatalf("got %q", got)
	}
}

func TestBadRecipients(t *testing.T) {
	if _, err := Seal(nil, []byte("x")); !errors.Is(err, ErrNoRecipients) {
		t.Fatalf("empty list: %v", err)
	}
	// Identity point (y=1) and a low-order point (y=0 has order 4).
	for name, raw := range map[string][]byte{
		"identity":      append([]byte{1}, make([]byte, 31)...),
		"order 4":       make([]byte, 32),
		"non-canonical": func() []byte { b := bytes.Repeat([]byte{0xff}, 32); b[31] = 0x7f; return b }(),
		"not on curve":  offCurve(t),
	} {
		t.Run(name+" is refused", func(t *testing.T) {
			pk, err := crypto.UnmarshalEd25519PublicKey(raw)
			if err != nil {
				t.Fatal(err)
			}
			id, err := peer.IDFromPublicKey(pk)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Recipient(id); !errors.Is(err, ErrBadRecipient) {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("a non-Ed25519 peer ID is refused", func(t *testing.T) {
		_, pub, _ := crypto.GenerateSecp256k1Key(rand.Reader)
		id, _ := peer.IDFromPublicKey(pub)
		if _, err := Recipient(id); !errors.Is(err, ErrBadRecipient) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("too many recipients are refused", func(t *testing.T) {
		ids := make([]peer.ID, MaxRecipients+1)
		if _, err := Seal(ids, nil); err == nil {
			t.Fatal("accepted")
		}
	})
}

func TestBech32MatchesAge(t *testing.T) {
	// age's parser checks our checksum; age's own encoder must give back the
	// exact string ours produced, in both cases.
	for i := 0; i < 10; i++ {
		raw := make([]byte, 32)
		rand.Read(raw)
		s := bech32Encode("age", raw, false)
		r, err := age.ParseX25519Recipient(s)
		if err != nil || r.String() != s {
			t.Fatalf("recipient %q: %v", s, err)
		}
		u := bech32Encode("AGE-SECRET-KEY-", raw, true)
		id, err := age.ParseX25519Identity(u)
		if err != nil || id.String() != u {
			t.Fatalf("identity: %v", err)
		}
	}
}

// offCurve finds a small y with no matching x.
func offCurve(t *testing.T) []byte {
	for y := byte(2); y < 255; y++ {
		b := make([]byte, 32)
		b[0] = y
		if _, err := new(edwards25519.Point).SetBytes(b); err != nil {
			return b
		}
	}
	t.Fatal("no off-curve y found")
	return nil
}
