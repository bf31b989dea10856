package recovery

import (
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/cosmos/go-bip39"

	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/internal/xcrypto"
)

// Method names (the vault's recovery wraps).
const (
	Phrase   = "phrase"
	Social   = "social"
	Hardware = "hardware"
	Escrow   = "escrow"
)

const labelPhrase = "ocmt-mesh/recovery/phrase/v1"

// NewPhrase draws a new 24-word recovery phrase (BIP39, English).
func NewPhrase() (string, error) {
	ent := make([]byte, 32)
	if _, err := rand.Read(ent); err != nil {
		return "", err
	}
	defer clear(ent)
	return bip39.NewMnemonic(ent)
}

// normalize lowers a phrase and keeps single spaces between its words.
func normalize(phrase string) string {
	return strings.Join(strings.Fields(strings.ToLower(phrase)), " ")
}

// PhraseKey checks a phrase (24 known words, a valid checksum) and
// derives the vault's recovery key from it:
//
//	RK = HKDF-SHA256(entropy, vault ID, "ocmt-mesh/recovery/phrase/v1")
func PhraseKey(phrase string, vaultID []byte) (*[32]byte, error) {
	p := normalize(phrase)
	if len(strings.Fields(p)) != PhraseWords || !bip39.IsMnemonicValid(p) {
		return nil, ErrBadPhrase
	}
	b, err := bip39.MnemonicToByteArray(p)
	if err != nil || len(b) != 33 {
		return nil, ErrBadPhrase
	}
	defer clear(b)
	rk := xcrypto.Expand(b[:32], vaultID, labelPhrase)
	return &rk, nil
}

// PhraseWordsAt returns the phrase's words at the given positions
// (counted from 1), for the type-back check.
func PhraseWordsAt(phrase string, pos ...int) ([]string, error) {
	w := strings.Fields(normalize(phrase))
	out := make([]string, len(pos))
	for i, p := range pos {
		if p < 1 || p > len(w) {
			return nil, fmt.Errorf("recovery: no word %d", p)
		}
		out[i] = w[p-1]
	}
	return out, nil
}

type phraseMeta struct {
	Version uint64 `cbor:"1,keyasint"`
}

// PhraseMeta is the phrase method's meta: its version only (nothing of
// the phrase is stored).
func PhraseMeta() []byte {
	b, _ := wire.Marshal(phraseMeta{Version: version})
	return b
}
