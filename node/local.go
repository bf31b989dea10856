package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// Local is the Backend that works on the vault itself: inside a running
// node, or opened directly by the CLI when no node runs.
type Local struct {
	home   Home
	actor  string
	store  ds.Batching
	vault  *vault.Vault
	peer   keys.PeerKey
	kdf    vault.KDFParams
	closer func() error
	log    *slog.Logger

	// Set by a running node: its mesh connection and revocation set.
	net         *meshNet
	rev         *revocations
	revocations capability.RevocationChecker

	mu     sync.Mutex
	listen func() []string // set by a running node
	// delivering holds the grants a Share is delivering right now, so the
	// redelivery round does not send them a second time.
	delivering map[capability.ID]bool
	// handleProblem says why the last attempt to claim our handle at the
	// bootstrap failed ("" once it worked), for mesh status.
	handleProblem string
}

var _ localapi.Backend = (*Local)(nil)

// LocalOptions configure a Local.
type LocalOptions struct {
	// Actor names who acts in audit records ("cli", "local-api"). Default "cli".
	Actor string
	// KDF is used when the password changes. Default vault.DefaultKDF().
	KDF vault.KDFParams
	// VaultConfig is passed to the vault (clock, sleep, logger); Store is set here.
	VaultConfig vault.Config
	// Logger receives operational logs. Default: discard.
	Logger *slog.Logger
}

// storeLockWait is how long a command opening the vault directly waits for
// another one (pebble holds an exclusive lock) before giving up.
const storeLockWait = 10 * time.Second

// openStoreWaiting opens h's store, waiting while another short-lived
// mesh process holds its lock, so commands run in parallel without a node
// take turns instead of failing.
func openStoreWaiting(ctx context.Context, h Home) (*vault.Store, error) {
	deadline := time.Now().Add(storeLockWait)
	for {
		store, err := vault.OpenStore(h.StorePath())
		if !storeBusy(err) || time.Now().After(deadline) {
			return store, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// storeBusy reports whether opening a store failed on pebble's lock:
// another process has it open.
func storeBusy(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
}

// OpenLocal opens the identity and the vault in h, locked. It fails if
// another process (a running node) keeps the store past storeLockWait.
func OpenLocal(ctx context.Context, h Home, opts LocalOptions) (*Local, error) {
	pk, err := LoadIdentity(h)
	if err != nil {
		return nil, err
	}
	store, err := openStoreWaiting(ctx, h)
	if err != nil {
		pk.Wipe()
		if storeBusy(err) { // a node, or another command opening the vault directly
			return nil, fmt.Errorf("%s is in use by another mesh process (a node that is starting or stopping, or another command); retry, or start `mesh node` so commands share it", h)
		}
		return nil, fmt.Errorf("%w (is a mesh node using %s?)", err, h)
	}
	l, err := newLocal(ctx, h, pk, store, opts)
	if err != nil {
		store.Close()
		return nil, err
	}
	l.closer = store.Close
	return l, nil
}

func newLocal(ctx context.Context, h Home, pk keys.PeerKey, store ds.Batching, opts LocalOptions) (*Local, error) {
	if opts.Actor == "" {
		opts.Actor = "cli"
	}
	if opts.KDF == (vault.KDFParams{}) {
		opts.KDF = vault.DefaultKDF()
	}
	cfg := opts.VaultConfig
	cfg.Store = store
	v, err := vault.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Local{home: h, actor: opts.Actor, store: store, vault: v, peer: pk, kdf: opts.KDF, log: opts.Logger}, nil
}

// Vault returns the vault.
func (l *Local) Vault() *vault.Vault { return l.vault }

// Close locks the vault, wipes the peer key copy and closes the store if
// this Local opened it.
func (l *Local) Close() error {
	l.vault.Close()
	l.peer.Wipe()
	if l.closer != nil {
		return l.closer()
	}
	return nil
}

// Status implements localapi.Backend.
func (l *Local) Status(ctx context.Context) (localapi.Status, error) {
	n, next, err := l.vault.FailedAttempts(ctx)
	if err != nil {
		return localapi.Status{}, err
	}
	st := localapi.Status{PeerID: l.peer.ID().String(), Locked: l.vault.Locked(), FailedUnlocks: n, Home: string(l.home)}
	st.Handle, _ = l.Handle(ctx)
	if l.net != nil {
		st.Relayed = l.net.hasReservation()
	}
	if n > 0 {
		st.NextUnlockFrom = next.UTC()
	}
	l.mu.Lock()
	if l.listen != nil {
		st.Running, st.Listen = true, l.listen()
	}
	st.HandleProblem = l.handleProblem
	l.mu.Unlock()
	return st, nil
}

// Unlock implements localapi.Backend.
func (l *Local) Unlock(ctx context.Context, pw []byte) error { return l.vault.Unlock(ctx, pw, l.actor) }

// Lock implements localapi.Backend.
func (l *Local) Lock(ctx context.Context) error { return l.vault.Lock(ctx, l.actor) }

// ChangePassword implements localapi.Backend.
func (l *Local) ChangePassword(ctx context.Context, oldPw, newPw []byte) error {
	return l.vault.ChangePassword(ctx, oldPw, newPw, l.kdf, l.actor)
}

// SecretSet implements localapi.Backend.
func (l *Local) SecretSet(ctx context.Context, s vault.Secret) error {
	return l.vault.PutSecret(ctx, s, l.actor)
}

// SecretGet implements localapi.Backend.
func (l *Local) SecretGet(ctx context.Context, name string) (vault.Secret, error) {
	return l.vault.GetSecret(ctx, name, l.actor)
}

// SecretList implements localapi.Backend.
func (l *Local) SecretList(ctx context.Context) ([]vault.SecretInfo, error) {
	return l.vault.ListSecrets(ctx)
}

// SecretRemove implements localapi.Backend.
func (l *Local) SecretRemove(ctx context.Context, name string) error {
	return l.vault.DeleteSecret(ctx, name, l.actor)
}

// Audit implements localapi.Backend.
func (l *Local) Audit(ctx context.Context) (localapi.AuditReport, error) {
	recs, err := vault.ReadAudit(ctx, l.store)
	rep := localapi.AuditReport{Records: recs}
	if errors.Is(err, vault.ErrAuditBroken) {
		rep.Broken = err.Error()
		return rep, nil
	}
	return rep, err
}
