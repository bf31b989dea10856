package sharestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/auditlimit"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/vault"
)

// Audit operations of the owner's side.
const (
	OpServe   = "share.serve"
	OpRefused = "share.refused"
)

// Share operations as Config.Served names them.
const (
	OpRead   = "read"
	OpList   = "list"
	OpWrite  = "write"
	OpDelete = "delete"
)

// Config is what a Store uses of its node.
type Config struct {
	Vault *vault.Vault
	// State names grantees by their pinned handle in the audit.
	State *meshstate.State
	// Served, when set, is told of every request served (OpRead, ...):
	// the node's metrics and idle clock.
	Served func(op string)
	// Refused, when set, is told of every refused request (metrics).
	Refused func(err error)
	// Now is the clock of the refusals' coalescer. Default time.Now.
	Now func() time.Time
}

// Store implements share.Store on the vault's resources.
type Store struct {
	cfg      Config
	refusals *auditlimit.Coalescer
}

// New returns a Store; Close it after the share server.
func New(cfg Config) *Store {
	if cfg.Served == nil {
		cfg.Served = func(string) {}
	}
	if cfg.Refused == nil {
		cfg.Refused = func(error) {}
	}
	s := &Store{cfg: cfg}
	s.refusals = auditlimit.New(auditlimit.Config{Record: s.auditRefusal, Now: cfg.Now})
	return s
}

// Close writes the refusals still held back and stops the coalescer.
func (s *Store) Close() { s.refusals.Close() }

// serving tells Served about op when err is nil, and returns err.
func (s *Store) serving(op string, err error) error {
	if err == nil {
		s.cfg.Served(op)
	}
	return err
}

func wireErr(err error) error {
	switch {
	case errors.Is(err, vault.ErrLocked):
		return wire.Errorf(wire.Locked, "the owner's vault is locked")
	case errors.Is(err, vault.ErrNotFound):
		return wire.Errorf(wire.NotFound, "no such resource")
	}
	return err
}

// Read implements share.Store.
func (s *Store) Read(ctx context.Context, by peer.ID, tok capability.ID, p capability.ResourcePath) ([]byte, error) {
	b, err := s.cfg.Vault.Get(ctx, vault.NSResources, string(p), vault.AuditEntry{Actor: by.String(), Op: OpServe, Target: string(p), Detail: "read with " + tok.Short()})
	return b, wireErr(s.serving(OpRead, err))
}

// List implements share.Store.
func (s *Store) List(ctx context.Context, by peer.ID, tok capability.ID, keep func(capability.ResourcePath) bool) ([]capability.ResourcePath, error) {
	names, err := s.cfg.Vault.List(ctx, vault.NSResources)
	if err != nil {
		return nil, wireErr(err)
	}
	var out []capability.ResourcePath
	for _, n := range names {
		if p, err := capability.ParsePath(n); err == nil && keep(p) {
			out = append(out, p)
		}
	}
	err = s.cfg.Vault.Audit(ctx, vault.AuditEntry{Actor: by.String(), Op: OpServe, Outcome: vault.OutcomeOK, Detail: fmt.Sprintf("list with %s: %d names", tok.Short(), len(out))})
	return out, s.serving(OpList, err)
}

// Write implements share.Store.
func (s *Store) Write(ctx context.Context, by peer.ID, tok capability.ID, p capability.ResourcePath, data []byte) error {
	e := vault.AuditEntry{Actor: by.String(), Op: OpServe, Target: string(p), Detail: s.change(ctx, "write", by, tok, len(data))}
	return wireErr(s.serving(OpWrite, s.cfg.Vault.Put(ctx, vault.NSResources, string(p), data, e)))
}

// Delete implements share.Store.
func (s *Store) Delete(ctx context.Context, by peer.ID, tok capability.ID, p capability.ResourcePath) error {
	e := vault.AuditEntry{Actor: by.String(), Op: OpServe, Target: string(p), Detail: s.change(ctx, "delete", by, tok, -1)}
	return wireErr(s.serving(OpDelete, s.cfg.Vault.Delete(ctx, vault.NSResources, string(p), e)))
}

// change describes a grantee's change for the owner's audit: who made it
// (by handle when pinned; the record's actor is the peer ID), with which
// token, and how many bytes it wrote.
func (s *Store) change(ctx context.Context, what string, by peer.ID, tok capability.ID, n int) string {
	who := s.cfg.State.NameOf(ctx, by)
	if who == "" {
		who = "a grantee"
	}
	d := fmt.Sprintf("%s by %s with %s", what, who, tok.Short())
	if n >= 0 {
		d += fmt.Sprintf(" (%d bytes)", n)
	}
	return d
}

// Refused implements share.Config.Refused: it records a refused request
// in the audit log through the coalescer.
func (s *Store) Refused(by peer.ID, op, path string, err error) {
	s.cfg.Refused(err)
	s.refusals.Add(by.String(), op, path, wire.StatusOf(err).String())
}

// auditRefusal writes one record of the coalescer.
func (s *Store) auditRefusal(e auditlimit.Event) {
	actor := e.Peer
	if actor == "" {
		actor = "many peers"
	}
	detail := e.Op + ": " + e.Detail
	if e.Summary() {
		detail = e.String()
	}
	_ = s.cfg.Vault.Audit(context.Background(), vault.AuditEntry{Actor: actor, Op: OpRefused, Target: e.Target, Outcome: vault.OutcomeDenied, Detail: detail})
}
