// Package localapi is the home node's local control API: JSON over HTTP on
// a unix socket (DIR/api.sock, mode 0600, same-user peers only).
//
// The CLI uses one Backend interface whether a node is running (Client,
// talking to the node's socket) or not (the node package's direct backend,
// opening the vault itself). Errors keep their meaning across the socket:
// each sentinel has a stable code (a backoff also carries its time).
//
// Every JSON request body is read by one decoder (readJSON): one JSON
// value of the expected type, no unknown field, nothing after it, within
// the route's limit. A secret's limit is derived from vault.MaxSecretBytes,
// so a secret the vault takes without a node is never refused through one.
//
// Dial tells a socket nobody listens on (ErrStaleSocket: the node crashed
// or was killed) from no socket at all; a node that goes away while it
// handles a request is a *NodeStoppedError, which says whether the request
// had reached it.
package localapi

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/vault"
)

// Backend is everything the CLI asks of a home node.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	Unlock(ctx context.Context, password []byte) error
	Lock(ctx context.Context) error
	ChangePassword(ctx context.Context, oldPw, newPw []byte) error
	// RotateKey changes the password and the master key: every record is
	// re-encrypted, so an old copy of the wrap opens nothing written since.
	RotateKey(ctx context.Context, oldPw, newPw []byte) error
	SecretSet(ctx context.Context, s vault.Secret) error
	SecretGet(ctx context.Context, name string) (vault.Secret, error)
	SecretList(ctx context.Context) ([]vault.SecretInfo, error)
	SecretRemove(ctx context.Context, name string) error
	Audit(ctx context.Context) (AuditReport, error)
	TokenIssue(ctx context.Context, req TokenRequest) (string, error)

	SetHandle(ctx context.Context, handle string) error
	PutResource(ctx context.Context, path string, data []byte) error
	GetResource(ctx context.Context, path string) ([]byte, error)
	ListResources(ctx context.Context, prefix string) ([]Resource, error)
	Share(ctx context.Context, req ShareRequest) (ShareResult, error)
	Shares(ctx context.Context) ([]Grant, error)
	Shared(ctx context.Context) ([]Grant, error)
	// Get reads HANDLE/PATH: one's own resource from the vault, another
	// owner's from its node, or, when that node is offline, from the
	// cached copy at its relays (unless req.Live).
	Get(ctx context.Context, req FetchRequest) (Fetched, error)
	// SnapshotPush seals and pushes to the node's relays the resources
	// pattern covers ("" for all shared) that a share allows reading;
	// Snapshots lists what was pushed where.
	SnapshotPush(ctx context.Context, pattern string) ([]Snapshot, error)
	Snapshots(ctx context.Context) ([]Snapshot, error)
	// Hibernate puts the running node to sleep (mesh hibernate): it tells
	// its relays, which can wake it, and then stops. It returns how many
	// relays took it.
	Hibernate(ctx context.Context) (int, error)
	// PutRemote writes HANDLE/PATH with a share that allows write;
	// RemoveRemote deletes it with one that allows delete.
	PutRemote(ctx context.Context, remote string, data []byte) error
	RemoveRemote(ctx context.Context, remote string) error
	// RemoveResource deletes one of this node's own resources.
	RemoveResource(ctx context.Context, path string) error
	// AcceptToken takes a token received out of band (mesh token use): it
	// must be addressed to this node and valid; it is then held like a
	// share received from its owner.
	AcceptToken(ctx context.Context, token string) (Grant, error)
	// Backup writes an encrypted, consistent copy of the home to w (the
	// vault must be unlocked; only its password opens the copy).
	Backup(ctx context.Context, w io.Writer) (BackupInfo, error)
	ListRemote(ctx context.Context, remote string) ([]string, error)
	Contacts(ctx context.Context) ([]Contact, error)
	AcceptContact(ctx context.Context, handle string) error
	// Revoke revokes a share this node issued (by ID or prefix) or a token
	// (text); it returns the revoked token's ID.
	Revoke(ctx context.Context, shareOrToken string) (string, error)
	// RevokedAmong returns those of ids (token IDs, hex) that this node's
	// revocation set holds: the running node's set, or without a node the
	// set as the node last stored it.
	RevokedAmong(ctx context.Context, ids []string) ([]string, error)
	Agents
	Groups
	Recovery
	Close() error
}

// FetchRequest is a read of HANDLE/PATH (mesh get).
type FetchRequest struct {
	Remote string `json:"remote"`
	// Live skips the cached tier: only the owner's node answers.
	Live bool `json:"live,omitempty"`
	// Wake asks the owner's relays to wake a hibernating owner when
	// neither its node nor (unless Live) a cached copy answers.
	Wake bool `json:"wake,omitempty"`
	// Quick gives up on an unreachable owner (that nothing cached
	// answers for) at once instead of retrying for seconds: the caller
	// asks again with Wake.
	Quick bool `json:"quick,omitempty"`
}

// ErrUnreachable means the owner's node could not be reached: nothing was
// asked, nothing refused.
var ErrUnreachable = errors.New("owner unreachable")

// Where a read was served from (Fetched.Source).
const (
	SourceOwn   = "vault" // one's own resource
	SourceOwner = "owner" // the owner's node, live
	SourceCache = "cache" // a relay's cached snapshot, the owner offline
	SourceWoken = "woken" // the owner's node, woken through its relay
)

// Fetched is what a read returned and where it came from.
type Fetched struct {
	Data   []byte `json:"data"`
	Source string `json:"source"`
	// For SourceCache: the relay, the snapshot's version and when the
	// owner sealed it.
	Relay   string    `json:"relay,omitempty"`
	Version uint64    `json:"version,omitempty"`
	Sealed  time.Time `json:"sealed,omitzero"`
	// Why the cache served it: "offline" (the owner's node could not be
	// reached) or "too large" (more than a live read carries).
	Why string `json:"why,omitempty"`
}

// Snapshot is what the node pushed of one resource to relays' caches.
type Snapshot struct {
	Resource    string          `json:"resource"`
	Version     uint64          `json:"version"`
	SealedBytes uint64          `json:"sealed_bytes"`
	Readers     int             `json:"readers"` // the owner included
	Sealed      time.Time       `json:"sealed"`
	Expiry      time.Time       `json:"expiry"`
	Caches      []SnapshotCache `json:"caches"`
}

// SnapshotCache is one relay's answer to a push.
type SnapshotCache struct {
	Relay string    `json:"relay"`
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"` // "" when the relay holds it
}

// Status describes a node.
type Status struct {
	PeerID         string    `json:"peer_id"`
	Handle         string    `json:"handle,omitempty"`
	HandleProblem  string    `json:"handle_problem,omitempty"` // why the bootstrap has not taken it
	Relayed        bool      `json:"relayed,omitempty"`        // holds a relay reservation
	Running        bool      `json:"running"`
	Locked         bool      `json:"locked"`
	Listen         []string  `json:"listen,omitempty"`
	FailedUnlocks  uint32    `json:"failed_unlocks"`
	NextUnlockFrom time.Time `json:"next_unlock_from,omitzero"`
	Home           string    `json:"home"`
	// LockAfter is how long the running node's vault may stay unused
	// before it locks itself ("30m"); empty when it never does, or no
	// node runs.
	LockAfter string `json:"lock_after,omitempty"`
	// DiskWarning says, in words, that the store's disk is nearly full
	// ("disk nearly full: 100 MiB free; writes stop at 64 MiB, …": under
	// twice the write reserve, internal/store), and names any audit record
	// the vault could not write for want of space. Empty when all is well.
	DiskWarning string `json:"disk_warning,omitempty"`
	// UI is the running node's web UI address, and UIFingerprint its TLS
	// certificate's SHA-256 when it serves HTTPS.
	UI            string `json:"ui,omitempty"`
	UIFingerprint string `json:"ui_fingerprint,omitempty"`
}

// AuditReport is the audit log and the result of verifying its chain.
type AuditReport struct {
	Records []vault.AuditRecord `json:"records"`
	// Broken is empty when the chain verifies, else it names the first
	// broken link.
	Broken string `json:"broken,omitempty"`
	// Checked says how far the chain was checked: "keyed" (every record's
	// tag, with the vault unlocked) or "structure only" (links and head,
	// without the key: the vault is locked).
	Checked string `json:"checked"`
}

// Error codes that cross the socket, one per sentinel callers branch on.
var codes = []struct {
	code string
	err  error
}{
	{"locked", vault.ErrLocked},
	{"bad_password", vault.ErrBadPassword},
	{"not_found", vault.ErrNotFound},
	{"exists", vault.ErrExists},
	{"no_vault", vault.ErrNoVault},
	{"bad_name", vault.ErrBadName},
	{"corrupt", vault.ErrCorrupt},
	{"audit_broken", vault.ErrAuditBroken},
	{"revoked", capability.ErrRevoked},
	{"too_large", vault.ErrTooLarge},
	{"backoff", vault.ErrBackoff},
	{"rolled_back", vault.ErrRolledBack},
	{"bad_request", ErrBadRequest},
	{"unreachable", ErrUnreachable},
}

// ErrBadRequest is a request body the local API cannot take: not JSON of
// the expected shape, or more than one JSON value.
var ErrBadRequest = errors.New("bad request")

func codeOf(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "internal"
}

func errOf(code string) error {
	for _, c := range codes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}

// remoteError is an error returned by the node, keeping its sentinel.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

type errorBody struct {
	Code  string `json:"code"`
	Error string `json:"error"`
	// Until and Failures come with code backoff (a *vault.BackoffError):
	// when the next unlock attempt is allowed, and the wrong passwords so
	// far, so the client can show the wait.
	Until    time.Time `json:"until,omitzero"`
	Failures uint32    `json:"failures,omitempty"`
}

type passwordBody struct {
	Password []byte `json:"password,omitempty"`
	Old      []byte `json:"old,omitempty"`
	New      []byte `json:"new,omitempty"`
	// Rotate asks for a new master key too (RotateKey).
	Rotate bool `json:"rotate,omitempty"`
}

// TokenRequest asks the node to sign a capability token (or delegate one it
// holds, when Parent is set).
type TokenRequest struct {
	Audience     string        `json:"audience"` // peer ID
	Resource     string        `json:"resource"` // pattern, e.g. calendar/*
	Actions      string        `json:"actions"`  // e.g. read,list
	ValidFor     time.Duration `json:"valid_for"`
	MaxUses      int           `json:"max_uses,omitempty"`
	AgentCeiling bool          `json:"agent_ceiling,omitempty"`
	Parent       string        `json:"parent,omitempty"` // token text
}

type tokenBody struct {
	Token string `json:"token"`
}

// Grant is a capability token as the CLI shows it: issued by this node
// (`mesh shares`) or received (`mesh shared`).
type Grant struct {
	ID             string    `json:"id"`
	Token          string    `json:"token"`
	Owner          string    `json:"owner"` // root issuer: whose resources
	OwnerHandle    string    `json:"owner_handle,omitempty"`
	Issuer         string    `json:"issuer"`
	Audience       string    `json:"audience"`
	AudienceHandle string    `json:"audience_handle,omitempty"`
	Resource       string    `json:"resource"`
	Actions        []string  `json:"actions"`
	NotBefore      time.Time `json:"not_before"`
	Expiry         time.Time `json:"expiry"`
	Depth          int       `json:"depth"`
	Created        time.Time `json:"created"`
	Via            string    `json:"via,omitempty"` // live, mailbox or by hand
	// Status is active, undelivered, revoked, expired, not yet valid, or,
	// without a node when the stored revocation set cannot be read,
	// StatusUnknown: never active unless it is known not to be revoked.
	Status string `json:"status,omitempty"`
}

// StatusUnknown is a grant's status when its revocation state cannot be
// known (no node runs and the stored revocation set cannot be read).
const StatusUnknown = "unknown (node not running)"

// StatusLastSeen is the status of a grant this node holds that was not
// revoked as far as the node knew when it last ran: without the node,
// nothing can tell whether its owner revoked it since.
const StatusLastSeen = "active when the node last ran"

// Contact is a handle this node has resolved, pinned to its peer ID.
type Contact struct {
	Handle    string    `json:"handle"`
	Peer      string    `json:"peer"`
	FirstSeen time.Time `json:"first_seen"`
	// Code is a short verification code both sides compute from their two
	// peer IDs: compare it by phone or in person.
	Code string `json:"code"`
	// Pending is a different peer ID the directory now gives for this
	// handle; it is refused until the user accepts it.
	Pending string `json:"pending,omitempty"`
}

// ShareRequest asks the node to share a resource with a handle.
type ShareRequest struct {
	Path     string        `json:"path"` // pattern, e.g. calendar/*
	With     string        `json:"with"` // handle
	Can      string        `json:"can"`  // e.g. read,list
	ValidFor time.Duration `json:"valid_for"`
	// From, when set, delegates a share received from this handle (it must
	// allow share) instead of sharing one's own resources.
	From string `json:"from,omitempty"`
}

// ShareResult says what happened to a share.
type ShareResult struct {
	ID        string `json:"id"`
	Audience  string `json:"audience"`
	Delivered string `json:"delivered"` // "live" or "mailbox"; empty: not yet
	// Pending says why the share is not delivered yet (the recipient and
	// its mailbox unreachable); the node retries until it is.
	Pending string    `json:"pending,omitempty"`
	Expiry  time.Time `json:"expiry"`
}

// BackupInfo describes a backup just written.
type BackupInfo struct {
	ID      string    `json:"id"`      // also in the vault.backup audit record
	Created time.Time `json:"created"` // the instant the backup holds
	Entries uint64    `json:"entries"` // store entries
	Size    int64     `json:"size"`    // bytes written
}

// Resource describes one of the node's own resources.
type Resource struct {
	Path string `json:"path"`
}

// Target reads the argument of mesh put or mesh rm: HANDLE/PATH names a
// resource of someone who shared with this node (remote is true, and arg is
// returned as is); PATH names one of this node's own (remote is false, and
// path is arg, without this node's handle if it starts with it). The first
// segment is a handle when it is this node's own handle or that of an owner
// who shared something with this node; anything else is an own path.
func Target(ctx context.Context, b Backend, arg string) (remote bool, path string, err error) {
	first, rest, ok := strings.Cut(arg, "/")
	if !ok {
		return false, arg, nil
	}
	st, err := b.Status(ctx)
	if err != nil {
		return false, "", err
	}
	if st.Handle != "" && first == st.Handle {
		return false, rest, nil
	}
	gs, err := b.Shared(ctx)
	if err != nil {
		return false, "", err
	}
	for _, g := range gs {
		if strings.TrimSuffix(g.OwnerHandle, "?") == first {
			return true, arg, nil
		}
	}
	return false, arg, nil
}
