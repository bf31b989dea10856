package socialrecovery

import (
	"context"
	"log/slog"
	"time"

	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/recoverywire"
	"github.com/ocmt/mesh/vault"
)

// Methods is the node's recovery methods (internal/recoveryhost.Service):
// the operator's shortest waiting period, and where the social ops go.
type Methods interface {
	MinWait() time.Duration
	SetSocial(localapi.Recovery)
}

// Mailbox is the node's mailbox round (internal/delivery.Service), which
// offers social recovery the items that are not grants.
type Mailbox interface {
	SetOther(func(ctx context.Context, sealed []byte) bool)
}

// Start is a running home node's social recovery, wired in one call (the
// node package's glue is kept to a line): it builds the Service on the
// node's mesh connection, vault and key (withPeerKey runs f with the peer
// key, locked or not; the Service asks for the vault unlocked where it
// decides something), serves /ocmt/recovery/1 on the node's host, takes
// the social ops from methods and the recovery mail from mailbox, and
// runs the outbox until net closes.
func Start(net *meshnet.Net, v *vault.Vault, withPeerKey func(func(*keys.PeerKey) error) error, handle func(context.Context) (string, error),
	methods Methods, mailbox Mailbox, now func() time.Time, log *slog.Logger) *Service {
	h := net.Host()
	withKey := func(f func(*keys.PeerKey) error) error {
		if v.Locked() {
			return vault.ErrLocked
		}
		return withPeerKey(f)
	}
	s := New(Config{Host: h, Net: net, Vault: v, Store: v.Store(), Self: h.ID(), Handle: handle,
		Resolve: net.Lookup, WithKey: withKey, WithPeerKey: withPeerKey, MinWait: methods.MinWait(), Now: now, Logger: log})
	if _, err := recoverywire.NewServer(h, recoverywire.Config{Handler: s, Now: now, Logger: log}); err != nil {
		s.log.Error("social recovery is not served", "err", err)
	}
	methods.SetSocial(s)
	mailbox.SetOther(s.Mail)
	net.Go(s.Run)
	return s
}
