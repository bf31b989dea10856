package agentsock

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ocmt/mesh/internal/testkit"
	"github.com/ocmt/mesh/internal/wire"
)

// rawChallenge opens a connection and reads its challenge.
func rawChallenge(t testing.TB, path string) (net.Conn, []byte) {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := wire.ReadFrame(c, maxChallenge)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseServerFrame(b, true)
	if err != nil {
		t.Fatal(err)
	}
	return c, f.Nonce
}

// signedAnswer is k's answer to nonce, naming as (k's own ID when empty).
func signedAnswer(t testing.TB, k *Key, nonce []byte, as *Key) []byte {
	t.Helper()
	id := k.ID()
	if as != nil {
		id = as.ID()
	}
	sig, err := k.priv.Sign(SignedBytes(nonce, id))
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.Marshal(answer{Agent: []byte(id), Nonce: nonce, Sig: sig})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verdict sends an answer on c and returns the server's verdict: the
// agent's name, or the refusal.
func verdict(t testing.TB, c net.Conn, ans []byte) (string, error) {
	t.Helper()
	if err := wire.WriteFrame(c, ans, maxAnswer); err != nil {
		t.Fatal(err)
	}
	b, err := wire.ReadFrame(c, maxChallenge)
	if err != nil {
		t.Fatalf("no verdict: %v", err)
	}
	f, err := parseServerFrame(b, false)
	if err != nil {
		return "", err
	}
	return f.Agent, nil
}

func TestAnAnswerIsGoodForItsOwnConnectionOnly(t *testing.T) {
	f := start(t, nil)
	k, _ := f.agentKey(t, "helper", true)
	c1, n1 := rawChallenge(t, f.path)
	good := signedAnswer(t, k, n1, nil)
	if name, err := verdict(t, c1, good); err != nil || name != "helper" {
		t.Fatalf("a good answer: %q %v", name, err)
	}
	// The same answer, captured and replayed on a new connection.
	c2, _ := rawChallenge(t, f.path)
	_, err := verdict(t, c2, good)
	testkit.Sentence(t, "a replayed answer", err, "the answer is to another challenge than this connection's", ErrRefused, wire.Unauthorized)
	// Answering the same challenge twice.
	c3, n3 := rawChallenge(t, f.path)
	c3.Close()
	c4, _ := rawChallenge(t, f.path)
	_, err = verdict(t, c4, signedAnswer(t, k, n3, nil))
	testkit.Sentence(t, "an answer to a closed connection's challenge", err, "another challenge", ErrRefused)
}

func TestANonceIsNeverAcceptedTwice(t *testing.T) {
	// A source that repeats itself: every connection gets the same nonce,
	// so only the remembered nonces stand between a replay and success.
	f := start(t, func(c *Config) { c.Rand = bytes.NewReader(bytes.Repeat([]byte{7}, 4*NonceLen)) })
	k, _ := f.agentKey(t, "helper", true)
	c1, n1 := rawChallenge(t, f.path)
	good := signedAnswer(t, k, n1, nil)
	if _, err := verdict(t, c1, good); err != nil {
		t.Fatal(err)
	}
	c2, n2 := rawChallenge(t, f.path)
	if !bytes.Equal(n1, n2) {
		t.Fatal("the fixed source gave two nonces")
	}
	_, err := verdict(t, c2, good)
	testkit.Sentence(t, "a replay under a repeated nonce", err, "this challenge was already answered", ErrRefused, wire.Unauthorized)
}

func TestAnotherAgentsSignatureIsRefused(t *testing.T) {
	f := start(t, nil)
	alice, _ := f.agentKey(t, "alice-bot", true)
	mallory, _ := f.agentKey(t, "mallory", true)
	// Mallory names alice's key and signs with her own.
	c, n := rawChallenge(t, f.path)
	_, err := verdict(t, c, signedAnswer(t, mallory, n, alice))
	testkit.Sentence(t, "a signature by another agent's key", err, "the signature does not hold for the key it names", ErrRefused, wire.Unauthorized)
	// Mallory replays an answer alice made for her own connection.
	ca, na := rawChallenge(t, f.path)
	aliceAnswer := signedAnswer(t, alice, na, nil)
	cm, _ := rawChallenge(t, f.path)
	_, err = verdict(t, cm, aliceAnswer)
	testkit.Sentence(t, "another agent's answer", err, "another challenge", ErrRefused)
	// Alice's own connection was not spent by it.
	if name, err := verdict(t, ca, aliceAnswer); err != nil || name != "alice-bot" {
		t.Fatalf("alice's answer on her connection: %q %v", name, err)
	}
	if n := len(f.be.Calls()); n != 0 {
		t.Fatalf("%d calls reached the backend", n)
	}
}

func TestAnUnknownKeyIsRefused(t *testing.T) {
	f := start(t, nil)
	k, _ := f.agentKey(t, "removed", false)
	_, err := Connect(testkit.Context(t, 20*time.Second), f.path, k)
	testkit.Sentence(t, "a key of no agent", err, "this key belongs to no agent of this node", ErrRefused, wire.Forbidden)
}

func TestCallsWithoutTheHandshakeAreRefused(t *testing.T) {
	f := start(t, nil)
	// A plain HTTP client, as a process that found the socket would use.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", f.path)
	}}}
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_resource","arguments":{"path":"calendar"}}}`
	req, _ := http.NewRequestWithContext(testkit.Context(t, 20*time.Second), "POST", endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a request without the handshake got %s", resp.Status)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(f.log.String(), "connection refused") }, "the refusal is logged")
	if n := len(f.be.Calls()); n != 0 {
		t.Fatalf("%d calls reached the backend", n)
	}
}

func TestAChallengeExpires(t *testing.T) {
	clock := testkit.NewClock(testkit.Epoch)
	f := start(t, func(c *Config) { c.Now = clock.Now })
	k, _ := f.agentKey(t, "helper", true)
	c, n := rawChallenge(t, f.path)
	clock.Advance(NonceTTL)
	_, err := verdict(t, c, signedAnswer(t, k, n, nil))
	testkit.Sentence(t, "a late answer", err, "the challenge expired before it was answered", ErrRefused, wire.Expired)
}

func TestRememberedNoncesAreBounded(t *testing.T) {
	clock := testkit.NewClock(testkit.Epoch)
	f := start(t, func(c *Config) { c.Now = clock.Now; c.MaxNonces = 2 })
	k, _ := f.agentKey(t, "helper", true)
	for range 2 {
		c, err := Dial(testkit.Context(t, 20*time.Second), f.path, k)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	_, err := Dial(testkit.Context(t, 20*time.Second), f.path, k)
	testkit.Sentence(t, "a connection over the remembered nonces", err, "too many new connections", ErrRefused, wire.Unavailable)
	if n := f.srv.nonces.len(); n != 2 {
		t.Fatalf("%d nonces remembered, bound 2", n)
	}
	clock.Advance(NonceTTL)
	c, err := Dial(testkit.Context(t, 20*time.Second), f.path, k)
	if err != nil {
		t.Fatalf("after the nonces expired: %v", err)
	}
	c.Close()
}

func TestConnectionsAreBounded(t *testing.T) {
	f := start(t, func(c *Config) { c.MaxConns = 1 })
	k, _ := f.agentKey(t, "helper", true)
	c1, err := Dial(testkit.Context(t, 20*time.Second), f.path, k)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Dial(testkit.Context(t, 20*time.Second), f.path, k)
	testkit.Sentence(t, "a connection over MaxConns", err, "connections open, its most", ErrRefused, wire.Unavailable)
	c1.Close()
	testkit.Eventually(t, 10*time.Second, func() bool {
		c, err := Dial(testkit.Context(t, 20*time.Second), f.path, k)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "a slot frees once the connection closes")
}

func TestOversizedAndMalformedAnswers(t *testing.T) {
	f := start(t, nil)
	c, _ := rawChallenge(t, f.path)
	if err := wire.WriteFrame(c, make([]byte, maxAnswer+1), maxAnswer+1); err != nil {
		t.Fatal(err)
	}
	b, err := wire.ReadFrame(c, maxChallenge)
	if err != nil {
		t.Fatal(err)
	}
	_, err = parseServerFrame(b, false)
	testkit.Sentence(t, "an oversized answer", err, "over 256 bytes", wire.TooLarge)
	c2, _ := rawChallenge(t, f.path)
	_, err = verdict(t, c2, []byte{0xa0})
	testkit.Sentence(t, "an empty answer", err, "malformed", wire.BadRequest)
}

func TestTheSocketFolderAndModeAreChecked(t *testing.T) {
	be := newFake()
	open := t.TempDir()
	os.Chmod(open, 0o777)
	_, err := Listen(Config{Path: filepath.Join(open, "agent.sock"), Backend: be})
	testkit.Sentence(t, "a world-writable folder", err, "is writable by every user")

	dir := sockDir(t)
	_, err = Listen(Config{Path: filepath.Join(dir, "agent.sock"), Backend: be, Mode: 0o666})
	testkit.Sentence(t, "a mode for others", err, "gives access to other users")

	file := filepath.Join(dir, "notasocket")
	os.WriteFile(file, []byte("keep me"), 0o600)
	_, err = Listen(Config{Path: file, Backend: be})
	testkit.Sentence(t, "a regular file at the path", err, "is not a socket")
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Fatal("the file was replaced")
	}

	p := filepath.Join(dir, "agent.sock")
	s, err := Listen(Config{Path: p, Backend: be, Mode: 0o660, Group: "0"})
	if err != nil {
		if os.Getuid() != 0 {
			t.Skipf("giving the socket to group 0 needs root: %v", err)
		}
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o660 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("the socket's mode is %v", st.Mode())
	}
	s.Close()
	// A stale socket (left by a crash) is replaced.
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s, err = Listen(Config{Path: p, Backend: be})
	if err != nil {
		t.Fatalf("a stale socket: %v", err)
	}
	s.Close()
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Close left the socket")
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "helper.key")
	if _, err := CreateKeyFile(p, "helper"); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	_, err := CreateKeyFile(p, "helper")
	testkit.Sentence(t, "an existing key file", err, "already exists")
	_, err = CreateKeyFile(filepath.Join(dir, "x.key"), "Not A Name")
	testkit.Sentence(t, "a bad name", err, "an agent's name")

	os.Chmod(p, 0o640)
	_, err = LoadKey(p)
	testkit.Sentence(t, "a key others can read", err, "accessible by other users")
	os.Chmod(p, 0o600)

	for name, body := range map[string]string{
		"not pem":        "hello",
		"another type":   string(pem.EncodeToMemory(&pem.Block{Type: "OCMT MESH PEER KEY", Headers: map[string]string{"Agent": "helper"}, Bytes: make([]byte, 32)})),
		"no agent line":  string(pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: make([]byte, 32)})),
		"a short seed":   string(pem.EncodeToMemory(&pem.Block{Type: pemType, Headers: map[string]string{"Agent": "helper"}, Bytes: make([]byte, 31)})),
		"trailing bytes": string(pem.EncodeToMemory(&pem.Block{Type: pemType, Headers: map[string]string{"Agent": "helper"}, Bytes: make([]byte, 32)})) + "more",
		"too large":      strings.Repeat("x", MaxKeyFile+1),
	} {
		q := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(q, []byte(body), 0o600)
		_, err := LoadKey(q)
		testkit.Sentence(t, name, err, "is not an agent key file")
	}
	_, err = LoadKey(filepath.Join(dir, "missing.key"))
	testkit.Sentence(t, "a missing file", err, "no agent key file at")
}

// TestTheKeyNeverShows: across every refusal of the handshake and the
// key file, neither an error, a log line, a tool result nor the key's
// String shows the key's bytes.
func TestTheKeyNeverShows(t *testing.T) {
	f := start(t, nil)
	k, p := f.agentKey(t, "helper", true)
	raw, _ := os.ReadFile(p)
	block, _ := pem.Decode(raw)
	seed := block.Bytes
	priv, _ := k.priv.Raw()
	forms := []string{base64.StdEncoding.EncodeToString(seed), hex.EncodeToString(seed), string(seed),
		base64.StdEncoding.EncodeToString(priv), hex.EncodeToString(priv), base64.StdEncoding.EncodeToString(seed)[:20]}

	var texts []string
	texts = append(texts, k.String(), k.GoString())
	os.Chmod(p, 0o644)
	_, err := LoadKey(p)
	texts = append(texts, err.Error())
	os.Chmod(p, 0o600)
	broken := filepath.Join(f.dir, "broken.key")
	os.WriteFile(broken, append(raw, "junk"...), 0o600)
	_, err = LoadKey(broken)
	texts = append(texts, err.Error())

	other, _ := f.agentKey(t, "other", false)
	_, err = Connect(testkit.Context(t, 20*time.Second), f.path, other)
	texts = append(texts, err.Error())
	c, n := rawChallenge(t, f.path)
	_, err = verdict(t, c, signedAnswer(t, other, n, k))
	texts = append(texts, err.Error())
	cs := connect(t, f, k)
	_, msg := call(t, cs, ToolUseSecret, map[string]any{"name": "broken", "method": "GET", "url": "https://api.example/"})
	texts = append(texts, msg)
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(f.log.String(), "tool call failed") }, "the internal error is logged")
	texts = append(texts, f.log.String())
	for _, s := range texts {
		for _, form := range forms {
			if strings.Contains(s, form) {
				t.Fatalf("the agent key shows in %q", s)
			}
		}
	}
}

func TestCloseEndsEveryConnectionAndGoroutine(t *testing.T) {
	base := testkit.SettledGoroutines(t, 5*time.Second)
	f := start(t, nil)
	k, _ := f.agentKey(t, "helper", true)
	cs := connect(t, f, k)
	call(t, cs, ToolListResources, map[string]any{"prefix": "notes"})
	// One connection stalls in the handshake, one never answers at all.
	stalled, _ := rawChallenge(t, f.path)
	_ = stalled
	done := make(chan error, 1)
	go func() { done <- f.srv.Close() }()
	testkit.Within(t, 5*time.Second, done, "Close returns without waiting out the handshake timeout")
	cs.Close()
	if _, err := wire.ReadFrame(stalled, maxChallenge); err == nil {
		t.Fatal("the stalled connection is still open")
	}
	stalled.Close()
	testkit.GoroutinesDropTo(t, 10*time.Second, base)
}

func TestARequestBodyOverTheCapIsRefused(t *testing.T) {
	f := start(t, nil)
	k, _ := f.agentKey(t, "helper", true)
	hc := HTTPClient(f.path, k)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"memory_add","arguments":{"text":"` + strings.Repeat("a", MaxRequestBody) + `"}}}`
	req, _ := http.NewRequestWithContext(testkit.Context(t, 20*time.Second), "POST", endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over MaxRequestBody got %s", resp.Status)
	}
	if n := len(f.be.Calls()); n != 0 {
		t.Fatalf("%d calls reached the backend", n)
	}
}
