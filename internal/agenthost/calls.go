package agenthost

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/agentsock"
	"github.com/ocmt/mesh/internal/broker"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/vault"
)

// calls is the agent socket's backend: every method runs as the agent the
// connection proved, counts the call, and checks the agent's policy and
// token before it touches the vault.
type calls struct{ s *Service }

var _ agentsock.Backend = (*calls)(nil)

// Agent implements agentsock.Backend.
func (c *calls) Agent(_ context.Context, key peer.ID) (string, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	name, ok := c.s.byKey[key]
	if !ok {
		c.s.refusals.Add("\x00"+string(agent.ReasonKey), "", key.String(), "no agent's key")
		return "", agentsock.Refuse("this key belongs to no agent of this node (it was never added, or mesh agent rm removed it)")
	}
	return name, nil
}

// begin counts one call of agent name about action on path, and returns
// the agent's entry and the token that call uses. A locked agent's call,
// and the call that locks it, are refused here.
func (c *calls) begin(ctx context.Context, name string, action capability.Actions, path string) (*entry, *capability.Token, error) {
	s := c.s
	e, err := s.entryOf(name)
	if err != nil {
		return nil, nil, agentsock.Refuse("agent %q was removed by the owner", name)
	}
	tok := e.tokenFor(action, path)
	err = s.counters.Record(ctx, name, tok.ID())
	var le *agent.LockedError
	locked := errors.As(err, &le)
	s.count(ctx, name, locked && !le.New)
	if locked {
		if le.New {
			s.locked(ctx, name, le.Lock)
		}
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, err
	}
	return e, tok, nil
}

// authorize checks action on path against e's policy and tok, recording a
// refusal.
func (c *calls) authorize(ctx context.Context, e *entry, tok *capability.Token, action capability.Actions, path string) error {
	_, err := e.policy.Authorize(ctx, c.s.cfg.Verifier, tok, c.request(e, action, path))
	if err != nil {
		c.s.refused(e.policy.Name, path, err)
	}
	return err
}

func (c *calls) request(e *entry, action capability.Actions, path string) capability.Request {
	return capability.Request{Remote: e.policy.Key, Owner: c.s.cfg.Self, Resource: capability.ResourcePath(path), Action: action}
}

// vaultErr words a vault failure for the agent.
func vaultErr(err error, what string) error {
	switch {
	case errors.Is(err, vault.ErrLocked):
		return agentsock.Refuse("the owner's vault is locked: agents work only while it is unlocked")
	case errors.Is(err, vault.ErrNotFound):
		return agentsock.Refuse("there is no %s", what)
	}
	return err
}

func actor(name string) string { return agent.Actor(name) }

// ReadResource implements agentsock.Backend.
func (c *calls) ReadResource(ctx context.Context, name, path string) ([]byte, error) {
	e, tok, err := c.begin(ctx, name, capability.Read, path)
	if err != nil {
		return nil, err
	}
	if err := c.authorize(ctx, e, tok, capability.Read, path); err != nil {
		return nil, err
	}
	b, err := c.s.cfg.Vault.Get(ctx, vault.NSResources, path, vault.AuditEntry{Actor: actor(name), Op: "resource.read", Target: path})
	return b, vaultErr(err, "resource "+path)
}

// WriteResource implements agentsock.Backend.
func (c *calls) WriteResource(ctx context.Context, name, path string, data []byte) error {
	e, tok, err := c.begin(ctx, name, capability.Write, path)
	if err != nil {
		return err
	}
	if err := c.authorize(ctx, e, tok, capability.Write, path); err != nil {
		return err
	}
	err = c.s.cfg.Vault.Put(ctx, vault.NSResources, path, data, vault.AuditEntry{Actor: actor(name), Op: "resource.write", Target: path})
	return vaultErr(err, "resource "+path)
}

// DeleteResource implements agentsock.Backend: no agent's ceiling holds
// delete, so this is refused by the policy, and recorded.
func (c *calls) DeleteResource(ctx context.Context, name, path string) error {
	e, tok, err := c.begin(ctx, name, capability.Delete, path)
	if err != nil {
		return err
	}
	if err := c.authorize(ctx, e, tok, capability.Delete, path); err != nil {
		return err
	}
	err = c.s.cfg.Vault.Delete(ctx, vault.NSResources, path, vault.AuditEntry{Actor: actor(name), Op: "resource.delete", Target: path})
	return vaultErr(err, "resource "+path)
}

// ListResources implements agentsock.Backend: the names under prefix that
// both the policy and one of the agent's verified tokens allow.
func (c *calls) ListResources(ctx context.Context, name, prefix string) ([]string, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	e, tok, err := c.begin(ctx, name, capability.List, prefix)
	if err != nil {
		return nil, err
	}
	var allowed []*capability.Token
	var first error
	for _, t := range e.tokens {
		if !t.Actions().Has(capability.List) {
			continue
		}
		if _, err := e.policy.AuthorizeListing(ctx, c.s.cfg.Verifier, t, c.request(e, capability.List, prefix)); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		allowed = append(allowed, t)
	}
	if len(allowed) == 0 {
		if first == nil {
			_, first = e.policy.AuthorizeListing(ctx, c.s.cfg.Verifier, tok, c.request(e, capability.List, prefix))
		}
		c.s.refused(name, prefix, first)
		return nil, first
	}
	names, err := c.s.cfg.Vault.List(ctx, vault.NSResources)
	if err != nil {
		return nil, vaultErr(err, "resource list")
	}
	out := []string{}
	for _, n := range names {
		if n != prefix && !strings.HasPrefix(n, prefix+"/") {
			continue
		}
		p := capability.ResourcePath(n)
		if !e.policy.Allows(capability.List, p) {
			continue
		}
		for _, t := range allowed {
			if t.Resource().Match(p) {
				out = append(out, n)
				break
			}
		}
	}
	return out, nil
}

// UseSecret implements agentsock.Backend: the broker makes the call with
// the secret injected and redacted from the answer. Unless the policy
// trusts the agent with secret use, each call to a host needs an approval
// of the owner, spent by the call it allows.
func (c *calls) UseSecret(ctx context.Context, name string, sc agentsock.SecretCall) (agentsock.SecretReply, error) {
	secret := strings.TrimPrefix(sc.Name, agent.SecretsRoot+"/")
	path := agent.SecretsRoot + "/" + secret
	e, tok, err := c.begin(ctx, name, capability.Use, path)
	if err != nil {
		return agentsock.SecretReply{}, err
	}
	if vault.CheckName(secret) != nil || strings.Contains(secret, "/") {
		return agentsock.SecretReply{}, agentsock.Refuse("name one secret, like embeddings")
	}
	if err := c.authorize(ctx, e, tok, capability.Use, path); err != nil {
		return agentsock.SecretReply{}, err
	}
	u, err := url.Parse(sc.URL)
	if err != nil || u.Hostname() == "" {
		return agentsock.SecretReply{}, agentsock.Refuse("url must be an absolute http or https URL")
	}
	host := strings.ToLower(u.Hostname())
	if e.policy.NeedsApproval(agent.OpSecretUse) && !c.s.spend(ctx, name, path, host) {
		a, err := c.s.approvals.Ask(ctx, e.policy, agent.Request{Op: agent.OpSecretUse, Resource: capability.Pattern(path), Actions: capability.Use, Target: host})
		if err != nil {
			return agentsock.SecretReply{}, err
		}
		c.s.audit(ctx, agent.ApprovalEntry(agent.OpApprovalAsk, a, actor(name)))
		return agentsock.SecretReply{Pending: &agentsock.Pending{ID: a.ID, Intent: a.Intent(), Expires: a.Expires}}, nil
	}
	b, err := c.s.broker(ctx)
	if err != nil {
		return agentsock.SecretReply{}, err
	}
	resp, err := b.Do(ctx, broker.Request{Secret: secret, Method: sc.Method, URL: sc.URL, Body: sc.Body})
	status := 0
	if resp != nil {
		status = resp.Status
	}
	c.s.audit(ctx, agent.SecretUseEntry(name, secret, host, status))
	if err != nil {
		return agentsock.SecretReply{}, brokerErr(err)
	}
	return agentsock.SecretReply{Status: resp.Status, Body: resp.Body}, nil
}

// brokerErr shows a broker refusal (its words hold no secret) to the
// agent; other failures stay the node's.
func brokerErr(err error) error {
	if errors.Is(err, broker.ErrRefused) {
		return agentsock.Refuse("%s", err.Error())
	}
	return err
}

// spend finds an approved, unspent secret use of path to host by agent
// name, decided within the approval TTL, and spends it.
func (s *Service) spend(ctx context.Context, name, path, host string) bool {
	l, err := s.approvals.List(ctx)
	if err != nil {
		return false
	}
	ttl := s.cfg.ApprovalTTL
	if ttl == 0 {
		ttl = agent.DefaultApprovalTTL
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range l {
		if a.Agent == name && a.Op == agent.OpSecretUse && a.State == agent.Approved && string(a.Resource) == path &&
			a.Target == host && !s.consumed[a.ID] && now.Sub(a.Decided) <= ttl {
			if ok, err := s.cfg.Store.Has(ctx, spentKey(a.ID)); err != nil || ok {
				s.consumed[a.ID] = true
				continue // spent before a restart (or unknown: refuse)
			}
			// Written before the call is made: a crash after it loses
			// the call, never allows a second one.
			if err := s.cfg.Store.Put(ctx, spentKey(a.ID), []byte{1}); err != nil {
				return false
			}
			s.consumed[a.ID] = true
			return true
		}
	}
	return false
}

// spentKey marks an approved secret use as spent, across restarts; the
// marks are dropped with their approvals (forgetSpent).
func spentKey(id string) ds.Key { return store.Agents.ChildString("spent").ChildString(id) }

// RequestShare implements agentsock.Backend: the request waits for the
// owner (mesh approve ID); the agent never issues anything.
func (c *calls) RequestShare(ctx context.Context, name string, r agentsock.ShareRequest) (agentsock.Pending, error) {
	e, _, err := c.begin(ctx, name, r.Can, r.Path)
	if err != nil {
		return agentsock.Pending{}, err
	}
	if r.For < agent.MinValidity || r.For > agent.MaxValidity {
		return agentsock.Pending{}, agentsock.Refuse("for must be between %s and %s", agent.MinValidity, agent.MaxValidity)
	}
	a, err := c.s.approvals.Ask(ctx, e.policy, agent.Request{Op: agent.OpIssue, Audience: r.With, Resource: capability.Pattern(r.Path),
		Actions: r.Can, Validity: r.For.Truncate(time.Second)})
	if err != nil {
		c.s.refused(name, r.Path, err)
		return agentsock.Pending{}, err
	}
	c.s.audit(ctx, agent.ApprovalEntry(agent.OpApprovalAsk, a, actor(name)))
	return agentsock.Pending{ID: a.ID, Intent: a.Intent(), Expires: a.Expires}, nil
}

// MemorySearch implements agentsock.Backend.
func (c *calls) MemorySearch(ctx context.Context, name, query string, k int) ([]agentsock.Memory, error) {
	e, tok, err := c.begin(ctx, name, capability.Read, memoryRoot)
	if err != nil {
		return nil, err
	}
	if err := e.policy.CheckPattern(capability.Read, memoryRoot+"/**"); err != nil {
		c.s.refused(name, memoryRoot+"/**", err)
		return nil, err
	}
	_ = tok
	return c.s.mem.search(ctx, c, e, query, k)
}

// MemoryAdd implements agentsock.Backend.
func (c *calls) MemoryAdd(ctx context.Context, name, text string) (string, error) {
	path := c.s.mem.newPath()
	e, tok, err := c.begin(ctx, name, capability.Write, path)
	if err != nil {
		return "", err
	}
	if err := c.authorize(ctx, e, tok, capability.Write, path); err != nil {
		return "", err
	}
	if err := c.s.mem.add(ctx, c, e, path, text); err != nil {
		return "", err
	}
	return path, nil
}

// useEmbeddings checks that agent e may use the embeddings secret.
func (c *calls) useEmbeddings(ctx context.Context, e *entry, secret string) error {
	path := agent.SecretsRoot + "/" + secret
	if err := c.authorize(ctx, e, e.tokenFor(capability.Use, path), capability.Use, path); err != nil {
		return fmt.Errorf("memory notes are embedded with the secret %s, which this agent may not use: %w", secret, err)
	}
	return nil
}

// forgetSpent drops the marks of approvals the approvals no longer keep
// (decided more than agent.KeepDecided ago).
func (s *Service) forgetSpent(ctx context.Context) {
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: store.Agents.ChildString("spent").String(), KeysOnly: true})
	if err != nil {
		return
	}
	entries, _ := res.Rest()
	for _, e := range entries {
		id := ds.NewKey(e.Key).BaseNamespace()
		if _, err := s.approvals.Get(ctx, id); errors.Is(err, agent.ErrNotFound) {
			s.cfg.Store.Delete(ctx, ds.NewKey(e.Key))
			s.mu.Lock()
			delete(s.consumed, id)
			s.mu.Unlock()
		}
	}
}
