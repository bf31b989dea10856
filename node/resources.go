package node

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/auditlimit"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/share"
	"github.com/ocmt/mesh/vault"
)

// Resources are the files and collections a user shares (calendar/work,
// contacts/family, files/report.pdf), sealed in the vault's resources
// namespace under their path.

// PutResource implements localapi.Backend.
func (o *Offline) PutResource(ctx context.Context, path string, data []byte) error {
	o.use()
	p, err := capability.ParsePath(path)
	if err != nil {
		return pathError(path, err, false)
	}
	if len(data) > share.MaxData {
		return fmt.Errorf("%w: a resource holds at most %d MiB", vault.ErrTooLarge, share.MaxData>>20)
	}
	return o.vault.Put(ctx, vault.NSResources, string(p), data, vault.AuditEntry{Actor: o.actor, Op: OpResourceWrite, Target: string(p)})
}

// GetResource implements localapi.Backend: one of this node's own resources.
func (o *Offline) GetResource(ctx context.Context, path string) ([]byte, error) {
	o.use()
	b, err := o.vault.Get(ctx, vault.NSResources, path, vault.AuditEntry{Actor: o.actor, Op: OpResourceRead, Target: path})
	return b, notFound(err, "resource", path, "mesh ls")
}

// RemoveResource implements localapi.Backend.
func (o *Offline) RemoveResource(ctx context.Context, path string) error {
	o.use()
	p, err := capability.ParsePath(path)
	if err != nil {
		return pathError(path, err, false)
	}
	return notFound(o.vault.Delete(ctx, vault.NSResources, string(p), vault.AuditEntry{Actor: o.actor, Op: OpResourceDelete, Target: string(p)}),
		"resource", string(p), "mesh ls")
}

// ListResources implements localapi.Backend.
func (o *Offline) ListResources(ctx context.Context, prefix string) ([]localapi.Resource, error) {
	o.use()
	names, err := o.vault.List(ctx, vault.NSResources)
	if err != nil {
		return nil, err
	}
	prefix = strings.TrimSuffix(prefix, "/")
	var out []localapi.Resource
	for _, n := range names {
		if prefix == "" || n == prefix || strings.HasPrefix(n, prefix+"/") {
			out = append(out, localapi.Resource{Path: n})
		}
	}
	return out, nil
}

// shareStore serves the share protocol from the vault, auditing every
// access under the remote peer's name. served, when set, is told of every
// request served (the node's metrics and idle clock).
type shareStore struct {
	o      *Offline
	served func(op string)
}

// serving tells served about op when err is nil, and returns err.
func (s shareStore) serving(op string, err error) error {
	if err == nil && s.served != nil {
		s.served(op)
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

func (s shareStore) Read(ctx context.Context, by peer.ID, tok capability.ID, p capability.ResourcePath) ([]byte, error) {
	b, err := s.o.vault.Get(ctx, vault.NSResources, string(p), vault.AuditEntry{Actor: by.String(), Op: OpShareServe, Target: string(p), Detail: "read with " + tok.Short()})
	return b, wireErr(s.serving(opRead, err))
}

func (s shareStore) List(ctx context.Context, by peer.ID, tok capability.ID, keep func(capability.ResourcePath) bool) ([]capability.ResourcePath, error) {
	names, err := s.o.vault.List(ctx, vault.NSResources)
	if err != nil {
		return nil, wireErr(err)
	}
	var out []capability.ResourcePath
	for _, n := range names {
		if p, err := capability.ParsePath(n); err == nil && keep(p) {
			out = append(out, p)
		}
	}
	err = s.o.vault.Audit(ctx, vault.AuditEntry{Actor: by.String(), Op: OpShareServe, Outcome: vault.OutcomeOK, Detail: fmt.Sprintf("list with %s: %d names", tok.Short(), len(out))})
	return out, s.serving(opList, err)
}

func (s shareStore) Write(ctx context.Context, by peer.ID, tok capability.ID, p capability.ResourcePath, data []byte) error {
	e := vault.AuditEntry{Actor: by.String(), Op: OpShareServe, Target: string(p), Detail: s.change(ctx, "write", by, tok, len(data))}
	return wireErr(s.serving(opWrite, s.o.vault.Put(ctx, vault.NSResources, string(p), data, e)))
}

func (s shareStore) Delete(ctx context.Context, by peer.ID, tok capability.ID, p capability.ResourcePath) error {
	e := vault.AuditEntry{Actor: by.String(), Op: OpShareServe, Target: string(p), Detail: s.change(ctx, "delete", by, tok, -1)}
	return wireErr(s.serving(opDelete, s.o.vault.Delete(ctx, vault.NSResources, string(p), e)))
}

// change describes a grantee's change for the owner's audit: who made it
// (by handle when pinned; the record's actor is the peer ID), with which
// token, and how many bytes it wrote.
func (s shareStore) change(ctx context.Context, what string, by peer.ID, tok capability.ID, n int) string {
	who := s.o.state.NameOf(ctx, by)
	if who == "" {
		who = "a grantee"
	}
	d := fmt.Sprintf("%s by %s with %s", what, who, tok.Short())
	if n >= 0 {
		d += fmt.Sprintf(" (%d bytes)", n)
	}
	return d
}

// refused records a refused share request in the audit log, through the
// node's coalescer: a stranger chooses the path and the rate, so the path
// is clipped and a flood of refusals becomes a few summaries a minute.
func (n *Node) refused(by peer.ID, op, path string, err error) {
	n.metrics.refusedOne(err)
	n.refusals.Add(by.String(), op, path, wire.StatusOf(err).String())
}

// served counts a share request served, which is a use of the vault.
func (n *Node) served(op string) {
	n.touch()
	n.metrics.servedOne(op)
}

// auditRefusal writes one record of the coalescer.
func (n *Node) auditRefusal(e auditlimit.Event) {
	actor := e.Peer
	if actor == "" {
		actor = "many peers"
	}
	detail := e.Op + ": " + e.Detail
	if e.Summary() {
		detail = e.String()
	}
	_ = n.vault.Audit(context.Background(), vault.AuditEntry{Actor: actor, Op: OpShareRefused, Target: e.Target, Outcome: vault.OutcomeDenied, Detail: detail})
}
