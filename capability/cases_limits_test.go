package capability

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
)

// The vectors of this file and cases_rules_test.go pin each rule doc.go
// states and each limit at and one past its value, so that an
// implementation written from doc.go alone can be checked against them
// (specs/tokens/verify.py is one). Almost every refused vector is signed
// properly, or forged so that crypto/ed25519 accepts it, so that only the
// rule it names can refuse it: a verifier that skipped the rule would
// answer "ok" or another error.

// kv is one CBOR map entry, its value already encoded.
type kv struct {
	k uint64
	v []byte
}

// enc encodes v deterministically.
func enc(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// mapOf writes a CBOR map of the entries in the order given (fewer than 24).
func mapOf(es ...kv) []byte {
	out := []byte{0xa0 | byte(len(es))}
	for _, e := range es {
		out = append(out, enc(e.k)...)
		out = append(out, e.v...)
	}
	return out
}

// entries lists p's fields as map entries in key order, the optional ones
// only when set: mapOf(entries(p)...) is p's canonical encoding.
func entries(p payload) []kv {
	es := []kv{{1, enc(p.Version)}, {2, enc(p.Issuer)}, {3, enc(p.Audience)}, {4, enc(p.Resource)},
		{5, enc(p.Actions)}, {6, enc(p.NotBefore)}, {7, enc(p.Expiry)}, {8, enc(p.Nonce)}}
	if p.MaxUses != 0 {
		es = append(es, kv{9, enc(p.MaxUses)})
	}
	if p.Ceiling != 0 {
		es = append(es, kv{10, enc(p.Ceiling)})
	}
	if p.Parent != nil {
		es = append(es, kv{11, enc(p.Parent)})
	}
	return es
}

// with returns es with key k set to v, inserted in key order if absent.
func with(es []kv, k uint64, v []byte) []kv {
	out := make([]kv, 0, len(es)+1)
	done := false
	for _, e := range es {
		switch {
		case e.k == k:
			out, done = append(out, kv{k, v}), true
			continue
		case e.k > k && !done:
			out, done = append(out, kv{k, v}), true
		}
		out = append(out, e)
	}
	if !done {
		out = append(out, kv{k, v})
	}
	return out
}

// without returns es without key k.
func without(es []kv, k uint64) []kv {
	var out []kv
	for _, e := range es {
		if e.k != k {
			out = append(out, e)
		}
	}
	return out
}

// signedPayload signs raw payload bytes properly and wraps them.
func signedPayload(t *testing.T, signer *keys.PeerKey, pl []byte) []byte {
	t.Helper()
	return envelopeBytes(t, signer, pl, keys.TokenMessage)
}

// ownerToBob is a root grant of read on calendar/work/* from the owner to
// bob for the standard window: bobReads of it signed is "ok".
func ownerToBob(c *cast) payload {
	return rawPayload([]byte(c.owner.ID()), []byte(c.bob.ID()), Read)
}

// bobReadsRaw is bobReads of an envelope's text.
func bobReadsRaw(c *cast, raw []byte) vector { return bobReads(c, textOf(raw)) }

// asBytes makes v carry raw as envelope bytes instead of a text.
func asBytes(v vector, raw []byte) vector {
	v.Token, v.Envelope = "", hex.EncodeToString(raw)
	return v
}

// rootOfSize issues the owner's read grant to bob on a concrete path whose
// envelope length is m mod 3 (so its text ends in a group of m+1
// characters, or 4 when m = 0), and returns it with that path.
func rootOfSize(t *testing.T, c *cast, m int) (*Token, string) {
	t.Helper()
	for i := 1; i < 10; i++ {
		path := "calendar/work/" + strings.Repeat("x", i)
		tok := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: Pattern(path), Actions: Read})
		if len(tok.raw)%3 == m {
			return tok, path
		}
	}
	t.Fatal("no size found")
	return nil, ""
}

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// strayBit sets the lowest unused bit of a text's last character.
func strayBit(s string) string {
	v := strings.IndexByte(b64url, s[len(s)-1])
	return s[:len(s)-1] + string(b64url[v|1])
}

// limitCases: every size limit at and one past its value, in the text
// form, the envelope, the fields and the chain.
func limitCases() []vectorCase {
	ok := "ok"
	root := func(t *testing.T, c *cast) *Token {
		return issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
	}
	padded := func(t *testing.T, c *cast, n int) []byte {
		raw := root(t, c).raw
		return append(bytes.Clone(raw), make([]byte, n-len(raw))...)
	}
	cases := []vectorCase{
		{"an envelope given as bytes is accepted", ok, func(t *testing.T, c *cast) vector {
			return asBytes(bobReads(c, ""), root(t, c).raw)
		}},
		{"an envelope of exactly MaxTokenBytes is read, and refused for its trailing bytes", "ErrMalformed", func(t *testing.T, c *cast) vector {
			return asBytes(bobReads(c, ""), padded(t, c, MaxTokenBytes))
		}},
		{"an envelope of MaxTokenBytes + 1 given as bytes is too large", "ErrTooLarge", func(t *testing.T, c *cast) vector {
			return asBytes(bobReads(c, ""), padded(t, c, MaxTokenBytes+1))
		}},
		{"a text of exactly MaxTextLen bytes is read, and refused for its content", "ErrMalformed", func(t *testing.T, c *cast) vector {
			return bobReads(c, TextPrefix+strings.Repeat("A", MaxTextLen-len(TextPrefix)))
		}},
		{"a text of MaxTextLen + 1 bytes is too large whatever it holds", "ErrTooLarge", func(t *testing.T, c *cast) vector {
			return bobReads(c, "ocmt2."+strings.Repeat("=", MaxTextLen+1-len(TextPrefix)))
		}},
		{"a text of MaxTextLen bytes holding a two-byte character is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			return bobReads(c, TextPrefix+strings.Repeat("A", MaxTextLen-len(TextPrefix)-2)+"é")
		}},
		{"a text of MaxTextLen characters but MaxTextLen + 1 UTF-8 bytes is too large", "ErrTooLarge", func(t *testing.T, c *cast) vector {
			return bobReads(c, TextPrefix+strings.Repeat("A", MaxTextLen-len(TextPrefix)-1)+"é")
		}},
		{"a token with max-uses at MaxMaxUses is accepted", ok, func(t *testing.T, c *cast) vector {
			p := ownerToBob(c)
			p.MaxUses = MaxMaxUses
			return bobReadsRaw(c, signedToken(t, c.owner, p))
		}},
		{"a token with max-uses at MaxMaxUses + 1 is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			p := ownerToBob(c)
			p.MaxUses = MaxMaxUses + 1
			return bobReadsRaw(c, signedToken(t, c.owner, p))
		}},
		{"a token whose expiry is the last second of 9999 is accepted", ok, func(t *testing.T, c *cast) vector {
			p := ownerToBob(c)
			p.Expiry = maxUnix
			return bobReadsRaw(c, signedToken(t, c.owner, p))
		}},
		{"a token whose expiry is the first second of 10000 is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			p := ownerToBob(c)
			p.Expiry = maxUnix + 1
			return bobReadsRaw(c, signedToken(t, c.owner, p))
		}},
	}
	for _, n := range []int{NonceSize - 1, NonceSize + 1} {
		cases = append(cases, vectorCase{fmt.Sprintf("a %d-byte nonce is malformed", n), "ErrMalformed", func(t *testing.T, c *cast) vector {
			p := ownerToBob(c)
			p.Nonce = bytes.Repeat([]byte{7}, n)
			return bobReadsRaw(c, signedToken(t, c.owner, p))
		}})
	}
	for _, n := range []int{63, 65} {
		cases = append(cases, vectorCase{fmt.Sprintf("a %d-byte signature is malformed", n), "ErrMalformed", func(t *testing.T, c *cast) vector {
			tok := root(t, c)
			sig := append(bytes.Clone(tok.sig), 0)[:n]
			return bobReadsRaw(c, enc(envelope{Payload: tok.payload, Signature: sig}))
		}})
	}
	// Resources in a token: at and one past each cap, the request the same.
	seg := func(n int) string { return strings.Repeat("r", n) }
	for _, r := range []struct {
		name, pattern, want string
	}{
		{"a resource of MaxResourceLen bytes is accepted", seg(64) + "/" + seg(63) + "/" + seg(63) + "/" + seg(63), ok},
		{"a resource of MaxResourceLen + 1 bytes is malformed", seg(64) + "/" + seg(64) + "/" + seg(64) + "/" + seg(60) + "/a", "ErrMalformed"},
		{"a resource of MaxResourceSegments segments is accepted", strings.Repeat("a/", MaxResourceSegments-1) + "a", ok},
		{"a resource of MaxResourceSegments + 1 segments is malformed", strings.Repeat("a/", MaxResourceSegments) + "a", "ErrMalformed"},
		{"a resource segment of MaxSegmentLen bytes is accepted", "calendar/" + seg(MaxSegmentLen), ok},
		{"a resource segment of MaxSegmentLen + 1 bytes is malformed", "calendar/" + seg(MaxSegmentLen+1), "ErrMalformed"},
	} {
		cases = append(cases, vectorCase{r.name, r.want, func(t *testing.T, c *cast) vector {
			if want := map[bool]string{true: ok, false: "ErrMalformed"}[Pattern(r.pattern).Validate() == nil]; want != r.want {
				t.Fatalf("%q: the case is built wrong", r.pattern)
			}
			if n := len(r.pattern); strings.Contains(r.name, "MaxResourceLen") && n != MaxResourceLen && n != MaxResourceLen+1 {
				t.Fatalf("a resource of %d bytes", n)
			}
			p := ownerToBob(c)
			p.Resource = r.pattern
			return request(textOf(signedToken(t, c.owner, p)), c.bob, c.owner, r.pattern, "read")
		}})
	}
	// Request paths: at and one past each cap, under "**".
	for _, r := range []struct {
		name, path, want string
	}{
		{"a request path of MaxResourceLen bytes is permitted", seg(64) + "/" + seg(63) + "/" + seg(63) + "/" + seg(63), ok},
		{"a request path of MaxResourceLen + 1 bytes is not permitted", seg(64) + "/" + seg(64) + "/" + seg(64) + "/" + seg(60) + "/a", "ErrNotPermitted"},
		{"a request path of MaxResourceSegments segments is permitted", strings.Repeat("a/", MaxResourceSegments-1) + "a", ok},
		{"a request path of MaxResourceSegments + 1 segments is not permitted", strings.Repeat("a/", MaxResourceSegments) + "a", "ErrNotPermitted"},
		{"a request path segment of MaxSegmentLen bytes is permitted", "calendar/" + seg(MaxSegmentLen), ok},
		{"a request path segment of MaxSegmentLen + 1 bytes is not permitted", "calendar/" + seg(MaxSegmentLen+1), "ErrNotPermitted"},
	} {
		cases = append(cases, vectorCase{r.name, r.want, func(t *testing.T, c *cast) vector {
			if n := len(r.path); strings.Contains(r.name, "MaxResourceLen") && n != MaxResourceLen && n != MaxResourceLen+1 {
				t.Fatalf("a path of %d bytes", n)
			}
			tok := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "**", Actions: Read})
			return request(tok.String(), c.bob, c.owner, r.path, "read")
		}})
	}
	return cases
}

// textFormCases: the text form's alphabet, padding, prefix and bits.
func textFormCases() []vectorCase {
	ok := "ok"
	text := func(t *testing.T, c *cast, m int) vector {
		tok, path := rootOfSize(t, c, m)
		return request(tok.String(), c.bob, c.owner, path, "read")
	}
	edit := func(m int, f func(string) string) func(t *testing.T, c *cast) vector {
		return func(t *testing.T, c *cast) vector {
			v := text(t, c, m)
			v.Token = f(v.Token)
			return v
		}
	}
	return []vectorCase{
		{"a text ending in a whole group of four characters is accepted", ok, edit(0, func(s string) string { return s })},
		{"a text ending in a group of two characters is accepted", ok, edit(1, func(s string) string { return s })},
		{"a text ending in a group of three characters is accepted", ok, edit(2, func(s string) string { return s })},
		{"a text with a stray bit in its last of two characters is malformed", "ErrMalformed", edit(1, strayBit)},
		{"a text with a stray bit in its last of three characters is malformed", "ErrMalformed", edit(2, strayBit)},
		{"a text with one character too many (length 1 mod 4) is malformed", "ErrMalformed", edit(0, func(s string) string { return s + "A" })},
		{"a text with its one '=' of padding is malformed", "ErrMalformed", edit(2, func(s string) string { return s + "=" })},
		{"a text with a trailing space is malformed", "ErrMalformed", edit(1, func(s string) string { return s + " " })},
		{"a text with a tab inside is malformed", "ErrMalformed", edit(1, func(s string) string { return s[:40] + "\t" + s[40:] })},
		{"a text with a NUL byte inside is malformed", "ErrMalformed", edit(1, func(s string) string { return s[:40] + "\x00" + s[40:] })},
		{"a text with a space after the prefix is malformed", "ErrMalformed", edit(1, func(s string) string { return TextPrefix + " " + s[len(TextPrefix):] })},
		{"a text with an uppercase prefix is malformed", "ErrMalformed", edit(1, func(s string) string { return strings.ToUpper(TextPrefix) + s[len(TextPrefix):] })},
		{"a text whose prefix lacks its dot is malformed", "ErrMalformed", edit(1, func(s string) string { return "ocmt1" + s[len(TextPrefix):] })},
		{"a text with another version's prefix is malformed", "ErrMalformed", edit(1, func(s string) string { return "ocmt2." + s[len(TextPrefix):] })},
		{"a text with the prefix twice is malformed", "ErrMalformed", edit(1, func(s string) string { return TextPrefix + s })},
		{"the prefix alone is malformed", "ErrMalformed", edit(1, func(string) string { return TextPrefix })},
	}
}

// fieldCases: required and optional fields at the CBOR level, types, and
// each field rule, every token signed by the owner over exactly its bytes.
func fieldCases() []vectorCase {
	ok := "ok"
	signedEntries := func(t *testing.T, c *cast, f func([]kv) []kv) vector {
		es := entries(ownerToBob(c))
		if !bytes.Equal(mapOf(es...), enc(ownerToBob(c))) {
			t.Fatal("entries does not rebuild the canonical payload")
		}
		return bobReadsRaw(c, signedPayload(t, c.owner, mapOf(f(es)...)))
	}
	field := func(name, want string, f func([]kv) []kv) vectorCase {
		return vectorCase{name, want, func(t *testing.T, c *cast) vector { return signedEntries(t, c, f) }}
	}
	signed := func(name, want string, f func(*payload)) vectorCase {
		return vectorCase{name, want, func(t *testing.T, c *cast) vector {
			p := ownerToBob(c)
			f(&p)
			return bobReadsRaw(c, signedToken(t, c.owner, p))
		}}
	}
	patched := func(name string, f func(pl []byte) []byte) vectorCase {
		return vectorCase{name, "ErrMalformed", func(t *testing.T, c *cast) vector {
			return bobReadsRaw(c, signedPayload(t, c.owner, f(enc(ownerToBob(c)))))
		}}
	}
	names := []string{"", "version", "issuer", "audience", "resource", "actions", "not-before", "expiry", "nonce"}
	var cases []vectorCase
	for k := uint64(1); k <= 8; k++ {
		cases = append(cases, field(fmt.Sprintf("a payload without its %s (key %d) is malformed", names[k], k), "ErrMalformed",
			func(es []kv) []kv { return without(es, k) }))
	}
	now := testNow.Unix()
	cases = append(cases,
		field("an explicit max-uses of 0 is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 9, []byte{0x00}) }),
		field("an explicit ceiling of 0 is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 10, []byte{0x00}) }),
		field("an explicit empty parent is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 11, []byte{0x40}) }),
		field("a null parent is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 11, []byte{0xf6}) }),
		field("a null max-uses is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 9, []byte{0xf6}) }),
		field("a null issuer is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 2, []byte{0xf6}) }),
		field("a null resource is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 4, []byte{0xf6}) }),
		signed("a not-before of 0 is accepted", ok, func(p *payload) { p.NotBefore = 0 }),
		field("a negative not-before is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 6, []byte{0x20}) }),
		field("a negative expiry is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 7, []byte{0x3a, 0x69, 0xa4, 0x38, 0x50}) }),
		signed("an expiry equal to not-before is malformed", "ErrMalformed", func(p *payload) { p.NotBefore, p.Expiry = now, now }),
		signed("a one-second window is accepted", ok, func(p *payload) { p.NotBefore, p.Expiry = now, now+1 }),
		signed("version 0 is malformed", "ErrMalformed", func(p *payload) { p.Version = 0 }),
		signed("no actions is malformed", "ErrMalformed", func(p *payload) { p.Actions = 0 }),
		signed("all seven actions (0x7f) are accepted", ok, func(p *payload) { p.Actions = 0x7f }),
		signed("the unknown action bit 0x80 is malformed", "ErrMalformed", func(p *payload) { p.Actions = 0x80 }),
		signed("read with the unknown bit 0x80 is malformed", "ErrMalformed", func(p *payload) { p.Actions = 0x81 }),
		signed("actions 0x101 are malformed, not read as 0x01", "ErrMalformed", func(p *payload) { p.Actions = 0x101 }),
		signed("a ceiling of read, list, write and use (0x47) is accepted", ok, func(p *payload) { p.Ceiling = 0x47 }),
		signed("a ceiling with the unknown bit 0x80 is malformed", "ErrMalformed", func(p *payload) { p.Ceiling = 0x81 }),
		signed("a ceiling of 0x101 is malformed, not read as 0x01", "ErrMalformed", func(p *payload) { p.Ceiling = 0x101 }),
		signed("a ceiling containing delete is malformed", "ErrMalformed", func(p *payload) { p.Ceiling = uint64(Read | Delete) }),
		signed("a ceiling containing admin is malformed", "ErrMalformed", func(p *payload) { p.Ceiling = uint64(Read | Admin) }),
		field("a resource given as a byte string is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 4, enc([]byte("calendar/work/*"))) }),
		field("actions given as a text string are malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 5, enc("\x01")) }),
		field("a version given as the float 1.0 is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 1, []byte{0xf9, 0x3c, 0x00}) }),
		field("a not-before inside an epoch-time tag is malformed", "ErrMalformed", func(es []kv) []kv {
			return with(es, 6, append([]byte{0xc1}, enc(testNow.Add(-time.Hour).Unix())...))
		}),
		field("a nonce with a non-minimal length head is malformed", "ErrMalformed", func(es []kv) []kv {
			return with(es, 8, append([]byte{0x58, 0x10}, "0123456789abcdef"...))
		}),
		field("a resource that is not UTF-8 is malformed", "ErrMalformed", func(es []kv) []kv { return with(es, 4, []byte("\x6fcalendar/work/\xff")) }),
		field("keys out of order are malformed", "ErrMalformed", func(es []kv) []kv {
			es[4], es[5] = es[5], es[4]
			return es
		}),
		field("a payload of 17 pairs is malformed", "ErrMalformed", func(es []kv) []kv {
			for k := uint64(12); k < 21; k++ {
				es = append(es, kv{k, []byte{0x00}})
			}
			return es
		}),
		field("an unknown key holding arrays nested five deep is malformed", "ErrMalformed", func(es []kv) []kv {
			return append(es, kv{12, []byte{0x81, 0x81, 0x81, 0x81, 0x81, 0x00}})
		}),
		patched("a payload map head in two bytes is malformed", func(pl []byte) []byte { return append([]byte{0xb8, pl[0] & 0x1f}, pl[1:]...) }),
		patched("a key in two bytes is malformed", func(pl []byte) []byte { return append([]byte{pl[0], 0x18}, pl[1:]...) }),
		patched("a negative key is malformed", func(pl []byte) []byte {
			pl[0]++
			return append(pl, 0x20, 0x00)
		}),
		patched("a text key is malformed", func(pl []byte) []byte {
			pl[0]++
			return append(pl, 0x61, 0x63, 0x00)
		}),
	)
	// The envelope's own encoding.
	env := func(name string, f func(pl, sig []byte) []byte) vectorCase {
		return vectorCase{name, "ErrMalformed", func(t *testing.T, c *cast) vector {
			tok := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReadsRaw(c, f(tok.payload, tok.sig))
		}}
	}
	cases = append(cases,
		env("an envelope with a third key is malformed", func(pl, sig []byte) []byte { return mapOf(kv{1, enc(pl)}, kv{2, enc(sig)}, kv{3, []byte{0x00}}) }),
		env("an envelope with its keys swapped is malformed", func(pl, sig []byte) []byte { return mapOf(kv{2, enc(sig)}, kv{1, enc(pl)}) }),
		env("an envelope without a signature is malformed", func(pl, _ []byte) []byte { return mapOf(kv{1, enc(pl)}) }),
		env("an envelope with the payload as a text string is malformed", func(pl, sig []byte) []byte { return mapOf(kv{1, enc(string(pl))}, kv{2, enc(sig)}) }),
		env("an envelope written as an array is malformed", func(pl, sig []byte) []byte { return append(append([]byte{0x82}, enc(pl)...), enc(sig)...) }),
		env("an envelope map head in two bytes is malformed", func(pl, sig []byte) []byte {
			return append([]byte{0xb8, 0x02}, mapOf(kv{1, enc(pl)}, kv{2, enc(sig)})[1:]...)
		}),
	)
	return cases
}

// peerIDCases: the peer-ID form and every refused key encoding, each under
// a signature crypto/ed25519 accepts where one can be made.
func peerIDCases() []vectorCase {
	var cases []vectorCase
	form := func(name string, f func(id []byte) []byte) vectorCase {
		return vectorCase{name, "ErrMalformed", func(t *testing.T, c *cast) vector {
			p := ownerToBob(c)
			p.Audience = f(bytes.Clone(p.Audience))
			v := bobReadsRaw(c, signedToken(t, c.owner, p))
			return v
		}}
	}
	cases = append(cases,
		form("an audience of 37 bytes is malformed", func(id []byte) []byte { return id[:37] }),
		form("an audience of 39 bytes is malformed", func(id []byte) []byte { return append(id, 0) }),
		form("an audience whose protobuf names another key type is malformed", func(id []byte) []byte { id[3] = 0x02; return id }),
		form("an audience as a SHA-256 multihash is malformed", func(id []byte) []byte {
			h := sha256.Sum256(id[2:])
			return append([]byte{0x12, 0x20}, h[:]...)
		}),
	)
	p := func(hexKey string, sign byte) []byte {
		k := mustHex(hexKey)
		k[31] |= sign
		return k
	}
	for _, k := range []struct {
		name string
		key  []byte
	}{
		{"the identity with the sign bit set", p("0100000000000000000000000000000000000000000000000000000000000000", 0x80)},
		{"the point of order 2 (y = p − 1)", p("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", 0)},
		{"a point of order 4 (y = 0)", p("0000000000000000000000000000000000000000000000000000000000000000", 0)},
		{"the other point of order 4 (y = 0, sign bit set)", p("0000000000000000000000000000000000000000000000000000000000000000", 0x80)},
		{"a point of order 8 with the other y", p("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", 0)},
		{"a point of order 8 with the sign bit set", p("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", 0x80)},
		{"y = p, a non-canonical point of order 4", p("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", 0)},
		{"y = p + 1 with the sign bit, a non-canonical identity", p("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", 0x80)},
	} {
		cases = append(cases, vectorCase{"a root token signed under " + k.name + " is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			z := rawPeer(k.key)
			v := bobReadsRaw(c, forgedToken(t, k.key, rawPayload(z, []byte(c.bob.ID()), Read)))
			v.Owner = peer.ID(z).String()
			return v
		}})
	}
	cases = append(cases, vectorCase{"a root token whose issuer key is written with y ≥ p is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
		n := rawPeer(aliasKey)
		v := bobReadsRaw(c, signedToken(t, c.owner, rawPayload(n, []byte(c.bob.ID()), Read)))
		v.Owner = peer.ID(n).String()
		return v
	}})
	return cases
}

// depthCases: when the depth check fires, relative to the field checks.
func depthCases() []vectorCase {
	// link signs a grant of "**" from signer to aud with the given parent.
	link := func(t *testing.T, signer, aud *keys.PeerKey, acts Actions, parent []byte, edit func([]kv) []kv) []byte {
		p := rawPayload([]byte(signer.ID()), []byte(aud.ID()), acts)
		p.Resource, p.Parent = "**", parent
		es := entries(p)
		if edit != nil {
			es = edit(es)
		}
		return signedPayload(t, signer, mapOf(es...))
	}
	rs := Read | Share
	return []vectorCase{
		{"a fourth token from the leaf with a parent is too deep, whatever the parent's bytes", "ErrTooDeep", func(t *testing.T, c *cast) vector {
			l := link(t, c.owner, c.alice, rs, []byte{0xff}, nil)
			l = link(t, c.alice, c.bob, rs, l, nil)
			l = link(t, c.bob, c.carol, rs, l, nil)
			l = link(t, c.carol, c.dave, Read, l, nil)
			return request(textOf(l), c.dave, c.owner, "calendar", "read")
		}},
		{"a malformed fourth token from the leaf with a parent is malformed, not too deep", "ErrMalformed", func(t *testing.T, c *cast) vector {
			l := link(t, c.owner, c.alice, rs, nil, nil)
			l = link(t, c.alice, c.bob, rs, l, func(es []kv) []kv { return with(es, 8, enc([]byte("short nonce"))) })
			l = link(t, c.bob, c.carol, rs, l, nil)
			l = link(t, c.carol, c.dave, rs, l, nil)
			l = link(t, c.dave, c.bob, Read, l, nil)
			return request(textOf(l), c.bob, c.owner, "calendar", "read")
		}},
		{"a fourth token from the leaf with an empty parent field is malformed, not too deep", "ErrMalformed", func(t *testing.T, c *cast) vector {
			l := link(t, c.owner, c.alice, rs, nil, func(es []kv) []kv { return with(es, 11, []byte{0x40}) })
			l = link(t, c.alice, c.bob, rs, l, nil)
			l = link(t, c.bob, c.carol, rs, l, nil)
			l = link(t, c.carol, c.dave, Read, l, nil)
			return request(textOf(l), c.dave, c.owner, "calendar", "read")
		}},
		{"a chain too deep is refused before its signatures are checked", "ErrTooDeep", func(t *testing.T, c *cast) vector {
			l := link(t, c.owner, c.alice, rs, nil, nil)
			l = link(t, c.alice, c.bob, rs, l, nil)
			l = link(t, c.bob, c.carol, rs, l, nil)
			l = link(t, c.carol, c.dave, rs, l, nil)
			l = link(t, c.dave, c.bob, Read, l, nil)
			return request(textOf(flip(l, len(l)-1)), c.bob, c.owner, "calendar", "read")
		}},
		{"a parent that is not a token is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			l := link(t, c.owner, c.bob, Read, []byte{0xa0}, nil)
			return request(textOf(l), c.bob, c.owner, "calendar", "read")
		}},
	}
}
