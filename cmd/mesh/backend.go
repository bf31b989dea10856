package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/node"
	"github.com/ocmt/mesh/node/localapi"
)

// backend returns the running node's API client, or, when no node runs,
// the vault opened directly. With unlock set, a direct backend is unlocked
// with the user's password (a running node must be unlocked with
// `mesh unlock`).
func backend(ctx context.Context, g *globals, unlock bool) (localapi.Backend, bool, error) {
	if c, err := localapi.Dial(ctx, g.Home().SocketPath()); err == nil {
		return c, true, nil
	}
	l, err := node.Open(ctx, g.Home(), node.Options{})
	if err != nil {
		return nil, false, err
	}
	if unlock {
		pw, err := readPassword(g, "Vault password: ", false)
		if err != nil {
			l.Close()
			return nil, false, err
		}
		defer clear(pw)
		if err := l.Unlock(ctx, pw); err != nil {
			l.Close()
			return nil, false, err
		}
	}
	return l, false, nil
}

// need says what a command requires of its backend.
type need int

const (
	needAny      need = iota // a running node, or the vault opened directly (locked)
	needUnlocked             // as needAny, but a direct vault is unlocked with the password
	needNode                 // a running node (the command talks to other peers)
)

// open returns the backend a command needs; callers Close it.
func (g *globals) open(cmd *cobra.Command, n need) (localapi.Backend, error) {
	b, remote, err := backend(cmd.Context(), g, n == needUnlocked)
	if err != nil {
		return nil, err
	}
	if n == needNode && !remote {
		b.Close()
		return nil, errNoNodeRunning
	}
	return b, nil
}

var errNoNodeRunning = errors.New("no mesh node is running on this home folder; start one with `mesh node` (without a node, commands open the vault directly and ask for the password each time)")
