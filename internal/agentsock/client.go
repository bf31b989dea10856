package agentsock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Conn is an authenticated connection to the agent socket.
type Conn struct {
	net.Conn
	Agent string // the agent's name, as the node knows it
}

// Dial connects to the agent socket at path and authenticates with k.
// A refusal is a *HandshakeError in words.
func Dial(ctx context.Context, path string, k *Key) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the agent socket at %s (is the node running?)", path)
	}
	deadline := time.Now().Add(HandshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	name, err := clientHandshake(c, k)
	if !stop() || err != nil {
		c.Close()
		if err == nil || ctx.Err() != nil {
			return nil, fmt.Errorf("the handshake with the agent socket was cancelled: %w", context.Cause(ctx))
		}
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return &Conn{Conn: c, Agent: name}, nil
}

// endpoint is the URL the HTTP client asks for; the host is a name only,
// every connection goes to the socket.
const endpoint = "http://agent.sock" + endpointPath

// HTTPClient is an HTTP client whose every connection is to the agent
// socket at path, authenticated with k.
func HTTPClient(path string, k *Key) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return Dial(ctx, path, k)
		},
		MaxIdleConns:      4,
		IdleConnTimeout:   IdleTimeout / 2,
		DisableKeepAlives: false,
	}}
}

// Connect opens an MCP client session over the agent socket at path,
// authenticated with k.
func Connect(ctx context.Context, path string, k *Key) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "ocmt-mesh-agent-client", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: HTTPClient(path, k), MaxRetries: -1}, nil)
	if err != nil {
		var he *HandshakeError
		if errors.As(err, &he) {
			return nil, he
		}
		return nil, fmt.Errorf("cannot open an MCP session on the agent socket at %s: %w", path, err)
	}
	return cs, nil
}

// Bridge serves MCP over in and out (newline-delimited JSON-RPC, the
// stdio transport agent frameworks run) and forwards every tool call to
// the agent socket at socketPath, authenticated with the key in keyFile.
// It authenticates before it reads in, so a wrong key fails at once; it
// returns when in ends or ctx is done.
func Bridge(ctx context.Context, socketPath, keyFile string, in io.Reader, out io.Writer) error {
	k, err := LoadKey(keyFile)
	if err != nil {
		return err
	}
	up, err := Connect(ctx, socketPath, k)
	if err != nil {
		return err
	}
	defer up.Close()
	srv := mcp.NewServer(&mcp.Implementation{Name: "ocmt-mesh-agent-bridge", Version: "1"}, nil)
	for t, err := range up.Tools(ctx, nil) {
		if err != nil {
			return fmt.Errorf("cannot list the agent socket's tools: %w", err)
		}
		name := t.Name
		srv.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := up.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: req.Params.Arguments})
			if err != nil {
				var r mcp.CallToolResult
				r.SetError(fmt.Errorf("the node did not answer %s: the agent socket is unreachable or closed", name))
				return &r, nil
			}
			return res, nil
		})
	}
	err = srv.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(in), Writer: nopWriteCloser{out}})
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) || ctx.Err() != nil {
		return nil
	}
	return err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
