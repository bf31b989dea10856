package node

import (
	"context"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/agenthost"
	"github.com/ocmt/mesh/web"
)

// startAgents serves the agent socket and the web UI.
func (n *Node) startAgents(ctx context.Context) (err error) {
	c := agenthost.Config{Store: n.store, Vault: n.vault, Self: n.signer.ID(), Issue: n.signer.Issue, Share: n.Share,
		Revoke:   func(ctx context.Context, t *capability.Token) error { _, err := n.Revoke(ctx, t.String()); return err },
		Verifier: capability.NewVerifier(capability.Config{Revocations: n.rev.Set(), Clock: n.cfg.Now}),
		Socket:   n.cfg.Home.AgentSocket(), Actor: n.actor, Now: n.cfg.Now, Logger: n.log}
	if err := n.cfg.Agents.Apply(&c); err != nil {
		return err
	}
	if n.Agents, err = agenthost.Start(ctx, c); err == nil {
		u := &n.cfg.UI
		u.Dir, u.Host, u.Relays, u.Handle = string(n.cfg.Home), n.host, n.net.Infrastructure, n.Handle
		n.ui, err = web.Start(*u, n, n.cfg.Now, n.log)
	}
	return err
}
