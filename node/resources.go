package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// Resources are the files and collections a user shares (calendar/work,
// contacts/family, files/report.pdf), sealed in the vault's resources
// namespace under their path.

// MaxResource is the most a resource holds (a vault record); over
// share.MaxData, grantees read it from the cached tier.
const MaxResource = vault.MaxRecordPlaintext

// PutResource implements localapi.Backend.
func (o *Offline) PutResource(ctx context.Context, path string, data []byte) error {
	o.use()
	p, err := capability.ParsePath(path)
	if err != nil {
		return words.BadPath(path, err, false)
	}
	if len(data) > MaxResource {
		return fmt.Errorf("%w: a resource holds at most %d MiB", vault.ErrTooLarge, (MaxResource>>20)+1)
	}
	err = o.vault.Put(ctx, vault.NSResources, string(p), data, vault.AuditEntry{Actor: o.actor, Op: OpResourceWrite, Target: string(p)})
	o.changed(string(p), err)
	return err
}

// changed tells the cached tier of a resource written or deleted.
func (o *Offline) changed(path string, err error) {
	if err == nil && o.onResource != nil {
		o.onResource(path)
	}
}

// GetResource implements localapi.Backend: one of this node's own resources.
func (o *Offline) GetResource(ctx context.Context, path string) ([]byte, error) {
	o.use()
	b, err := o.vault.Get(ctx, vault.NSResources, path, vault.AuditEntry{Actor: o.actor, Op: OpResourceRead, Target: path})
	return b, words.NotFound(err, "resource", path, "mesh ls")
}

// RemoveResource implements localapi.Backend.
func (o *Offline) RemoveResource(ctx context.Context, path string) error {
	o.use()
	p, err := capability.ParsePath(path)
	if err != nil {
		return words.BadPath(path, err, false)
	}
	err = o.vault.Delete(ctx, vault.NSResources, string(p), vault.AuditEntry{Actor: o.actor, Op: OpResourceDelete, Target: string(p)})
	o.changed(string(p), err)
	return words.NotFound(err, "resource", string(p), "mesh ls")
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

// served counts a share request served (internal/sharestore), which is a
// use of the vault.
func (n *Node) served(op string) {
	n.touch()
	n.metrics.Served(op)
}
