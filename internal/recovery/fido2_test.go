package recovery

import (
	"bytes"
	"errors"
	"testing"
)

func TestASecurityKeysPRFGivesTheKeyForItsVaultOnly(t *testing.T) {
	prf, salt := bytes.Repeat([]byte{7}, FIDO2OutputSize), bytes.Repeat([]byte{9}, FIDO2SaltSize)
	rk, meta, err := EnableFIDO2("localhost", []byte("credential-id"), salt, prf, []byte("vault-one-16byte"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseFIDO2Meta(meta)
	if err != nil || m.RPID != "localhost" || !bytes.Equal(m.Salt, salt) || string(m.Credential) != "credential-id" {
		t.Fatalf("meta: %+v %v", m, err)
	}
	again, _ := FIDO2Key(prf, []byte("vault-one-16byte"))
	other, _ := FIDO2Key(prf, []byte("vault-two-16byte"))
	if *again != *rk || *other == *rk {
		t.Fatal("the key is not the PRF's for this vault alone")
	}
	if _, err := FIDO2Key(prf[:31], nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a short PRF output: %v", err)
	}
	for _, bad := range []struct {
		rp         string
		cred, salt []byte
	}{{"", []byte("c"), salt}, {"localhost", nil, salt}, {"localhost", []byte("c"), salt[:16]}} {
		if _, _, err := EnableFIDO2(bad.rp, bad.cred, bad.salt, prf, nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("a bad registration %+v: %v", bad, err)
		}
	}
}

func FuzzParseFIDO2Meta(f *testing.F) {
	_, meta, _ := EnableFIDO2("localhost", []byte("c"), make([]byte, FIDO2SaltSize), make([]byte, FIDO2OutputSize), nil)
	f.Add(meta)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseFIDO2Meta(b)
		if err != nil {
			return
		}
		if len(m.Salt) != FIDO2SaltSize || m.RPID == "" || len(m.Credential) == 0 {
			t.Fatalf("a meta that breaks its rules parsed: %+v", m)
		}
	})
}
