package capability

import (
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/testkit"
)

type vectorCase struct {
	name  string
	want  string
	build func(t *testing.T, c *cast) vector
}

// request makes a vector for tok presented by remote to owner.
func request(tok string, remote, owner *keys.PeerKey, resource, action string) vector {
	return vector{Token: tok, Remote: remote.ID().String(), Owner: owner.ID().String(),
		Resource: resource, Action: action, Now: testNow.Unix(), Uses: 1}
}

// chain2 is the standard scenario: owner grants alice calendar/** with
// share, alice delegates calendar/work/* read,list to bob.
func chain2(t *testing.T, c *cast) (root, leaf *Token) {
	t.Helper()
	root = issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | List | Share})
	leaf = issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read | List, Parent: root})
	return root, leaf
}

// bobReads is bob asking the owner to read calendar/work/mon.
func bobReads(c *cast, tok string) vector {
	return request(tok, c.bob, c.owner, "calendar/work/mon", "read")
}

// vectorCases is the full table: semantic cases here, encoding and
// tampering cases in encodingCases, then (appended later, so the older
// vectors keep their place in the file) peer-key and text-form cases, then
// the cases that pin each rule and limit of doc.go (cases_limits_test.go,
// cases_rules_test.go).
func vectorCases() []vectorCase {
	cs := append(semanticCases(), encodingCases()...)
	cs = append(cs, peerKeyCases()...)
	cs = append(cs, textCases()...)
	for _, more := range [][]vectorCase{limitCases(), textFormCases(), fieldCases(), peerIDCases(), depthCases(),
		signatureCases(), grammarCases(), containmentCases(), orderCases()} {
		cs = append(cs, more...)
	}
	return cs
}

func semanticCases() []vectorCase {
	ok := "ok"
	return []vectorCase{
		{"a root token used by its audience is accepted", ok, func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, root.String())
		}},
		{"a two-link delegation is accepted", ok, func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return bobReads(c, leaf.String())
		}},
		{"a four-link chain is accepted", ok, func(t *testing.T, c *cast) vector {
			l2 := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Share})
			l2 = issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/**", Actions: Read | Share, Parent: l2})
			l3 := issue(t, c.bob, Params{Audience: c.carol.ID(), Resource: "calendar/work/*", Actions: Read | Share, Parent: l2})
			l4 := issue(t, c.carol, Params{Audience: c.dave.ID(), Resource: "calendar/work/mon", Actions: Read, Parent: l3})
			return request(l4.String(), c.dave, c.owner, "calendar/work/mon", "read")
		}},
		{"a five-link chain is too deep", "ErrTooDeep", func(t *testing.T, c *cast) vector {
			l := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "**", Actions: Read | Share})
			l = issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "**", Actions: Read | Share, Parent: l})
			l = issue(t, c.bob, Params{Audience: c.carol.ID(), Resource: "**", Actions: Read | Share, Parent: l})
			l = issue(t, c.carol, Params{Audience: c.dave.ID(), Resource: "**", Actions: Read | Share, Parent: l})
			l = forge(t, c.dave, Params{Audience: c.bob.ID(), Resource: "**", Actions: Read, Parent: l})
			return request(l.String(), c.bob, c.owner, "calendar", "read")
		}},
		{"a token whose issuer field names the owner but mallory signed is forged", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.mallory.ID(), Resource: "calendar/**", Actions: Read})
			wider := resigned(t, c.mallory, root, func(pl []byte) []byte { return pl })
			v := bobReads(c, wider)
			v.Remote = c.mallory.ID().String()
			return v
		}},
		{"a root token signed by another peer's own key is the wrong owner", "ErrWrongOwner", func(t *testing.T, c *cast) vector {
			root := issue(t, c.mallory, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read})
			return bobReads(c, root.String())
		}},
		{"a token verified by a node that is not its root issuer is the wrong owner", "ErrWrongOwner", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return request(leaf.String(), c.bob, c.carol, "calendar/work/mon", "read")
		}},
		{"the same payload signed under the revocation label fails", "ErrBadSignature", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read})
			return bobReads(c, textOf(envelopeBytes(t, c.owner, root.payload, keys.RevocationMessage)))
		}},
		{"a token one second inside the expiry skew is accepted", ok, func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			v := bobReads(c, leaf.String())
			v.Now = leaf.Expiry().Add(DefaultSkew - time.Second).Unix()
			return v
		}},
		{"a token one second past the expiry skew is expired", "ErrExpired", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			v := bobReads(c, leaf.String())
			v.Now = leaf.Expiry().Add(DefaultSkew + time.Second).Unix()
			return v
		}},
		{"a token one second inside the not-before skew is accepted", ok, func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			v := bobReads(c, leaf.String())
			v.Now = leaf.NotBefore().Add(-DefaultSkew + time.Second).Unix()
			return v
		}},
		{"a token one second before the not-before skew is not yet valid", "ErrNotYetValid", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			v := bobReads(c, leaf.String())
			v.Now = leaf.NotBefore().Add(-DefaultSkew - time.Second).Unix()
			return v
		}},
		{"a delegation adding write escalates", "ErrEscalation", func(t *testing.T, c *cast) vector {
			root, _ := chain2(t, c)
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read | Write, Parent: root})
			return bobReads(c, leaf.String())
		}},
		{"a delegation to a wider resource is widened", "ErrWidened", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/work/*", Actions: Read | Share})
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read, Parent: root})
			return bobReads(c, leaf.String())
		}},
		{"a delegation escaping to a sibling namespace is widened", "ErrWidened", func(t *testing.T, c *cast) vector {
			root, _ := chain2(t, c)
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "secrets/*", Actions: Read, Parent: root})
			return request(leaf.String(), c.bob, c.owner, "secrets/api-key", "read")
		}},
		{"a delegation outliving its parent extends validity", "ErrValidityExtended", func(t *testing.T, c *cast) vector {
			root, _ := chain2(t, c)
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root,
				Expiry: root.Expiry().Add(time.Second)})
			return bobReads(c, leaf.String())
		}},
		{"a delegation starting before its parent extends validity", "ErrValidityExtended", func(t *testing.T, c *cast) vector {
			root, _ := chain2(t, c)
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root,
				NotBefore: root.NotBefore().Add(-time.Second)})
			return bobReads(c, leaf.String())
		}},
		{"a delegation signed by someone other than the parent's audience breaks the chain", "ErrBrokenChain", func(t *testing.T, c *cast) vector {
			root, _ := chain2(t, c)
			leaf := forge(t, c.mallory, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root})
			return bobReads(c, leaf.String())
		}},
		{"a delegation from a token without share is refused", "ErrNoShare", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | List})
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root})
			return bobReads(c, leaf.String())
		}},
		{"admin does not imply share", "ErrNoShare", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | Admin})
			leaf := forge(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: root})
			return bobReads(c, leaf.String())
		}},
		{"actions above the token's ceiling are refused", "ErrCeiling", func(t *testing.T, c *cast) vector {
			root := forge(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read | Write, Ceiling: DefaultAgentCeiling})
			return bobReads(c, root.String())
		}},
		{"a token inside its agent ceiling is accepted", ok, func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/**", Actions: Read, Ceiling: DefaultAgentCeiling})
			return bobReads(c, root.String())
		}},
		{"a stolen token presented by another peer is the wrong audience", "ErrWrongAudience", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return request(leaf.String(), c.mallory, c.owner, "calendar/work/mon", "read")
		}},
		{"the delegator cannot use the delegated token", "ErrWrongAudience", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return request(leaf.String(), c.alice, c.owner, "calendar/work/mon", "read")
		}},
		{"a request for an action the token lacks is not permitted", "ErrNotPermitted", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return request(leaf.String(), c.bob, c.owner, "calendar/work/mon", "write")
		}},
		{"a request outside the resource is not permitted", "ErrNotPermitted", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return request(leaf.String(), c.bob, c.owner, "calendar/home/mon", "read")
		}},
		{"a traversal request is not permitted", "ErrNotPermitted", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			return request(leaf.String(), c.bob, c.owner, "calendar/work/../../secrets", "read")
		}},
		{"a single-use token used once is accepted", ok, func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, MaxUses: 1})
			return bobReads(c, root.String())
		}},
		{"a single-use token used twice is replayed", "ErrReplayed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, MaxUses: 1})
			v := bobReads(c, root.String())
			v.Uses = 2
			return v
		}},
		{"a three-use token used three times is accepted", ok, func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, MaxUses: 3})
			v := bobReads(c, root.String())
			v.Uses = 3
			return v
		}},
		{"a three-use token used four times is replayed", "ErrReplayed", func(t *testing.T, c *cast) vector {
			root := issue(t, c.owner, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, MaxUses: 3})
			v := bobReads(c, root.String())
			v.Uses = 4
			return v
		}},
		{"a chain with a revoked ancestor is revoked", "ErrRevoked", func(t *testing.T, c *cast) vector {
			root, leaf := chain2(t, c)
			v := bobReads(c, leaf.String())
			v.Revoked = []string{root.ID().String()}
			return v
		}},
		{"a sibling chain of a revoked link is still accepted", ok, func(t *testing.T, c *cast) vector {
			root, _ := chain2(t, c)
			twin := issue(t, c.owner, Params{Audience: c.alice.ID(), Resource: "calendar/**", Actions: Read | List | Share, Rand: testkit.NewRand("twin")})
			leaf := issue(t, c.alice, Params{Audience: c.bob.ID(), Resource: "calendar/work/*", Actions: Read, Parent: twin})
			v := bobReads(c, leaf.String())
			v.Revoked = []string{root.ID().String()}
			return v
		}},
		{"a revoked leaf is revoked", "ErrRevoked", func(t *testing.T, c *cast) vector {
			_, leaf := chain2(t, c)
			v := bobReads(c, leaf.String())
			v.Revoked = []string{leaf.ID().String()}
			return v
		}},
	}
}
