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
