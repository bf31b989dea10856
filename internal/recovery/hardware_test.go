package recovery

import (
	"errors"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/ocmt/mesh/internal/wire"
)

func TestAHardwareKeyOpensWithItsIdentityFileOnly(t *testing.T) {
	identity, recipient, err := NewHardwareIdentity()
	if err != nil || !strings.HasPrefix(identity, "AGE-SECRET-KEY-1") || !strings.HasPrefix(recipient, "age1") {
		t.Fatalf("%v", err)
	}
	rk, meta, err := EnableHardware("  " + recipient + "\n")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseHardwareMeta(meta)
	if err != nil || m.Recipient != recipient {
		t.Fatalf("the meta: %+v %v", m, err)
	}
	file := "# created: on a USB stick\n# public key: " + recipient + "\n" + identity + "\n"
	got, err := HardwareKey(meta, strings.NewReader(file))
	if err != nil || *got != *rk {
		t.Fatalf("the right identity file: %v", err)
	}
	other, _, _ := NewHardwareIdentity()
	if _, err := HardwareKey(meta, strings.NewReader(other)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("another identity: %v, want ErrWrongKey", err)
	}
	// A file of several identities opens it when one of them is the right one.
	if got, err := HardwareKey(meta, strings.NewReader(other+"\n"+identity+"\n")); err != nil || *got != *rk {
		t.Fatalf("a file with the right identity second: %v", err)
	}
	for name, f := range map[string]string{"an empty file": "", "a recipient": recipient, "a truncated identity": identity[:40]} {
		_, err := HardwareKey(meta, strings.NewReader(f))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		holdsNone(t, name, err.Error(), map[string][]byte{"the identity": []byte(identity[16:]), "the key": rk[:]})
	}
}

func TestHardwareRefusesWhatIsNotAnX25519Recipient(t *testing.T) {
	for _, r := range []string{"", "age1notarecipient", "ssh-ed25519 AAAA", "AGE-SECRET-KEY-1QQQ"} {
		if _, _, err := EnableHardware(r); err == nil {
			t.Errorf("%q: no error", r)
		}
	}
}

func TestAHardwareMetaWithAnythingWrongIsMalformed(t *testing.T) {
	_, recipient, _ := NewHardwareIdentity()
	_, meta, err := EnableHardware(recipient)
	if err != nil {
		t.Fatal(err)
	}
	var m HardwareMeta
	if err := wire.UnmarshalCanonical(meta, &m); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*HardwareMeta){
		"another version":     func(m *HardwareMeta) { m.Version = 2 },
		"no sealed key":       func(m *HardwareMeta) { m.Sealed = nil },
		"a huge sealed key":   func(m *HardwareMeta) { m.Sealed = make([]byte, maxSealedBytes+1) },
		"a bad recipient":     func(m *HardwareMeta) { m.Recipient = "age1nope" },
		"a padded recipient":  func(m *HardwareMeta) { m.Recipient = " " + m.Recipient },
		"an ssh recipient":    func(m *HardwareMeta) { m.Recipient = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH" },
		"no recipient at all": func(m *HardwareMeta) { m.Recipient = "" },
	} {
		c := m
		edit(&c)
		b, err := wire.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseHardwareMeta(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseHardwareMeta(append(meta, 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a trailing byte: %v", err)
	}
}

func TestASealedKeyOfAnotherLengthDoesNotOpen(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	for _, n := range []int{0, 31, 33} {
		sealed := sealBytes(t, id.Recipient(), make([]byte, n))
		if _, err := openWith(sealed, id); !errors.Is(err, ErrWrongKey) {
			t.Errorf("%d bytes sealed: %v, want ErrWrongKey", n, err)
		}
	}
}

func sealBytes(t *testing.T, r age.Recipient, b []byte) []byte {
	t.Helper()
	var buf strings.Builder
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return []byte(buf.String())
}
