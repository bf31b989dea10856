package socialrecovery

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/internal/auditlimit"
	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/recovery"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/recoverywire"
	"github.com/ocmt/mesh/vault"
)

// Config is what the Service uses of its node. Host, Net, Vault, Store,
// Self, Resolve, WithKey and WithPeerKey are required.
type Config struct {
	Host host.Host
	Net  *meshnet.Net
	// Vault keeps the shares the node holds as a friend, and the
	// owner's social recovery wrap.
	Vault *vault.Vault
	// Store is the node's clear store (doc.go "Store").
	Store ds.Datastore
	// Self is the node's peer ID.
	Self peer.ID
	// Handle is the node's own handle ("" when it has none).
	Handle func(context.Context) (string, error)
	// Resolve finds a friend's record by handle (the node's resolver,
	// which pins contacts).
	Resolve func(ctx context.Context, handle string) (*directory.Record, error)
	// WithKey runs f with the peer key while the vault is unlocked
	// (dealing, approving: both decide something).
	WithKey func(f func(*keys.PeerKey) error) error
	// WithPeerKey runs f with the peer key, locked or not: opening mail
	// and checking shares sealed to this node, and signing the owner's
	// veto (it refuses; it grants nothing).
	WithPeerKey func(f func(*keys.PeerKey) error) error
	// MinWait is the shortest waiting period the owner may choose
	// (recovery.MinWait when zero).
	MinWait time.Duration
	// Caps: the defaults of limits.go when zero.
	MaxPerOwner, MaxRequests, MaxHeld int
	// RetryEvery is how often Run mails the outbox again (default
	// DefaultRetryEvery).
	RetryEvery time.Duration
	Actor      string
	Now        func() time.Time
	Logger     *slog.Logger
}

// Service is a node's social recovery: localapi.Recovery for the social
// ops, recoverywire.Handler for friends' and devices' requests, and the
// mail its node's mailbox round hands it.
type Service struct {
	cfg     Config
	log     *slog.Logger
	refused *auditlimit.Coalescer
	mu      sync.Mutex // one change of the stored state at a time
}

var (
	_ localapi.Recovery    = (*Service)(nil)
	_ recoverywire.Handler = (*Service)(nil)
)

// New returns a Service; Close (or the end of Run) stops it.
func New(cfg Config) *Service {
	if cfg.MinWait <= 0 {
		cfg.MinWait = recovery.MinWait
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxPerOwner, DefaultMaxPerOwner)
	def(&cfg.MaxRequests, DefaultMaxRequests)
	def(&cfg.MaxHeld, DefaultMaxHeld)
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = DefaultRetryEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Handle == nil {
		cfg.Handle = func(context.Context) (string, error) { return "", nil }
	}
	if cfg.Actor == "" {
		cfg.Actor = "social-recovery"
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("job", "social-recovery")}
	s.refused = auditlimit.New(auditlimit.Config{Now: cfg.Now, Record: func(e auditlimit.Event) {
		detail := e.Detail
		if e.Summary() {
			detail = fmt.Sprintf("%d refused recovery messages since %s", e.Count, e.Since.UTC().Format(time.RFC3339))
		}
		s.audit(context.Background(), e.Op, e.Target, vault.OutcomeDenied, strings.TrimSpace(e.Peer+" "+detail))
	}})
	return s
}

// Close flushes the audit of refusals.
func (s *Service) Close() { s.refused.Close() }

// Run mails the outbox again and moves shares taken while the vault was
// locked into it, every RetryEvery, until ctx ends; then it closes the
// Service.
func (s *Service) Run(ctx context.Context) {
	defer s.Close()
	t := time.NewTicker(s.cfg.RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.settle(ctx)
			s.flushOutbox(ctx)
		}
	}
}

// audit writes one audit record; a failure is logged (the vault's own
// writes fail loudly where it matters).
func (s *Service) audit(ctx context.Context, op, target, outcome, detail string) {
	e := vault.AuditEntry{Actor: s.cfg.Actor, Op: op, Target: target, Outcome: outcome, Detail: detail}
	if err := s.cfg.Vault.Audit(ctx, e); err != nil {
		s.log.Warn("cannot write an audit record", "op", op, "err", err)
	}
}

// Audit operations (doc.go "Audit").
const (
	OpEnable   = "recovery.social.enable"
	OpShare    = "recovery.social.share"
	OpRequest  = "recovery.social.request"
	OpHelp     = "recovery.social.help"
	OpRelease  = "recovery.social.release"
	OpVeto     = "recovery.social.veto"
	OpOutcome  = "recovery.social.outcome"
	OpRefused  = "recovery.social.refused"
	OpReplayed = "recovery.social.replayed"
)

// Recovery implements localapi.Recovery for the social ops.
func (s *Service) Recovery(ctx context.Context, req localapi.RecoveryRequest) (localapi.RecoveryReply, error) {
	s.settle(ctx)
	switch req.Op {
	case localapi.RecoveryEnable:
		return s.enable(ctx, req)
	case localapi.RecoveryRequests:
		return s.requests(ctx)
	case localapi.RecoveryHelp:
		return s.help(ctx, req.ID)
	case localapi.RecoveryVeto:
		return s.veto(ctx, req.ID)
	case localapi.RecoveryHeld:
		return s.held(ctx)
	case localapi.RecoveryTest, localapi.RecoveryRecover:
		return localapi.RecoveryReply{}, errors.New("social recovery runs from the new device: mesh recover --social --handle HANDLE --backup FILE")
	}
	return localapi.RecoveryReply{}, fmt.Errorf("unknown recovery command %q for the social method", req.Op)
}

// enable deals a recovery key among the friends, enables the social wrap
// and mails each friend its share.
func (s *Service) enable(ctx context.Context, req localapi.RecoveryRequest) (localapi.RecoveryReply, error) {
	if len(req.Friends) < recovery.MinFriends || len(req.Friends) > recovery.MaxFriends {
		return localapi.RecoveryReply{}, fmt.Errorf("name %d to %d friends (--friends a,b,c)", recovery.MinFriends, recovery.MaxFriends)
	}
	if req.Threshold < 2 || req.Threshold > len(req.Friends) {
		return localapi.RecoveryReply{}, fmt.Errorf("the threshold is how many of the %d friends must help: 2 to %d", len(req.Friends), len(req.Friends))
	}
	wait := req.Wait
	if wait == 0 {
		wait = recovery.DefaultWait
	}
	if s.cfg.Vault.Locked() {
		return localapi.RecoveryReply{}, fmt.Errorf("unlock the vault first (mesh unlock): enabling a recovery method needs the vault open")
	}
	ownerHandle, _ := s.cfg.Handle(ctx)
	ids := make([]peer.ID, len(req.Friends))
	recs := make([]*directory.Record, len(req.Friends))
	for i, h := range req.Friends {
		h = strings.TrimSpace(h)
		if slices.Contains(req.Friends[:i], h) {
			return localapi.RecoveryReply{}, fmt.Errorf("%s is named twice", h)
		}
		rec, err := s.cfg.Resolve(ctx, h)
		if err != nil {
			return localapi.RecoveryReply{}, fmt.Errorf("cannot find your friend %s in the directory: %w", h, err)
		}
		ids[i], recs[i], req.Friends[i] = rec.Peer, rec, h
	}
	var dealt *recovery.Dealt
	err := s.cfg.WithKey(func(k *keys.PeerKey) (err error) {
		dealt, err = recovery.EnableSocial(k, ownerHandle, ids, req.Friends, req.Threshold, wait, s.cfg.MinWait, s.cfg.Now())
		return err
	})
	if errors.Is(err, vault.ErrLocked) {
		return localapi.RecoveryReply{}, fmt.Errorf("unlock the vault first (mesh unlock): enabling a recovery method needs the vault open")
	} else if err != nil {
		return localapi.RecoveryReply{}, err
	}
	err = s.cfg.Vault.EnableRecovery(ctx, recovery.Social, dealt.Key, dealt.Meta, s.cfg.Actor)
	clear(dealt.Key[:])
	if err != nil {
		return localapi.RecoveryReply{}, err
	}
	var mailed, later []string
	for i, m := range dealt.Shares {
		if err := s.mail(ctx, ids[i], recoverywire.Mail{Message: m}, true); err != nil {
			s.log.Info("a recovery share waits in the outbox", "friend", req.Friends[i], "err", err)
			later = append(later, req.Friends[i])
			continue
		}
		mailed = append(mailed, req.Friends[i])
	}
	detail := fmt.Sprintf("%d of %d friends (%s) can recover this vault after a wait of %s; shares mailed to %d", req.Threshold,
		len(ids), strings.Join(req.Friends, ", "), duration.Format(wait), len(mailed))
	if len(later) > 0 {
		detail += fmt.Sprintf("; %s will be mailed again", strings.Join(later, ", "))
	}
	s.audit(ctx, OpEnable, recovery.Social, vault.OutcomeOK, detail)
	return localapi.RecoveryReply{Text: "recovery method social enabled: " + detail}, nil
}

// requests lists the requests this node holds.
func (s *Service) requests(ctx context.Context) (localapi.RecoveryReply, error) {
	rs, err := s.records(ctx)
	if err != nil {
		return localapi.RecoveryReply{}, err
	}
	out := localapi.RecoveryReply{Requests: []localapi.RecoveryRequestInfo{}}
	now := s.cfg.Now()
	slices.SortFunc(rs, func(a, b *record) int { return int(a.Received - b.Received) })
	for _, r := range rs {
		owner := r.req.Handle
		if owner == "" {
			owner = r.req.Owner.String()
		}
		out.Requests = append(out.Requests, localapi.RecoveryRequestInfo{ID: hex.EncodeToString(r.req.ID[:]), Owner: owner,
			Device: r.req.Device.String(), Code: r.req.Code(), Time: time.Unix(r.Received, 0).UTC(), State: stateWords(r, now), Mine: r.Mine})
	}
	return out, nil
}

// stateWords is a request's state as mesh recovery requests shows it.
func stateWords(r *record, now time.Time) string {
	switch st := statusOf(r, now); st.State {
	case recoverywire.StateTaken:
		return "requested: if it is not you, veto it (mesh recovery veto ID)"
	case recoverywire.StateWaiting:
		return "waiting for you"
	case recoverywire.StateHelping:
		return "helping: released at " + st.UntilTime().UTC().Format(time.RFC3339)
	case recoverywire.StateReleased:
		if r.Released != 0 {
			return "released"
		}
		return "helping: released once the device asks"
	case recoverywire.StateVetoed:
		if r.Mine {
			return "vetoed by you"
		}
		return "vetoed by the owner"
	case recoverywire.StateRecovered:
		return "recovered (the device says so)"
	}
	return "expired"
}

// held lists whose shares this node keeps.
func (s *Service) held(ctx context.Context) (localapi.RecoveryReply, error) {
	hs, err := s.helds(ctx)
	if err != nil {
		return localapi.RecoveryReply{}, err
	}
	out := localapi.RecoveryReply{Held: []string{}}
	for id, h := range hs {
		line := fmt.Sprintf("%s (%s): one of %d shares, %d needed, wait %s", h.Handle, id, h.N, h.K, duration.Format(time.Duration(h.Wait)*time.Second))
		if h.Pending {
			line += "; moves into the vault at the next unlock"
		}
		out.Held = append(out.Held, line)
	}
	slices.Sort(out.Held)
	return out, nil
}

// help approves a request as a friend: the node re-seals its share to
// the request's device now, and hands the release over once the waiting
// period is over, unless the owner vetoes first.
func (s *Service) help(ctx context.Context, id string) (localapi.RecoveryReply, error) {
	if s.cfg.Vault.Locked() {
		return localapi.RecoveryReply{}, fmt.Errorf("unlock the vault first (mesh unlock): your share is in it")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.find(ctx, id)
	if err != nil {
		return localapi.RecoveryReply{}, err
	}
	now := s.cfg.Now()
	who := r.req.Handle
	switch st := statusOf(r, now); {
	case r.Mine:
		return localapi.RecoveryReply{}, fmt.Errorf("this request is for your own vault: if it is not you, veto it (mesh recovery veto %s)", id)
	case st.State == recoverywire.StateVetoed:
		return localapi.RecoveryReply{}, fmt.Errorf("%s vetoed this request; nothing was released", who)
	case st.State == recoverywire.StateExpired:
		return localapi.RecoveryReply{}, fmt.Errorf("this request is older than %s; the device must ask again", duration.Format(recovery.MaxRequestAge))
	case r.Approved != 0:
		return localapi.RecoveryReply{Text: "you already help this request: " + stateWords(r, now)}, nil
	}
	msg, err := s.cfg.Vault.Get(ctx, NS, r.req.Owner.String(), vault.AuditEntry{Actor: s.cfg.Actor, Op: OpHelp, Target: who,
		Detail: "the share is read to answer request " + hex.EncodeToString(r.req.ID[:8])})
	if err != nil {
		return localapi.RecoveryReply{}, fmt.Errorf("this node holds no share of %s's vault: %w", who, err)
	}
	var release []byte
	var wait time.Duration
	err = s.cfg.WithKey(func(k *keys.PeerKey) error {
		o, err := recovery.Open(msg)
		if err != nil {
			return err
		}
		h, err := recovery.CheckShare(o, k)
		if err != nil {
			return err
		}
		wait = time.Duration(h.Body.Wait) * time.Second
		release, err = recovery.Release(k, h, r.req, now)
		return err
	})
	if err != nil {
		return localapi.RecoveryReply{}, err
	}
	start := time.Unix(r.Received, 0)
	if r.req.Time.After(start) {
		start = r.req.Time
	}
	r.Approved, r.ReadyAt, r.Release = now.Unix(), start.Add(wait).Unix(), release
	if err := s.putRecord(ctx, r); err != nil {
		return localapi.RecoveryReply{}, err
	}
	at := time.Unix(r.ReadyAt, 0).UTC().Format(time.RFC3339)
	s.audit(ctx, OpHelp, who, vault.OutcomeOK, fmt.Sprintf("you approved the recovery of %s's vault to device %s (code %s); your share is released at %s unless %s vetoes",
		who, r.req.Device, r.req.Code(), at, who))
	return localapi.RecoveryReply{Text: fmt.Sprintf("you help %s: your share is released to device %s at %s, unless %s vetoes before", who, r.req.Device, at, who)}, nil
}

// veto refuses a request for the owner's own vault, and tells every
// friend.
func (s *Service) veto(ctx context.Context, id string) (localapi.RecoveryReply, error) {
	s.mu.Lock()
	r, err := s.find(ctx, id)
	if err != nil {
		s.mu.Unlock()
		return localapi.RecoveryReply{}, err
	}
	if !r.Mine {
		s.mu.Unlock()
		return localapi.RecoveryReply{}, fmt.Errorf("you can veto only requests for your own vault; this one is for %s", r.req.Handle)
	}
	var msg []byte
	now := s.cfg.Now()
	err = s.cfg.WithPeerKey(func(k *keys.PeerKey) (err error) {
		msg, err = recovery.NewVeto(k, r.req.ID, now)
		return err
	})
	if err == nil && r.Vetoed == 0 {
		r.Vetoed = now.Unix()
		err = s.putRecord(ctx, r)
	}
	s.mu.Unlock()
	if err != nil {
		return localapi.RecoveryReply{}, err
	}
	rec, err := s.cfg.Vault.Recovery(ctx, recovery.Social)
	if err != nil {
		return localapi.RecoveryReply{}, fmt.Errorf("the veto is signed, but social recovery is not enabled here, so no friend is known to tell: %w", err)
	}
	meta, c, err := recovery.ParseSocialMeta(rec.Meta)
	if err != nil {
		return localapi.RecoveryReply{}, err
	}
	var live, mailed, failed []string
	for i, f := range c.Admins {
		via, err := s.send(ctx, f, meta.Handles[i], msg)
		switch {
		case err != nil:
			failed = append(failed, meta.Handles[i])
		case via == viaLive:
			live = append(live, meta.Handles[i])
		default:
			mailed = append(mailed, meta.Handles[i])
		}
	}
	detail := fmt.Sprintf("you vetoed the recovery request from device %s (code %s); told live: %s; by mail: %s", r.req.Device, r.req.Code(),
		list(live), list(mailed))
	if len(failed) > 0 {
		detail += "; not reached: " + strings.Join(failed, ", ")
	}
	s.audit(ctx, OpVeto, recovery.Social, vault.OutcomeOK, detail)
	return localapi.RecoveryReply{Text: detail}, nil
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
