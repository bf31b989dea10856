package agenthost

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/agentsock"
	"github.com/ocmt/mesh/internal/auditlimit"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/notify"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// Config is what the node gives the service.
type Config struct {
	// Store is the home store: the service writes under store.Agents only.
	Store ds.Batching
	Vault *vault.Vault
	Self  peer.ID
	// Issue signs a token with the node's key (the vault must be unlocked).
	Issue func(capability.Params) (*capability.Token, error)
	// Revoke revokes a token the node issued: signed, audited, in force
	// here and gossiped (mesh agent rm).
	Revoke func(ctx context.Context, tok *capability.Token) error
	// Share issues an approved share as mesh share would.
	Share func(ctx context.Context, req localapi.ShareRequest) (localapi.ShareResult, error)
	// Verifier checks agents' tokens: the node's, with its revocation set.
	Verifier *capability.Verifier
	// Socket is the agent socket's path; SocketMode and SocketGroup its
	// mode (0: 0600) and group (agentsock.Config).
	Socket      string
	SocketMode  os.FileMode
	SocketGroup string
	// Notify, when set, receives alerts (an approval asked, an agent
	// locked) and the weekly digest.
	Notify *notify.Notifier
	// Actor is the owner's actor in audit records ("local-api").
	Actor  string
	Now    func() time.Time
	Logger *slog.Logger
	// RootCAs replaces the system roots of brokered calls (tests).
	RootCAs *x509.CertPool
	// Counters configures the anomaly detector (tests); Store and Now
	// are set here.
	Counters agent.CounterConfig
	// ApprovalTTL is a pending approval's life (0: agent.DefaultApprovalTTL).
	ApprovalTTL time.Duration
}

// Agents is Service under the name a node embeds it by (its field is then
// Agents, and Service stays free for another job).
type Agents = Service

// Service is the node's agents: it implements localapi.Agents for the
// owner, and serves agents on the agent socket.
type Service struct {
	cfg       Config
	log       *slog.Logger
	counters  *agent.Counters
	approvals *agent.Approvals
	sub       *agent.Subscription
	sock      *agentsock.Server
	refusals  *auditlimit.Coalescer
	events    *hub
	mem       *memory

	mu       sync.Mutex
	agents   map[string]*entry
	byKey    map[peer.ID]string
	tallies  map[string]*tally
	consumed map[string]bool // approved secret uses already spent

	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// tally is one agent's calls in the current clock hour, written to the
// audit log as one agent.calls record when the hour ends.
type tally struct {
	calls, locked uint64
	from, last    time.Time
}

// Start loads the agents, opens the counters and approvals and serves the
// agent socket.
func Start(ctx context.Context, cfg Config) (_ *Service, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Actor == "" {
		cfg.Actor = "local-api"
	}
	s := &Service{cfg: cfg, log: cfg.Logger, events: newHub(), agents: map[string]*entry{}, byKey: map[peer.ID]string{},
		tallies: map[string]*tally{}, consumed: map[string]bool{}, stop: make(chan struct{})}
	s.mem = &memory{s: s}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	cc := cfg.Counters
	cc.Store, cc.Now = namespace.Wrap(cfg.Store, store.Agents.ChildString("counters")), cfg.Now
	if s.counters, err = agent.OpenCounters(ctx, cc); err != nil {
		return nil, err
	}
	if s.approvals, err = agent.OpenApprovals(ctx, agent.ApprovalConfig{Store: namespace.Wrap(cfg.Store, store.Agents.ChildString("approvals")),
		Now: cfg.Now, TTL: cfg.ApprovalTTL}); err != nil {
		return nil, err
	}
	// Expiries come from the approvals' own sweep; the buffer holds every
	// approval the store can hold, so none is missed.
	if s.sub, err = s.approvals.Subscribe(agent.DefaultMaxApprovals + agent.DefaultSubscriberBuffer); err != nil {
		return nil, err
	}
	s.refusals = auditlimit.New(auditlimit.Config{Record: s.recordRefusal, Now: cfg.Now})
	if cfg.Socket != "" {
		if s.sock, err = agentsock.Listen(agentsock.Config{Path: cfg.Socket, Mode: cfg.SocketMode, Group: cfg.SocketGroup,
			Backend: &calls{s}, Logger: cfg.Logger, Now: cfg.Now}); err != nil {
			return nil, err
		}
	}
	s.done.Add(2)
	go s.run()
	go s.watchApprovals()
	return s, nil
}

// SocketPath is where agents connect ("" when the socket is off).
func (s *Service) SocketPath() string {
	if s.sock == nil {
		return ""
	}
	return s.sock.Path()
}

// Stop closes the agent socket, writes the hour's counts and the counters,
// and seals a changed memory index.
func (s *Service) Stop() {
	s.once.Do(func() {
		close(s.stop)
		if s.sock != nil {
			s.sock.Close()
		}
		if s.sub != nil {
			s.sub.Close()
		}
		s.done.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.flushTallies(ctx, true)
		if s.refusals != nil {
			s.refusals.Close()
		}
		if s.counters != nil {
			if err := s.counters.Save(ctx); err != nil {
				s.log.Warn("agents: saving the call counters failed", "err", err)
			}
		}
		s.mem.save(ctx)
		s.events.close()
		if s.cfg.Notify != nil {
			s.cfg.Notify.Close()
		}
	})
}

func (s *Service) run() {
	defer s.done.Done()
	t := time.NewTicker(SweepEvery)
	defer t.Stop()
	lastSave := s.cfg.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if err := s.approvals.Sweep(ctx); err != nil {
			s.log.Warn("agents: expiring approvals failed", "err", err)
		}
		s.flushTallies(ctx, false)
		if now := s.cfg.Now(); now.Sub(lastSave) >= SaveEvery {
			lastSave = now
			if err := s.counters.Save(ctx); err != nil {
				s.log.Warn("agents: saving the call counters failed", "err", err)
			}
		}
		s.mem.save(ctx)
		s.weeklyDigest(ctx)
		s.forgetSpent(ctx)
		s.renewDue(ctx)
	}
}

// watchApprovals audits expiries and turns every approval change into an
// event (and an alert for a new request).
func (s *Service) watchApprovals() {
	defer s.done.Done()
	for ev := range s.sub.C {
		a := ev.Approval
		info := approvalInfo(a)
		switch ev.Kind {
		case agent.EventExpired:
			s.audit(context.Background(), agent.ApprovalEntry(agent.OpApprovalExpire, a, agent.ActorNode))
			s.publish("approval.expired", a.Agent, "expired unanswered (counts as denied): "+a.Intent(), &info)
		case agent.EventAsked:
			s.publish("approval.asked", a.Agent, fmt.Sprintf("agent %s asks: %s. Run: mesh approve %s (or mesh deny %s)", a.Agent, a.Intent(), a.ID, a.ID), &info)
			s.alert(notify.Message{Title: "Agent " + a.Agent + " asks for your approval", Priority: 4, Tags: []string{"robot"},
				Body: fmt.Sprintf("%s\nApprove: mesh approve %s\nDeny: mesh deny %s\nIt expires at %s if unanswered.", a.Intent(), a.ID, a.ID, a.Expires.Format(time.RFC3339))})
		case agent.EventApproved:
			s.publish("approval.approved", a.Agent, "approved: "+a.Intent(), &info)
		case agent.EventDenied:
			s.publish("approval.denied", a.Agent, "denied: "+a.Intent(), &info)
		}
	}
}

// audit writes e; a failure is logged (the operation it records has
// already been refused or done).
func (s *Service) audit(ctx context.Context, e vault.AuditEntry) {
	if err := s.cfg.Vault.Audit(ctx, e); err != nil {
		s.log.Warn("agents: an audit record could not be written", "op", e.Op, "err", err)
	}
}

func (s *Service) alert(m notify.Message) {
	if s.cfg.Notify != nil {
		s.cfg.Notify.Send(m)
	}
}

// load reads every stored agent. A record that does not decode is
// logged and left in place for the owner to remove (mesh agent rm).
func (s *Service) load(ctx context.Context) error {
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: agentsKey.String()})
	if err != nil {
		return err
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return r.Error
		}
		e, err := parseAgent(r.Value, s.cfg.Self)
		if err != nil {
			s.log.Warn("agents: a stored agent is unreadable and is ignored", "key", r.Key, "err", err)
			continue
		}
		s.agents[e.policy.Name] = e
		s.byKey[e.policy.Key] = e.policy.Name
	}
	return nil
}

var agentsKey = store.Agents.ChildString("a")

func agentKey(name string) ds.Key { return agentsKey.ChildString(name) }

// entryOf returns agent name's entry.
func (s *Service) entryOf(name string) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.agents[name]
	if e == nil {
		return nil, fmt.Errorf("%w: no agent named %q (mesh agent list shows them)", vault.ErrNotFound, name)
	}
	return e, nil
}

// AgentAdd implements localapi.Agents.
func (s *Service) AgentAdd(ctx context.Context, req localapi.AgentAddRequest) (localapi.AgentInfo, error) {
	name, err := agent.ParseName(req.Name)
	if err != nil {
		return localapi.AgentInfo{}, badRequest(err)
	}
	key, err := decodeKey(req.Key)
	if err != nil {
		return localapi.AgentInfo{}, err
	}
	p, grants, err := policyOf(name, key, req)
	if err != nil {
		var r *agent.Refusal
		if errors.As(err, &r) { // a ceiling refused at issuance is recorded, as at a call
			s.audit(ctx, agent.RefusedEntry(name, r.Reason, r.Action, r.Path, 1, r.Error()))
		}
		return localapi.AgentInfo{}, err
	}
	valid := req.ValidFor
	if valid == 0 {
		valid = DefaultValidity
	}
	if err := capability.CheckLifetime(valid); err != nil {
		return localapi.AgentInfo{}, badRequest(err)
	}
	s.mu.Lock()
	_, taken := s.agents[name]
	other, keyTaken := s.byKey[key]
	s.mu.Unlock()
	switch {
	case taken:
		return localapi.AgentInfo{}, fmt.Errorf("%w: an agent named %q exists; remove it first (mesh agent rm %s)", vault.ErrExists, name, name)
	case keyTaken:
		return localapi.AgentInfo{}, fmt.Errorf("%w: this key is agent %q's already", vault.ErrExists, other)
	}
	now := s.cfg.Now()
	e := &entry{policy: p, added: now.UTC().Truncate(time.Second)}
	for _, g := range grants {
		params, err := p.Grant(g.pattern, g.actions, now, now.Add(valid))
		if err != nil {
			return localapi.AgentInfo{}, badRequest(err)
		}
		tok, err := s.cfg.Issue(params)
		if err != nil {
			return localapi.AgentInfo{}, err
		}
		e.tokens = append(e.tokens, tok)
	}
	b, err := e.encode()
	if err != nil {
		return localapi.AgentInfo{}, badRequest(err)
	}
	if err := s.cfg.Vault.Audit(ctx, agent.AddEntry(p, s.cfg.Actor)); err != nil {
		return localapi.AgentInfo{}, errors.Join(errors.New("agent not added"), err)
	}
	for _, t := range e.tokens {
		s.audit(ctx, vault.AuditEntry{Actor: s.cfg.Actor, Op: "token.issue", Target: t.ID().Short(), Outcome: vault.OutcomeOK,
			Detail: fmt.Sprintf("issued to agent %s (%s): %s on %s until %s, ceiling %s", name, key, t.Actions(), t.Resource(),
				t.Expiry().UTC().Format(time.RFC3339), t.Ceiling())})
	}
	if err := s.cfg.Store.Put(ctx, agentKey(name), b); err != nil {
		return localapi.AgentInfo{}, err
	}
	s.mu.Lock()
	s.agents[name] = e
	s.byKey[key] = name
	s.mu.Unlock()
	return s.info(e), nil
}

// grant is one token to issue: a pattern and its actions.
type grant struct {
	pattern capability.Pattern
	actions capability.Actions
}

// policyOf builds an agent's policy from mesh agent add's words, and the
// tokens that carry it: one per path with the ceiling's actions but use,
// one per secret with use alone.
func policyOf(name string, key peer.ID, req localapi.AgentAddRequest) (agent.Policy, []grant, error) {
	can := capability.DefaultAgentCeiling
	if req.Can != "" {
		a, err := capability.ParseActions(req.Can)
		if err != nil {
			return agent.Policy{}, nil, badRequest(fmt.Errorf("--can: %w", err))
		}
		can = a
	}
	var paths []capability.Pattern
	var grants []grant
	for _, raw := range req.Paths {
		pat, err := capability.ParsePattern(strings.TrimSpace(raw))
		if err != nil {
			return agent.Policy{}, nil, badRequest(fmt.Errorf("--paths %q: %w", raw, err))
		}
		if first, _, _ := strings.Cut(string(pat), "/"); first == agent.SecretsRoot {
			return agent.Policy{}, nil, badRequest(fmt.Errorf("--paths %q: an agent reaches secrets only with --use %s", raw, pat))
		}
		paths = append(paths, pat)
		if a := can &^ capability.Use; a != 0 {
			grants = append(grants, grant{pat, a})
		}
	}
	for _, raw := range req.Use {
		n := strings.TrimPrefix(strings.TrimSpace(raw), agent.SecretsRoot+"/")
		if vault.CheckName(n) != nil || strings.ContainsAny(n, "*/") {
			return agent.Policy{}, nil, badRequest(fmt.Errorf("--use %q: name one secret, like secrets/embeddings", raw))
		}
		pat, err := capability.ParsePattern(agent.SecretsRoot + "/" + n)
		if err != nil {
			return agent.Policy{}, nil, badRequest(fmt.Errorf("--use %q: %w", raw, err))
		}
		paths = append(paths, pat)
		grants = append(grants, grant{pat, capability.Use})
		can |= capability.Use
	}
	if len(paths) == 0 {
		return agent.Policy{}, nil, badRequest(errors.New("give the agent --paths (like 'calendar/**') or --use (like secrets/embeddings)"))
	}
	p, err := agent.NewPolicy(name, key, can, paths)
	if err != nil {
		return agent.Policy{}, nil, badRequest(err)
	}
	if req.TrustSecretUse {
		p.Trusted = agent.OpSecretUse
	}
	if len(grants) == 0 {
		return agent.Policy{}, nil, badRequest(fmt.Errorf("--can %s gives the paths no action", can))
	}
	return p, grants, nil
}

func decodeKey(s string) (peer.ID, error) {
	id, err := keys.DecodePeerID(s) // refuses non-canonical and small-order keys
	if err == nil {
		return id, nil
	}
	return "", badRequest(fmt.Errorf("the agent's key %q is not a peer ID that can sign", s))
}

// badRequest marks err as the caller's mistake (localapi's bad_request).
func badRequest(err error) error { return fmt.Errorf("%w: %w", localapi.ErrBadRequest, err) }

// info describes e for mesh agent list.
func (s *Service) info(e *entry) localapi.AgentInfo {
	p := e.policy
	out := localapi.AgentInfo{Name: p.Name, Key: p.Key.String(), Ceiling: p.Actions.String(), Added: e.added, Expiry: e.expiry(), Socket: s.SocketPath()}
	if p.Trusted != 0 {
		out.Trusted = p.Trusted.String()
	}
	for _, pat := range p.Paths {
		out.Paths = append(out.Paths, string(pat))
	}
	for _, t := range e.tokens {
		out.Tokens = append(out.Tokens, t.ID().Short())
	}
	if s.counters != nil {
		if st, ok := s.counters.Agent(p.Name); ok {
			out.CallsDay, out.CallsHour = st.LastDay, st.LastHour
		}
		if l := s.counters.LockState(p.Name); l.Locked {
			out.Locked, out.Lock, out.LockedAt = true, l.Reason, l.At
		}
	}
	return out
}

// AgentList implements localapi.Agents.
func (s *Service) AgentList(context.Context) ([]localapi.AgentInfo, error) {
	s.mu.Lock()
	es := make([]*entry, 0, len(s.agents))
	for _, e := range s.agents {
		es = append(es, e)
	}
	s.mu.Unlock()
	slices.SortFunc(es, func(a, b *entry) int { return strings.Compare(a.policy.Name, b.policy.Name) })
	out := make([]localapi.AgentInfo, 0, len(es))
	for _, e := range es {
		out = append(out, s.info(e))
	}
	return out, nil
}

// AgentRemove implements localapi.Agents: the agent's key is refused at
// once, its tokens are revoked, its counters forgotten.
func (s *Service) AgentRemove(ctx context.Context, name string) (localapi.AgentRemoved, error) {
	if s.cfg.Vault.Locked() {
		return localapi.AgentRemoved{}, fmt.Errorf("%w: unlock it to remove an agent (its tokens must be revoked)", vault.ErrLocked)
	}
	e, err := s.entryOf(name)
	if err != nil {
		return localapi.AgentRemoved{}, err
	}
	s.mu.Lock()
	delete(s.agents, name)
	delete(s.byKey, e.policy.Key)
	s.mu.Unlock()
	var out localapi.AgentRemoved
	var errs []error
	for _, t := range e.tokens {
		if err := s.cfg.Revoke(ctx, t); err != nil && !errors.Is(err, capability.ErrRevoked) {
			errs = append(errs, err)
			continue
		}
		out.Revoked++
	}
	s.flushTally(ctx, name)
	if err := s.counters.Forget(ctx, name); err != nil {
		errs = append(errs, err)
	}
	if err := s.cfg.Store.Delete(ctx, agentKey(name)); err != nil {
		errs = append(errs, err)
	}
	s.audit(ctx, agent.RemoveEntry(name, out.Revoked, s.cfg.Actor))
	return out, errors.Join(errs...)
}

// AgentUnlock implements localapi.Agents.
func (s *Service) AgentUnlock(ctx context.Context, name string) error {
	if _, err := s.entryOf(name); err != nil {
		return err
	}
	if err := s.counters.Unlock(ctx, name); err != nil {
		if errors.Is(err, agent.ErrNotFound) {
			return fmt.Errorf("agent %q is not locked", name)
		}
		return err
	}
	s.audit(ctx, agent.UnlockEntry(name, s.cfg.Actor))
	s.publish("agent.unlocked", name, "agent "+name+" was unlocked by the owner", nil)
	return nil
}

// locked raises the alert of an auto-lock: audit, event, webhook.
func (s *Service) locked(ctx context.Context, name string, l agent.Lock) {
	s.audit(ctx, agent.LockEntry(name, l, agent.ActorAutoLock))
	text := fmt.Sprintf("agent %s was locked: %s. Its calls are refused until you run: mesh agent unlock %s", name, l.Reason, name)
	s.publish("agent.locked", name, text, nil)
	s.alert(notify.Message{Title: "Agent " + name + " was locked", Body: text, Priority: 5, Tags: []string{"warning", "robot"}})
}

func approvalInfo(a agent.Approval) localapi.ApprovalInfo {
	return localapi.ApprovalInfo{ID: a.ID, Agent: a.Agent, Intent: a.Intent(), State: a.State.String(),
		Created: a.Created, Expires: a.Expires, Decided: a.Decided}
}

// Approvals implements localapi.Agents: pending first, then the decided
// ones still kept, oldest first in each.
func (s *Service) Approvals(ctx context.Context) ([]localapi.ApprovalInfo, error) {
	l, err := s.approvals.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]localapi.ApprovalInfo, 0, len(l))
	for _, a := range l {
		out = append(out, approvalInfo(a))
	}
	slices.SortStableFunc(out, func(a, b localapi.ApprovalInfo) int {
		pa, pb := a.State == agent.Pending.String(), b.State == agent.Pending.String()
		switch {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		return 0
	})
	return out, nil
}

// Decide implements localapi.Agents. Only the owner's socket reaches it:
// an agent can never approve its own request.
func (s *Service) Decide(ctx context.Context, id string, approve bool) (localapi.Decision, error) {
	a, err := s.approvals.Get(ctx, id)
	if err != nil {
		return localapi.Decision{}, notFound(err)
	}
	if s.cfg.Vault.Locked() {
		return localapi.Decision{}, fmt.Errorf("%w: unlock it to decide (mesh unlock): only the vault's owner approves or denies", vault.ErrLocked)
	}
	if approve {
		if _, err := s.entryOf(a.Agent); err != nil {
			approve = false // the agent was removed: its requests die with it
		}
	}
	op := agent.OpApprovalDeny
	if approve {
		a, err = s.approvals.Approve(ctx, id)
		op = agent.OpApprovalApprove
	} else {
		a, err = s.approvals.Deny(ctx, id)
	}
	if err != nil {
		return localapi.Decision{}, notFound(err)
	}
	s.audit(ctx, agent.ApprovalEntry(op, a, s.cfg.Actor))
	out := localapi.Decision{Approval: approvalInfo(a)}
	if approve && a.Op == agent.OpIssue {
		res, err := s.cfg.Share(ctx, localapi.ShareRequest{Path: string(a.Resource), With: a.Audience, Can: a.Actions.String(), ValidFor: a.Validity})
		if err != nil {
			return out, fmt.Errorf("approved, but the share could not be issued: %w; share it by hand with mesh share %s %s --can %s", err, a.Resource, a.Audience, a.Actions)
		}
		out.Share = &res
	}
	return out, nil
}

// notFound gives agent.ErrNotFound the local API's not_found code.
func notFound(err error) error {
	if errors.Is(err, agent.ErrNotFound) {
		return fmt.Errorf("%w: %w", vault.ErrNotFound, err)
	}
	return err
}

// Events implements localapi.Agents.
func (s *Service) Events(ctx context.Context) (<-chan localapi.Event, error) {
	return s.events.subscribe(ctx)
}

func (s *Service) publish(kind, name, text string, a *localapi.ApprovalInfo) {
	s.events.publish(localapi.Event{Kind: kind, Time: s.cfg.Now().UTC(), Agent: name, Text: text, Approval: a})
}

// count adds one call of name to the hour's tally, writing the last
// hour's first when the clock hour changed.
func (s *Service) count(ctx context.Context, name string, locked bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	t := s.tallies[name]
	var done *tally
	if t != nil && hourOf(t.from) != hourOf(now) {
		done, t = t, nil
	}
	if t == nil {
		t = &tally{from: now}
		s.tallies[name] = t
	}
	t.calls++
	if locked {
		t.locked++
	}
	t.last = now
	s.mu.Unlock()
	if done != nil {
		s.audit(ctx, agent.CallsEntry(name, done.calls, done.locked, done.from, done.last))
	}
}

func hourOf(t time.Time) int64 { return t.Unix() / 3600 }

// flushTallies writes the tallies of hours that ended (all, when all).
func (s *Service) flushTallies(ctx context.Context, all bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	var names []string
	for n, t := range s.tallies {
		if all || hourOf(t.from) != hourOf(now) {
			names = append(names, n)
		}
	}
	s.mu.Unlock()
	for _, n := range names {
		s.flushTally(ctx, n)
	}
}

func (s *Service) flushTally(ctx context.Context, name string) {
	s.mu.Lock()
	t := s.tallies[name]
	delete(s.tallies, name)
	s.mu.Unlock()
	if t != nil && t.calls > 0 {
		s.audit(ctx, agent.CallsEntry(name, t.calls, t.locked, t.from, t.last))
	}
}

// refused records a refusal of agent name's call: through the coalescer,
// so a flood of refusals writes a bounded number of records.
func (s *Service) refused(name, path string, err error) {
	var r *agent.Refusal
	if !errors.As(err, &r) {
		return
	}
	if r.Path != "" {
		path = r.Path
	}
	s.refusals.Add(name+"\x00"+string(r.Reason), r.Action.String(), path, r.Error())
}

func (s *Service) recordRefusal(ev auditlimit.Event) {
	name, reason, ok := strings.Cut(ev.Peer, "\x00")
	if ok && name == "" { // a key that is no agent's, refused at the handshake
		s.audit(context.Background(), vault.AuditEntry{Actor: agent.ActorNode, Op: "agents.refused", Target: ev.Target, Outcome: vault.OutcomeDenied,
			Detail: fmt.Sprintf("count=%d reason=%s: a connection to the agent socket with a key that belongs to no agent", ev.Count, reason)})
		return
	}
	if !ok {
		// Not an agent's record (the digest counts per agent): the
		// refusals of more agents than one window tracks.
		s.audit(context.Background(), vault.AuditEntry{Actor: agent.ActorNode, Op: "agents.refused", Outcome: vault.OutcomeDenied,
			Detail: fmt.Sprintf("count=%d: refusals of many agents in one minute, coalesced", ev.Count)})
		return
	}
	var action capability.Actions
	if a, err := capability.ParseActions(ev.Op); err == nil {
		action = a
	}
	words := ev.Detail
	if ev.Summary() {
		words = fmt.Sprintf("%d more refusals in the last minute", ev.Count)
	}
	s.audit(context.Background(), agent.RefusedEntry(name, agent.Reason(reason), action, ev.Target, ev.Count, words))
}

// Options are the node's settings of the service (mesh node flags).
type Options struct {
	// Socket, when set, is the agent socket's path instead of
	// DIR/agent.sock: an agent running as another Unix user cannot reach
	// into the owner's home folder (mode 0700).
	Socket string
	// SocketMode and SocketGroup: the agent socket's mode (0: 0600) and
	// group, so an agent can run as another Unix user.
	SocketMode  os.FileMode
	SocketGroup string
	// NotifyURL, when set, is the ntfy-like webhook alerts and the weekly
	// digest are posted to (internal/notify).
	NotifyURL string
	// Counters and ApprovalTTL: tests.
	Counters    agent.CounterConfig
	ApprovalTTL time.Duration
}

// Apply sets cfg's fields from o, starting the notifier.
func (o Options) Apply(cfg *Config) error {
	cfg.SocketMode, cfg.SocketGroup, cfg.Counters, cfg.ApprovalTTL = o.SocketMode, o.SocketGroup, o.Counters, o.ApprovalTTL
	if o.Socket != "" {
		cfg.Socket = o.Socket
	}
	if o.NotifyURL == "" {
		return nil
	}
	n, err := notify.New(notify.Config{URL: o.NotifyURL, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		return err
	}
	cfg.Notify = n
	return nil
}
