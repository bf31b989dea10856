package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/ocmt/mesh/vault"
)

// Client talks to a running node's local API.
type Client struct {
	http *http.Client
}

// ErrNoNode means no node answers on the socket.
var ErrNoNode = errors.New("no mesh node is running")

// ErrStaleSocket means the socket is there but nothing listens on it: the
// node that made it stopped without removing it (it crashed or was
// killed). Errors that match it also match ErrNoNode.
var ErrStaleSocket = errors.New("the node's socket is left over from a node that is no longer running")

// ErrForbidden means the socket exists but this process may not open it:
// it runs as another user than the node.
var ErrForbidden = errors.New("permission denied")

// ErrNodeStopped is matched by every *NodeStoppedError.
var ErrNodeStopped = errors.New("the node stopped")

// noNode is what Dial returns when no node answers.
type noNode struct{ stale bool }

func (e noNode) Error() string {
	if e.stale {
		return ErrStaleSocket.Error()
	}
	return ErrNoNode.Error()
}

func (e noNode) Is(target error) bool {
	return target == ErrNoNode || (e.stale && target == ErrStaleSocket)
}

// NodeStoppedError means the node went away while this client used it.
type NodeStoppedError struct {
	// Sent is true when the request had reached the node, which may or
	// may not have carried it out; false when it never got there (nothing
	// was done).
	Sent bool
	// Err is the transport's error, for logs; Error does not show it.
	Err error
}

func (e *NodeStoppedError) Error() string {
	if e.Sent {
		return "the node stopped while handling this command; it may or may not have been done"
	}
	return "the node stopped before this command reached it; nothing was done"
}

// Is makes every NodeStoppedError match ErrNodeStopped.
func (e *NodeStoppedError) Is(target error) bool { return target == ErrNodeStopped }

// Unwrap returns the transport's error.
func (e *NodeStoppedError) Unwrap() error { return e.Err }

// Dial connects to the socket at path. When nothing listens there it
// returns an error matching ErrNoNode: also ErrStaleSocket when the socket
// exists but the connection is refused (a node that crashed left it).
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return nil, fmt.Errorf("%w: the node's socket %s is its owner's alone; run this as the node's user (an agent uses the agent socket)", ErrForbidden, path)
	}
	if err != nil {
		return nil, noNode{stale: errors.Is(err, syscall.ECONNREFUSED)}
	}
	c.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{http: &http.Client{Transport: tr, Timeout: clientTimeout}}, nil
}

// clientTimeout bounds one request: the slowest is a share or a fetch,
// whose retries are bounded by the node well inside it.
const clientTimeout = 5 * time.Minute

// Close releases idle connections.
func (c *Client) Close() error { c.http.CloseIdleConnections(); return nil }

func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if raw, ok := in.([]byte); ok {
		body = bytes.NewReader(raw)
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		defer clear(b)
		body = bytes.NewReader(b)
	}
	u := "http://mesh" + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e); err != nil {
			return fmt.Errorf("the node answered %q without saying why; is it the same version as this mesh (mesh version)?", resp.Status)
		}
		return &remoteError{msg: e.Error, sentinel: sentinelOf(e)}
	}
	switch out := out.(type) {
	case nil:
		return nil
	case *[]byte:
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxLargeBody+1))
		if err != nil {
			return transportError(ctx, err)
		}
		*out = b
		return nil
	default:
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return transportError(ctx, err)
			}
			return errors.New("the node's answer could not be read; is it the same version as this mesh (mesh version)?")
		}
		return nil
	}
}

// transportError says what a failed exchange with the node means: the
// command was interrupted, the node took too long, or it stopped before or
// while handling the request.
func transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("the node did not answer within %v; it may or may not have done this: check before trying again", clientTimeout)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &NodeStoppedError{Sent: false, Err: err}
	}
	return &NodeStoppedError{Sent: true, Err: err}
}

// sentinelOf is the error a code stands for; a backoff carries its wait.
func sentinelOf(e errorBody) error {
	if e.Code == "backoff" && !e.Until.IsZero() {
		return &vault.BackoffError{Until: e.Until, Failures: e.Failures, Wait: time.Until(e.Until)}
	}
	return errOf(e.Code)
}

func nameQ(name string) url.Values { return url.Values{"name": {name}} }

// Status implements Backend.
func (c *Client) Status(ctx context.Context) (st Status, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &st)
	return
}

// Unlock implements Backend.
func (c *Client) Unlock(ctx context.Context, pw []byte) error {
	return c.do(ctx, http.MethodPost, "/v1/unlock", nil, passwordBody{Password: pw}, nil)
}

// Lock implements Backend.
func (c *Client) Lock(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/lock", nil, struct{}{}, nil)
}

// ChangePassword implements Backend.
func (c *Client) ChangePassword(ctx context.Context, oldPw, newPw []byte) error {
	return c.do(ctx, http.MethodPost, "/v1/password", nil, passwordBody{Old: oldPw, New: newPw}, nil)
}

// RotateKey implements Backend.
func (c *Client) RotateKey(ctx context.Context, oldPw, newPw []byte) error {
	return c.do(ctx, http.MethodPost, "/v1/password", nil, passwordBody{Old: oldPw, New: newPw, Rotate: true}, nil)
}

// SecretSet implements Backend.
func (c *Client) SecretSet(ctx context.Context, s vault.Secret) error {
	return c.do(ctx, http.MethodPut, "/v1/secret", nil, s, nil)
}

// SecretGet implements Backend.
func (c *Client) SecretGet(ctx context.Context, name string) (s vault.Secret, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/secret", nameQ(name), nil, &s)
	return
}

// SecretList implements Backend.
func (c *Client) SecretList(ctx context.Context) (l []vault.SecretInfo, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/secrets", nil, nil, &l)
	return
}

// SecretRemove implements Backend.
func (c *Client) SecretRemove(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/secret", nameQ(name), nil, nil)
}

// Audit implements Backend.
func (c *Client) Audit(ctx context.Context) (r AuditReport, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/audit", nil, nil, &r)
	return
}

// TokenIssue implements Backend.
func (c *Client) TokenIssue(ctx context.Context, req TokenRequest) (string, error) {
	var b tokenBody
	err := c.do(ctx, http.MethodPost, "/v1/token", nil, req, &b)
	return b.Token, err
}

func q(k, v string) url.Values { return url.Values{k: {v}} }

// SetHandle implements Backend.
func (c *Client) SetHandle(ctx context.Context, h string) error {
	return c.do(ctx, http.MethodPost, "/v1/handle", q("handle", h), struct{}{}, nil)
}

// PutResource implements Backend.
func (c *Client) PutResource(ctx context.Context, path string, data []byte) error {
	return c.do(ctx, http.MethodPut, "/v1/resource", q("path", path), data, nil)
}

// GetResource implements Backend.
func (c *Client) GetResource(ctx context.Context, path string) (b []byte, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/resource", q("path", path), nil, &b)
	return
}

// ListResources implements Backend.
func (c *Client) ListResources(ctx context.Context, prefix string) (l []Resource, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/resources", q("prefix", prefix), nil, &l)
	return
}

// Share implements Backend.
func (c *Client) Share(ctx context.Context, req ShareRequest) (r ShareResult, err error) {
	err = c.do(ctx, http.MethodPost, "/v1/share", nil, req, &r)
	return
}

// Shares implements Backend.
func (c *Client) Shares(ctx context.Context) (l []Grant, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/shares", nil, nil, &l)
	return
}

// Shared implements Backend.
func (c *Client) Shared(ctx context.Context) (l []Grant, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/shared", nil, nil, &l)
	return
}

// Get implements Backend.
func (c *Client) Get(ctx context.Context, req FetchRequest) (f Fetched, err error) {
	err = c.do(ctx, http.MethodPost, "/v1/fetch", nil, req, &f)
	return
}

// SnapshotPush implements Backend.
func (c *Client) SnapshotPush(ctx context.Context, pattern string) (l []Snapshot, err error) {
	err = c.do(ctx, http.MethodPost, "/v1/snapshots/push", q("pattern", pattern), nil, &l)
	return
}

// Hibernate implements Backend.
func (c *Client) Hibernate(ctx context.Context) (n int, err error) {
	err = c.do(ctx, http.MethodPost, "/v1/hibernate", nil, nil, &n)
	return
}

// Snapshots implements Backend.
func (c *Client) Snapshots(ctx context.Context) (l []Snapshot, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/snapshots", nil, nil, &l)
	return
}

// ListRemote implements Backend.
func (c *Client) ListRemote(ctx context.Context, remote string) (l []string, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/remote-list", q("remote", remote), nil, &l)
	return
}

// RevokedAmong implements Backend.
func (c *Client) RevokedAmong(ctx context.Context, ids []string) (l []string, err error) {
	err = c.do(ctx, http.MethodPost, "/v1/revoked", nil, ids, &l)
	return
}

// Contacts implements Backend.
func (c *Client) Contacts(ctx context.Context) (l []Contact, err error) {
	err = c.do(ctx, http.MethodGet, "/v1/contacts", nil, nil, &l)
	return
}

// AcceptContact implements Backend.
func (c *Client) AcceptContact(ctx context.Context, h string) error {
	return c.do(ctx, http.MethodPost, "/v1/contacts/accept", q("handle", h), struct{}{}, nil)
}

// Revoke implements Backend.
func (c *Client) Revoke(ctx context.Context, shareOrToken string) (string, error) {
	var b tokenBody
	err := c.do(ctx, http.MethodPost, "/v1/revoke", nil, tokenBody{Token: shareOrToken}, &b)
	return b.Token, err
}

// PutRemote implements Backend.
func (c *Client) PutRemote(ctx context.Context, remote string, data []byte) error {
	return c.do(ctx, http.MethodPut, "/v1/remote", q("remote", remote), data, nil)
}

// RemoveRemote implements Backend.
func (c *Client) RemoveRemote(ctx context.Context, remote string) error {
	return c.do(ctx, http.MethodDelete, "/v1/remote", q("remote", remote), nil, nil)
}

// RemoveResource implements Backend.
func (c *Client) RemoveResource(ctx context.Context, path string) error {
	return c.do(ctx, http.MethodDelete, "/v1/resource", q("path", path), nil, nil)
}

// AcceptToken implements Backend.
func (c *Client) AcceptToken(ctx context.Context, token string) (g Grant, err error) {
	err = c.do(ctx, http.MethodPost, "/v1/tokens/accept", nil, tokenBody{Token: token}, &g)
	return
}

// Backup implements Backend: the node's backup streams into w.
func (c *Client) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://mesh/v1/backup", nil)
	if err != nil {
		return BackupInfo{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return BackupInfo{}, transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e); err != nil {
			return BackupInfo{}, fmt.Errorf("the node answered %q without saying why", resp.Status)
		}
		return BackupInfo{}, &remoteError{msg: e.Error, sentinel: sentinelOf(e)}
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return BackupInfo{}, transportError(ctx, err)
	}
	if msg := resp.Trailer.Get(trailerBackupError); msg != "" {
		return BackupInfo{}, fmt.Errorf("the backup failed part way (what was written is not a backup): %s", msg)
	}
	id := resp.Trailer.Get(trailerBackupID)
	if id == "" {
		return BackupInfo{}, errors.New("the node stopped before the backup was complete (what was written is not a backup)")
	}
	info := BackupInfo{ID: id}
	if raw := resp.Trailer.Get(trailerBackupInfo); raw != "" {
		if err := json.Unmarshal([]byte(raw), &info); err != nil || info.ID != id {
			return BackupInfo{}, fmt.Errorf("the node's account of the backup is unreadable (%q); the backup itself, %s, is complete", raw, id)
		}
	}
	info.Size = n // what arrived here
	return info, nil
}
