package node

import (
	"context"
	"errors"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"

	"github.com/ocmt/mesh/internal/cached"
	"github.com/ocmt/mesh/internal/snapshot"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// OpSnapshotSeal audits a resource read to seal a snapshot of it.
const OpSnapshotSeal = "snapshot.seal"

// startCache wires internal/cached: the owner side runs in the mesh's
// background, the reader is the grantee's fallback.
func (n *Node) startCache() *cached.Reader {
	st := namespace.Wrap(n.store, store.MeshSnapshots)
	n.cache = cached.NewOwner(cached.OwnerConfig{Host: n.host, Store: st, Seal: n.signer.sealSnapshot, Unlocked: n.signer.unlocked,
		Read: func(ctx context.Context, p string) ([]byte, error) {
			return n.vault.Get(ctx, vault.NSResources, p, vault.AuditEntry{Actor: "cached tier", Op: OpSnapshotSeal, Target: p})
		},
		Resources: func(ctx context.Context) ([]string, error) { return n.vault.List(ctx, vault.NSResources) },
		Shares:    n.issued, Caches: n.net.ReservedOn, Logger: n.log, Now: n.now})
	n.onResource = n.cache.Changed
	n.net.Go(func(ctx context.Context) { n.cache.Run(ctx, n.reserved) })
	return &cached.Reader{Host: n.host, Fetch: n.signer.fetchSnapshot(n.host, snapshot.NewDatastoreState(namespace.Wrap(st, ds.NewKey("seen"))))}
}

// SnapshotPush implements localapi.Backend: mesh snapshot push [PATTERN].
func (n *Node) SnapshotPush(ctx context.Context, pattern string) ([]localapi.Snapshot, error) {
	n.use()
	rep, err := n.cache.Push(ctx, pattern)
	out := []localapi.Snapshot{}
	for _, r := range rep.Resources {
		out = append(out, r.API())
	}
	if errors.Is(err, cached.ErrNoCache) && !n.net.HasBootstrap() && len(n.cfg.Relays) == 0 {
		err = errors.New("this node uses no relay (mesh node --relay or --bootstrap), so there is no cache to push to")
	}
	return out, err
}

// Snapshots implements localapi.Backend: mesh snapshot status.
func (o *Offline) Snapshots(ctx context.Context) ([]localapi.Snapshot, error) {
	return cached.Records(ctx, namespace.Wrap(o.store, store.MeshSnapshots))
}
