package infra

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/p2phost"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/protocols/relayaccess"
	"github.com/ocmt/mesh/protocols/revsync"
	"github.com/ocmt/mesh/relay"
)

// AdminOption adjusts the operator's commands (GrantRelayAccess,
// RevokeRelayAccess).
type AdminOption func(*adminConfig)

type adminConfig struct{ auditPath string }

// WithAuditFile names the relay's audit log when it is not the default
// DIR/audit.log (the relay runs with --audit FILE): the command's record
// must land in the log the relay keeps.
func WithAuditFile(path string) AdminOption { return func(c *adminConfig) { c.auditPath = path } }

func adminOptions(h home.Home, opts []AdminOption) adminConfig {
	var c adminConfig
	for _, o := range opts {
		o(&c)
	}
	if c.auditPath == "" {
		c.auditPath = DefaultAuditFile(h)
	}
	return c
}

// auditAdmin appends one operator record to the relay's log, durably,
// whether the relay runs or not: the log's flock orders it with the
// running relay's own appends.
func auditAdmin(k *keys.PeerKey, path string, r relay.AuditRecord) error {
	key := auditKey(k, RoleRelay)
	l, err := openChain(path, key, nil, true)
	clear(key[:])
	if err != nil {
		return err
	}
	return errors.Join(l.Append(r), l.Close())
}

// GrantRelayAccess issues, with the relay's own key in h, a relay-access
// capability for peer `to`: it may then reserve a slot without being in the
// directory, until the token expires or is revoked. The grant is recorded
// in the relay's audit log (to whom, until when, the token's ID) before the
// token is returned: a grant that cannot be audited is not made.
func GrantRelayAccess(h home.Home, to peer.ID, validFor time.Duration, now time.Time, opts ...AdminOption) (*capability.Token, error) {
	cfg := adminOptions(h, opts)
	if err := capability.CheckLifetime(validFor); err != nil {
		return nil, err
	}
	k, err := home.LoadIdentity(h)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	tok, err := capability.Issue(&k, capability.Params{Audience: to, Resource: capability.Pattern(relayaccess.Resource),
		Actions: capability.Use, NotBefore: now, Expiry: now.Add(validFor)})
	if err != nil {
		return nil, err
	}
	if err := auditAdmin(&k, cfg.auditPath, relay.AuditRecord{Time: now.UTC(), Event: relay.EventGrant, Src: to,
		Token: tok.ID().String(), Until: tok.Expiry(), Reason: relay.ReasonOperator}); err != nil {
		return nil, fmt.Errorf("the grant could not be audited, so it was not made: %w", err)
	}
	return tok, nil
}

// RevokeRelayAccess revokes, with the relay's own key in h, a relay-access
// capability it granted (the token's text, as mesh relay grant printed
// it). When the relay is running, the signed revocation is pushed to it
// (revsync push), which puts it in force, cuts the peer's reservation and
// circuits and gossips it; otherwise it is written to the relay's store
// and in force from its next start. how says which happened. Either way,
// and if it fails once the token is known, the revocation is recorded in
// the relay's audit log (whose, which token, until when, how).
func RevokeRelayAccess(ctx context.Context, h home.Home, tokenText string, now time.Time, opts ...AdminOption) (id capability.ID, how string, err error) {
	cfg := adminOptions(h, opts)
	tok, err := capability.Parse(strings.TrimSpace(tokenText))
	if err != nil {
		return id, "", words.BadToken("the relay token", tokenText, err)
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
	id, how, err = rev.ID(), "", nil
	// A running relay gets it pushed. The lock decides only when no live
	// process holds it: taking it while a relay starts would make that
	// relay fail as already running.
	var lock *os.File
	lerr := home.ErrAlreadyRunning
	if pid, alive := home.Holder(h); !alive || pid == os.Getpid() {
		lock, lerr = home.Lock(h) // (a relay in this very process is told by the lock)
	}
	switch {
	case errors.Is(lerr, home.ErrAlreadyRunning):
		how, err = "pushed to the running relay", pushToRunning(ctx, h, rev)
	case lerr != nil:
		err = lerr
	default:
		how, err = "stored; in force when the relay starts", storeRevocation(ctx, h, rev)
		lock.Close()
	}
	detail := how
	if err != nil {
		detail = "failed"
	}
	aerr := auditAdmin(&k, cfg.auditPath, relay.AuditRecord{Time: now.UTC(), Event: relay.EventRevoke, Src: tok.Audience(),
		Token: tok.ID().String(), Until: tok.Expiry(), Reason: relay.ReasonOperator, Detail: detail})
	if err != nil {
		return id, "", err
	}
	if aerr != nil {
		return id, how, fmt.Errorf("revoked %s (%s), but the revocation could not be audited: %w", id.Short(), how, aerr)
	}
	return id, how, nil
}

// storeRevocation adds rev to the revocation set in h's store (the relay
// is not running).
func storeRevocation(ctx context.Context, h home.Home, rev *revocation.Revocation) error {
	st, err := store.OpenFor(h.StorePath(), store.Relay)
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
