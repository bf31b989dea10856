package peerseal

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/edwards25519"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
)

var (
	// ErrNoRecipients is returned when sealing to nobody.
	ErrNoRecipients = errors.New("peerseal: no recipients")
	// ErrBadRecipient is returned for a peer ID that is not a usable Ed25519 key.
	ErrBadRecipient = errors.New("peerseal: peer ID is not a usable Ed25519 key")
	// ErrNotRecipient is returned when the key opening a ciphertext is not
	// among its recipients (or the header was tampered with).
	ErrNotRecipient = errors.New("peerseal: not a recipient")
)

// MaxRecipients caps one ciphertext's recipient list; age reads every stanza
// before deciding, so an unbounded list is a cost on every opener.
const MaxRecipients = 256

// Recipient derives the age recipient for a peer ID. keys.PeerPublicFromID
// refuses small-order points and non-canonical encodings (the one check,
// keys.CheckPeerPublic); what is left to refuse here is bytes that are not
// a curve point at all.
func Recipient(id peer.ID) (*age.X25519Recipient, error) {
	pub, err := keys.PeerPublicFromID(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecipient, err)
	}
	p, err := new(edwards25519.Point).SetBytes(pub.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: not a curve point", ErrBadRecipient)
	}
	r, err := age.ParseX25519Recipient(bech32Encode("age", p.BytesMontgomery(), false))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecipient, err)
	}
	return r, nil
}

// Identity derives the age identity for a peer key. The returned identity
// holds the X25519 scalar; drop it as soon as the ciphertext is opened.
func Identity(k *keys.PeerKey) (*age.X25519Identity, error) {
	if k == nil || k.IsZero() {
		return nil, errors.New("peerseal: zero peer key")
	}
	seed := k.Seed()
	h := sha512.Sum512(seed)
	clear(seed)
	// age parses only the Bech32 form. The intermediate string cannot be
	// wiped (Go strings are immutable); it lives only until the next GC.
	id, err := age.ParseX25519Identity(bech32Encode("AGE-SECRET-KEY-", h[:32], true))
	clear(h[:])
	if err != nil {
		return nil, fmt.Errorf("peerseal: deriving identity: %w", err)
	}
	return id, nil
}

func recipients(ids []peer.ID) ([]age.Recipient, error) {
	if len(ids) == 0 {
		return nil, ErrNoRecipients
	}
	if len(ids) > MaxRecipients {
		return nil, fmt.Errorf("peerseal: %d recipients, cap %d", len(ids), MaxRecipients)
	}
	seen := make(map[peer.ID]bool, len(ids))
	out := make([]age.Recipient, 0, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		r, err := Recipient(id)
		if err != nil {
			return nil, fmt.Errorf("recipient %s: %w", id, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Seal encrypts plaintext to every listed peer (duplicates are folded).
func Seal(to []peer.ID, plaintext []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := Encrypt(&buf, to)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("peerseal: sealing: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("peerseal: sealing: %w", err)
	}
	return buf.Bytes(), nil
}

// Open decrypts a ciphertext made by Seal or Encrypt with the peer key of one
// of its recipients. Tampering anywhere fails the whole open.
func Open(k *keys.PeerKey, ciphertext []byte) ([]byte, error) {
	r, err := Decrypt(k, bytes.NewReader(ciphertext))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("peerseal: opening: %w", err)
	}
	return out, nil
}

// Encrypt streams: everything written to the returned writer is encrypted to
// the peers and written to dst; Close finishes the last chunk and must be
// called.
func Encrypt(dst io.Writer, to []peer.ID) (io.WriteCloser, error) {
	rs, err := recipients(to)
	if err != nil {
		return nil, err
	}
	w, err := age.Encrypt(dst, rs...)
	if err != nil {
		return nil, fmt.Errorf("peerseal: %w", err)
	}
	return w, nil
}

// Decrypt streams: it reads the header from src and returns a reader of the
// plaintext. Each 64 KiB chunk is authenticated before it is returned, so a
// reader sees an error, never unauthenticated bytes.
func Decrypt(k *keys.PeerKey, src io.Reader) (io.Reader, error) {
	id, err := Identity(k)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(src, id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, ErrNotRecipient
		}
		return nil, fmt.Errorf("peerseal: %w", err)
	}
	return r, nil
}

// This file is a minimal BIP 173 Bech32 encoder, enough to hand raw X25519
// keys to age's own parsers (ParseX25519Recipient, ParseX25519Identity), which
// accept only the Bech32 string forms. Going through age's parsers keeps all
// of the actual cryptography in age.

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		b := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (b>>uint(i))&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

// bech32Encode encodes data under hrp. The checksum is computed over the
// lower-case hrp; if upper is set the result is upper-cased (age's identity
// form "AGE-SECRET-KEY-1...").
func bech32Encode(hrp string, data []byte, upper bool) string {
	hrp = strings.ToLower(hrp)
	// 8-bit groups to 5-bit groups, padded.
	var values []byte
	acc, bits := uint32(0), uint(0)
	for _, b := range data {
		acc = acc<<8 | uint32(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			values = append(values, byte(acc>>bits)&31)
		}
	}
	if bits > 0 {
		values = append(values, byte(acc<<(5-bits))&31)
	}
	exp := make([]byte, 0, 2*len(hrp)+1+len(values)+6)
	for i := 0; i < len(hrp); i++ {
		exp = append(exp, hrp[i]>>5)
	}
	exp = append(exp, 0)
	for i := 0; i < len(hrp); i++ {
		exp = append(exp, hrp[i]&31)
	}
	exp = append(exp, values...)
	exp = append(exp, 0, 0, 0, 0, 0, 0)
	mod := bech32Polymod(exp) ^ 1

	var sb strings.Builder
	sb.WriteString(hrp)
	sb.WriteByte('1')
	for _, v := range values {
		sb.WriteByte(bech32Charset[v])
	}
	for i := 0; i < 6; i++ {
		sb.WriteByte(bech32Charset[(mod>>uint(5*(5-i)))&31])
	}
	clear(values)
	clear(exp)
	if upper {
		return strings.ToUpper(sb.String())
	}
	return sb.String()
}
