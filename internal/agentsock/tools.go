package agentsock

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/ocmt/mesh/agent"
	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/duration"
)

// Backend is what the node implements: every method runs as the named,
// authenticated agent, and checks that agent's policy, tokens and lock
// itself. An error that is a *Refusal, or wraps one of package agent's
// sentinels, is shown to the agent as it is; any other error is logged
// and the agent reads only that the node failed.
type Backend interface {
	// Agent names the agent whose key is key; an error refuses the
	// connection (an unknown or removed key).
	Agent(ctx context.Context, key peer.ID) (string, error)
	// ReadResource returns a resource's content.
	ReadResource(ctx context.Context, agent, path string) ([]byte, error)
	// WriteResource writes a resource, where the agent's ceiling holds
	// write; DeleteResource is always refused (no agent holds delete),
	// and the refusal recorded.
	WriteResource(ctx context.Context, agent, path string, data []byte) error
	DeleteResource(ctx context.Context, agent, path string) error
	// ListResources returns the names under prefix the agent may see.
	ListResources(ctx context.Context, agent, prefix string) ([]string, error)
	// MemorySearch returns the k notes nearest to query.
	MemorySearch(ctx context.Context, agent, query string, k int) ([]Memory, error)
	// MemoryAdd stores a note and returns its path.
	MemoryAdd(ctx context.Context, agent, text string) (string, error)
	// UseSecret makes a brokered HTTP call with a secret the agent holds
	// use on, or files an approval when the owner must agree first.
	UseSecret(ctx context.Context, agent string, c SecretCall) (SecretReply, error)
	// RequestShare files an approval for a share; only the owner decides.
	RequestShare(ctx context.Context, agent string, r ShareRequest) (Pending, error)
}

// Memory is one memory_search result.
type Memory struct {
	Path  string  `json:"path"`
	Text  string  `json:"text"`
	Score float64 `json:"score"`
}

// SecretCall is a use_secret call: the secret's name and the request the
// node makes with it.
type SecretCall struct {
	Name   string
	Method string
	URL    string
	Body   []byte
}

// SecretReply is the outcome of a use_secret call: the response, or the
// pending approval the owner must decide first.
type SecretReply struct {
	Status  int
	Body    []byte
	Pending *Pending
}

// ShareRequest is a request_share call.
type ShareRequest struct {
	Path string             // the pattern to share
	With string             // the handle to share it with
	Can  capability.Actions // the actions to give
	For  time.Duration      // the share's validity
}

// Pending is an approval waiting for the owner.
type Pending struct {
	ID      string
	Intent  string
	Expires time.Time
}

// Refusal is a refusal in words for the agent: Backend methods and OnCall
// return it (or errors of package agent) to say why a call was refused.
type Refusal struct{ Msg string }

func (r *Refusal) Error() string { return r.Msg }

// Unwrap lets errors.Is see ErrRefused.
func (r *Refusal) Unwrap() error { return ErrRefused }

// Refuse builds a *Refusal.
func Refuse(format string, args ...any) error { return &Refusal{Msg: fmt.Sprintf(format, args...)} }

// agentSentinels are package agent's sentinels whose errors are worded
// for the user and hold no secret.
var agentSentinels = []error{agent.ErrRefused, agent.ErrCeiling, agent.ErrScope, agent.ErrWrongKey,
	agent.ErrLocked, agent.ErrBadPolicy, agent.ErrBadRequest, agent.ErrTooMany, agent.ErrNotFound,
	agent.ErrDecided, agent.ErrExpired}

// shown returns the words of an error the agent may read.
func shown(err error) (string, bool) {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Msg, true
	}
	for _, s := range agentSentinels {
		if errors.Is(err, s) {
			return err.Error(), true
		}
	}
	return "", false
}

// words turns a failure of tool for id into what the agent reads.
func (s *Server) words(ctx context.Context, tool string, id Identity, err error) error {
	if msg, ok := shown(err); ok {
		return errors.New(msg)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s was cancelled before the node answered", tool)
	}
	s.log.Warn("agent socket: a tool call failed", "agent", id.Name, "tool", tool, "err", err)
	return fmt.Errorf("the node could not complete %s (an internal error; the owner's log has the details)", tool)
}

// handler is the HTTP side: MCP's streamable handler, stateless, behind
// the connection's identity.
func (s *Server) handler() http.Handler {
	ms := mcp.NewServer(&mcp.Implementation{Name: "ocmt-mesh-agent", Version: "1"}, &mcp.ServerOptions{
		Instructions: "Tools of the user's OCMT Mesh home node. Every call runs as this agent, within the ceiling and paths its owner gave it; refusals say why.",
		Logger:       s.log,
	})
	s.addTools(ms)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return ms }, &mcp.StreamableHTTPOptions{
		Stateless: true, JSONResponse: true, MaxRequestBodyBytes: MaxRequestBody, Logger: s.log,
	})
	// The SDK carries the caller into each tool call as a TokenInfo, set
	// only by its bearer middleware: the "token" here is a placeholder,
	// the identity is the connection's, proved by the handshake.
	bearer := auth.RequireBearerToken(func(ctx context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		id, ok := r.Context().Value(identityKey{}).(Identity)
		if !ok {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{UserID: id.Name + "/" + id.Key.String(), Extra: map[string]any{identityExtra: id}}, nil
	}, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)
	mux := http.NewServeMux()
	mux.Handle(endpointPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer connection")
		bearer.ServeHTTP(w, r)
	}))
	return mux
}

const (
	endpointPath  = "/mcp"
	identityExtra = "ocmt-agent"
)

// identityOf is the agent a tool call runs as.
func identityOf(req *mcp.CallToolRequest) (Identity, bool) {
	if req == nil || req.Extra == nil || req.Extra.TokenInfo == nil {
		return Identity{}, false
	}
	id, ok := req.Extra.TokenInfo.Extra[identityExtra].(Identity)
	return id, ok && id.Name != ""
}

// tool wraps f: the caller's identity, OnCall, then f, every failure in
// words.
func tool[In, Out any](s *Server, name string, f func(ctx context.Context, id Identity, in In) (Out, error)) mcp.ToolHandlerFor[In, Out] {
	return func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		var zero Out
		id, ok := identityOf(req)
		if !ok {
			return nil, zero, errors.New("this call is not authenticated: connect through the agent socket with the agent's key")
		}
		if s.cfg.OnCall != nil {
			if err := s.cfg.OnCall(ctx, Call{Agent: id, Tool: name}); err != nil {
				return nil, zero, s.words(ctx, name, id, err)
			}
		}
		out, err := f(ctx, id, in)
		if err != nil {
			return nil, zero, s.words(ctx, name, id, err)
		}
		return nil, out, nil
	}
}

// The tools' arguments and results.
type (
	readIn struct {
		Path string `json:"path" jsonschema:"the resource's path, like calendar/2026-03"`
	}
	readOut struct {
		Path   string `json:"path"`
		Size   int    `json:"size"`
		Text   string `json:"text,omitempty" jsonschema:"the content, when it is UTF-8 text"`
		Base64 string `json:"base64,omitempty" jsonschema:"the content in standard base64, when it is not text"`
	}
	writeIn struct {
		Path string `json:"path" jsonschema:"the resource's path, like notes/today"`
		Text string `json:"text" jsonschema:"the new content, as text"`
	}
	pathOut struct {
		Path string `json:"path"`
	}
	listIn struct {
		Prefix string `json:"prefix" jsonschema:"the folder to list, like calendar"`
	}
	listOut struct {
		Prefix string   `json:"prefix"`
		Names  []string `json:"names"`
	}
	searchIn struct {
		Query string `json:"query" jsonschema:"what to look for, in plain words"`
		K     int    `json:"k,omitempty" jsonschema:"how many notes to return (default 10, at most 100)"`
	}
	searchOut struct {
		Results []Memory `json:"results"`
	}
	addIn struct {
		Text string `json:"text" jsonschema:"the note to remember"`
	}
	addOut struct {
		Path string `json:"path"`
	}
	secretIn struct {
		Name   string `json:"name" jsonschema:"the secret's name, like embeddings (secrets/embeddings)"`
		Method string `json:"method" jsonschema:"the HTTP method: GET, POST, PUT, PATCH, DELETE or HEAD"`
		URL    string `json:"url" jsonschema:"the http or https URL to call, on a host the secret allows"`
		Body   string `json:"body,omitempty" jsonschema:"the request body, if any"`
	}
	approvalOut struct {
		ID      string `json:"id" jsonschema:"the approval's ID: the owner runs mesh approve ID"`
		Intent  string `json:"intent"`
		Expires string `json:"expires" jsonschema:"when the approval expires unanswered (counts as denied)"`
	}
	secretOut struct {
		Status   int          `json:"status,omitempty"`
		Body     string       `json:"body,omitempty"`
		Base64   string       `json:"base64,omitempty"`
		Approval *approvalOut `json:"approval,omitempty" jsonschema:"set when the owner must approve the call first; call again once approved"`
	}
	shareIn struct {
		Path string `json:"path" jsonschema:"what to share: a path or pattern, like calendar/**"`
		With string `json:"with" jsonschema:"the handle of the person to share with, like bob"`
		Can  string `json:"can" jsonschema:"the actions to give, comma separated, like read,list"`
		For  string `json:"for" jsonschema:"how long the share lasts, like 7d or 24h"`
	}
)

var methods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "HEAD": true}

func checkLen(what, v string, max int, required bool) error {
	if required && v == "" {
		return Refuse("%s is required", what)
	}
	if len(v) > max {
		return Refuse("%s is %d bytes, over the %d allowed", what, len(v), max)
	}
	return nil
}

// content is data as text when it is UTF-8, otherwise base64.
func content(b []byte) (text, b64 string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

func ptrTrue() *bool { t := true; return &t }

func approval(p *Pending) *approvalOut {
	if p == nil {
		return nil
	}
	return &approvalOut{ID: p.ID, Intent: p.Intent, Expires: p.Expires.UTC().Format(time.RFC3339)}
}

// Tool names.
const (
	ToolReadResource   = "read_resource"
	ToolWriteResource  = "write_resource"
	ToolDeleteResource = "delete_resource"
	ToolListResources  = "list_resources"
	ToolMemorySearch   = "memory_search"
	ToolMemoryAdd      = "memory_add"
	ToolUseSecret      = "use_secret"
	ToolRequestShare   = "request_share"
)

func (s *Server) addTools(ms *mcp.Server) {
	b := s.cfg.Backend
	ro := &mcp.ToolAnnotations{ReadOnlyHint: true}
	mcp.AddTool(ms, &mcp.Tool{Name: ToolReadResource, Annotations: ro,
		Description: "Read one of the user's resources that this agent may read. It cannot read secrets (secrets/...), paths outside the agent's paths, or write, delete or share anything."},
		tool(s, ToolReadResource, func(ctx context.Context, id Identity, in readIn) (readOut, error) {
			if err := checkLen("path", in.Path, MaxPathLen, true); err != nil {
				return readOut{}, err
			}
			data, err := b.ReadResource(ctx, id.Name, in.Path)
			if err != nil {
				return readOut{}, err
			}
			if len(data) > MaxReplyData {
				return readOut{}, Refuse("%s is %d bytes, over the %d an agent call returns", in.Path, len(data), MaxReplyData)
			}
			out := readOut{Path: in.Path, Size: len(data)}
			out.Text, out.Base64 = content(data)
			return out, nil
		}))
	mcp.AddTool(ms, &mcp.Tool{Name: ToolWriteResource,
		Description: "Write one of the user's resources, replacing its content, where this agent's ceiling holds write (most agents' does not). It cannot write secrets or paths outside the agent's paths, and cannot delete or share."},
		tool(s, ToolWriteResource, func(ctx context.Context, id Identity, in writeIn) (pathOut, error) {
			if err := checkLen("path", in.Path, MaxPathLen, true); err != nil {
				return pathOut{}, err
			}
			if err := checkLen("text", in.Text, MaxReplyData, false); err != nil {
				return pathOut{}, err
			}
			return pathOut{Path: in.Path}, b.WriteResource(ctx, id.Name, in.Path, []byte(in.Text))
		}))
	mcp.AddTool(ms, &mcp.Tool{Name: ToolDeleteResource, Annotations: &mcp.ToolAnnotations{DestructiveHint: ptrTrue()},
		Description: "Delete one of the user's resources. An agent can never delete: every call is refused by the agent ceiling and recorded in the owner's audit log. Ask the user to delete it."},
		tool(s, ToolDeleteResource, func(ctx context.Context, id Identity, in readIn) (pathOut, error) {
			if err := checkLen("path", in.Path, MaxPathLen, true); err != nil {
				return pathOut{}, err
			}
			return pathOut(in), b.DeleteResource(ctx, id.Name, in.Path)
		}))
	mcp.AddTool(ms, &mcp.Tool{Name: ToolListResources, Annotations: ro,
		Description: "List the names under a folder of the user's resources, showing only what this agent may reach. It never lists secrets and cannot read, change or share what it lists."},
		tool(s, ToolListResources, func(ctx context.Context, id Identity, in listIn) (listOut, error) {
			if err := checkLen("prefix", in.Prefix, MaxPathLen, true); err != nil {
				return listOut{}, err
			}
			names, err := b.ListResources(ctx, id.Name, in.Prefix)
			if err != nil {
				return listOut{}, err
			}
			if len(names) > MaxListNames {
				return listOut{}, Refuse("%s holds %d names, over the %d an agent call returns; list a narrower folder", in.Prefix, len(names), MaxListNames)
			}
			if names == nil {
				names = []string{}
			}
			return listOut{Prefix: in.Prefix, Names: names}, nil
		}))
	mcp.AddTool(ms, &mcp.Tool{Name: ToolMemorySearch, Annotations: ro,
		Description: "Search the user's memory notes by meaning and return the nearest ones. The node embeds the query with its own key: this tool never shows that key, and cannot search anything but the memory notes."},
		tool(s, ToolMemorySearch, func(ctx context.Context, id Identity, in searchIn) (searchOut, error) {
			if err := checkLen("query", in.Query, MaxQueryLen, true); err != nil {
				return searchOut{}, err
			}
			k := in.K
			if k == 0 {
				k = DefaultK
			}
			if k < 1 || k > MaxK {
				return searchOut{}, Refuse("k is %d; it must be 1 to %d", in.K, MaxK)
			}
			res, err := b.MemorySearch(ctx, id.Name, in.Query, k)
			if err != nil {
				return searchOut{}, err
			}
			if len(res) > k {
				res = res[:k]
			}
			if res == nil {
				res = []Memory{}
			}
			return searchOut{Results: res}, nil
		}))
	mcp.AddTool(ms, &mcp.Tool{Name: ToolMemoryAdd,
		Description: "Add a note to the user's memory. It cannot change or delete existing notes, or write anywhere but the memory notes."},
		tool(s, ToolMemoryAdd, func(ctx context.Context, id Identity, in addIn) (addOut, error) {
			if err := checkLen("text", in.Text, MaxMemoryText, true); err != nil {
				return addOut{}, err
			}
			p, err := b.MemoryAdd(ctx, id.Name, in.Text)
			if err != nil {
				return addOut{}, err
			}
			return addOut{Path: p}, nil
		}))
	mcp.AddTool(ms, &mcp.Tool{Name: ToolUseSecret,
		Description: "Have the node make an HTTP call that needs one of the user's secrets (an API key): the node adds the secret and returns the response. The agent never receives the secret, the node redacts it from the response, and only hosts the secret allows are called; the owner may have to approve first."},
		tool(s, ToolUseSecret, func(ctx context.Context, id Identity, in secretIn) (secretOut, error) {
			if err := checkLen("name", in.Name, MaxSecretName, true); err != nil {
				return secretOut{}, err
			}
			m := strings.ToUpper(in.Method)
			if !methods[m] {
				return secretOut{}, Refuse("method must be GET, POST, PUT, PATCH, DELETE or HEAD")
			}
			if err := checkLen("url", in.URL, MaxURLLen, true); err != nil {
				return secretOut{}, err
			}
			if u, err := url.Parse(in.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return secretOut{}, Refuse("url must be an absolute http or https URL")
			}
			if err := checkLen("body", in.Body, MaxSecretBody, false); err != nil {
				return secretOut{}, err
			}
			r, err := b.UseSecret(ctx, id.Name, SecretCall{Name: in.Name, Method: m, URL: in.URL, Body: []byte(in.Body)})
			if err != nil {
				return secretOut{}, err
			}
			if r.Pending != nil {
				return secretOut{Approval: approval(r.Pending)}, nil
			}
			if len(r.Body) > MaxReplyData {
				return secretOut{}, Refuse("the response is %d bytes, over the %d an agent call returns", len(r.Body), MaxReplyData)
			}
			out := secretOut{Status: r.Status}
			out.Body, out.Base64 = content(r.Body)
			return out, nil
		}))
	mcp.AddTool(ms, &mcp.Tool{Name: ToolRequestShare,
		Description: "Ask the owner to share one of the user's resources with someone. It shares nothing by itself: the owner approves or denies (mesh approve ID), the request expires unanswered, and an agent can never approve its own request or ask for more than it can reach."},
		tool(s, ToolRequestShare, func(ctx context.Context, id Identity, in shareIn) (approvalOut, error) {
			if err := checkLen("path", in.Path, MaxPathLen, true); err != nil {
				return approvalOut{}, err
			}
			if err := checkLen("with", in.With, MaxHandleLen, true); err != nil {
				return approvalOut{}, err
			}
			if err := checkLen("can", in.Can, MaxPathLen, true); err != nil {
				return approvalOut{}, err
			}
			can, err := capability.ParseActions(in.Can)
			if err != nil {
				return approvalOut{}, Refuse("can must list actions separated by commas, like read,list")
			}
			if err := checkLen("for", in.For, 32, true); err != nil {
				return approvalOut{}, err
			}
			d, err := duration.Parse(in.For)
			if err != nil || d <= 0 {
				return approvalOut{}, Refuse("for must be a duration like 90m, 36h, 7d or 2w")
			}
			p, err := b.RequestShare(ctx, id.Name, ShareRequest{Path: in.Path, With: in.With, Can: can, For: d})
			if err != nil {
				return approvalOut{}, err
			}
			return *approval(&p), nil
		}))
}
