package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
)

// Policy is what the owner allowed one agent: its ceiling (the actions it
// may ever hold) and the path patterns it may reach. Its tokens carry the
// ceiling, so the limit holds at verification on any node, and the node
// checks the policy besides on every call (Authorize).
type Policy struct {
	Name    string               // the agent's name (ParseName)
	Key     peer.ID              // the agent's key: the audience of its tokens
	Actions capability.Actions   // the ceiling: never delete, admin or share
	Paths   []capability.Pattern // 1 to MaxPolicyPaths patterns
	// Trusted are the sensitive operations the owner lets this agent run
	// without asking (OpSecretUse only: OpIssue always asks). The zero
	// value trusts nothing.
	Trusted Ops
}

// Ops is a set of sensitive operations.
type Ops uint8

// The sensitive operations: each needs the user's approval unless the
// policy trusts it.
const (
	// OpIssue is issuing a capability (sharing a resource with someone).
	// It always needs approval.
	OpIssue Ops = 1 << iota
	// OpSecretUse is a brokered call with a secret the agent holds use on.
	OpSecretUse

	allOps = OpIssue | OpSecretUse
)

// String names the operations: "issue", "secret-use".
func (o Ops) String() string {
	var n []string
	if o&OpIssue != 0 {
		n = append(n, "issue")
	}
	if o&OpSecretUse != 0 {
		n = append(n, "secret-use")
	}
	if o&^allOps != 0 {
		n = append(n, "unknown")
	}
	if len(n) == 0 {
		return "-"
	}
	return strings.Join(n, ",")
}

// ParseName checks an agent's name: 1 to MaxNameLen (32) characters of
// a-z, 0-9 and "-", starting with a letter.
func ParseName(s string) (string, error) {
	if s == "" || len(s) > MaxNameLen {
		return "", fmt.Errorf("%w: an agent's name has 1 to %d characters", ErrBadPolicy, MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || i > 0 && ('0' <= c && c <= '9' || c == '-')) {
			return "", fmt.Errorf("%w: an agent's name starts with a letter and holds only a-z, 0-9 and -", ErrBadPolicy)
		}
	}
	return s, nil
}

// NewPolicy builds and checks a policy. actions 0 means the default
// ceiling, capability.DefaultAgentCeiling (read, list).
func NewPolicy(name string, key peer.ID, actions capability.Actions, paths []capability.Pattern) (Policy, error) {
	if actions == 0 {
		actions = capability.DefaultAgentCeiling
	}
	p := Policy{Name: name, Key: key, Actions: actions, Paths: paths}
	return p, p.Validate()
}

// forbidden are the actions no agent may ever hold: the ceiling rule of
// the token format.
const forbidden = capability.Delete | capability.Admin | capability.Share

// Validate checks the policy's rules.
func (p Policy) Validate() error {
	if _, err := ParseName(p.Name); err != nil {
		return err
	}
	if p.Key == "" {
		return fmt.Errorf("%w: agent %q has no key", ErrBadPolicy, p.Name)
	}
	if !p.Actions.Valid() {
		return fmt.Errorf("%w: agent %q: its ceiling is not a set of known actions", ErrBadPolicy, p.Name)
	}
	if bad := p.Actions & forbidden; bad != 0 {
		return refuse(p.Name, bad, "", ReasonCeiling,
			fmt.Sprintf("agent %q may never hold %s: an agent's ceiling allows only read, list, write and use", p.Name, bad),
			ErrBadPolicy, ErrCeiling)
	}
	if len(p.Paths) == 0 || len(p.Paths) > MaxPolicyPaths {
		return fmt.Errorf("%w: agent %q needs 1 to %d path patterns", ErrBadPolicy, p.Name, MaxPolicyPaths)
	}
	for i, pat := range p.Paths {
		if pat.Validate() != nil {
			return fmt.Errorf("%w: agent %q: path pattern %d is not valid (lowercase names separated by /, with * and ** as wildcards)", ErrBadPolicy, p.Name, i+1)
		}
	}
	if p.Trusted&^OpSecretUse != 0 {
		return fmt.Errorf("%w: agent %q: only secret use can be trusted without approval", ErrBadPolicy, p.Name)
	}
	return nil
}

// NeedsApproval reports whether op needs the user's approval for this
// agent: issuing always does, secret use unless the policy trusts it.
func (p Policy) NeedsApproval(op Ops) bool {
	return op&OpIssue != 0 || op&^p.Trusted != 0
}

// Allows reports whether the policy allows action (exactly one) on path.
func (p Policy) Allows(action capability.Actions, path capability.ResourcePath) bool {
	return p.Check(action, path) == nil
}

// Check is Allows with the refusal in words: a *Refusal for ReasonCeiling
// or ReasonScope.
func (p Policy) Check(action capability.Actions, path capability.ResourcePath) error {
	if err := p.checkAction(action); err != nil {
		return err
	}
	if err := p.checkSecrets(action, string(path)); err != nil {
		return err
	}
	for _, pat := range p.Paths {
		if pat.Match(path) {
			return nil
		}
	}
	return p.outside(action, string(path), "")
}

// CheckPattern checks actions (one or more) on every path of a pattern:
// each action is within the ceiling, and the pattern is within one of the
// policy's. It is the rule for what an agent may ask to share.
func (p Policy) CheckPattern(actions capability.Actions, pat capability.Pattern) error {
	if err := p.checkAction(actions); err != nil {
		return err
	}
	if err := p.checkSecrets(actions, string(pat)); err != nil {
		return err
	}
	for _, own := range p.Paths {
		if pat.Within(own) {
			return nil
		}
	}
	return p.outside(actions, string(pat), "all of ")
}

// SecretsRoot is the first segment of the vault's secrets. An agent may
// only use them (through the node, which never hands out the value),
// whatever its ceiling and paths say.
const SecretsRoot = "secrets"

// checkSecrets refuses every action but use on a path or pattern that
// reaches a secret: one whose first segment is SecretsRoot or a wildcard.
func (p Policy) checkSecrets(a capability.Actions, path string) error {
	first, _, _ := strings.Cut(path, "/")
	if a&^capability.Use == 0 || (first != SecretsRoot && first != "*" && first != "**") {
		return nil
	}
	return refuse(p.Name, a, path, ReasonScope,
		fmt.Sprintf("agent %q may not %s %s: agents never read, list or share secrets, they only use them through the node", p.Name, a&^capability.Use, path), ErrScope)
}

func (p Policy) checkAction(a capability.Actions) error {
	if !a.Valid() {
		return refuse(p.Name, a, "", ReasonCeiling, fmt.Sprintf("agent %q asked for no known action", p.Name), ErrCeiling)
	}
	if !p.Actions.Has(a) {
		return refuse(p.Name, a, "", ReasonCeiling,
			fmt.Sprintf("agent %q may not %s: its ceiling allows %s only", p.Name, a&^p.Actions, p.Actions), ErrCeiling)
	}
	return nil
}

func (p Policy) outside(a capability.Actions, path, all string) error {
	if capability.Pattern(path).Validate() != nil {
		return refuse(p.Name, a, "", ReasonScope,
			fmt.Sprintf("agent %q asked for a path that is not valid (lowercase names separated by /)", p.Name), ErrScope)
	}
	return refuse(p.Name, a, path, ReasonScope,
		fmt.Sprintf("agent %q may not %s %s%s: its paths are %s", p.Name, a, all, path, p.pathList()), ErrScope)
}

func (p Policy) pathList() string {
	s := make([]string, len(p.Paths))
	for i, pat := range p.Paths {
		s[i] = string(pat)
	}
	return strings.Join(s, ", ")
}

// Grant builds the parameters of a token for the agent: audience its key,
// ceiling its policy's actions. Actions above the ceiling (delete, admin
// and share above all) and a resource outside the policy's paths are
// refused here, at issuance, before anything is signed; capability.Issue
// then refuses any delegation under the ceiling (a ceiling never holds
// share).
func (p Policy) Grant(resource capability.Pattern, actions capability.Actions, notBefore, expiry time.Time) (capability.Params, error) {
	if err := p.Validate(); err != nil {
		return capability.Params{}, err
	}
	if err := p.CheckPattern(actions, resource); err != nil {
		return capability.Params{}, err
	}
	return capability.Params{Audience: p.Key, Resource: resource, Actions: actions,
		NotBefore: notBefore, Expiry: expiry, Ceiling: p.Actions}, nil
}

// ChainCeiling is the intersection of every ceiling in tok's chain, 0 when
// no link carries one. capability's verification step 4 holds every
// link's actions within the ceilings at or above it.
func ChainCeiling(tok *capability.Token) capability.Actions {
	var c capability.Actions
	for _, t := range tok.Chain() {
		if t.Ceiling() == 0 {
			continue
		}
		if c == 0 {
			c = t.Ceiling()
		} else {
			c &= t.Ceiling()
		}
	}
	return c
}

// Authorize decides one agent call: req (the action and path asked, the
// remote being the key the call was proved with, the owner this node)
// against the policy and against tok's chain. In order, each failure a
// *Refusal:
//
//  1. the call was proved with the agent's key (ReasonKey);
//  2. the policy allows the action on the path (ReasonCeiling, ReasonScope);
//  3. the chain carries a ceiling and it is within the policy's: a token
//     without one was not made for an agent (ReasonToken, ErrCeiling);
//  4. capability verification of the chain for req, which holds every
//     link within every ceiling above it, checks time, revocation,
//     audience and owner, and spends any use budget (ReasonToken, with the
//     capability sentinel).
//
// Steps 1 to 3 spend nothing, so a refused call never uses up a budget.
func (p Policy) Authorize(ctx context.Context, v *capability.Verifier, tok *capability.Token, req capability.Request) (*capability.Verified, error) {
	return p.authorize(ctx, v, tok, req, false)
}

// AuthorizeListing is Authorize for a listing of req.Resource's children
// (action List; req.Resource is the prefix, which the policy must allow):
// the caller shows only the names both the policy (Allows) and the token
// (Verified.Token.Resource().Match) allow.
func (p Policy) AuthorizeListing(ctx context.Context, v *capability.Verifier, tok *capability.Token, req capability.Request) (*capability.Verified, error) {
	return p.authorize(ctx, v, tok, req, true)
}

func (p Policy) authorize(ctx context.Context, v *capability.Verifier, tok *capability.Token, req capability.Request, listing bool) (*capability.Verified, error) {
	path := string(req.Resource)
	if req.Remote != p.Key {
		return nil, refuse(p.Name, req.Action, path, ReasonKey,
			fmt.Sprintf("the call was not signed with agent %q's key", p.Name), ErrWrongKey)
	}
	if listing {
		if err := p.checkAction(req.Action); err != nil {
			return nil, err
		}
		if err := p.checkSecrets(req.Action, path); err != nil {
			return nil, err
		}
		if !p.mayList(req.Resource) {
			return nil, p.outside(req.Action, path, "")
		}
	} else if err := p.Check(req.Action, req.Resource); err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, refuse(p.Name, req.Action, path, ReasonToken, fmt.Sprintf("agent %q presented no token", p.Name), capability.ErrMalformed)
	}
	if c := ChainCeiling(tok); c == 0 || !p.Actions.Has(c) {
		return nil, refuse(p.Name, req.Action, path, ReasonToken,
			fmt.Sprintf("agent %q presented a token without its ceiling (%s): agents' tokens must carry one", p.Name, p.Actions), ErrCeiling)
	}
	var vd *capability.Verified
	var err error
	if listing {
		vd, err = v.VerifyListing(ctx, tok, req)
	} else {
		vd, err = v.Verify(ctx, tok, req)
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, err
		}
		return nil, refuse(p.Name, req.Action, path, ReasonToken,
			fmt.Sprintf("agent %q may not %s %s: %s", p.Name, req.Action, path, tokenWords(err)), err)
	}
	return vd, nil
}

// mayList reports whether a listing of prefix can show anything the
// policy allows: the prefix is within a policy pattern, or a policy
// pattern lies under the prefix.
func (p Policy) mayList(prefix capability.ResourcePath) bool {
	under := capability.Pattern(string(prefix) + "/**")
	for _, pat := range p.Paths {
		if pat.Match(prefix) || under.Within(pat) || pat.Within(under) {
			return true
		}
	}
	return false
}
