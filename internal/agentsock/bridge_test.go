package agentsock

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/ocmt/mesh/internal/testkit"
)

// TestTheStdioBridgeEndToEnd: an agent framework speaking MCP over
// stdio (here a go-sdk client on pipes) reaches every tool through the
// bridge, as the agent of the key file.
func TestTheStdioBridgeEndToEnd(t *testing.T) {
	f := start(t, nil)
	_, keyFile := f.agentKey(t, "helper", true)
	inR, inW := io.Pipe()   // the framework writes, the bridge reads
	outR, outW := io.Pipe() // the bridge writes, the framework reads
	ctx, cancel := context.WithCancel(testkit.Context(t, 30*time.Second))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := Bridge(ctx, f.path, keyFile, inR, outW)
		outW.Close()
		done <- err
	}()

	client := mcp.NewClient(&mcp.Implementation{Name: "framework", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	if len(names) != 8 {
		t.Fatalf("the bridge lists %v", names)
	}
	out, msg := call(t, cs, ToolReadResource, map[string]any{"path": "calendar/2026-03"})
	if msg != "" || out["text"] != "content of calendar/2026-03" {
		t.Fatalf("read_resource through the bridge: %v %q", out, msg)
	}
	out, msg = call(t, cs, ToolRequestShare, map[string]any{"path": "calendar/**", "with": "bob", "can": "read", "for": "1d"})
	if msg != "" || out["id"] != "0123456789abcdef" {
		t.Fatalf("request_share through the bridge: %v %q", out, msg)
	}
	_, msg = call(t, cs, ToolReadResource, map[string]any{"path": "secrets/openai"})
	if !strings.Contains(msg, "may not read secrets/openai") {
		t.Fatalf("a refusal through the bridge reads %q", msg)
	}
	_, msg = call(t, cs, ToolMemorySearch, map[string]any{"query": "x", "k": 1000})
	if !strings.Contains(msg, "it must be 1 to 100") {
		t.Fatalf("an argument refusal through the bridge reads %q", msg)
	}
	want := []string{"helper read_resource calendar/2026-03", "helper request_share calendar/** bob read 24h0m0s", "helper read_resource secrets/openai"}
	if got := f.be.Calls(); !slices.Equal(got, want) {
		t.Fatalf("the backend saw %q, want %q", got, want)
	}

	cs.Close()
	inW.Close()
	if err := testkit.Within(t, 20*time.Second, done, "the bridge returns when its input ends"); err != nil {
		t.Fatalf("the bridge returned %v at the end of its input", err)
	}
}

func TestTheBridgeRefusesAWrongKeyBeforeServing(t *testing.T) {
	f := start(t, nil)
	_, keyFile := f.agentKey(t, "gone", false)
	inR, inW := io.Pipe()
	defer inW.Close()
	err := Bridge(testkit.Context(t, 20*time.Second), f.path, keyFile, inR, io.Discard)
	testkit.Sentence(t, "the bridge with an unknown key", err, "this key belongs to no agent of this node", ErrRefused)
	err = Bridge(testkit.Context(t, 20*time.Second), f.path, keyFile+".missing", inR, io.Discard)
	testkit.Sentence(t, "the bridge without its key file", err, "no agent key file at")
}

func TestTwoAgentsOnOneSocketAreKeptApart(t *testing.T) {
	f := start(t, nil)
	ka, _ := f.agentKey(t, "alpha", true)
	kb, _ := f.agentKey(t, "beta", true)
	a, b := connect(t, f, ka), connect(t, f, kb)
	testkit.Each(t, 4, 40, func(i int) error {
		cs, path := a, "alpha/"
		if i%2 == 1 {
			cs, path = b, "beta/"
		}
		ctx := testkit.Context(t, 20*time.Second)
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolReadResource, Arguments: map[string]any{"path": path + "x"}})
		return err
	})
	calls := f.be.Calls()
	if len(calls) != 40 {
		t.Fatalf("%d calls", len(calls))
	}
	for _, c := range calls {
		who, rest, _ := strings.Cut(c, " ")
		if !strings.HasPrefix(rest, "read_resource "+who+"/") {
			t.Fatalf("a call ran as the wrong agent: %q", c)
		}
	}
}

// TestTheBridgeAnswersAScriptThatClosesItsInput: requests written at once
// and followed by the end of input (a pipe from a script) are all
// answered before the bridge returns.
func TestTheBridgeAnswersAScriptThatClosesItsInput(t *testing.T) {
	f := start(t, nil)
	_, keyFile := f.agentKey(t, "helper", true)
	in := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"sh","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_resource","arguments":{"path":"calendar/2026-03"}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_resource","arguments":{"path":"secrets/openai"}}}`,
	}, "\n") + "\n"
	var out strings.Builder
	if err := Bridge(testkit.Context(t, 30*time.Second), f.path, keyFile, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{`"id":1,"result"`, `"id":2,"result"`, "content of calendar/2026-03", `"id":3,"result"`, `"isError":true`} {
		if !strings.Contains(got, want) {
			t.Errorf("the answers lack %s:\n%s", want, got)
		}
	}
}
