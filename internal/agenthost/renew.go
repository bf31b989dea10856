package agenthost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/vault"
)

// renewDue renews the tokens of every agent whose first token is in the
// last RenewWithin fraction of its life, while the vault is unlocked (the
// node's key signs): the same grants, for the same length of time from
// now; the old tokens are revoked once the new record is stored. An agent
// whose tokens expire while the vault stays locked stops, as a share
// would: mesh agent add again, or unlock.
func (s *Service) renewDue(ctx context.Context) {
	if s.cfg.Vault.Locked() || s.cfg.Revoke == nil {
		return
	}
	now := s.cfg.Now()
	s.mu.Lock()
	var due []*entry
	for _, e := range s.agents {
		first := e.tokens[0]
		life := first.Expiry().Sub(first.NotBefore())
		if life > 0 && first.Expiry().Sub(now) < life/RenewWithin {
			due = append(due, e)
		}
	}
	s.mu.Unlock()
	for _, e := range due {
		if err := s.renew(ctx, e, now); err != nil {
			s.log.Warn("agents: renewing an agent's tokens failed; it keeps its tokens until they expire", "agent", e.policy.Name, "err", err)
		}
	}
}

func (s *Service) renew(ctx context.Context, old *entry, now time.Time) error {
	ne := &entry{policy: old.policy, added: old.added}
	for _, t := range old.tokens {
		params, err := old.policy.Grant(t.Resource(), t.Actions(), now, now.Add(t.Expiry().Sub(t.NotBefore())))
		if err != nil {
			return err
		}
		tok, err := s.cfg.Issue(params)
		if err != nil {
			return err
		}
		ne.tokens = append(ne.tokens, tok)
	}
	b, err := ne.encode()
	if err != nil {
		return err
	}
	name := old.policy.Name
	if err := s.cfg.Vault.Audit(ctx, vault.AuditEntry{Actor: "node", Op: "agent.renew", Target: name, Outcome: vault.OutcomeOK,
		Detail: fmt.Sprintf("agent=%s: %d tokens renewed until %s", name, len(ne.tokens), ne.expiry().UTC().Format(time.RFC3339))}); err != nil {
		return err
	}
	if err := s.cfg.Store.Put(ctx, agentKey(name), b); err != nil {
		return err
	}
	s.mu.Lock()
	if s.agents[name] == old { // not removed meanwhile
		s.agents[name] = ne
	}
	s.mu.Unlock()
	for _, t := range old.tokens {
		if err := s.cfg.Revoke(ctx, t); err != nil && !errors.Is(err, capability.ErrRevoked) {
			s.log.Warn("agents: revoking a renewed token failed", "agent", name, "token", t.ID().Short(), "err", err)
		}
	}
	return nil
}
