package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/meshstate"
	"github.com/ocmt/mesh/internal/recoveryhost"
	"github.com/ocmt/mesh/internal/revstatus"
	"github.com/ocmt/mesh/internal/store"
	"github.com/ocmt/mesh/internal/words"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// Home is a node's folder (see internal/home for its layout).
type Home = home.Home

// ErrNeedsNode means the command needs a running node.
var ErrNeedsNode = localapi.ErrNeedsNode

// ErrNoHome means the folder has no identity yet (run mesh init).
var ErrNoHome = home.ErrNoHome

// Offline is the Backend that works on the home folder alone: inside a
// running Node, or opened by the CLI when no node runs. Operations that
// need other peers return ErrNeedsNode (localapi.NeedsNode).
type Offline struct {
	localapi.NeedsNode

	home   Home
	actor  string
	store  ds.Batching
	vault  *vault.Vault
	signer *Signer
	kdf    vault.KDFParams
	log    *slog.Logger
	now    func() time.Time
	closer func() error
	state  *meshstate.State
	// revs says which grants are revoked: the running node's set once
	// Node.startMesh sets it, else the set the node stored.
	revs *revstatus.View
	// used, when set (Options.OnVaultUse), is called by every operation
	// that uses the vault: a running node's idle clock.
	used func()
	// onResource, when set, hears of every resource written or deleted:
	// a running node's cached tier.
	onResource func(path string)
	// st is the store Open opened (nil for an Offline inside tests that
	// build one on another datastore): backups snapshot it.
	st *store.Store
	// Service is the vault's recovery methods: localapi.Recovery, with or
	// without a node (social recovery needs one).
	*recoveryhost.Service
}

var _ localapi.Backend = (*Offline)(nil)

// Options configure an Offline.
type Options struct {
	// Actor names who acts in audit records ("cli", "local-api"). Default "cli".
	Actor string
	// KDF is used when the password changes. Default vault.DefaultKDF().
	KDF vault.KDFParams
	// VaultConfig is passed to the vault (clock, backoff); Store is set here.
	VaultConfig vault.Config
	// Logger receives operational logs. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnVaultUse, when set, is called at the start of every operation
	// that uses the vault's keys (secrets, resources, signing, unlock,
	// password change): a running node's idle clock. Default none.
	OnVaultUse func()
	// RecoveryMinWait: Config.RecoveryMinWait.
	RecoveryMinWait time.Duration
}

// Open opens the identity and the vault in h, locked. When another process
// holds the store, it waits up to store.LockWait for it (parallel commands
// without a node take turns), then fails.
func Open(ctx context.Context, h Home, opts Options) (*Offline, error) {
	pk, err := home.LoadIdentity(h)
	if err != nil {
		return nil, err
	}
	st, err := store.OpenHome(ctx, string(h))
	if err != nil {
		pk.Wipe()
		return nil, err
	}
	if _, err := store.Migrate(ctx, st, store.HomeNode); err != nil {
		st.Close()
		pk.Wipe()
		return nil, err
	}
	o, err := newOffline(ctx, h, st, opts)
	if err != nil {
		st.Close()
		pk.Wipe()
		return nil, err
	}
	o.signer = newSigner(pk, o.vault)
	o.Service = recoveryhost.New(recoveryhost.Config{Vault: o.vault, Store: st, Self: o.signer.ID(), WithPeerKey: o.signer.withPeerKey,
		KDF: o.kdf, MinWait: opts.RecoveryMinWait, Actor: o.actor, Now: o.now})
	o.closer = st.Close
	o.st = st
	return o, nil
}

// KeyParams reads the password parameters of h's vault (not secret),
// holding the store only for that read, so that a command without a node
// derives the key (Argon2id) before Open takes the store for its work,
// and parallel commands take turns within store.LockWait. Unlock with
// UnlockPrepared; if the wrap changed in between, it derives again.
func KeyParams(ctx context.Context, h Home) (vault.KeyParams, error) {
	pk, err := home.LoadIdentity(h)
	if err != nil {
		return vault.KeyParams{}, err
	}
	pk.Wipe()
	st, err := store.OpenHome(ctx, string(h))
	if err != nil {
		return vault.KeyParams{}, err
	}
	p, err := vault.ReadKeyParams(ctx, st)
	if cerr := st.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return p, err
}

func newOffline(ctx context.Context, h Home, st ds.Batching, opts Options) (*Offline, error) {
	if opts.Actor == "" {
		opts.Actor = "cli"
	}
	if opts.KDF == (vault.KDFParams{}) {
		opts.KDF = vault.DefaultKDF()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg := opts.VaultConfig
	cfg.Store = st
	if cfg.Now == nil {
		cfg.Now = opts.Now
	}
	v, err := vault.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Offline{home: h, actor: opts.Actor, store: st, vault: v, kdf: opts.KDF, log: opts.Logger,
		now: opts.Now, used: opts.OnVaultUse, state: meshstate.New(st, v, opts.Actor, opts.Now),
		revs: revstatus.New(st, opts.Now, opts.Logger)}, nil
}

// use tells the running node's idle clock that the vault is in use.
func (o *Offline) use() {
	if o.used != nil {
		o.used()
	}
}

// Vault returns the vault.
func (o *Offline) Vault() *vault.Vault { return o.vault }

// Close locks the vault, wipes the peer key copy and closes the store if
// this Offline opened it.
func (o *Offline) Close() error {
	o.revs.Close()
	o.vault.Close()
	o.signer.wipe()
	if o.closer != nil {
		return o.closer()
	}
	return nil
}

// Status implements localapi.Backend.
func (o *Offline) Status(ctx context.Context) (localapi.Status, error) {
	n, next, err := o.vault.FailedAttempts(ctx)
	if err != nil {
		return localapi.Status{}, err
	}
	st := localapi.Status{PeerID: o.signer.ID().String(), Locked: o.vault.Locked(), FailedUnlocks: n, Home: string(o.home)}
	st.Handle, _ = o.Handle(ctx)
	if n > 0 {
		st.NextUnlockFrom = next.UTC()
	}
	st.DiskWarning = o.diskWarning()
	return st, nil
}

// diskWarning is Status.DiskWarning: the store's warning about its disk
// (store.Space.Warning), and the audit records the vault could not write
// for want of space (a lock on a full disk), which it writes with its
// next record.
func (o *Offline) diskWarning() string {
	var parts []string
	if o.st != nil {
		if sp, err := o.st.Space(); err == nil {
			if w := sp.Warning(); w != "" {
				parts = append(parts, w)
			}
		}
	}
	for _, e := range o.vault.PendingAudit() {
		parts = append(parts, fmt.Sprintf("the audit record of %s by %s waits for room on the disk: the vault writes it with its next record", e.Op, e.Actor))
	}
	return strings.Join(parts, "; ")
}

// Unlock implements localapi.Backend. While wrong passwords are being
// waited out it fails at once with a *vault.BackoffError.
func (o *Offline) Unlock(ctx context.Context, pw []byte) error {
	o.use()
	return o.vault.Unlock(ctx, pw, o.actor)
}

// Lock implements localapi.Backend. It never fails once the keys are
// wiped (vault.Lock): a lock record the full disk refused is written later,
// logged here and shown in Status.DiskWarning meanwhile.
func (o *Offline) Lock(ctx context.Context) error {
	err := o.vault.Lock(ctx, o.actor)
	if p := o.vault.PendingAudit(); err == nil && len(p) > 0 {
		o.log.Warn("vault locked, but its audit record waits for room on the disk", "pending", len(p))
	}
	return err
}

// UnlockPrepared is Unlock with the password's key derived beforehand
// from KeyParams (vault.Vault.UnlockPrepared).
func (o *Offline) UnlockPrepared(ctx context.Context, k *vault.PreparedKey, pw []byte) error {
	o.use()
	return o.vault.UnlockPrepared(ctx, k, pw, o.actor)
}

// ChangePassword implements localapi.Backend.
func (o *Offline) ChangePassword(ctx context.Context, oldPw, newPw []byte) error {
	o.use()
	return o.vault.ChangePassword(ctx, oldPw, newPw, o.kdf, o.actor)
}

// RotateKey implements localapi.Backend.
func (o *Offline) RotateKey(ctx context.Context, oldPw, newPw []byte) error {
	o.use()
	return o.vault.RotateKey(ctx, oldPw, newPw, o.kdf, o.actor)
}

// SecretSet implements localapi.Backend.
func (o *Offline) SecretSet(ctx context.Context, s vault.Secret) error {
	o.use()
	return o.vault.PutSecret(ctx, s, o.actor)
}

// SecretGet implements localapi.Backend.
func (o *Offline) SecretGet(ctx context.Context, name string) (vault.Secret, error) {
	o.use()
	s, err := o.vault.GetSecret(ctx, name, o.actor)
	return s, words.NotFound(err, "secret", name, "mesh secret list")
}

// SecretList implements localapi.Backend.
func (o *Offline) SecretList(ctx context.Context) ([]vault.SecretInfo, error) {
	o.use()
	return o.vault.ListSecrets(ctx)
}

// SecretRemove implements localapi.Backend.
func (o *Offline) SecretRemove(ctx context.Context, name string) error {
	o.use()
	return words.NotFound(o.vault.DeleteSecret(ctx, name, o.actor), "secret", name, "mesh secret list")
}

// Audit implements localapi.Backend.
func (o *Offline) Audit(ctx context.Context) (localapi.AuditReport, error) {
	recs, check, err := o.vault.VerifyAudit(ctx)
	rep := localapi.AuditReport{Records: recs, Checked: check.String()}
	if errors.Is(err, vault.ErrAuditBroken) {
		rep.Broken = err.Error()
		return rep, nil
	}
	return rep, err
}
