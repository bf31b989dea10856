package recoveryhost

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/vault"
)

// Config is what the Service uses of its node.
type Config struct {
	Vault *vault.Vault
	// Store is the node's clear store (doc.go).
	Store ds.Datastore
	// Self is the node's peer ID.
	Self peer.ID
	// WithPeerKey runs f with the node's peer key, locked or not: an
	// escrow request is signed by the owner who lost the password (it
	// proves who asks; it grants nothing).
	WithPeerKey func(f func(*keys.PeerKey) error) error
	// KDF is the new password wrap's (vault.DefaultKDF() when zero).
	KDF vault.KDFParams
	// MinWait is the shortest waiting period the owner may choose
	// (recovery.MinWait when zero; an operator lowers it for tests and
	// demos: mesh node --recovery-min-wait).
	MinWait time.Duration
	// Social takes the social ops; nil refuses them (they need a running
	// node).
	Social localapi.Recovery
	Actor  string
	Now    func() time.Time
}

// Service is a node's recovery methods.
type Service struct{ cfg Config }

// New returns the Service.
func New(cfg Config) *Service {
	if cfg.KDF == (vault.KDFParams{}) {
		cfg.KDF = vault.DefaultKDF()
	}
	if cfg.MinWait <= 0 {
		cfg.MinWait = recovery.MinWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Social == nil {
		cfg.Social = localapi.RecoveryNeedsNode{}
	}
	return &Service{cfg: cfg}
}

// SetSocial hands the social ops to a running node's social recovery.
func (s *Service) SetSocial(r localapi.Recovery) { s.cfg.Social = r }

// MinWait is the shortest waiting period this node allows.
func (s *Service) MinWait() time.Duration { return s.cfg.MinWait }

var (
	escrowIdentityKey = ds.NewKey("/recovery/escrow/identity")
	escrowWaitPrefix  = ds.NewKey("/recovery/escrow/wait")
)

// Recovery implements localapi.Recovery.
func (s *Service) Recovery(ctx context.Context, req localapi.RecoveryRequest) (localapi.RecoveryReply, error) {
	switch req.Op {
	case localapi.RecoveryRequests, localapi.RecoveryHelp, localapi.RecoveryVeto, localapi.RecoveryHeld:
		return s.cfg.Social.Recovery(ctx, req)
	case localapi.RecoveryStatus:
		return s.status(ctx)
	case localapi.RecoveryDisable:
		err := s.cfg.Vault.DisableRecovery(ctx, req.Method, s.cfg.Actor)
		return localapi.RecoveryReply{Text: "recovery method " + req.Method + " disabled"}, words(err)
	case localapi.RecoveryEscrowRequest:
		return s.escrowRequest(ctx)
	case localapi.RecoveryFIDO2Options:
		r, err := s.cfg.Vault.Recovery(ctx, recovery.FIDO2)
		if err != nil {
			return localapi.RecoveryReply{}, words(err)
		}
		m, err := recovery.ParseFIDO2Meta(r.Meta)
		if err != nil {
			return localapi.RecoveryReply{}, err
		}
		return localapi.RecoveryReply{FIDO2: &localapi.FIDO2Options{RPID: m.RPID, Credential: m.Credential, Salt: m.Salt}}, nil
	}
	if req.Method == recovery.Social {
		return s.cfg.Social.Recovery(ctx, req)
	}
	switch req.Op {
	case localapi.RecoveryEnable:
		return s.enable(ctx, req)
	case localapi.RecoveryTest, localapi.RecoveryRecover:
		rk, err := s.key(ctx, req)
		if err != nil {
			// refused before the vault was asked (a key file or a phrase
			// that does not parse, a release not for this vault): audited
			// as the vault audits a key that does not open
			op := vault.OpRecover
			if req.Op == localapi.RecoveryTest {
				op = vault.OpRecoveryTest
			}
			if !errors.Is(err, vault.ErrNoRecovery) && !strings.Contains(err.Error(), "waiting period") {
				s.cfg.Vault.Audit(ctx, vault.AuditEntry{Actor: s.cfg.Actor, Op: op, Target: req.Method, Outcome: vault.OutcomeFailed, Detail: err.Error()})
			}
			return localapi.RecoveryReply{}, err
		}
		defer clear(rk[:])
		if req.Op == localapi.RecoveryTest {
			err := s.cfg.Vault.TestRecovery(ctx, req.Method, rk, s.cfg.Actor)
			return localapi.RecoveryReply{Text: "recovery method " + req.Method + " opens the vault; nothing was changed"}, words(err)
		}
		err = s.cfg.Vault.Recover(ctx, req.Method, rk, req.NewPassword, s.cfg.KDF, s.cfg.Actor)
		return localapi.RecoveryReply{Text: "a new password is set; the vault is unlocked"}, words(err)
	}
	return localapi.RecoveryReply{}, fmt.Errorf("unknown recovery command %q", req.Op)
}

// words puts the vault's recovery errors in the owner's words.
func words(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, vault.ErrNoRecovery):
		return fmt.Errorf("that recovery method is not enabled for this vault (mesh recovery status lists them)")
	case errors.Is(err, vault.ErrRecoveryKey):
		return fmt.Errorf("that does not open this vault: %w", err)
	case errors.Is(err, vault.ErrLocked):
		return fmt.Errorf("unlock the vault first (mesh unlock): %w", err)
	}
	return err
}

func (s *Service) enable(ctx context.Context, req localapi.RecoveryRequest) (localapi.RecoveryReply, error) {
	var rk *[32]byte
	var meta []byte
	var err error
	var what string
	switch req.Method {
	case recovery.Phrase:
		if rk, err = recovery.PhraseKey(req.Phrase, s.cfg.Vault.ID()); err != nil {
			return localapi.RecoveryReply{}, err
		}
		meta, what = recovery.PhraseMeta(), "your 24-word phrase sets a new password"
	case recovery.Hardware:
		if rk, meta, err = recovery.EnableHardware(req.Recipient); err != nil {
			return localapi.RecoveryReply{}, err
		}
		what = "the key file of " + req.Recipient + " sets a new password"
	case recovery.FIDO2:
		if rk, meta, err = recovery.EnableFIDO2(req.RPID, req.Credential, req.Salt, req.PRF, s.cfg.Vault.ID()); err != nil {
			return localapi.RecoveryReply{}, err
		}
		what = "your security key sets a new password (the web page's recovery, at " + req.RPID + ")"
	case recovery.Escrow:
		inst, perr := keys.DecodePeerID(req.Institution)
		if perr != nil {
			return localapi.RecoveryReply{}, fmt.Errorf("the institution's key %q is not a peer ID: %w", req.Institution, perr)
		}
		wait := req.Wait
		if wait == 0 {
			wait = recovery.DefaultWait
		}
		if rk, meta, err = recovery.EnableEscrow(s.cfg.Self, req.Recipient, inst, wait, s.cfg.MinWait); err != nil {
			return localapi.RecoveryReply{}, err
		}
		what = fmt.Sprintf("the institution %s can release a new password, %s after its signed release reaches this node", inst, duration.Format(wait))
	default:
		return localapi.RecoveryReply{}, fmt.Errorf("unknown recovery method %q: phrase, social, hardware or escrow", req.Method)
	}
	defer clear(rk[:])
	if err := s.cfg.Vault.EnableRecovery(ctx, req.Method, rk, meta, s.cfg.Actor); err != nil {
		return localapi.RecoveryReply{}, words(err)
	}
	return localapi.RecoveryReply{Text: "recovery method " + req.Method + " enabled: " + what}, nil
}

// key produces a method's recovery key from what the owner presents.
func (s *Service) key(ctx context.Context, req localapi.RecoveryRequest) (*[32]byte, error) {
	r, err := s.cfg.Vault.Recovery(ctx, req.Method)
	if err != nil {
		return nil, words(err)
	}
	switch req.Method {
	case recovery.Phrase:
		return recovery.PhraseKey(req.Phrase, s.cfg.Vault.ID())
	case recovery.Hardware:
		return recovery.HardwareKey(r.Meta, strings.NewReader(req.Identity))
	case recovery.Escrow:
		return s.escrowKey(ctx, r.Meta, req)
	case recovery.FIDO2:
		return recovery.FIDO2Key(req.PRF, s.cfg.Vault.ID())
	}
	return nil, fmt.Errorf("unknown recovery method %q", req.Method)
}

// escrowRequest signs the owner's request for the institution and keeps
// the one-time identity that opens its answer.
func (s *Service) escrowRequest(ctx context.Context) (localapi.RecoveryReply, error) {
	r, err := s.cfg.Vault.Recovery(ctx, recovery.Escrow)
	if err != nil {
		return localapi.RecoveryReply{}, words(err)
	}
	var req []byte
	var identity string
	err = s.cfg.WithPeerKey(func(k *keys.PeerKey) (err error) {
		req, identity, err = recovery.NewEscrowRequest(k, s.cfg.Vault.ID(), r.Meta, s.cfg.Now())
		return err
	})
	if err != nil {
		return localapi.RecoveryReply{}, err
	}
	if err := s.cfg.Store.Put(ctx, escrowIdentityKey, []byte(identity)); err != nil {
		return localapi.RecoveryReply{}, err
	}
	e := vault.AuditEntry{Actor: s.cfg.Actor, Op: "recovery.escrow.request", Target: recovery.Escrow, Outcome: vault.OutcomeOK,
		Detail: "a release was asked of the escrow institution"}
	if err := s.cfg.Vault.Audit(ctx, e); err != nil {
		return localapi.RecoveryReply{}, err
	}
	return localapi.RecoveryReply{EscrowRequest: req, Text: "give this request to your institution; it answers with a release statement"}, nil
}

// escrowKey checks the institution's release, starts or checks its
// waiting period, and opens the recovery key with the request's identity.
func (s *Service) escrowKey(ctx context.Context, meta []byte, req localapi.RecoveryRequest) (*[32]byte, error) {
	now := s.cfg.Now()
	// A release is checked at the time it was first presented, when its
	// waiting period started: it may well be more than a week old when
	// the wait (up to 30 days) ends.
	id := sha256.Sum256(req.Release)
	key := escrowWaitPrefix.ChildString(hex.EncodeToString(id[:]))
	var start time.Time
	if b, err := s.cfg.Store.Get(ctx, key); err == nil && len(b) == 8 {
		start = time.Unix(0, int64(binary.BigEndian.Uint64(b)))
	}
	checkAt := now
	if !start.IsZero() {
		checkAt = start
	}
	rel, err := recovery.CheckEscrowRelease(req.Release, meta, s.cfg.Self, s.cfg.Vault.ID(), checkAt)
	if err != nil {
		s.cfg.Vault.Audit(ctx, vault.AuditEntry{Actor: s.cfg.Actor, Op: "recovery.escrow.release", Target: recovery.Escrow,
			Outcome: vault.OutcomeFailed, Detail: err.Error()})
		return nil, err
	}
	m, _, err := recovery.ParseEscrowMeta(meta)
	if err != nil {
		return nil, err
	}
	wait := time.Duration(m.Wait) * time.Second
	if start.IsZero() {
		start = now
		if err := s.cfg.Store.Put(ctx, key, binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))); err != nil {
			return nil, err
		}
		e := vault.AuditEntry{Actor: s.cfg.Actor, Op: "recovery.escrow.release", Target: recovery.Escrow, Outcome: vault.OutcomeOK,
			Detail: "the institution's release arrived; the waiting period ends " + now.Add(wait).UTC().Format(time.RFC3339)}
		if err := s.cfg.Vault.Audit(ctx, e); err != nil {
			return nil, err
		}
	}
	if end := start.Add(wait); now.Before(end) {
		return nil, fmt.Errorf("the escrow's waiting period runs until %s (%s from now); run the same command again then",
			end.Local().Format(time.DateTime), duration.Format(end.Sub(now).Round(time.Second)))
	}
	identity := req.Identity
	if identity == "" {
		b, err := s.cfg.Store.Get(ctx, escrowIdentityKey)
		if err != nil {
			return nil, fmt.Errorf("no escrow request was made from this home (mesh recovery escrow-request)")
		}
		identity = string(b)
	}
	return recovery.EscrowKey(rel, identity)
}

func (s *Service) status(ctx context.Context) (localapi.RecoveryReply, error) {
	rs, err := s.cfg.Vault.Recoveries(ctx)
	if err != nil {
		return localapi.RecoveryReply{}, err
	}
	out := localapi.RecoveryReply{Methods: []localapi.RecoveryMethod{}}
	for _, r := range rs {
		out.Methods = append(out.Methods, localapi.RecoveryMethod{Method: r.Method, Added: r.Added.UTC(), Tested: r.Tested, Detail: describe(r)})
	}
	return out, nil
}

// describe says what a method needs, in words.
func describe(r vault.Recovery) string {
	switch r.Method {
	case recovery.Phrase:
		return "the 24-word phrase shown when it was enabled"
	case recovery.FIDO2:
		if m, err := recovery.ParseFIDO2Meta(r.Meta); err == nil {
			return "the security key registered at " + m.RPID
		}
	case recovery.Hardware:
		if m, err := recovery.ParseHardwareMeta(r.Meta); err == nil {
			return "the key file of " + m.Recipient
		}
	case recovery.Escrow:
		if m, inst, err := recovery.ParseEscrowMeta(r.Meta); err == nil {
			return fmt.Sprintf("a release signed by %s, then a wait of %s", inst, duration.Format(time.Duration(m.Wait)*time.Second))
		}
	case recovery.Social:
		if m, c, err := recovery.ParseSocialMeta(r.Meta); err == nil {
			return fmt.Sprintf("%d of %d friends (%s), then a wait of %s", c.Threshold, len(c.Admins), strings.Join(m.Handles, ", "),
				duration.Format(time.Duration(m.Wait)*time.Second))
		}
	}
	return "unreadable details"
}
