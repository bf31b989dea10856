package agenthost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/internal/agentsock"
	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

var helperReq = localapi.AgentAddRequest{Paths: []string{"calendar/**", "memory/**"}, Use: []string{"secrets/embeddings"}}

// refusals returns the audit's agent.refused records as "reason path".
func refusals(recs []vault.AuditRecord) []string {
	var out []string
	for _, r := range recs {
		if r.Op == agent.OpAgentRefused {
			fields, _, _ := agent.ParseDetail(r.Detail)
			out = append(out, fields["reason"]+" "+r.Target)
		}
	}
	return out
}

func TestAnAgentDoesWhatItsPolicyAllowsAndNothingElse(t *testing.T) {
	var logs bytes.Buffer
	f := newFixture(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	f.put("calendar/work", "standup at 9")
	f.put("notes/diary", "private")
	f.setupMemory()
	req := helperReq
	req.Can = "read,list,write" // memory_add writes a note
	cs := f.session(f.addAgent("helper", req))

	if out, ok := call(t, cs, "read_resource", map[string]any{"path": "calendar/work"}); !ok || !strings.Contains(out, "standup at 9") {
		t.Fatalf("read: %v %s", ok, out)
	}
	refused := []struct {
		tool string
		args map[string]any
		want string
	}{
		{"delete_resource", map[string]any{"path": "calendar/work"}, "may not delete"},
		{"read_resource", map[string]any{"path": "notes/diary"}, "its paths are"},
		{"read_resource", map[string]any{"path": "secrets/embeddings"}, "only use them through the node"},
		{"write_resource", map[string]any{"path": "notes/diary", "text": "x"}, "its paths are"},
		{"request_share", map[string]any{"path": "calendar/**", "with": "bob", "can": "read,share", "for": "7d"}, "may not share"},
	}
	for _, c := range refused {
		out, ok := call(t, cs, c.tool, c.args)
		if ok || !strings.Contains(out, c.want) {
			t.Errorf("%s %v: got %v %q, want a refusal saying %q", c.tool, c.args, ok, out, c.want)
		}
	}
	if out, ok := call(t, cs, "list_resources", map[string]any{"prefix": "calendar"}); !ok || !strings.Contains(out, "calendar/work") {
		t.Fatalf("list: %v %s", ok, out)
	}
	if out, ok := call(t, cs, "list_resources", map[string]any{"prefix": "notes"}); ok {
		t.Fatalf("listing notes/ was allowed: %s", out)
	}

	// memory: a note added is found by meaning, through the brokered key.
	if out, ok := call(t, cs, "memory_add", map[string]any{"text": "Bob likes green tea in the morning"}); !ok {
		t.Fatalf("memory_add: %s", out)
	}
	call(t, cs, "memory_add", map[string]any{"text": "the car needs new tyres"})
	out, ok := call(t, cs, "memory_search", map[string]any{"query": "what tea does Bob like", "k": 1})
	if !ok || !strings.Contains(out, "green tea") || strings.Contains(out, "tyres") {
		t.Fatalf("memory_search: %v %s", ok, out)
	}
	if f.emb.calls.Load() == 0 {
		t.Fatal("the embeddings provider was never called")
	}
	for _, k := range f.emb.keys {
		if k != canary {
			t.Fatalf("the provider got key %q", k)
		}
	}

	f.svc.Stop() // writes the hour's counts and flushes the coalesced refusals
	recs := f.audit()
	got := strings.Join(refusals(recs), ",")
	for _, want := range []string{"ceiling calendar/work", "scope notes/diary", "scope secrets/embeddings", "ceiling calendar/**", "scope notes"} {
		if !strings.Contains(got, want) {
			t.Errorf("no audit record of the refusal %q among %s", want, got)
		}
	}
	var calls uint64
	for _, r := range recs {
		if strings.Contains(r.Detail, canary) || strings.Contains(r.Target, canary) {
			t.Fatalf("the key is in audit record %d: %+v", r.Seq, r)
		}
		if r.Op == agent.OpAgentCalls {
			fields, _, _ := agent.ParseDetail(r.Detail)
			var n uint64
			fmt.Sscan(fields["calls"], &n)
			calls += n
		}
	}
	if calls != 11 {
		t.Errorf("the audit counts %d calls, want 11", calls)
	}
	if strings.Contains(logs.String(), canary) {
		t.Fatal("the key is in the log")
	}
}

func TestAnApprovedShareIsIssuedAndAnAgentCannotApprove(t *testing.T) {
	f := newFixture(t)
	cs := f.session(f.addAgent("helper", helperReq))
	out, ok := call(t, cs, "request_share", map[string]any{"path": "calendar/**", "with": "bob", "can": "read", "for": "7d"})
	if !ok || !strings.Contains(out, "share calendar/** with bob: read, for 7 days") {
		t.Fatalf("request_share: %v %s", ok, out)
	}
	l, err := f.svc.Approvals(f.ctx)
	if err != nil || len(l) != 1 || l[0].State != "pending" {
		t.Fatalf("approvals: %v %+v", err, l)
	}
	if len(f.shares) != 0 {
		t.Fatal("a share was issued before the owner approved")
	}
	// The agent socket has no tool that decides: the only way is the
	// owner's API.
	for tool, err := range cs.Tools(f.ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(tool.Name, "approve") || strings.Contains(tool.Name, "decide") {
			t.Fatalf("the agent socket offers %s", tool.Name)
		}
	}
	d, err := f.svc.Decide(f.ctx, l[0].ID, true)
	if err != nil || d.Share == nil || d.Approval.State != "approved" {
		t.Fatalf("approve: %v %+v", err, d)
	}
	if len(f.shares) != 1 || f.shares[0] != (localapi.ShareRequest{Path: "calendar/**", With: "bob", Can: "read", ValidFor: 7 * 24 * time.Hour}) {
		t.Fatalf("shares issued: %+v", f.shares)
	}
	if _, err := f.svc.Decide(f.ctx, l[0].ID, true); !errors.Is(err, agent.ErrDecided) {
		t.Fatalf("approving twice: %v", err)
	}

	// A request left unanswered expires as denied, audited.
	call(t, cs, "request_share", map[string]any{"path": "calendar/work", "with": "carol", "can": "read", "for": "1d"})
	f.clock.Advance(agent.DefaultApprovalTTL + time.Second)
	if err := f.svc.approvals.Sweep(f.ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		for _, r := range f.audit() {
			if r.Op == agent.OpApprovalExpire {
				return true
			}
		}
		return false
	}, "the expiry is audited")
	if len(f.shares) != 1 {
		t.Fatal("an expired request was shared")
	}
}

func TestACallFloodLocksTheAgentUntilTheOwnerUnlocksIt(t *testing.T) {
	f := newFixture(t)
	f.put("calendar/work", "standup")
	cs := f.session(f.addAgent("helper", helperReq))
	events, err := f.svc.Events(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	lockedAt := 0
	for i := 1; i <= 300; i++ {
		out, ok := call(t, cs, "read_resource", map[string]any{"path": "calendar/work"})
		if !ok {
			if !strings.Contains(out, "locked") {
				t.Fatalf("call %d refused for another reason: %s", i, out)
			}
			if lockedAt == 0 {
				lockedAt = i
			}
		} else if lockedAt != 0 {
			t.Fatalf("call %d went through after the lock", i)
		}
	}
	if lockedAt != agent.DefaultNewAgentCap+1 {
		t.Fatalf("locked at call %d, want %d", lockedAt, agent.DefaultNewAgentCap+1)
	}
	ev := testkit.Within(t, 10*time.Second, events, "the lock event")
	for ev.Kind != "agent.locked" {
		ev = testkit.Within(t, 10*time.Second, events, "the lock event")
	}
	if !strings.Contains(ev.Text, "mesh agent unlock helper") {
		t.Fatalf("the alert does not say how to unlock: %q", ev.Text)
	}
	l, _ := f.svc.AgentList(f.ctx)
	if !l[0].Locked {
		t.Fatal("mesh agent list does not show the lock")
	}
	if err := f.svc.AgentUnlock(f.ctx, "helper"); err != nil {
		t.Fatal(err)
	}
	if out, ok := call(t, cs, "read_resource", map[string]any{"path": "calendar/work"}); !ok {
		t.Fatalf("after unlock: %s", out)
	}
	f.svc.Stop()
	var locks, unlocks int
	var calls, lockedCalls uint64
	for _, r := range f.audit() {
		switch r.Op {
		case agent.OpAgentLock:
			locks++
		case agent.OpAgentUnlock:
			unlocks++
		case agent.OpAgentCalls:
			fields, _, _ := agent.ParseDetail(r.Detail)
			var n, m uint64
			fmt.Sscan(fields["calls"], &n)
			fmt.Sscan(fields["locked"], &m)
			calls, lockedCalls = calls+n, lockedCalls+m
		}
	}
	if locks != 1 || unlocks != 1 || calls != 301 || lockedCalls != 99 {
		t.Fatalf("audit: %d locks, %d unlocks, %d calls of which %d refused locked; want 1, 1, 301, 99", locks, unlocks, calls, lockedCalls)
	}
}

func TestARemovedAgentIsRefusedAndItsTokensRevoked(t *testing.T) {
	f := newFixture(t)
	f.put("calendar/work", "standup")
	k := f.addAgent("helper", helperReq)
	cs := f.session(k)
	if _, ok := call(t, cs, "read_resource", map[string]any{"path": "calendar/work"}); !ok {
		t.Fatal("read refused")
	}
	out, err := f.svc.AgentRemove(f.ctx, "helper")
	if err != nil || out.Revoked != 3 || f.revoked.Load() != 3 {
		t.Fatalf("rm: %v %+v (revoked %d)", err, out, f.revoked.Load())
	}
	if o, ok := call(t, cs, "read_resource", map[string]any{"path": "calendar/work"}); ok {
		t.Fatalf("a removed agent read: %s", o)
	}
	if _, err := agentsock.Connect(f.ctx, f.svc.SocketPath(), k); err == nil {
		t.Fatal("a removed agent's key connected")
	}
}

func TestTokensAreCheckedOnEveryCall(t *testing.T) {
	f := newFixture(t)
	f.put("calendar/work", "standup")
	cs := f.session(f.addAgent("helper", helperReq))
	// Revoke the calendar token behind the node's back (as a gossiped
	// revocation would): the next call is refused by verification.
	e, _ := f.svc.entryOf("helper")
	f.revs.Revoke(e.tokenFor(0x01, "calendar/work").ID())
	out, ok := call(t, cs, "read_resource", map[string]any{"path": "calendar/work"})
	if ok || !strings.Contains(out, "revoked") {
		t.Fatalf("a revoked token was accepted: %v %s", ok, out)
	}
	// An expired token too.
	f.clock.Advance(DefaultValidity + time.Hour)
	out, ok = call(t, cs, "list_resources", map[string]any{"prefix": "memory"})
	if ok || !strings.Contains(out, "expired") {
		t.Fatalf("an expired token was accepted: %v %s", ok, out)
	}
}

func TestBrokeredSecretUseNeedsApprovalAndNeverShowsTheKey(t *testing.T) {
	f := newFixture(t)
	f.setupMemory()
	if err := f.svc.SecretAllow(f.ctx, localapi.SecretAllowRequest{Name: "embeddings", Endpoints: []string{f.emb.srv.URL + "/v1"}}); err != nil {
		t.Fatal(err)
	}
	cs := f.session(f.addAgent("helper", helperReq))
	args := map[string]any{"name": "embeddings", "method": "POST", "url": f.emb.srv.URL + "/v1/echo", "body": "{}"}
	out, ok := call(t, cs, "use_secret", args)
	if !ok || !strings.Contains(out, "approval") {
		t.Fatalf("first use: %v %s", ok, out)
	}
	if len(f.emb.keys) != 0 {
		t.Fatal("the call was made before the owner approved")
	}
	l, _ := f.svc.Approvals(f.ctx)
	if _, err := f.svc.Decide(f.ctx, l[0].ID, true); err != nil {
		t.Fatal(err)
	}
	out, ok = call(t, cs, "use_secret", args)
	if !ok || strings.Contains(out, canary) || !strings.Contains(out, "[REDACTED]") {
		t.Fatalf("approved use: %v %s", ok, out)
	}
	if len(f.emb.keys) != 1 || f.emb.keys[0] != canary {
		t.Fatalf("the provider got %v", f.emb.keys)
	}
	// The approval was spent by that call.
	if out, _ := call(t, cs, "use_secret", args); !strings.Contains(out, "approval") {
		t.Fatalf("an approval was spent twice: %s", out)
	}
	// A host off the allowlist is refused before the key is read.
	args["url"] = "https://evil.example/steal"
	if out, ok := call(t, cs, "use_secret", args); ok && !strings.Contains(out, "approval") {
		t.Fatalf("an off-list host: %s", out)
	}
}

func TestAgentsSurviveARestart(t *testing.T) {
	f := newFixture(t)
	f.addAgent("helper", helperReq)
	f.svc.Stop()
	svc, err := Start(f.ctx, Config{Store: f.store, Vault: f.vault, Self: f.owner.ID(), Now: f.clock.Now, Verifier: f.svc.cfg.Verifier})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	l, err := svc.AgentList(f.ctx)
	if err != nil || len(l) != 1 || l[0].Name != "helper" || len(l[0].Tokens) != 3 {
		t.Fatalf("after a restart: %v %+v", err, l)
	}
}

func TestAddRefusesWhatNoAgentMayHold(t *testing.T) {
	f := newFixture(t)
	id := testkit.Key(t, "agent").ID().String()
	for _, c := range []struct {
		req  localapi.AgentAddRequest
		want string
	}{
		{localapi.AgentAddRequest{Name: "a", Key: id, Can: "read,delete", Paths: []string{"calendar/**"}}, "may never hold delete"},
		{localapi.AgentAddRequest{Name: "a", Key: id, Can: "read,share", Paths: []string{"calendar/**"}}, "may never hold share"},
		{localapi.AgentAddRequest{Name: "a", Key: id, Paths: []string{"secrets/**"}}, "reaches secrets only with --use"},
		{localapi.AgentAddRequest{Name: "a", Key: id, Use: []string{"secrets/*"}}, "name one secret"},
		{localapi.AgentAddRequest{Name: "a", Key: id}, "give the agent --paths"},
		{localapi.AgentAddRequest{Name: "Bad Name", Key: id, Paths: []string{"calendar/**"}}, "starts with a letter"},
		{localapi.AgentAddRequest{Name: "a", Key: "nope", Paths: []string{"calendar/**"}}, "not a peer ID"},
	} {
		_, err := f.svc.AgentAdd(f.ctx, c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.req, err, c.want)
		}
	}
	if l, _ := f.svc.AgentList(f.ctx); len(l) != 0 {
		t.Fatalf("a refused agent was added: %+v", l)
	}
	if _, err := f.svc.AgentAdd(context.Background(), localapi.AgentAddRequest{Name: "a", Key: id, Paths: []string{"calendar/**"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AgentAdd(context.Background(), localapi.AgentAddRequest{Name: "b", Key: id, Paths: []string{"calendar/**"}}); !errors.Is(err, vault.ErrExists) {
		t.Fatalf("one key, two agents: %v", err)
	}
}

// TestAlertsReachTheWebhook: a request for approval, a lock and, once a
// week has ended, its digest are posted to the ntfy-style URL.
func TestAlertsReachTheWebhook(t *testing.T) {
	type post struct{ title, body string }
	posts := make(chan post, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posts <- post{r.Header.Get("Title"), string(b)}
	}))
	defer srv.Close()
	f := newFixture(t, func(c *Config) {
		if err := (Options{NotifyURL: srv.URL + "/topic"}).Apply(c); err != nil {
			t.Fatal(err)
		}
	})
	f.put("calendar/work", "standup")
	cs := f.session(f.addAgent("helper", helperReq))
	call(t, cs, "request_share", map[string]any{"path": "calendar/**", "with": "bob", "can": "read", "for": "7d"})
	p := testkit.Within(t, 20*time.Second, posts, "the approval alert")
	if !strings.Contains(p.title, "helper asks") || !strings.Contains(p.body, "mesh approve ") {
		t.Fatalf("approval alert: %+v", p)
	}
	for i := 0; i <= agent.DefaultNewAgentCap; i++ {
		call(t, cs, "read_resource", map[string]any{"path": "calendar/work"})
	}
	p = testkit.Within(t, 20*time.Second, posts, "the lock alert")
	if !strings.Contains(p.title, "helper was locked") || !strings.Contains(p.body, "mesh agent unlock helper") {
		t.Fatalf("lock alert: %+v", p)
	}
	// A week later, the tick sends last week's digest, once.
	f.clock.Advance(7 * 24 * time.Hour)
	f.svc.weeklyDigest(f.ctx)
	f.svc.weeklyDigest(f.ctx)
	p = testkit.Within(t, 20*time.Second, posts, "the weekly digest")
	if !strings.Contains(p.title, "Your agents, week") || !strings.Contains(p.body, "helper") {
		t.Fatalf("digest: %+v", p)
	}
	testkit.Never(t, 500*time.Millisecond, func() bool { return len(posts) > 0 }, "a second digest")
}

func TestDecidingNeedsTheUnlockedVault(t *testing.T) {
	f := newFixture(t)
	cs := f.session(f.addAgent("helper", helperReq))
	call(t, cs, "request_share", map[string]any{"path": "calendar/**", "with": "bob", "can": "read", "for": "7d"})
	l, _ := f.svc.Approvals(f.ctx)
	if err := f.vault.Lock(f.ctx, "test"); err != nil {
		t.Fatal(err)
	}
	for _, yes := range []bool{true, false} {
		if _, err := f.svc.Decide(f.ctx, l[0].ID, yes); !errors.Is(err, vault.ErrLocked) {
			t.Fatalf("deciding (%v) with the vault locked: %v", yes, err)
		}
	}
	if l, _ := f.svc.Approvals(f.ctx); l[0].State != "pending" {
		t.Fatalf("a locked vault's refusal changed the request: %+v", l[0])
	}
}

// TestRefusalsOutsideCallsAreAudited: a ceiling refused when the owner
// adds an agent, and a key that is no agent's at the socket, each leave
// a record.
func TestRefusalsOutsideCallsAreAudited(t *testing.T) {
	f := newFixture(t)
	id := testkit.Key(t, "agent").ID().String()
	if _, err := f.svc.AgentAdd(f.ctx, localapi.AgentAddRequest{Name: "eager", Key: id, Can: "read,delete", Paths: []string{"calendar/**"}}); err == nil {
		t.Fatal("delete was granted")
	}
	stranger := f.addAgent("helper", helperReq)
	if _, err := f.svc.AgentRemove(f.ctx, "helper"); err != nil {
		t.Fatal(err)
	}
	if _, err := agentsock.Connect(f.ctx, f.svc.SocketPath(), stranger); err == nil {
		t.Fatal("a removed agent's key connected")
	}
	f.svc.Stop()
	var issuance, handshake bool
	for _, r := range f.audit() {
		fields, _, _ := agent.ParseDetail(r.Detail)
		issuance = issuance || (r.Op == agent.OpAgentRefused && fields["agent"] == "eager" && fields["reason"] == "ceiling" && strings.Contains(fields["action"], "delete"))
		handshake = handshake || (r.Op == "agents.refused" && r.Target == stranger.ID().String())
	}
	if !issuance || !handshake {
		t.Fatalf("audited: the refusal at issuance %v, at the handshake %v", issuance, handshake)
	}
}

// TestASpentApprovalStaysSpentAcrossARestart: an approved secret use
// allows one call, even when the node restarts in between.
func TestASpentApprovalStaysSpentAcrossARestart(t *testing.T) {
	f := newFixture(t)
	f.setupMemory()
	f.addAgent("helper", helperReq)
	c := &calls{f.svc}
	sc := agentsock.SecretCall{Name: "embeddings", Method: "POST", URL: f.emb.srv.URL + "/v1/echo", Body: []byte("{}")}
	r, err := c.UseSecret(f.ctx, "helper", sc)
	if err != nil || r.Pending == nil {
		t.Fatalf("first use: %v %+v", err, r)
	}
	if _, err := f.svc.Decide(f.ctx, r.Pending.ID, true); err != nil {
		t.Fatal(err)
	}
	if r, err := c.UseSecret(f.ctx, "helper", sc); err != nil || r.Pending != nil || r.Status != 200 {
		t.Fatalf("the approved use: %v %+v", err, r)
	}
	f.svc.Stop()
	svc, err := Start(f.ctx, Config{Store: f.store, Vault: f.vault, Self: f.owner.ID(), Now: f.clock.Now, Verifier: f.svc.cfg.Verifier})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	r, err = (&calls{svc}).UseSecret(f.ctx, "helper", sc)
	if err != nil || r.Pending == nil {
		t.Fatalf("after a restart the spent approval allowed another call: %v %+v", err, r)
	}
}

// TestTokensAreRenewedBeforeTheyExpire: in the last quarter of their life
// an agent's tokens are renewed (and the old ones revoked), so the agent
// keeps working past the first tokens' expiry.
func TestTokensAreRenewedBeforeTheyExpire(t *testing.T) {
	f := newFixture(t)
	f.put("calendar/work", "standup")
	cs := f.session(f.addAgent("helper", helperReq))
	old, _ := f.svc.entryOf("helper")
	f.clock.Advance(DefaultValidity - DefaultValidity/RenewWithin + time.Hour)
	f.svc.renewDue(f.ctx)
	ne, _ := f.svc.entryOf("helper")
	if ne == old || f.revoked.Load() != int32(len(old.tokens)) {
		t.Fatalf("not renewed: same entry %v, %d revoked", ne == old, f.revoked.Load())
	}
	f.clock.Advance(DefaultValidity / 2) // past the old tokens' expiry
	if out, ok := call(t, cs, "read_resource", map[string]any{"path": "calendar/work"}); !ok {
		t.Fatalf("after the old tokens expired: %s", out)
	}
	f.svc.Stop()
	svc, err := Start(f.ctx, Config{Store: f.store, Vault: f.vault, Self: f.owner.ID(), Now: f.clock.Now, Verifier: f.svc.cfg.Verifier})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	if e, _ := svc.entryOf("helper"); e.tokens[0].ID() != ne.tokens[0].ID() {
		t.Fatal("the renewed tokens were not stored")
	}
}
