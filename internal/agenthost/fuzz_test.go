package agenthost

import (
	"bytes"
	"testing"
	"time"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/testkit"
)

// FuzzParseAgent: a stored agent never panics the loader, and one that
// parses encodes back to the same bytes (the encoding is canonical).
func FuzzParseAgent(f *testing.F) {
	owner := testkit.Key(f, "owner")
	ak := testkit.Key(f, "agent")
	p, err := agent.NewPolicy("helper", ak.ID(), 0, []capability.Pattern{"calendar/**"})
	if err != nil {
		f.Fatal(err)
	}
	params, err := p.Grant("calendar/**", capability.Read|capability.List, testkit.Epoch, testkit.Epoch.Add(time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	tok, err := capability.Issue(owner, params)
	if err != nil {
		f.Fatal(err)
	}
	good, err := (&entry{policy: p, tokens: []*capability.Token{tok}, added: testkit.Epoch}).encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseAgent(b, owner.ID())
		if err != nil {
			return
		}
		again, err := e.encode()
		if err != nil {
			t.Fatalf("a parsed agent does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("not canonical: %x became %x", b, again)
		}
	})
}
