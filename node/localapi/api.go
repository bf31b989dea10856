// Package localapi is the home node's local control API: JSON over HTTP on
// a unix socket (DIR/api.sock, mode 0600, same-user peers only).
//
// The CLI uses one Backend interface whether a node is running (Client,
// talking to the node's socket) or not (the node package's direct backend,
// opening the vault itself). Errors keep their meaning across the socket:
// each sentinel has a stable code.
package localapi

import (
	"context"
	"errors"
	"time"

	"github.com/ocmt/mesh/vault"
)

// Backend is everything the CLI asks of a home node.
type Backend interface {
	Status(ctx context.Context) (Status, error)
	Unlock(ctx context.Context, password []byte) error
	Lock(ctx context.Context) error
	ChangePassword(ctx context.Context, oldPw, newPw []byte) error
	SecretSet(ctx context.Context, s vault.Secret) error
	SecretGet(ctx context.Context, name string) (vault.Secret, error)
	SecretList(ctx context.Context) ([]vault.SecretInfo, error)
	SecretRemove(ctx context.Context, name string) error
	Audit(ctx context.Context) (AuditReport, error)
	TokenIssue(ctx context.Context, req TokenRequest) (string, error)
	Close() error
}

// Status describes a node.
type Status struct {
	PeerID         string    `json:"peer_id"`
	Running        bool      `json:"running"`
	Locked         bool      `json:"locked"`
	Listen         []string  `json:"listen,omitempty"`
	FailedUnlocks  uint32    `json:"failed_unlocks"`
	NextUnlockFrom time.Time `json:"next_unlock_from,omitzero"`
	Home           string    `json:"home"`
}

// AuditReport is the audit log and the result of verifying its chain.
type AuditReport struct {
	Records []vault.AuditRecord `json:"records"`
	// Broken is empty when the chain verifies, else it names the first
	// broken link.
	Broken string `json:"broken,omitempty"`
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
}

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
}

type passwordBody struct {
	Password []byte `json:"password,omitempty"`
	Old      []byte `json:"old,omitempty"`
	New      []byte `json:"new,omitempty"`
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
