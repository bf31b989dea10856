package recovery

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/cosmos/go-bip39"
)

// fixedPhrase is the phrase of 32 bytes of entropy b, b+1, ...
func fixedPhrase(t *testing.T, first byte) (string, []byte) {
	t.Helper()
	ent := make([]byte, 32)
	for i := range ent {
		ent[i] = first + byte(i)*7
	}
	p, err := bip39.NewMnemonic(ent)
	if err != nil {
		t.Fatal(err)
	}
	return p, ent
}

// wantKey is RK as doc.go derives it, computed here with the standard
// library's HKDF.
func wantKey(t *testing.T, entropy, vaultID []byte) []byte {
	t.Helper()
	k, err := hkdf.Key(sha256.New, entropy, vaultID, labelPhrase, 32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestANewPhraseGivesTheSameKeyEachTime(t *testing.T) {
	p, err := NewPhrase()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(p)); n != PhraseWords {
		t.Fatalf("a new phrase has %d words", n)
	}
	a, err := PhraseKey(p, vaultA)
	if err != nil {
		t.Fatalf("a new phrase is refused: %v", err)
	}
	b, err := PhraseKey(p, vaultA)
	if err != nil || *a != *b {
		t.Fatalf("the same phrase gave another key: %v", err)
	}
	q, _ := NewPhrase()
	if p == q {
		t.Fatal("two new phrases are the same")
	}
}

func TestThePhrasesKeyIsHKDFOfItsEntropyTheVaultIDAndTheLabel(t *testing.T) {
	for _, first := range []byte{0x00, 0x5a, 0xf0} { // 0x00: entropy with leading zero bytes
		p, ent := fixedPhrase(t, first)
		if first == 0 {
			ent[0], ent[1] = 0, 0
			p, _ = bip39.NewMnemonic(ent)
		}
		rk, err := PhraseKey(p, vaultA)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rk[:], wantKey(t, ent, vaultA)) {
			t.Fatalf("entropy %x: the key is not HKDF-SHA256(entropy, vault ID, %q)", ent[:4], labelPhrase)
		}
	}
}

func TestPhraseKeyBindsTheVaultID(t *testing.T) {
	p, _ := fixedPhrase(t, 1)
	a, _ := PhraseKey(p, vaultA)
	b, _ := PhraseKey(p, vaultB)
	if *a == *b {
		t.Fatal("one phrase gave two vaults the same key")
	}
}

func TestAPhraseIsReadWhateverItsCaseAndSpaces(t *testing.T) {
	p, _ := fixedPhrase(t, 2)
	want, _ := PhraseKey(p, vaultA)
	for name, q := range map[string]string{
		"upper case":       strings.ToUpper(p),
		"mixed case":       mixedCase(p),
		"extra spaces":     "  " + strings.ReplaceAll(p, " ", "   ") + "  ",
		"tabs and newline": strings.ReplaceAll(p, " ", "\t") + "\n",
		"lines of words":   strings.Join([]string{strings.Join(strings.Fields(p)[:12], " "), strings.Join(strings.Fields(p)[12:], " ")}, "\r\n"),
	} {
		got, err := PhraseKey(q, vaultA)
		if err != nil || *got != *want {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAPhraseThatIsNotTheWordsDrawnIsRefused(t *testing.T) {
	p, _ := fixedPhrase(t, 3)
	w := strings.Fields(p)
	swap := func(i, j int) string {
		c := append([]string(nil), w...)
		c[i], c[j] = c[j], c[i]
		return strings.Join(c, " ")
	}
	with := func(i int, word string) string {
		c := append([]string(nil), w...)
		c[i] = word
		return strings.Join(c, " ")
	}
	short, _ := bip39.NewMnemonic(make([]byte, 16))
	otherLast := "abandon"
	if w[23] == otherLast {
		otherLast = "zoo"
	}
	for name, q := range map[string]string{
		"a word not in the list":   with(5, "notaword"),
		"a misspelt word":          with(5, w[5][:len(w[5])-1]+"q"),
		"two words swapped":        swap(0, 1),
		"a bad checksum":           with(23, otherLast),
		"a word missing":           strings.Join(w[:23], " "),
		"a word too many":          p + " " + w[0],
		"12 words":                 short,
		"nothing":                  "",
		"the words run together":   strings.ReplaceAll(p, " ", ""),
		"another list's separator": strings.ReplaceAll(p, " ", "\u3000x"),
	} {
		if q == p {
			t.Fatalf("%s: the test did not change the phrase", name)
		}
		_, err := PhraseKey(q, vaultA)
		if !errors.Is(err, ErrBadPhrase) {
			t.Errorf("%s: %v, want ErrBadPhrase", name, err)
		}
		if err != nil && err.Error() != ErrBadPhrase.Error() {
			t.Errorf("%s: %q says more than ErrBadPhrase (it must not echo the words)", name, err)
		}
	}
}

func TestPhraseWordsAtGivesTheWordsCountedFromOne(t *testing.T) {
	p, _ := fixedPhrase(t, 4)
	w := strings.Fields(p)
	got, err := PhraseWordsAt("  "+strings.ToUpper(p), 1, 7, 24)
	if err != nil || len(got) != 3 || got[0] != w[0] || got[1] != w[6] || got[2] != w[23] {
		t.Fatalf("%v %v", got, err)
	}
	for _, pos := range []int{0, 25, -1} {
		if _, err := PhraseWordsAt(p, pos); err == nil {
			t.Errorf("word %d: no error", pos)
		}
	}
}

func TestThePhrasesMetaHoldsItsVersionOnly(t *testing.T) {
	if m := PhraseMeta(); !bytes.Equal(m, []byte{0xa1, 0x01, 0x01}) {
		t.Fatalf("the phrase's meta is %x, want {1: 1}", m)
	}
}

// mixedCase capitalises every other letter.
func mixedCase(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i += 2 {
		if b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}
