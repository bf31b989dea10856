package localapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ocmt/mesh/vault"
)

// recorder is a Backend that records what reached it; what it does not
// implement panics.
type recorder struct {
	Backend
	mu      sync.Mutex
	calls   []string
	secret  int // size of the last secret set
	unlock  error
	revoked []string
}

func (r *recorder) note(s string) { r.mu.Lock(); r.calls = append(r.calls, s); r.mu.Unlock() }

func (r *recorder) called() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) Revoke(_ context.Context, s string) (string, error) {
	r.note("revoke " + s)
	return s, nil
}

func (r *recorder) RevokedAmong(_ context.Context, ids []string) ([]string, error) {
	r.note("revoked among " + strings.Join(ids, ","))
	return r.revoked, nil
}

func (r *recorder) SecretSet(_ context.Context, s vault.Secret) error {
	r.note("secret set")
	r.mu.Lock()
	r.secret = len(s.Value) + len(s.Name) + len(s.Provider)
	r.mu.Unlock()
	return s.Validate()
}

func (r *recorder) Unlock(context.Context, []byte) error { r.note("unlock"); return r.unlock }

// serve starts a server for b on a fresh socket and returns its path and
// a client.
func serve(t *testing.T, b Backend) (string, *Client) {
	t.Helper()
	dir, err := os.MkdirTemp("", "la")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "api.sock")
	s, err := Listen(path, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return path, c
}

// post sends body to route on the socket at path, as any local program
// could, and returns the status.
func post(t *testing.T, path, route, body string) int {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post("http://mesh"+route, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestABodyWithTwoJSONValuesIsRefused: the server acts on no part of a
// body that holds a second JSON value (or anything else) after the first.
func TestABodyWithTwoJSONValuesIsRefused(t *testing.T) {
	b := &recorder{}
	path, _ := serve(t, b)
	for _, c := range []struct{ route, body string }{
		{"/v1/revoke", `{"token":"aaaaaaaa"}{"token":"bbbbbbbb"}`},
		{"/v1/revoke", `{"token":"aaaaaaaa"} trailing`},
		{"/v1/revoked", `["aa"]["bb"]`},
		{"/v1/unlock", `{"password":"cHc="}{}`},
	} {
		if got := post(t, path, c.route, c.body); got != http.StatusBadRequest {
			t.Errorf("%s %s: status %d, want 400", c.route, c.body, got)
		}
	}
	if calls := b.called(); len(calls) != 0 {
		t.Fatalf("the backend acted on refused bodies: %v", calls)
	}
	// the refusal is coded as the caller's mistake, not the node's
	c := &Client{http: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}}
	if err := c.do(context.Background(), http.MethodPost, "/v1/unlock", nil, []byte(`{"password":"cHc="}{}`), nil); !errors.Is(err, ErrBadRequest) {
		t.Errorf("a body with two values: %v, want ErrBadRequest", err)
	}
	if got := post(t, path, "/v1/revoke", "{\"token\":\"aaaaaaaa\"}\n"); got != http.StatusOK {
		t.Fatalf("one value and a newline: status %d, want 200", got)
	}
}

// TestEverySecretTheVaultTakesFitsTheBodyLimit: the local API's body
// limit is derived from the vault's secret limit, so a secret the vault
// stores without a node is never refused as a body through one, even when
// JSON escapes every byte of its text fields.
func TestEverySecretTheVaultTakesFitsTheBodyLimit(t *testing.T) {
	b := &recorder{}
	_, c := serve(t, b)
	ctx := context.Background()
	name := "big"
	for _, s := range []vault.Secret{
		{Name: name, Type: vault.TypeNote, Value: make([]byte, vault.MaxSecretBytes-len(name))},
		{Name: name, Type: vault.TypeNote, Value: []byte("v"), Provider: strings.Repeat("<", vault.MaxSecretBytes-len(name)-1)}, // \u003c each
	} {
		if err := c.SecretSet(ctx, s); err != nil {
			t.Fatalf("a secret of exactly %d bytes: %v", vault.MaxSecretBytes, err)
		}
	}
	over := vault.Secret{Name: name, Type: vault.TypeNote, Value: make([]byte, vault.MaxSecretBytes)}
	err := c.SecretSet(ctx, over)
	if !errors.Is(err, vault.ErrTooLarge) || !strings.Contains(err.Error(), "at most 1 MiB") {
		t.Fatalf("a secret over the limit: %v, want the vault's ErrTooLarge naming 1 MiB", err)
	}
}

// TestABackoffCrossesTheSocketWithItsTime: a refused unlock keeps its type
// and its time on the client, so the CLI can say how long to wait.
func TestABackoffCrossesTheSocketWithItsTime(t *testing.T) {
	until := time.Now().Add(12 * time.Second).Round(time.Millisecond)
	b := &recorder{unlock: &vault.BackoffError{Until: until, Failures: 6, Wait: 12 * time.Second}}
	_, c := serve(t, b)
	err := c.Unlock(context.Background(), []byte("pw"))
	var be *vault.BackoffError
	if !errors.As(err, &be) || !errors.Is(err, vault.ErrBackoff) {
		t.Fatalf("unlock in backoff: %v (%T), want a *vault.BackoffError", err, err)
	}
	if !be.Until.Equal(until) || be.Failures != 6 || !strings.Contains(err.Error(), "next try in 12 s") {
		t.Fatalf("backoff until %v after %d failures (%q), want %v after 6", be.Until, be.Failures, err, until)
	}
}

// TestANodeThatStopsMidRequestIsNamed: a node that dies while handling a
// request is reported as such (the request may have been done), and its
// leftover socket afterwards as a stale socket, not as a raw EOF.
func TestANodeThatStopsMidRequestIsNamed(t *testing.T) {
	dir, err := os.MkdirTemp("", "la")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "api.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false) // as a killed process leaves it
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // read the request, then die without answering
				bufio.NewReader(conn).ReadString('\n')
				conn.Close()
			}()
		}
	}()
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.SecretSet(context.Background(), vault.Secret{Name: "k", Type: vault.TypeNote, Value: []byte("v")})
	var nse *NodeStoppedError
	if !errors.As(err, &nse) || !nse.Sent || !errors.Is(err, ErrNodeStopped) || strings.Contains(err.Error(), "EOF") {
		t.Fatalf("node gone mid-request: %v (%T), want a NodeStoppedError with Sent", err, err)
	}
	ln.Close()
	if _, err := Dial(context.Background(), path); !errors.Is(err, ErrStaleSocket) || !errors.Is(err, ErrNoNode) {
		t.Fatalf("dialling the leftover socket: %v, want ErrStaleSocket (and ErrNoNode)", err)
	}
	os.Remove(path)
	if _, err := Dial(context.Background(), path); errors.Is(err, ErrStaleSocket) || !errors.Is(err, ErrNoNode) {
		t.Fatalf("dialling no socket: %v, want ErrNoNode only", err)
	}
}

func (r *recorder) Backup(_ context.Context, w io.Writer) (BackupInfo, error) {
	r.note("backup")
	n, err := w.Write([]byte("a backup"))
	return BackupInfo{ID: "b1", Created: time.Unix(1700000000, 0).UTC(), Entries: 62, Size: int64(n)}, err
}

// TestABackupThroughTheNodeSaysWhatItHolds: the client reports the node's
// account of the backup (when, how many entries), not only its ID.
func TestABackupThroughTheNodeSaysWhatItHolds(t *testing.T) {
	_, c := serve(t, &recorder{})
	var buf bytes.Buffer
	info, err := c.Backup(context.Background(), &buf)
	want := BackupInfo{ID: "b1", Created: time.Unix(1700000000, 0).UTC(), Entries: 62, Size: int64(len("a backup"))}
	if err != nil || info != want || buf.String() != "a backup" {
		t.Fatalf("got %+v, %q, %v; want %+v", info, buf.String(), err, want)
	}
}
