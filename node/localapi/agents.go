package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Agents is the part of Backend that manages the node's AI agents
// (internal/agenthost): only the owner's socket reaches it, never the
// agent socket, and only a running node serves it.
type Agents interface {
	// AgentAdd records an agent whose key the CLI created (mesh agent
	// add) and issues it its tokens under the agent ceiling.
	AgentAdd(ctx context.Context, req AgentAddRequest) (AgentInfo, error)
	AgentList(ctx context.Context) ([]AgentInfo, error)
	// AgentRemove forgets an agent and revokes its tokens at once.
	AgentRemove(ctx context.Context, name string) (AgentRemoved, error)
	// AgentUnlock lifts an agent's lock (after an auto-lock).
	AgentUnlock(ctx context.Context, name string) error
	// Approvals lists agents' requests, pending first.
	Approvals(ctx context.Context) ([]ApprovalInfo, error)
	// Decide approves or denies a pending request; an approved share is
	// issued before Decide returns.
	Decide(ctx context.Context, id string, approve bool) (Decision, error)
	// SecretAllow sets the endpoints a secret may be sent to by the
	// broker (and, with an embeddings model, makes it memory_search's key).
	SecretAllow(ctx context.Context, req SecretAllowRequest) error
	// Digest renders the agents' weekly digest from the audit log.
	Digest(ctx context.Context, req DigestRequest) (string, error)
	// Events streams agent events (approvals asked and decided, locks)
	// until ctx ends or the node stops; the channel is then closed.
	Events(ctx context.Context) (<-chan Event, error)
}

// AgentAddRequest adds an agent (mesh agent add).
type AgentAddRequest struct {
	Name string `json:"name"`
	Key  string `json:"key"` // the agent key's peer ID
	// Can is the ceiling ("read,list" when empty); Paths the patterns it
	// reaches; Use the secrets it may use through the node.
	Can   string   `json:"can,omitempty"`
	Paths []string `json:"paths"`
	Use   []string `json:"use,omitempty"`
	// TrustSecretUse lets the agent use its secrets without asking.
	TrustSecretUse bool          `json:"trust_secret_use,omitempty"`
	ValidFor       time.Duration `json:"valid_for,omitempty"`
}

// AgentInfo is one agent as mesh agent list shows it.
type AgentInfo struct {
	Name      string    `json:"name"`
	Key       string    `json:"key"`
	Ceiling   string    `json:"ceiling"`
	Paths     []string  `json:"paths"`
	Trusted   string    `json:"trusted,omitempty"`
	Tokens    []string  `json:"tokens"`
	Expiry    time.Time `json:"expiry"`
	Added     time.Time `json:"added"`
	Locked    bool      `json:"locked,omitempty"`
	Lock      string    `json:"lock,omitempty"` // why, in words
	LockedAt  time.Time `json:"locked_at,omitzero"`
	CallsDay  int       `json:"calls_last_day"`
	CallsHour int       `json:"calls_last_hour"`
	// Socket is the agent socket the agent connects to.
	Socket string `json:"socket"`
}

// State is "active" or "locked: REASON".
func (a AgentInfo) State() string {
	if a.Locked {
		return "locked: " + a.Lock
	}
	return "active"
}

// AgentRemoved says what mesh agent rm did.
type AgentRemoved struct {
	Revoked int `json:"revoked"` // tokens revoked
}

// ApprovalInfo is an agent's request as the owner sees it: intent in
// words, never a secret.
type ApprovalInfo struct {
	ID      string    `json:"id"`
	Agent   string    `json:"agent"`
	Intent  string    `json:"intent"`
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Decided time.Time `json:"decided,omitzero"`
}

// Decision is what mesh approve or deny did.
type Decision struct {
	Approval ApprovalInfo `json:"approval"`
	// Share is the share issued on the approval of a share request.
	Share *ShareResult `json:"share,omitempty"`
}

// SecretAllowRequest is mesh secret allow NAME URL...
type SecretAllowRequest struct {
	Name      string   `json:"name"`
	Endpoints []string `json:"endpoints"` // none: the secret is sent nowhere
	// EmbeddingsModel, when set, makes this secret and its first
	// endpoint the memory notes' embeddings provider.
	EmbeddingsModel string `json:"embeddings_model,omitempty"`
	Dimensions      int    `json:"dimensions,omitempty"`
}

// DigestRequest asks for one week's digest.
type DigestRequest struct {
	Week   string `json:"week,omitempty"`   // "2026-W48"; empty: the current week
	Format string `json:"format,omitempty"` // text (default), markdown or html
}

// Event is one agent event of the live stream.
type Event struct {
	Kind     string        `json:"kind"` // approval.asked, approval.approved, approval.denied, approval.expired, agent.locked, agent.unlocked
	Time     time.Time     `json:"time"`
	Agent    string        `json:"agent"`
	Text     string        `json:"text"` // in words
	Approval *ApprovalInfo `json:"approval,omitempty"`
}

// ErrNeedsNode means the command talks to other peers or to the node's
// agents, and needs a running node.
var ErrNeedsNode = errors.New("this needs a running node: start it with `mesh node`")

// AgentsNeedNode is Agents without a node: every method refuses.
type AgentsNeedNode struct{}

// AgentAdd implements Agents: refused without a node.
func (AgentsNeedNode) AgentAdd(context.Context, AgentAddRequest) (AgentInfo, error) {
	return AgentInfo{}, ErrNeedsNode
}

// AgentList implements Agents: refused without a node.
func (AgentsNeedNode) AgentList(context.Context) ([]AgentInfo, error) { return nil, ErrNeedsNode }

// AgentRemove implements Agents: refused without a node.
func (AgentsNeedNode) AgentRemove(context.Context, string) (AgentRemoved, error) {
	return AgentRemoved{}, ErrNeedsNode
}

// AgentUnlock implements Agents: refused without a node.
func (AgentsNeedNode) AgentUnlock(context.Context, string) error { return ErrNeedsNode }

// Approvals implements Agents: refused without a node.
func (AgentsNeedNode) Approvals(context.Context) ([]ApprovalInfo, error) { return nil, ErrNeedsNode }

// Decide implements Agents: refused without a node.
func (AgentsNeedNode) Decide(context.Context, string, bool) (Decision, error) {
	return Decision{}, ErrNeedsNode
}

// SecretAllow implements Agents: refused without a node.
func (AgentsNeedNode) SecretAllow(context.Context, SecretAllowRequest) error { return ErrNeedsNode }

// Digest implements Agents: refused without a node.
func (AgentsNeedNode) Digest(context.Context, DigestRequest) (string, error) {
	return "", ErrNeedsNode
}

// Events implements Agents: refused without a node.
func (AgentsNeedNode) Events(context.Context) (<-chan Event, error) { return nil, ErrNeedsNode }

// agentRoutes adds the Agents routes to mux.
func (s *Server) agentRoutes(mux *http.ServeMux) {
	b := s.backend
	mux.HandleFunc("POST /v1/agents", func(w http.ResponseWriter, r *http.Request) {
		var req AgentAddRequest
		if readJSON(w, r, maxSmallBody, &req) {
			info, err := b.AgentAdd(r.Context(), req)
			s.reply(w, info, err)
		}
	})
	mux.HandleFunc("GET /v1/agents", func(w http.ResponseWriter, r *http.Request) {
		l, err := b.AgentList(r.Context())
		s.reply(w, l, err)
	})
	mux.HandleFunc("DELETE /v1/agents", func(w http.ResponseWriter, r *http.Request) {
		out, err := b.AgentRemove(r.Context(), r.URL.Query().Get("name"))
		s.reply(w, out, err)
	})
	mux.HandleFunc("POST /v1/agents/unlock", func(w http.ResponseWriter, r *http.Request) {
		s.reply(w, struct{}{}, b.AgentUnlock(r.Context(), r.URL.Query().Get("name")))
	})
	mux.HandleFunc("GET /v1/approvals", func(w http.ResponseWriter, r *http.Request) {
		l, err := b.Approvals(r.Context())
		s.reply(w, l, err)
	})
	mux.HandleFunc("POST /v1/approvals/decide", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		d, err := b.Decide(r.Context(), q.Get("id"), q.Get("approve") == "true")
		s.reply(w, d, err)
	})
	mux.HandleFunc("POST /v1/secret/allow", func(w http.ResponseWriter, r *http.Request) {
		var req SecretAllowRequest
		if readJSON(w, r, maxSmallBody, &req) {
			s.reply(w, struct{}{}, b.SecretAllow(r.Context(), req))
		}
	})
	mux.HandleFunc("POST /v1/digest", func(w http.ResponseWriter, r *http.Request) {
		var req DigestRequest
		if readJSON(w, r, maxSmallBody, &req) {
			text, err := b.Digest(r.Context(), req)
			s.reply(w, textBody{Text: text}, err)
		}
	})
	mux.HandleFunc("GET /v1/events", s.events)
}

type textBody struct {
	Text string `json:"text"`
}

// events streams Events as JSON lines, one per event, flushed as it comes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ch, err := s.backend.Events(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	enc := json.NewEncoder(w)
	for ev := range ch {
		if enc.Encode(ev) != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

// AgentAdd implements Backend.
func (c *Client) AgentAdd(ctx context.Context, req AgentAddRequest) (a AgentInfo, err error) {
	err = c.do(ctx, http.MethodPost, "/v1/agents", nil, req, &a)
	return
}

// AgentList implements Backend.
func (c *Client) AgentList(ctx context.Context) (l []AgentInfo, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/agents", nil, nil, &l)
	return
}

// AgentRemove implements Backend.
func (c *Client) AgentRemove(ctx context.Context, name string) (out AgentRemoved, err error) {
	err = c.do(ctx, http.MethodDelete, "/v1/agents", nameQ(name), nil, &out)
	return
}

// AgentUnlock implements Backend.
func (c *Client) AgentUnlock(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/agents/unlock", nameQ(name), nil, nil)
}

// Approvals implements Backend.
func (c *Client) Approvals(ctx context.Context) (l []ApprovalInfo, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/approvals", nil, nil, &l)
	return
}

// Decide implements Backend.
func (c *Client) Decide(ctx context.Context, id string, approve bool) (d Decision, err error) {
	q := url.Values{"id": {id}, "approve": {"false"}}
	if approve {
		q.Set("approve", "true")
	}
	err = c.do(ctx, http.MethodPost, "/v1/approvals/decide", q, nil, &d)
	return
}

// SecretAllow implements Backend.
func (c *Client) SecretAllow(ctx context.Context, req SecretAllowRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/secret/allow", nil, req, nil)
}

// Digest implements Backend.
func (c *Client) Digest(ctx context.Context, req DigestRequest) (string, error) {
	var out textBody
	err := c.do(ctx, http.MethodPost, "/v1/digest", nil, req, &out)
	return out.Text, err
}

// maxEventLine bounds one event line read from the node.
const maxEventLine = 64 << 10

// Events implements Backend: the stream has no client timeout; it ends
// with ctx or the node.
func (c *Client) Events(ctx context.Context) (<-chan Event, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://mesh/v1/events", nil)
	if err != nil {
		return nil, err
	}
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e errorBody
		if json.NewDecoder(resp.Body).Decode(&e) != nil {
			return nil, errors.New("the node refused the event stream without saying why")
		}
		return nil, &remoteError{msg: e.Error, sentinel: sentinelOf(e)}
	}
	ch := make(chan Event)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 4096), maxEventLine)
		for sc.Scan() {
			var ev Event
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
