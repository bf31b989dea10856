package infra

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/protocols/relayaccess"
	"github.com/ocmt/mesh/protocols/revsync"
)

// GrantRelayAccess issues, with the relay's own key in h, a relay-access
// capability for peer `to`: it may then reserve a slot without being in the
// directory, until the token expires or is revoked.
func GrantRelayAccess(h home.Home, to peer.ID, validFor time.Duration, now time.Time) (*capability.Token, error) {
	if err := capability.CheckLifetime(validFor); err != nil {
		return nil, err
	}
	k, err := home.LoadIdentity(h)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return capability.Issue(&k, capability.Params{Audience: to, Resource: capability.Pattern(relayaccess.Resource),
		Actions: capability.Use, NotBefore: now, Expiry: now.Add(validFor)})
}

// RevokeRelayAccess revokes, with the relay's own key in h, a relay-access
// capability it granted (the token's text, as mesh relay grant printed
// it). When the relay is running, the signed revocation is pushed to it
// (revsync push), which puts it in force, cuts the peer's reservation and
// circuits and gossips it; otherwise it is written to the relay's store
// and in force from its next start. how says which happened.
func RevokeRelayAccess(ctx context.Context, h home.Home, tokenText string, now time.Time) (id capability.ID, how string, err error) {
	tok, err := capability.Parse(strings.TrimSpace(tokenText))
	if err != nil {
		return id, "", fmt.Errorf("relay token: %w", err)
	}
	if tok.Resource() != capability.Pattern(relayaccess.Resource) {
		return id, "", fmt.Errorf("token %s is not a relay-access capability", tok.ID().Short())
	}
	k, err := home.LoadIdentity(h)
	if err != nil {
		return id, "", err
	}
	defer k.Wipe()
	rev, err := revocation.New(&k, tok, now)
	if err != nil {
		return id, "", fmt.Errorf("revoking %s with this relay's key: %w", tok.ID().Short(), err)
	}
	lock, err := home.Lock(h)
	if errors.Is(err, home.ErrAlreadyRunning) {
		return rev.ID(), "pushed to the running relay", pushToRunning(ctx, h, rev)
	}
	if err != nil {
		return id, "", err
	}
	defer lock.Close()
	return rev.ID(), "stored; in force when the relay starts", storeRevocation(ctx, h, rev)
}

// storeRevocation adds rev to the revocation set in h's store (the relay
// is not running).
func storeRevocation(ctx context.Context, h home.Home, rev *revocation.Revocation) error {
	st, err := store.Open(h.StorePath())
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := store.Migrate(ctx, st, store.Relay); err != nil {
		return err
	}
	set, err := revocation.Open(ctx, revocation.Config{Datastore: namespace.Wrap(st, store.Revocations), CollectEvery: -1})
	if err != nil {
		return err
	}
	defer set.Close()
	_, err = set.Add(ctx, rev)
	return err
}

// pushToRunning pushes rev to the service running on h, from a throwaway
// host, at the addresses the service wrote at start.
func pushToRunning(ctx context.Context, h home.Home, rev *revocation.Revocation) error {
	addrs, err := home.ReadAddrs(h)
	if err != nil {
		return fmt.Errorf("the relay is running but its addresses are unknown: %w", err)
	}
	infos, err := p2phost.ParseAddrInfos("relay address", addrs)
	if err != nil || len(infos) == 0 {
		return fmt.Errorf("%s holds no usable address: %v", h.AddrsPath(), err)
	}
	c, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay())
	if err != nil {
		return err
	}
	defer c.Close()
	target := p2phost.Merge(infos)
	if err := c.Connect(ctx, target); err != nil {
		return fmt.Errorf("reaching the running relay: %w", err)
	}
	return revsync.Push(ctx, c, target.ID, rev)
}
