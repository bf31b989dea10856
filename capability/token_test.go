package capability

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/keys"
)

func TestIssuedTokenRoundTripsThroughBytesAndText(t *testing.T) {
	c := newCast(t)
	root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | List | Share, MaxUses: 3})
	leaf := issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root, Ceiling: DefaultAgentCeiling})

	for _, tok := range []*Token{root, leaf} {
		got, err := Decode(tok.Bytes())
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if got.ID() != tok.ID() || !bytes.Equal(got.Bytes(), tok.Bytes()) {
			t.Fatalf("decoded token differs: %s vs %s", got.ID(), tok.ID())
		}
		parsed, err := Parse(tok.String())
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if _, err := Parse("  " + tok.String() + "\n"); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Parse with surrounding white space: %v, want ErrMalformed", err)
		}
		if parsed.String() != tok.String() {
			t.Fatal("text form does not round-trip")
		}
		if got.Issuer() != tok.Issuer() || got.Audience() != tok.Audience() || got.Resource() != tok.Resource() ||
			got.Actions() != tok.Actions() || !got.NotBefore().Equal(tok.NotBefore()) || !got.Expiry().Equal(tok.Expiry()) ||
			got.MaxUses() != tok.MaxUses() || got.Ceiling() != tok.Ceiling() || got.Depth() != tok.Depth() ||
			!bytes.Equal(got.Nonce(), tok.Nonce()) {
			t.Fatalf("fields differ after decode")
		}
	}
	got, _ := Decode(leaf.Bytes())
	if got.Parent() == nil || got.Parent().ID() != root.ID() || got.Root().ID() != root.ID() {
		t.Fatal("parent not decoded to the same token")
	}
	if ch := got.Chain(); len(ch) != 2 || ch[0].ID() != root.ID() || ch[1].ID() != leaf.ID() {
		t.Fatal("chain is not root first")
	}
	if !strings.HasPrefix(leaf.String(), TextPrefix) {
		t.Fatalf("text %q lacks prefix", leaf.String())
	}
}

func TestTokenIDIsSHA256OfEnvelopeAndHasShortForm(t *testing.T) {
	c := newCast(t)
	tok := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "a", Actions: Read})
	id := tok.ID()
	if len(id.String()) != 64 || !strings.HasPrefix(id.String(), id.Short()) || len(id.Short()) != 12 {
		t.Fatalf("bad ID forms %q %q", id.String(), id.Short())
	}
	back, err := ParseID(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseID: %v", err)
	}
	if _, err := ParseID("zz"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ParseID(zz) = %v", err)
	}
}

func TestPeerIDFastPathAgreesWithLibp2p(t *testing.T) {
	for _, name := range []string{"a", "b", "c"} {
		k := testKey(t, name)
		id, pub, err := peerFromBytes([]byte(k.ID()))
		if err != nil {
			t.Fatal(err)
		}
		slow, err := keys.PeerPublicFromID(k.ID())
		if err != nil {
			t.Fatal(err)
		}
		if id != k.ID() || !pub.Equal(slow) {
			t.Fatalf("fast path disagrees for %s", name)
		}
	}
	if _, _, err := peerFromBytes([]byte("QmNotAnEd25519PeerIDAtAll")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-Ed25519 ID accepted: %v", err)
	}
}

func TestIssueRejectsBadParams(t *testing.T) {
	c := newCast(t)
	good := Params{Audience: c.alice.ID(), Resource: "a/b", Actions: Read}
	cases := []struct {
		name string
		edit func(p *Params)
		want error
	}{
		{"an empty action set is malformed", func(p *Params) { p.Actions = 0 }, ErrMalformed},
		{"an unknown action bit is malformed", func(p *Params) { p.Actions = 0x80 }, ErrMalformed},
		{"a traversal resource is malformed", func(p *Params) { p.Resource = "a/../b" }, ErrMalformed},
		{"a missing audience is malformed", func(p *Params) { p.Audience = "" }, ErrMalformed},
		{"expiry before not-before is malformed", func(p *Params) { p.Expiry = testNow.Add(-2 * time.Hour) }, ErrMalformed},
		{"a ceiling with share is malformed", func(p *Params) { p.Ceiling = Read | Share }, ErrMalformed},
		{"a ceiling with delete is malformed", func(p *Params) { p.Ceiling = Read | Delete }, ErrMalformed},
		{"actions above the ceiling fail", func(p *Params) { p.Actions = Read | Write; p.Ceiling = DefaultAgentCeiling }, ErrCeiling},
		{"a negative max-uses is malformed", func(p *Params) { p.MaxUses = -1 }, ErrMalformed},
		{"a huge max-uses is malformed", func(p *Params) { p.MaxUses = MaxMaxUses + 1 }, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.edit(&p)
			_, err := Issue(c.owner, defaults(p, tc.name))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Issue = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Issue(nil, defaults(good, "nil")); err == nil {
		t.Fatal("Issue with a nil key succeeded")
	}
}
