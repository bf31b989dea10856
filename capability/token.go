package capability

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
)

// TextPrefix starts the text form of a token: "ocmt1." + base64url (no
// padding) of the envelope bytes. The "1" is the format version.
const TextPrefix = "ocmt1."

// ID identifies a token: SHA-256 of its exact envelope bytes. Revocations,
// replay counters and logs refer to tokens by ID.
type ID [sha256.Size]byte

// String is the full lowercase hex form.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short is the first 12 hex digits, for humans and logs.
func (id ID) Short() string { return hex.EncodeToString(id[:6]) }

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText writes the full hex form (JSON, YAML).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// ParseID parses the full hex form.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: token ID must be %d hex digits", ErrMalformed, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("%w: token ID: %v", ErrMalformed, err)
	}
	return id, nil
}

// envelope is the outer CBOR map: the exact signed payload bytes and the
// signature over keys.TokenMessage(payload).
type envelope struct {
	Payload   []byte `cbor:"1,keyasint"`
	Signature []byte `cbor:"2,keyasint"`
}

// payload is the signed CBOR map. See doc.go for the field table.
type payload struct {
	Version   uint64 `cbor:"1,keyasint"`
	Issuer    []byte `cbor:"2,keyasint"`
	Audience  []byte `cbor:"3,keyasint"`
	Resource  string `cbor:"4,keyasint"`
	Actions   uint64 `cbor:"5,keyasint"`
	NotBefore int64  `cbor:"6,keyasint"`
	Expiry    int64  `cbor:"7,keyasint"`
	Nonce     []byte `cbor:"8,keyasint"`
	MaxUses   uint64 `cbor:"9,keyasint,omitempty"`
	Ceiling   uint64 `cbor:"10,keyasint,omitempty"`
	Parent    []byte `cbor:"11,keyasint,omitempty"`
}

// The codec modes are immutable once built; they are package values only so
// that each decode does not rebuild them.
var (
	encMode = mustEncMode()
	decMode = mustDecMode()
)

func mustEncMode() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustDecMode() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   cborMaxNestedLevels,
		MaxArrayElements:  cborMaxArrayElements,
		MaxMapPairs:       cborMaxMapPairs,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

// maxUnix is 9999-12-31T23:59:59Z, the last second RFC 3339 can print.
const maxUnix = 253402300799

// Token is a decoded, immutable capability token with its parent chain.
// Decoding checks structure only: Verifier.Verify checks signatures,
// chain rules, time, revocation and the request.
type Token struct {
	raw       []byte // exact envelope bytes; id = SHA-256(raw)
	id        ID
	payload   []byte // exact signed payload bytes
	sig       []byte
	p         payload
	issuer    peer.ID
	audience  peer.ID
	issuerKey keys.PeerPublic // extracted once at decode, reused by Verify
	parent    *Token
	depth     int // tokens from the root to this one, root = 1
}

// Decode strictly decodes envelope bytes, with every parent. It rejects
// input over MaxTokenBytes before decoding, and any encoding that does not
// re-encode to the same bytes (duplicate keys, indefinite lengths, tags,
// non-minimal integers, unsorted keys, unknown fields, trailing bytes).
func Decode(b []byte) (*Token, error) {
	if len(b) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrTooLarge, len(b), MaxTokenBytes)
	}
	return decode(bytes.Clone(b), 1)
}

// Parse decodes the text form, exactly as String prints it: TextPrefix,
// then only the base64url alphabet (A–Z a–z 0–9 - _), no padding, no
// stray bits, no white space anywhere (not even around it: callers that
// read a token from a terminal or a file trim it themselves). Each token
// has one text form; a text that parses prints back as itself.
func Parse(text string) (*Token, error) {
	if len(text) > MaxTextLen {
		return nil, fmt.Errorf("%w: text is %d bytes, max %d", ErrTooLarge, len(text), MaxTextLen)
	}
	enc, ok := strings.CutPrefix(text, TextPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: text does not start with %q", ErrMalformed, TextPrefix)
	}
	// encoding/base64 skips \r and \n even in Strict mode, so the alphabet
	// is checked first; with it and Strict (no padding, no stray bits) the
	// text is the one RawURLEncoding prints for the bytes.
	for i := 0; i < len(enc); i++ {
		if !isBase64URL(enc[i]) {
			return nil, fmt.Errorf("%w: text: byte %#02x at offset %d is not base64url", ErrMalformed, enc[i], len(TextPrefix)+i)
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: text: %v", ErrMalformed, err)
	}
	return Decode(b)
}

// isBase64URL reports whether c is in RFC 4648's base64url alphabet.
func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// decode decodes raw (owned by the token) at position fromLeaf (leaf = 1).
func decode(raw []byte, fromLeaf int) (*Token, error) {
	var env envelope
	if err := strictUnmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if len(env.Signature) != len(keys.Signature{}) {
		return nil, fmt.Errorf("%w: signature is %d bytes", ErrMalformed, len(env.Signature))
	}
	t := &Token{raw: raw, id: sha256.Sum256(raw), payload: env.Payload, sig: env.Signature}
	if err := strictUnmarshal(env.Payload, &t.p); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if err := t.checkFields(); err != nil {
		return nil, err
	}
	if t.p.Parent != nil {
		if fromLeaf >= MaxDepth {
			return nil, fmt.Errorf("%w: more than %d tokens", ErrTooDeep, MaxDepth)
		}
		parent, err := decode(t.p.Parent, fromLeaf+1)
		if err != nil {
			return nil, fmt.Errorf("parent: %w", err)
		}
		t.parent = parent
		t.depth = parent.depth + 1
	} else {
		t.depth = 1
	}
	return t, nil
}

// strictUnmarshal decodes and insists the canonical re-encoding is the input.
func strictUnmarshal(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: re-encoding: %v", ErrMalformed, err)
	}
	if !bytes.Equal(again, b) {
		return fmt.Errorf("%w: not canonical CBOR", ErrMalformed)
	}
	return nil
}

// checkFields validates one payload on its own and fills the cached IDs.
func (t *Token) checkFields() error {
	p := &t.p
	if p.Version != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrMalformed, p.Version, Version)
	}
	var err error
	if t.issuer, t.issuerKey, err = peerFromBytes(p.Issuer); err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	if t.audience, _, err = peerFromBytes(p.Audience); err != nil {
		return fmt.Errorf("audience: %w", err)
	}
	if err := Pattern(p.Resource).Validate(); err != nil {
		return fmt.Errorf("%w: resource: %w", ErrMalformed, err)
	}
	if p.Actions > 0xff || !Actions(p.Actions).Valid() {
		return fmt.Errorf("%w: actions %#x", ErrMalformed, p.Actions)
	}
	if p.NotBefore < 0 || p.Expiry <= p.NotBefore || p.Expiry > maxUnix {
		return fmt.Errorf("%w: validity [%d, %d) is empty or out of range", ErrMalformed, p.NotBefore, p.Expiry)
	}
	if len(p.Nonce) != NonceSize {
		return fmt.Errorf("%w: nonce is %d bytes, want %d", ErrMalformed, len(p.Nonce), NonceSize)
	}
	if p.MaxUses > MaxMaxUses {
		return fmt.Errorf("%w: max-uses %d, cap %d", ErrMalformed, p.MaxUses, MaxMaxUses)
	}
	if p.Ceiling != 0 {
		if p.Ceiling > 0xff {
			return fmt.Errorf("%w: ceiling %#x", ErrMalformed, p.Ceiling)
		}
		if err := validCeiling(Actions(p.Ceiling)); err != nil {
			return err
		}
	}
	return nil
}

// peerFromBytes accepts only the canonical Ed25519 peer ID encoding
// (keys.ParsePeerID: identity multihash 0x00 0x24 of the protobuf key
// 0x08 0x01 0x12 0x20 ‖ 32 bytes), so a peer has one byte form on the wire
// and its key is read without protobuf decoding, and only a key that
// keys.CheckPeerPublic accepts: no small-order point (anyone can sign for
// one) and no non-canonical encoding. Other key types are not mesh peers.
func peerFromBytes(b []byte) (peer.ID, keys.PeerPublic, error) {
	id, pub, err := keys.ParsePeerID(b)
	if err != nil {
		return "", keys.PeerPublic{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return id, pub, nil
}

// peerToBytes is the inverse of peerFromBytes, for issuing.
func peerToBytes(id peer.ID) ([]byte, error) {
	b := []byte(id)
	if _, _, err := peerFromBytes(b); err != nil {
		return nil, err
	}
	return b, nil
}

// ID returns SHA-256 of the exact envelope bytes.
func (t *Token) ID() ID { return t.id }

// Bytes returns a copy of the exact envelope bytes.
func (t *Token) Bytes() []byte { return bytes.Clone(t.raw) }

// String returns the text form, TextPrefix + base64url(envelope).
func (t *Token) String() string {
	return TextPrefix + base64.RawURLEncoding.EncodeToString(t.raw)
}

// MarshalText writes the text form.
func (t *Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Issuer is the peer that signed this token.
func (t *Token) Issuer() peer.ID { return t.issuer }

// Audience is the peer this token is granted to.
func (t *Token) Audience() peer.ID { return t.audience }

// Resource is the granted pattern, in the root issuer's namespace.
func (t *Token) Resource() Pattern { return Pattern(t.p.Resource) }

// Actions are the granted actions.
func (t *Token) Actions() Actions { return Actions(t.p.Actions) }

// NotBefore is the start of validity (before skew).
func (t *Token) NotBefore() time.Time { return time.Unix(t.p.NotBefore, 0).UTC() }

// Expiry is the end of validity (before skew), exclusive.
func (t *Token) Expiry() time.Time { return time.Unix(t.p.Expiry, 0).UTC() }

// Nonce returns a copy of the 16-byte nonce.
func (t *Token) Nonce() []byte { return bytes.Clone(t.p.Nonce) }

// MaxUses is the use budget, 0 for unlimited.
func (t *Token) MaxUses() int { return int(t.p.MaxUses) }

// Ceiling returns this token's own ceiling, 0 for none.
func (t *Token) Ceiling() Actions { return Actions(t.p.Ceiling) }

// Parent is the embedded parent token, nil for a root token.
func (t *Token) Parent() *Token { return t.parent }

// Depth is the number of tokens from the root to this one (root = 1).
func (t *Token) Depth() int { return t.depth }

// Root returns the first token of the chain.
func (t *Token) Root() *Token {
	for t.parent != nil {
		t = t.parent
	}
	return t
}

// Chain lists the tokens from the root to t.
func (t *Token) Chain() []*Token {
	out := make([]*Token, t.depth)
	for c := t; c != nil; c = c.parent {
		out[c.depth-1] = c
	}
	return out
}
