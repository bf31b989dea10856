package capability

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

// Public keys no one holds the private half of, for the attack vectors.
var (
	// identityKey is the neutral element (y = 1): every signature
	// (R = [S]B, S) verifies under it, for any message.
	identityKey = mustHex("0100000000000000000000000000000000000000000000000000000000000000")
	// order8Key is a point of order 8: one forgery attempt in eight verifies.
	order8Key = mustHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	// aliasKey is y = p + 3, a non-canonical encoding (y ≥ p) of the
	// large-order point whose canonical encoding has y = 3.
	aliasKey = mustHex("f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// rawPeer is the canonical peer ID form around any 32 bytes, bypassing
// every check, as an attacker writes it.
func rawPeer(key []byte) []byte { return append([]byte("\x00\x24\x08\x01\x12\x20"), key...) }

// forgedToken wraps p in an envelope with a forged signature under key.
func forgedToken(t *testing.T, key []byte, p payload) []byte {
	t.Helper()
	pl := cborOf(t, &p)
	sig := testkit.ForgeSmallOrder(t, key, append([]byte(keys.LabelToken+"\x00"), pl...))
	return cborOf(t, envelope{Payload: pl, Signature: sig})
}

// signedToken signs p with a real key, whatever its fields say.
func signedToken(t *testing.T, signer *keys.PeerKey, p payload) []byte {
	t.Helper()
	return envelopeBytes(t, signer, cborOf(t, &p), keys.TokenMessage)
}

// rawPayload is a root grant of read on calendar/work/* for the standard
// window, with the issuer and audience given as raw bytes.
func rawPayload(issuer, audience []byte, acts Actions) payload {
	return payload{Version: Version, Issuer: issuer, Audience: audience, Resource: "calendar/work/*",
		Actions: uint64(acts), NotBefore: testNow.Add(-time.Hour).Unix(), Expiry: testNow.Add(time.Hour).Unix(),
		Nonce: []byte("0123456789abcdef")}
}

// peerKeyCases: tokens naming peers whose keys anyone can sign for, or
// whose key bytes are not the one canonical encoding. Each would verify
// ("ok") if the decoder took any 32 bytes as a key.
func peerKeyCases() []vectorCase {
	return []vectorCase{
		{"a root token signed under the small-order identity key is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			z := rawPeer(identityKey)
			v := bobReads(c, textOf(forgedToken(t, identityKey, rawPayload(z, []byte(c.bob.ID()), Read))))
			v.Owner = peer.ID(z).String() // a node whose ID were z would take it as its own grant
			return v
		}},
		{"a delegation signed under an order-8 key is malformed, even below a real grant to it", "ErrMalformed", func(t *testing.T, c *cast) vector {
			z := rawPeer(order8Key)
			root := signedToken(t, c.owner, rawPayload([]byte(c.owner.ID()), z, Read|Share))
			leaf := rawPayload(z, []byte(c.bob.ID()), Read)
			leaf.Parent = root
			return bobReads(c, textOf(forgedToken(t, order8Key, leaf)))
		}},
		{"a token granted to a small-order audience is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			z := rawPeer(order8Key)
			v := bobReads(c, textOf(signedToken(t, c.owner, rawPayload([]byte(c.owner.ID()), z, Read))))
			v.Remote = peer.ID(z).String() // libp2p would authenticate a forger as z
			return v
		}},
		{"a token granted to a key written with y ≥ p is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			n := rawPeer(aliasKey)
			v := bobReads(c, textOf(signedToken(t, c.owner, rawPayload([]byte(c.owner.ID()), n, Read))))
			v.Remote = peer.ID(n).String()
			return v
		}},
	}
}

// textCases: the text form is exactly TextPrefix and base64url without
// padding; anything else, even what a lax decoder would skip, is refused.
func textCases() []vectorCase {
	root := func(t *testing.T, c *cast) string {
		return issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read}).String()
	}
	return []vectorCase{
		{"a text with a line break inside its base64 is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			s := root(t, c)
			return bobReads(c, s[:70]+"\n"+s[70:])
		}},
		{"a text with CRLF line breaks inside its base64 is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			s := root(t, c)
			return bobReads(c, s[:70]+"\r\n"+s[70:140]+"\r\n"+s[140:])
		}},
		{"a text with a trailing newline is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			return bobReads(c, root(t, c)+"\n")
		}},
		{"a text with leading white space is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			return bobReads(c, " "+root(t, c))
		}},
		{"a text in the standard base64 alphabet is malformed", "ErrMalformed", func(t *testing.T, c *cast) vector {
			s := root(t, c)
			if !strings.ContainsAny(s, "-_") {
				t.Fatal("the sample text has no character the alphabets disagree on")
			}
			return bobReads(c, strings.NewReplacer("-", "+", "_", "/").Replace(s))
		}},
	}
}

func TestIssueRefusesAudiencesNoOneCanAuthenticateAs(t *testing.T) {
	c := newCast(t)
	for name, key := range map[string][]byte{"identity": identityKey, "order 8": order8Key, "y ≥ p": aliasKey} {
		_, err := Issue(c.owner, defaults(Params{Audience: peer.ID(rawPeer(key)), Resource: "calendar/*", Actions: Read}, name))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s audience: err = %v, want ErrMalformed", name, err)
		}
	}
}

// TestParseIsExact: Parse accepts exactly the text String prints.
func TestParseIsExact(t *testing.T) {
	c := newCast(t)
	s := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read}).String()
	if tok, err := Parse(s); err != nil || tok.String() != s {
		t.Fatalf("the printed text does not parse back: %v", err)
	}
	for _, bad := range []string{
		s + "\n", "\t" + s, s[:50] + "\n" + s[50:], s[:50] + "\r" + s[50:], s[:50] + " " + s[50:],
		s + "=", s + "==", strings.Replace(s, TextPrefix, "OCMT1.", 1), s[:50] + "\x00" + s[50:],
	} {
		if _, err := Parse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q…) = %v, want ErrMalformed", bad[len(bad)-min(len(bad), 20):], err)
		}
	}
}
