package words

import (
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/protocols/directory"
)

// Audience reads a peer named by peer ID or, through lookup, by handle.
func Audience(s string, lookup func(handle string) (peer.ID, error)) (peer.ID, error) {
	if _, err := peer.Decode(s); err == nil {
		id, err := keys.DecodePeerID(s) // refuses small-order and non-canonical keys
		if err != nil {
			return "", Say(err, "%q is not a peer ID that can sign: %v", s, err)
		}
		return id, nil
	}
	if _, err := directory.ParseHandle(s); err != nil {
		return "", Say(err, "%q is neither a handle nor a peer ID (a peer ID starts with 12D3KooW)", s)
	}
	return lookup(s)
}

// RelayTokens parses relay-access tokens (mesh node --relay-token),
// refusing one made for another peer than self.
func RelayTokens(texts []string, self peer.ID) ([]*capability.Token, error) {
	var out []*capability.Token
	for _, text := range texts {
		tok, err := capability.Parse(strings.TrimSpace(text))
		if err != nil {
			return nil, BadToken("a relay token", text, err)
		}
		if tok.Audience() != self {
			return nil, fmt.Errorf("relay token %s is for %s, not this node", tok.ID().Short(), tok.Audience())
		}
		out = append(out, tok)
	}
	return out, nil
}
