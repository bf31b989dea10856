package agentsock

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/ocmt/mesh/internal/testkit"
)

// call runs one tool and returns its structured result, or its error
// text when the result is an error.
func call(t testing.TB, cs *mcp.ClientSession, name string, args map[string]any) (map[string]any, string) {
	t.Helper()
	ctx := testkit.Context(t, 20*time.Second)
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		var msg []string
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				msg = append(msg, tc.Text)
			}
		}
		return nil, strings.Join(msg, " ")
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out, ""
}

func connect(t testing.TB, f *fixture, k *Key) *mcp.ClientSession {
	t.Helper()
	cs, err := Connect(testkit.Context(t, 20*time.Second), f.path, k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func TestEveryToolRunsAsTheAuthenticatedAgent(t *testing.T) {
	f := start(t, nil)
	k, _ := f.agentKey(t, "helper", true)
	cs := connect(t, f, k)

	ctx := testkit.Context(t, 20*time.Second)
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
		if !strings.Contains(tool.Description, "cannot") && !strings.Contains(tool.Description, "never") {
			t.Errorf("%s's description does not say what it cannot do: %q", tool.Name, tool.Description)
		}
	}
	slices.Sort(names)
	want := []string{ToolDeleteResource, ToolListResources, ToolMemoryAdd, ToolMemorySearch, ToolReadResource, ToolRequestShare, ToolUseSecret, ToolWriteResource}
	if !slices.Equal(names, want) {
		t.Fatalf("tools %v, want %v", names, want)
	}

	out, msg := call(t, cs, ToolReadResource, map[string]any{"path": "calendar/2026-03"})
	if msg != "" || out["text"] != "content of calendar/2026-03" || out["size"] != float64(len("content of calendar/2026-03")) {
		t.Fatalf("read_resource: %v %q", out, msg)
	}
	out, _ = call(t, cs, ToolReadResource, map[string]any{"path": "blob"})
	if out["base64"] != "/wD+" || out["text"] != nil {
		t.Fatalf("read_resource of binary content: %v", out)
	}
	out, msg = call(t, cs, ToolListResources, map[string]any{"prefix": "calendar"})
	if msg != "" || len(out["names"].([]any)) != 2 {
		t.Fatalf("list_resources: %v %q", out, msg)
	}
	out, msg = call(t, cs, ToolMemoryAdd, map[string]any{"text": "bob likes tea"})
	if msg != "" || out["path"] != "memory/0" {
		t.Fatalf("memory_add: %v %q", out, msg)
	}
	out, msg = call(t, cs, ToolMemorySearch, map[string]any{"query": "tea", "k": 3})
	if msg != "" || len(out["results"].([]any)) != 1 {
		t.Fatalf("memory_search: %v %q", out, msg)
	}
	out, msg = call(t, cs, ToolUseSecret, map[string]any{"name": "embeddings", "method": "post", "url": "https://api.example/v1/embeddings", "body": "{}"})
	if msg != "" || out["status"] != float64(200) || out["body"] != `{"ok":true}` {
		t.Fatalf("use_secret: %v %q", out, msg)
	}
	out, msg = call(t, cs, ToolUseSecret, map[string]any{"name": "ask", "method": "GET", "url": "https://api.example/"})
	if ap, _ := out["approval"].(map[string]any); msg != "" || ap["id"] != "00112233aabbccdd" || ap["expires"] != "2026-03-01T12:15:00Z" {
		t.Fatalf("use_secret awaiting approval: %v %q", out, msg)
	}
	out, msg = call(t, cs, ToolRequestShare, map[string]any{"path": "calendar/**", "with": "bob", "can": "read,list", "for": "7d"})
	if msg != "" || out["id"] != "0123456789abcdef" || out["intent"] != "share calendar/** with bob: read,list" {
		t.Fatalf("request_share: %v %q", out, msg)
	}

	want = []string{
		"helper read_resource calendar/2026-03",
		"helper read_resource blob",
		"helper list_resources calendar",
		"helper memory_add bob likes tea",
		"helper memory_search tea k=3",
		"helper use_secret POST https://api.example/v1/embeddings {}",
		"helper use_secret GET https://api.example/ ",
		"helper request_share calendar/** bob read,list 168h0m0s",
	}
	if got := f.be.Calls(); !slices.Equal(got, want) {
		t.Fatalf("the backend saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestArgumentsAreCheckedBeforeTheBackend(t *testing.T) {
	f := start(t, nil)
	k, _ := f.agentKey(t, "helper", true)
	cs := connect(t, f, k)
	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{ToolReadResource, map[string]any{"path": ""}, "path is required"},
		{ToolReadResource, map[string]any{"path": strings.Repeat("a", MaxPathLen+1)}, "over the 1024 allowed"},
		{ToolMemorySearch, map[string]any{"query": "x", "k": MaxK + 1}, "it must be 1 to 100"},
		{ToolMemoryAdd, map[string]any{"text": strings.Repeat("n", MaxMemoryText+1)}, "text is 65537 bytes"},
		{ToolUseSecret, map[string]any{"name": "s", "method": "TRACE", "url": "https://x/"}, "method must be"},
		{ToolUseSecret, map[string]any{"name": "s", "method": "GET", "url": "file:///etc/passwd"}, "absolute http or https URL"},
		{ToolRequestShare, map[string]any{"path": "calendar", "with": "bob", "can": "read,fly", "for": "7d"}, "can must list actions"},
		{ToolRequestShare, map[string]any{"path": "calendar", "with": "bob", "can": "read", "for": "forever"}, "for must be a duration"},
	} {
		if _, msg := call(t, cs, c.tool, c.args); !strings.Contains(msg, c.want) {
			t.Errorf("%s %v: %q, want it to say %q", c.tool, c.args, msg, c.want)
		}
	}
	if calls := f.be.Calls(); len(calls) != 0 {
		t.Fatalf("refused arguments reached the backend: %v", calls)
	}
}

func TestOnCallSeesEveryCallAndCanRefuseIt(t *testing.T) {
	var seen []Call
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	f := start(t, func(c *Config) {
		c.OnCall = func(_ context.Context, call Call) error {
			<-mu
			defer func() { mu <- struct{}{} }()
			seen = append(seen, call)
			if len(seen) > 2 {
				return Refuse("agent %q is locked: too many calls", call.Agent.Name)
			}
			return nil
		}
	})
	k, _ := f.agentKey(t, "helper", true)
	cs := connect(t, f, k)
	for i := range 3 {
		_, msg := call(t, cs, ToolListResources, map[string]any{"prefix": "notes"})
		if (i < 2) != (msg == "") {
			t.Fatalf("call %d: %q", i, msg)
		}
		if i == 2 && msg != `agent "helper" is locked: too many calls` {
			t.Fatalf("the hook's refusal reads %q", msg)
		}
	}
	<-mu
	if len(seen) != 3 || seen[0].Agent.Name != "helper" || seen[0].Agent.Key != k.ID() || seen[2].Tool != ToolListResources {
		t.Fatalf("OnCall saw %+v", seen)
	}
	if n := len(f.be.Calls()); n != 2 {
		t.Fatalf("the refused call reached the backend: %d calls", n)
	}
}

func TestRefusalsAreWordsAndInternalErrorsStayInside(t *testing.T) {
	f := start(t, nil)
	k, _ := f.agentKey(t, "helper", true)
	cs := connect(t, f, k)
	_, msg := call(t, cs, ToolReadResource, map[string]any{"path": "secrets/openai"})
	if !strings.Contains(msg, `agent "helper" may not read secrets/openai`) {
		t.Fatalf("a refusal of package agent reads %q", msg)
	}
	_, msg = call(t, cs, ToolUseSecret, map[string]any{"name": "broken", "method": "GET", "url": "https://api.example/"})
	if strings.Contains(msg, canary) || !strings.Contains(msg, "could not complete use_secret") {
		t.Fatalf("an internal error reads %q", msg)
	}
}
