package agenthost

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
)

// entry is one agent as the node keeps it: its policy and the tokens the
// node issued to its key, one per policy path.
type entry struct {
	policy agent.Policy
	tokens []*capability.Token
	added  time.Time
}

// storedAgent is an entry as stored under /agents/a/NAME: canonical CBOR
// (doc.go "Stored agents"). It holds no secret: the key is public, the
// tokens are bound to it.
type storedAgent struct {
	Version uint64   `cbor:"1,keyasint"`
	Name    string   `cbor:"2,keyasint"`
	Key     string   `cbor:"3,keyasint"`
	Actions uint64   `cbor:"4,keyasint"`
	Paths   []string `cbor:"5,keyasint"`
	Trusted uint64   `cbor:"6,keyasint,omitempty"`
	Tokens  [][]byte `cbor:"7,keyasint"`
	Added   int64    `cbor:"8,keyasint"`
}

// errCorrupt wraps every refusal of a stored agent.
var errCorrupt = errors.New("agenthost: stored agent is corrupt")

func (e *entry) encode() ([]byte, error) {
	s := storedAgent{Version: recordVersion, Name: e.policy.Name, Key: e.policy.Key.String(),
		Actions: uint64(e.policy.Actions), Trusted: uint64(e.policy.Trusted), Added: e.added.Unix()}
	for _, p := range e.policy.Paths {
		s.Paths = append(s.Paths, string(p))
	}
	for _, t := range e.tokens {
		s.Tokens = append(s.Tokens, t.Bytes())
	}
	b, err := wire.Marshal(s)
	if err == nil && len(b) > maxAgentRecord {
		err = fmt.Errorf("agent %q: its record would be %d bytes, over %d", e.policy.Name, len(b), maxAgentRecord)
	}
	return b, err
}

// parseAgent decodes a stored agent with the rules AgentAdd applies: a
// valid policy, one to agent.MaxPolicyPaths tokens, each addressed to the
// agent's key and issued by self.
func parseAgent(b []byte, self peer.ID) (*entry, error) {
	if len(b) > maxAgentRecord {
		return nil, fmt.Errorf("%w: %d bytes, max %d", errCorrupt, len(b), maxAgentRecord)
	}
	var s storedAgent
	if err := wire.UnmarshalCanonical(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if s.Version != recordVersion {
		return nil, fmt.Errorf("%w: unknown version %d", errCorrupt, s.Version)
	}
	key, err := keys.DecodePeerID(s.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: its key is not a peer ID", errCorrupt)
	}
	if s.Actions > 0xff || s.Trusted > 0xff || s.Added < 1 || s.Added > maxUnix {
		return nil, fmt.Errorf("%w: a field is out of range", errCorrupt)
	}
	paths := make([]capability.Pattern, len(s.Paths))
	for i, p := range s.Paths {
		paths[i] = capability.Pattern(p)
	}
	p := agent.Policy{Name: s.Name, Key: key, Actions: capability.Actions(s.Actions), Paths: paths, Trusted: agent.Ops(s.Trusted)}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if len(s.Tokens) == 0 || len(s.Tokens) > agent.MaxPolicyPaths {
		return nil, fmt.Errorf("%w: %d tokens", errCorrupt, len(s.Tokens))
	}
	e := &entry{policy: p, added: time.Unix(s.Added, 0).UTC()}
	for _, raw := range s.Tokens {
		t, err := capability.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: a token does not decode: %w", errCorrupt, err)
		}
		if t.Audience() != key || t.Root().Issuer() != self {
			return nil, fmt.Errorf("%w: a token is not this node's to this agent", errCorrupt)
		}
		e.tokens = append(e.tokens, t)
	}
	return e, nil
}

// tokenFor picks the token for action on path: the first that covers
// both, else the first that covers the path, else the first. Authorize
// then verifies it (and words the refusal when it does not allow it).
func (e *entry) tokenFor(action capability.Actions, path string) *capability.Token {
	var byPath *capability.Token
	for _, t := range e.tokens {
		if !t.Resource().Match(capability.ResourcePath(path)) {
			continue
		}
		if t.Actions().Has(action) {
			return t
		}
		if byPath == nil {
			byPath = t
		}
	}
	if byPath != nil {
		return byPath
	}
	return e.tokens[0]
}

// expiry is when the agent's first token expires.
func (e *entry) expiry() time.Time {
	var min time.Time
	for _, t := range e.tokens {
		if min.IsZero() || t.Expiry().Before(min) {
			min = t.Expiry()
		}
	}
	return min
}
