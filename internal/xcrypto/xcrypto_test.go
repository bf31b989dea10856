package xcrypto

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	sealed := Seal(key, []byte("secret"), []byte("aad"))
	if pt, err := Open(key, sealed, []byte("aad")); err != nil || string(pt) != "secret" {
		t.Fatalf("round trip: %q, %v", pt, err)
	}
	if bytes.Equal(Seal(key, []byte("secret"), []byte("aad")), sealed) {
		t.Fatal("two seals of the same plaintext are equal: the nonce is not fresh")
	}
	other := bytes.Repeat([]byte{8}, KeySize)
	for name, tc := range map[string]struct {
		key, sealed, aad []byte
	}{
		"wrong key":     {other, sealed, []byte("aad")},
		"wrong aad":     {key, sealed, []byte("aae")},
		"truncated":     {key, sealed[:NonceSize+Overhead-1], []byte("aad")},
		"flipped nonce": {key, append([]byte{sealed[0] ^ 1}, sealed[1:]...), []byte("aad")},
		"empty":         {key, nil, []byte("aad")},
	} {
		if _, err := Open(tc.key, tc.sealed, tc.aad); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
	}
}

func TestPasswordKEKDependsOnEveryInput(t *testing.T) {
	p := KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	base := PasswordKEK([]byte("pw"), []byte("salt-salt-salt-1"), p, "label")
	for name, k := range map[string][32]byte{
		"password": PasswordKEK([]byte("pX"), []byte("salt-salt-salt-1"), p, "label"),
		"salt":     PasswordKEK([]byte("pw"), []byte("salt-salt-salt-2"), p, "label"),
		"params":   PasswordKEK([]byte("pw"), []byte("salt-salt-salt-1"), KDFParams{Time: 2, MemoryKiB: 64, Threads: 1}, "label"),
		"label":    PasswordKEK([]byte("pw"), []byte("salt-salt-salt-1"), p, "other"),
	} {
		if k == base {
			t.Errorf("changing the %s did not change the key", name)
		}
	}
}

func TestMACIsKeyedAndLabelled(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	base := MAC(k1, "a", []byte("msg"))
	for name, tag := range map[string][MACSize]byte{
		"key":   MAC(k2, "a", []byte("msg")),
		"label": MAC(k1, "b", []byte("msg")),
		"msg":   MAC(k1, "a", []byte("msh")),
		"split": MAC(k1, "a", []byte("ms"), []byte("h")),
	} {
		if MACEqual(tag[:], base[:]) {
			t.Errorf("changing the %s did not change the tag", name)
		}
	}
	if again := MAC(k1, "a", []byte("m"), []byte("sg")); !MACEqual(again[:], base[:]) {
		t.Error("the message is not the concatenation of its parts")
	}
}

func TestSealToOpensOnlyWithThePrivateKey(t *testing.T) {
	priv, other := bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{4}, 32)
	pub, err := X25519Public(priv)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := SealTo(pub[:], []byte("session key"), []byte("aad"), "label")
	if err != nil || len(sealed) != SealedToSize+len("session key") {
		t.Fatalf("SealTo: %d bytes, %v", len(sealed), err)
	}
	if pt, err := OpenWith(priv, sealed, []byte("aad"), "label"); err != nil || string(pt) != "session key" {
		t.Fatalf("round trip: %q, %v", pt, err)
	}
	for name, tc := range map[string]struct {
		priv, sealed, aad []byte
		label             string
	}{
		"other key":   {other, sealed, []byte("aad"), "label"},
		"other aad":   {priv, sealed, []byte("aae"), "label"},
		"other label": {priv, sealed, []byte("aad"), "lab3l"},
		"flipped epk": {priv, append([]byte{sealed[0] ^ 1}, sealed[1:]...), []byte("aad"), "label"},
		"truncated":   {priv, sealed[:SealedToSize-1], []byte("aad"), "label"},
		"zero epk":    {priv, append(make([]byte, 32), sealed[32:]...), []byte("aad"), "label"},
	} {
		if _, err := OpenWith(tc.priv, tc.sealed, tc.aad, tc.label); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
	}
	if _, err := SealTo(make([]byte, 32), []byte("x"), nil, "label"); err == nil {
		t.Error("sealed to the all-zero (low-order) public key")
	}
}

func TestNewAEADIsTheAEADSealUses(t *testing.T) {
	key := bytes.Repeat([]byte{9}, KeySize)
	sealed := Seal(key, []byte("chunk"), []byte("aad"))
	a := NewAEAD(key)
	if a.NonceSize() != NonceSize || a.Overhead() != Overhead {
		t.Fatalf("nonce %d, overhead %d", a.NonceSize(), a.Overhead())
	}
	pt, err := a.Open(nil, sealed[:NonceSize], sealed[NonceSize:], []byte("aad"))
	if err != nil || string(pt) != "chunk" {
		t.Fatalf("NewAEAD does not open what Seal sealed: %q, %v", pt, err)
	}
}
