package uigateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/protocols/directory"
)

// canary is a plaintext the browser sends and the node echoes: the
// gateway must only ever see it encrypted.
const canary = "PLAINTEXT-CANARY-a1d9f3e7-never-on-the-relay"

// wait bounds every wait for something the network does.
const wait = 15 * time.Second

// testPKI is a test CA and a certificate it signed for alice.ui.test:
// the node's, which the gateway never holds.
type testPKI struct {
	roots *x509.CertPool
	leaf  tls.Certificate
}

func newPKI(t testing.TB, names ...string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ui test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	return testPKI{roots: roots, leaf: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}}
}

// tap records every byte that passes through the gateway's stream to the
// node, each direction apart.
type tap struct {
	io.ReadWriteCloser
	toNode, fromNode *testkit.Buffer
}

func (s *tap) Read(p []byte) (int, error) {
	n, err := s.ReadWriteCloser.Read(p)
	s.fromNode.Write(p[:n])
	return n, err
}

func (s *tap) Write(p []byte) (int, error) {
	s.toNode.Write(p)
	return s.ReadWriteCloser.Write(p)
}

func (s *tap) CloseWrite() error {
	return s.ReadWriteCloser.(interface{ CloseWrite() error }).CloseWrite()
}

func (s *tap) Reset() error { return s.ReadWriteCloser.(interface{ Reset() error }).Reset() }

// world is a relay running a gateway for ui.test, and alice's node,
// connected to the relay as over its reservation, serving HTTPS on a
// Listener.
type world struct {
	relay, node host.Host
	gw          *Gateway
	ln          *Listener
	pki         testPKI
	toNode      *testkit.Buffer
	fromNode    *testkit.Buffer
	opens       atomic.Int64

	mu     sync.Mutex
	events []Event
	ended  chan Event
}

func newWorld(t *testing.T, lim Limits, edit ...func(*Config)) *world {
	t.Helper()
	w := &world{relay: testkit.Host(t, nil), node: testkit.Host(t, nil), pki: newPKI(t, "alice.ui.test"),
		toNode: &testkit.Buffer{}, fromNode: &testkit.Buffer{}, ended: make(chan Event, 256)}
	testkit.Connect(t, w.node, w.relay)
	stranger := testkit.Key(t, "carol").ID() // known to the directory, not connected
	var err error
	w.ln, err = Listen(w.node, ListenerConfig{Allow: func(p peer.ID) bool { return p == w.relay.ID() }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(rw, "echo from %s over %s: %s", r.TLS.ServerName, r.RemoteAddr, body)
	})
	srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(tls.NewListener(w.ln, &tls.Config{Certificates: []tls.Certificate{w.pki.leaf}}))
	t.Cleanup(func() { srv.Close() })

	open := Opener(w.relay)
	cfg := Config{
		Listen: "127.0.0.1:0",
		Domain: "UI.test.",
		Resolve: func(_ context.Context, h directory.Handle) (peer.ID, error) {
			switch h {
			case "alice":
				return w.node.ID(), nil
			case "carol":
				return stranger, nil
			}
			return "", errors.New("no such handle")
		},
		Open: func(ctx context.Context, p peer.ID) (io.ReadWriteCloser, error) {
			w.opens.Add(1)
			s, err := open(ctx, p)
			if err != nil {
				return nil, err
			}
			return &tap{ReadWriteCloser: s, toNode: w.toNode, fromNode: w.fromNode}, nil
		},
		Audit: func(e Event) {
			w.mu.Lock()
			w.events = append(w.events, e)
			w.mu.Unlock()
			select {
			case w.ended <- e:
			default:
			}
		},
		Limits: lim,
	}
	for _, f := range edit {
		f(&cfg)
	}
	w.gw, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.gw.Close() })
	return w
}

// client is a browser that resolves every name to the gateway.
func (w *world) client(name string) *http.Client {
	return &http.Client{Timeout: wait, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", w.gw.Addr().String())
		},
		TLSClientConfig: &tls.Config{RootCAs: w.pki.roots, ServerName: name},
	}}
}

// next waits for the next connection's event.
func (w *world) next(t *testing.T, what string) Event {
	t.Helper()
	return testkit.Within(t, wait, w.ended, "the event of %s", what)
}

// dial opens a TCP connection to the gateway from the loopback address
// from (127.0.0.1 when empty).
func (w *world) dial(t *testing.T, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: wait}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", w.gw.Addr().String())
	if err != nil {
		t.Fatalf("dialing the gateway from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedSoon checks that the gateway closes c within wait, well before
// any timeout the test set.
func closedSoon(t *testing.T, c net.Conn, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, c)
		done <- err
	}()
	testkit.Within(t, wait, done, "the gateway closing %s", what)
}

func TestHTTPSEndToEndThroughTheGateway(t *testing.T) {
	w := newWorld(t, Limits{})
	client := w.client("alice.ui.test")
	resp, err := client.Post("https://alice.ui.test/echo", "text/plain", strings.NewReader(canary))
	if err != nil {
		t.Fatalf("the HTTPS request through the gateway: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "echo from alice.ui.test over " + w.relay.ID().String() + ": " + canary
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("the node answered %d %q, want %q", resp.StatusCode, body, want)
	}
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].DNSNames[0] != "alice.ui.test" {
		t.Fatal("the browser did not see the node's own certificate")
	}
	client.CloseIdleConnections()
	ev := w.next(t, "the spliced connection")

	if ev.Outcome != OutcomeClosed || ev.Handle != "alice" || ev.Node != w.node.ID() || !ev.SourceIP.IsLoopback() {
		t.Fatalf("event %+v", ev)
	}
	if ev.Time.IsZero() || ev.Duration <= 0 {
		t.Fatalf("event without its time: %+v", ev)
	}
	// What the gateway relayed is what the event counts, and it is
	// ciphertext: neither the request's body nor the node's echo of it
	// is there in the clear.
	toNode, fromNode := w.toNode.Bytes(), w.fromNode.Bytes()
	if ev.BytesIn != int64(len(toNode)) || ev.BytesOut != int64(len(fromNode)) {
		t.Fatalf("the event counts %d in and %d out; %d and %d passed", ev.BytesIn, ev.BytesOut, len(toNode), len(fromNode))
	}
	if len(toNode) < len(canary) || len(fromNode) < len(canary) {
		t.Fatalf("only %d and %d bytes passed through the gateway", len(toNode), len(fromNode))
	}
	for dir, b := range map[string][]byte{"to the node": toNode, "from the node": fromNode} {
		if bytes.Contains(b, []byte(canary)) || bytes.Contains(b, []byte("echo from")) {
			t.Errorf("plaintext passed through the gateway %s", dir)
		}
		if b[0] != recordTypeHandshake {
			t.Errorf("the bytes %s do not start with a TLS handshake record", dir)
		}
	}
	if s := fmt.Sprintf("%+v %#v", ev, ev); strings.Contains(s, canary) || strings.Contains(s, "echo") {
		t.Fatalf("the audit event holds payload: %s", s)
	}
	if n := w.ln.Live(); n != 0 {
		testkit.Eventually(t, wait, func() bool { return w.ln.Live() == 0 }, "the node's listener releasing the stream (%d held)", n)
	}
}

// TestGatewayHoldsNoTLS: the gateway's code imports no TLS or certificate
// library, so no path through it can terminate TLS or hold a key.
func TestGatewayHoldsNoTLS(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "crypto/tls" || path == "crypto/x509" || strings.HasPrefix(path, "crypto/ecdsa") || strings.HasPrefix(path, "crypto/rsa") {
				t.Errorf("%s imports %s", f, path)
			}
		}
		checked++
	}
	if checked < 4 {
		t.Fatalf("checked only %d files", checked)
	}
}

// handshake runs a TLS client handshake with cfg over a new connection
// to the gateway and returns its error, failing the test if the gateway
// has not ended it within wait.
func (w *world) handshake(t *testing.T, cfg *tls.Config) error {
	t.Helper()
	c := w.dial(t, "")
	done := make(chan error, 1)
	go func() { done <- tls.Client(c, cfg).Handshake() }()
	return testkit.Within(t, wait, done, "the handshake with %q ending", cfg.ServerName)
}

func TestRefusedConnectionsAreClosedAtOnce(t *testing.T) {
	w := newWorld(t, Limits{HandshakeTimeout: time.Minute, OpenTimeout: time.Minute})
	for _, c := range []struct {
		name string
		want Outcome
	}{
		{"bob.ui.test", OutcomeUnknownHandle},
		{"carol.ui.test", OutcomeUnreachable}, // known, but no connection to the relay
		{"alice.other.test", OutcomeBadName},
		{"alice.ui.test.evil.test", OutcomeBadName},
		{"x.alice.ui.test", OutcomeBadName},
		{"a.ui.test", OutcomeBadName}, // too short for a handle
		{"ui.test", OutcomeBadName},
		{"alice.xui.test", OutcomeBadName},
		{"", OutcomeNoSNI},
		{"127.0.0.1", OutcomeNoSNI}, // crypto/tls sends no IP as a name
	} {
		err := w.handshake(t, &tls.Config{ServerName: c.name, RootCAs: w.pki.roots, InsecureSkipVerify: c.name == "" || c.name == "127.0.0.1"})
		if err == nil {
			t.Fatalf("%q: the handshake succeeded", c.name)
		}
		ev := w.next(t, c.name)
		if ev.Outcome != c.want || ev.BytesIn == 0 || ev.BytesOut != 0 {
			t.Fatalf("%q: event %+v, want %s", c.name, ev, c.want)
		}
		if (ev.Handle != "") != (c.want == OutcomeUnknownHandle || c.want == OutcomeUnreachable) {
			t.Fatalf("%q: the event names handle %q", c.name, ev.Handle)
		}
		if s := fmt.Sprintf("%+v", ev); c.want != OutcomeNoSNI && strings.Contains(s, c.name) {
			t.Fatalf("the event repeats the server name asked: %s", s)
		}
	}
	for _, c := range []struct {
		what string
		send []byte
		want Outcome
	}{
		{"plain HTTP", []byte("GET / HTTP/1.1\r\nHost: alice.ui.test\r\n\r\n"), OutcomeNotTLS},
		{"garbage", []byte{0, 1, 2, 3, 4, 5, 6, 7}, OutcomeNotTLS},
		{"a handshake record of garbage", []byte{22, 3, 1, 0, 4, 9, 9, 9, 9}, OutcomeMalformed},
		{"a fragmented hello", func() []byte {
			msg := captureHello(t, &tls.Config{ServerName: "alice.ui.test"})[recordHeaderLen:]
			return append(record(msg[:40]), record(msg[40:])...)
		}(), OutcomeMalformed},
	} {
		conn := w.dial(t, "")
		conn.Write(c.send)
		closedSoon(t, conn, c.what)
		if ev := w.next(t, c.what); ev.Outcome != c.want {
			t.Fatalf("%s: event %+v, want %s", c.what, ev, c.want)
		}
	}
	// A client that leaves mid-hello.
	conn := w.dial(t, "")
	conn.Write([]byte{22, 3, 1, 1, 0, 1})
	conn.(*net.TCPConn).CloseWrite()
	closedSoon(t, conn, "a hello cut short")
	if ev := w.next(t, "a hello cut short"); ev.Outcome != OutcomeMalformed || ev.BytesIn != 6 {
		t.Fatalf("a hello cut short: %+v", ev)
	}
	if n := w.opens.Load(); n != 1 {
		t.Fatalf("%d streams opened; only carol's node should have been tried", n)
	}
	if len(w.toNode.Bytes()) != 0 || w.ln.Live() != 0 {
		t.Fatal("a refused connection reached the node")
	}
}

func TestSlowLorisIsClosedAtTheDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	w := newWorld(t, Limits{HandshakeTimeout: deadline})
	for _, sent := range [][]byte{nil, {22, 3}, {22, 3, 1, 0, 100, 1, 0}} {
		start := time.Now()
		c := w.dial(t, "")
		c.Write(sent)
		closedSoon(t, c, "a client that never finishes its hello")
		if d := time.Since(start); d < deadline {
			t.Fatalf("closed after %v, before the deadline", d)
		}
		if ev := w.next(t, "a slow loris"); ev.Outcome != OutcomeTimeout || ev.BytesIn != int64(len(sent)) {
			t.Fatalf("event %+v after sending %d bytes", ev, len(sent))
		}
	}
	if w.gw.Active() != 0 {
		t.Fatalf("%d connections still held", w.gw.Active())
	}
}

func TestBoundsPerSourceAndInTotal(t *testing.T) {
	w := newWorld(t, Limits{HandshakeTimeout: time.Minute, MaxConnsPerIP: 3, MaxConns: 5, BurstPerIP: 100})
	hold := func(from string, n int) []net.Conn {
		var cs []net.Conn
		for range n {
			cs = append(cs, w.dial(t, from))
		}
		return cs
	}
	first := hold("127.0.0.1", 3)
	testkit.Eventually(t, wait, func() bool { return w.gw.Active() == 3 }, "three connections held (%d)", w.gw.Active())
	extra := w.dial(t, "127.0.0.1")
	closedSoon(t, extra, "a fourth connection from one source")
	if ev := w.next(t, "a fourth connection"); ev.Outcome != OutcomeSourceLimit {
		t.Fatalf("a fourth connection from one source: %+v", ev)
	}
	hold("127.0.0.2", 2)
	testkit.Eventually(t, wait, func() bool { return w.gw.Active() == 5 }, "five connections held (%d)", w.gw.Active())
	busy := w.dial(t, "127.0.0.3")
	closedSoon(t, busy, "a sixth connection")
	if ev := w.next(t, "a sixth connection"); ev.Outcome != OutcomeBusy || ev.SourceIP.String() != "127.0.0.3" {
		t.Fatalf("a sixth connection: %+v", ev)
	}
	// Closing one frees its place for anyone.
	first[0].Close()
	if ev := w.next(t, "a connection closed by its client"); ev.Outcome != OutcomeMalformed {
		t.Fatalf("a connection its client closed: %+v", ev)
	}
	testkit.Eventually(t, wait, func() bool { return w.gw.Active() == 4 }, "a place freed (%d held)", w.gw.Active())
	hold("127.0.0.3", 1)
	testkit.Eventually(t, wait, func() bool { return w.gw.Active() == 5 }, "the freed place taken (%d held)", w.gw.Active())

	// Many at once from one source: never more than its bound held.
	w2 := newWorld(t, Limits{HandshakeTimeout: time.Minute, MaxConnsPerIP: 8, BurstPerIP: 1000})
	const many = 60
	var conns []net.Conn
	for range many {
		conns = append(conns, w2.dial(t, "127.0.0.4"))
	}
	refused := 0
	for refused < many-8 {
		if ev := w2.next(t, "a connection past the bound"); ev.Outcome == OutcomeSourceLimit {
			refused++
		} else {
			t.Fatalf("unexpected event %+v", ev)
		}
		if n := w2.gw.Active(); n > 8 {
			t.Fatalf("%d connections held from one source, bound 8", n)
		}
	}
	testkit.Eventually(t, wait, func() bool { return w2.gw.Active() == 8 }, "eight held (%d)", w2.gw.Active())
	for _, c := range conns {
		c.Close()
	}
	testkit.Eventually(t, wait, func() bool { return w2.gw.Active() == 0 }, "all released (%d held)", w2.gw.Active())
}

func TestRateLimitPerSource(t *testing.T) {
	clock := testkit.NewClock(testkit.Epoch)
	w := newWorld(t, Limits{HandshakeTimeout: time.Minute, RatePerIP: 1, BurstPerIP: 2}, func(c *Config) { c.Now = clock.Now })
	w.dial(t, "127.0.0.1")
	w.dial(t, "127.0.0.1")
	testkit.Eventually(t, wait, func() bool { return w.gw.Active() == 2 }, "the burst admitted (%d)", w.gw.Active())
	closedSoon(t, w.dial(t, "127.0.0.1"), "a connection past the burst")
	if ev := w.next(t, "a connection past the burst"); ev.Outcome != OutcomeRateLimited || !ev.Time.Equal(testkit.Epoch) {
		t.Fatalf("past the burst: %+v", ev)
	}
	w.dial(t, "127.0.0.2") // another source has its own bucket
	testkit.Eventually(t, wait, func() bool { return w.gw.Active() == 3 }, "another source admitted (%d)", w.gw.Active())
	clock.Advance(time.Second)
	w.dial(t, "127.0.0.1")
	testkit.Eventually(t, wait, func() bool { return w.gw.Active() == 4 }, "the refilled bucket admitting (%d)", w.gw.Active())
}

// tlsConn completes a TLS handshake with alice's node through the
// gateway and returns the connection.
func (w *world) tlsConn(t *testing.T) *tls.Conn {
	t.Helper()
	c := tls.Client(w.dial(t, ""), &tls.Config{ServerName: "alice.ui.test", RootCAs: w.pki.roots})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		t.Fatalf("the handshake with alice's node: %v", err)
	}
	return c
}

func TestIdleAndLifetimeBounds(t *testing.T) {
	const idle = 400 * time.Millisecond
	w := newWorld(t, Limits{IdleTimeout: idle})
	start := time.Now()
	c := w.tlsConn(t)
	closedSoon(t, c, "an idle connection")
	if d := time.Since(start); d < idle {
		t.Fatalf("closed after %v, idle for less than %v", d, idle)
	}
	if ev := w.next(t, "an idle connection"); ev.Outcome != OutcomeIdle || ev.BytesOut == 0 {
		t.Fatalf("idle: %+v", ev)
	}

	const life = 800 * time.Millisecond
	w = newWorld(t, Limits{MaxLifetime: life})
	start = time.Now()
	c = w.tlsConn(t)
	// Busy all along: a request every 50ms until the gateway cuts it.
	cut := make(chan struct{})
	go func() {
		defer close(cut)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: alice.ui.test\r\n\r\n")); err != nil {
				return
			}
		}
	}()
	go io.Copy(io.Discard, c)
	testkit.Within(t, wait, cut, "the gateway cutting a busy connection")
	if d := time.Since(start); d < life {
		t.Fatalf("cut after %v, before its lifetime %v", d, life)
	}
	if ev := w.next(t, "a connection past its lifetime"); ev.Outcome != OutcomeLifetime {
		t.Fatalf("lifetime: %+v", ev)
	}
}

func TestCloseEndsEveryConnection(t *testing.T) {
	w := newWorld(t, Limits{})
	c := w.tlsConn(t)
	waiting := w.dial(t, "") // still to send its hello
	testkit.Eventually(t, wait, func() bool { return w.gw.Active() == 2 }, "two connections held (%d)", w.gw.Active())
	if err := w.gw.Close(); err != nil {
		t.Fatal(err)
	}
	if w.gw.Active() != 0 {
		t.Fatalf("%d connections held after Close", w.gw.Active())
	}
	closedSoon(t, c, "a spliced connection at Close")
	closedSoon(t, waiting, "a connection waiting for its hello at Close")
	got := map[Outcome]int{}
	for range 2 {
		got[w.next(t, "a connection at Close").Outcome]++
	}
	if got[OutcomeShutdown] != 2 {
		t.Fatalf("outcomes at Close: %v", got)
	}
	if _, err := net.DialTimeout("tcp", w.gw.Addr().String(), wait); err == nil {
		t.Fatal("the gateway still accepts after Close")
	}
}

func TestNewRefusesABadConfig(t *testing.T) {
	ok := Config{Listen: "127.0.0.1:0", Domain: "ui.test",
		Resolve: func(context.Context, directory.Handle) (peer.ID, error) { return "", nil },
		Open:    func(context.Context, peer.ID) (io.ReadWriteCloser, error) { return nil, nil }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, c := range []struct {
		edit func(*Config)
		says string
	}{
		{func(c *Config) { c.Domain = "" }, "not a DNS name"},
		{func(c *Config) { c.Domain = "test" }, "two labels or more"},
		{func(c *Config) { c.Domain = "ui test.example" }, "not a DNS name"},
		{func(c *Config) { c.Resolve = nil }, "resolve handles"},
		{func(c *Config) { c.Open = nil }, "open streams"},
		{func(c *Config) { c.Listen = "" }, "an address to listen on"},
		{func(c *Config) { c.Listener = ln }, "not both"},
	} {
		cfg := ok
		c.edit(&cfg)
		g, err := New(cfg)
		if err == nil {
			g.Close()
		}
		testkit.Sentence(t, c.says, err, c.says)
	}
	g, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
}

func TestBoundPerNode(t *testing.T) {
	w := newWorld(t, Limits{MaxConnsPerNode: 2})
	w.tlsConn(t)
	w.tlsConn(t)
	if err := w.handshake(t, &tls.Config{ServerName: "alice.ui.test", RootCAs: w.pki.roots}); err == nil {
		t.Fatal("a third connection to one node was spliced")
	}
	if ev := w.next(t, "a third connection to one node"); ev.Outcome != OutcomeNodeLimit || ev.Node != w.node.ID() {
		t.Fatalf("a third connection to one node: %+v", ev)
	}
	if n := w.opens.Load(); n != 2 {
		t.Fatalf("%d streams opened, bound 2", n)
	}
}

func TestSourceKeys(t *testing.T) {
	for _, c := range []struct{ addr, key string }{
		{"192.0.2.7:443", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:443", "192.0.2.7/32"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:1", "2001:db8:1:2::/64"},
	} {
		a, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := sourceKey(sourceOf(a)).String(); got != c.key {
			t.Errorf("%s counts as %s, want %s", c.addr, got, c.key)
		}
	}
}
