package agentsock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	// A client that writes its requests and closes its end (a script,
	// a pipe) still gets every answer: the end of in is passed on only
	// once each request read has been answered (drain).
	d := newDrain(ctx, in, out)
	err = srv.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(d), Writer: nopWriteCloser{d.w}})
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) || ctx.Err() != nil {
		return nil
	}
	return err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// drain passes in through, counting the requests (JSON-RPC messages with
// a method and an id) it reads and the responses (an id, no method)
// written to w; at the end of in it waits, for at most DrainTimeout,
// until every request read has its answer before it reports the end.
type drain struct {
	ctx     context.Context
	sc      *bufio.Scanner
	buf     []byte
	w       *countingWriter
	pending chan struct{} // one token per unanswered request
}

func newDrain(ctx context.Context, in io.Reader, out io.Writer) *drain {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), MaxRequestBody+4096)
	d := &drain{ctx: ctx, sc: sc, pending: make(chan struct{}, maxDrainPending)}
	d.w = &countingWriter{w: out, d: d, answered: make(chan struct{}, 1)}
	return d
}

// rpcShape is what drain reads of a message.
type rpcShape struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
}

func (d *drain) Read(p []byte) (int, error) {
	for len(d.buf) == 0 {
		if !d.sc.Scan() {
			if err := d.sc.Err(); err != nil {
				return 0, err
			}
			d.wait()
			return 0, io.EOF
		}
		line := d.sc.Bytes()
		var m rpcShape
		if json.Unmarshal(line, &m) == nil && m.Method != "" && len(m.ID) > 0 && string(m.ID) != "null" {
			select {
			case d.pending <- struct{}{}:
			default: // more in flight than counted: the wait is shorter
			}
		}
		d.buf = append(append(d.buf[:0], line...), '\n')
	}
	n := copy(p, d.buf)
	d.buf = d.buf[n:]
	return n, nil
}

// wait returns when every counted request was answered, ctx ends or
// DrainTimeout passes.
func (d *drain) wait() {
	t := time.NewTimer(DrainTimeout)
	defer t.Stop()
	for len(d.pending) > 0 {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
			return
		case <-d.w.answered:
		}
	}
}

// countingWriter takes a token from pending for each response written.
type countingWriter struct {
	w        io.Writer
	d        *drain
	answered chan struct{}
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	for _, line := range bytes.Split(p, []byte("\n")) {
		var m rpcShape
		if json.Unmarshal(line, &m) == nil && m.Method == "" && len(m.ID) > 0 {
			select {
			case <-c.d.pending:
			default:
			}
			select {
			case c.answered <- struct{}{}:
			default:
			}
		}
	}
	return n, err
}
