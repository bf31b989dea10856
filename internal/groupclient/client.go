package groupclient

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/meshnet"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/node/localapi"
	"github.com/ocmt/mesh/protocols/directory"
	"github.com/ocmt/mesh/protocols/groupwire"
	"github.com/ocmt/mesh/vault"
)

// NSGroups is the vault namespace of the node's own shares.
const NSGroups vault.Namespace = "groups"

// syncEvery is how often a running node fetches the audit records gossip
// did not bring.
const syncEvery = time.Minute

// Config is what the Service uses of its node.
type Config struct {
	Host host.Host
	Net  *meshnet.Net
	// Resolve looks a handle up (and pins it): the vault's, the admins'.
	Resolve func(ctx context.Context, handle string) (*directory.Record, error)
	// Received lists the grants the node holds (group invitations are
	// among them).
	Received func(ctx context.Context) ([]localapi.Grant, error)
	// NameOf names a peer for people (its handle, else its ID).
	NameOf func(ctx context.Context, id peer.ID) string
	// Handle is the node's own handle ("" when none).
	Handle func(ctx context.Context) (string, error)
	// WithKey runs f with the node's peer key while its vault is
	// unlocked (it signs approvals and opens the node's share).
	WithKey func(f func(*keys.PeerKey) error) error
	Vault   *vault.Vault
	// Store is the node's clear store (doc.go "Store").
	Store ds.Batching
	// PubSub is the node's gossipsub router (nil: audit by sync alone).
	PubSub *pubsub.PubSub
	Actor  string
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is a node's groups.
type Service struct {
	cfg Config
	log *slog.Logger

	ctx atomic.Pointer[context.Context] // Run's: a joined group is followed until it ends

	mu     sync.Mutex
	subs   map[string]*pubsub.Subscription
	chains map[string]*sync.Mutex // one per group: a chain grows in order
}

var _ localapi.Groups = (*Service)(nil)

// New returns a node's groups; Run follows their audit chains.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, log: cfg.Logger, subs: map[string]*pubsub.Subscription{}, chains: map[string]*sync.Mutex{}}
}

// Run follows the audit topics of the node's groups and, every
// syncEvery, fetches what gossip did not bring, until ctx ends.
func (s *Service) Run(ctx context.Context) {
	s.ctx.Store(&ctx)
	if ms, err := s.memberships(ctx); err == nil {
		for _, m := range ms {
			s.follow(ctx, m)
			s.syncQuietly(ctx, m)
		}
	}
	t := time.NewTicker(syncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ms, err := s.memberships(ctx)
		if err != nil {
			continue
		}
		for _, m := range ms {
			if err := s.sync(ctx, m); err != nil {
				s.log.Debug("group audit sync failed", "group", m.Group, "err", err)
			}
		}
	}
}

// Group implements localapi.Groups.
func (s *Service) Group(ctx context.Context, req localapi.GroupRequest) (localapi.GroupReply, error) {
	switch req.Op {
	case localapi.GroupCreate:
		return s.create(ctx, req)
	case localapi.GroupJoin:
		return s.join(ctx, req.Group, req.Vault)
	case localapi.GroupList:
		return s.list(ctx)
	case localapi.GroupInvites:
		invs, _, err := s.invitations(ctx)
		return localapi.GroupReply{Invitations: invs}, err
	case localapi.GroupAccept, localapi.GroupDecline:
		return s.answer(ctx, req.Name, req.Op == localapi.GroupAccept)
	}
	m, err := s.membership(ctx, req.Group)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	if !m.admin() && adminOnly[req.Op] {
		return localapi.GroupReply{}, fmt.Errorf("you are a member of group %s (%s), not an admin: only its admins may %s", m.Group, m.Role, req.Op)
	}
	c, err := s.reach(ctx, m)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	switch req.Op {
	case localapi.GroupInvite:
		return s.invite(ctx, m, c, req)
	case localapi.GroupMembers:
		return s.members(ctx, c)
	case localapi.GroupExpel:
		return s.expel(ctx, m, c, req.Name)
	case localapi.GroupUnlock:
		return s.unlock(ctx, m, c, req.Window)
	case localapi.GroupLock:
		in, err := c.Relock(ctx)
		return s.statusReply(ctx, m, in, err)
	case localapi.GroupState:
		in, err := c.Info(ctx)
		return s.statusReply(ctx, m, in, err)
	case localapi.GroupGet:
		sec, err := c.Get(ctx, req.Name)
		if err != nil {
			return localapi.GroupReply{}, say(err)
		}
		out := localapi.GroupReply{Value: sec.Value}
		if sec.Release != 0 {
			out.Release = time.Unix(sec.Release, 0).UTC()
		}
		s.syncQuietly(ctx, m)
		return out, nil
	case localapi.GroupSet:
		err := c.Put(ctx, req.Name, req.Value, req.Release)
		s.syncQuietly(ctx, m)
		return localapi.GroupReply{}, say(err)
	case localapi.GroupRemove:
		err := c.Remove(ctx, req.Name)
		s.syncQuietly(ctx, m)
		return localapi.GroupReply{}, say(err)
	case localapi.GroupNames:
		return s.names(ctx, c)
	case localapi.GroupAudit:
		return s.audit(ctx, m)
	case localapi.GroupChange:
		return s.change(ctx, m, c, req)
	}
	return localapi.GroupReply{}, fmt.Errorf("unknown group command %q", req.Op)
}

// adminOnly are the commands only admins make.
var adminOnly = map[string]bool{localapi.GroupUnlock: true, localapi.GroupLock: true, localapi.GroupAudit: true,
	localapi.GroupChange: true, localapi.GroupInvite: true, localapi.GroupMembers: true, localapi.GroupExpel: true}

// say keeps a vault's refusal in its own words (they are written for
// people), without the protocol's prefix.
func say(err error) error {
	var we *wire.Error
	if errors.As(err, &we) && we.Message != "" {
		return fmt.Errorf("%s", we.Message)
	}
	return err
}

// reach connects to the group's vault and returns a client for the group.
func (s *Service) reach(ctx context.Context, m *membership) (groupwire.Client, error) {
	id := m.vault()
	var rec *directory.Record
	if m.VaultHandle != "" {
		r, err := s.cfg.Resolve(ctx, m.VaultHandle)
		if err == nil && r.Peer == id {
			rec = r
		}
	}
	if err := s.cfg.Net.Connect(ctx, id, rec, false); err != nil {
		return groupwire.Client{}, fmt.Errorf("the group vault %s cannot be reached: %w", m.vaultName(), err)
	}
	return groupwire.Client{H: s.cfg.Host, Vault: id, Group: m.Group, Token: m.Token}, nil
}

// resolve returns a handle's peer ID: the node's own handle is itself.
func (s *Service) resolve(ctx context.Context, handle string) (peer.ID, *directory.Record, error) {
	handle = strings.TrimPrefix(handle, "@")
	if mine, _ := s.cfg.Handle(ctx); handle == mine && handle != "" {
		return s.cfg.Host.ID(), nil, nil
	}
	if id, err := peer.Decode(handle); err == nil {
		return id, nil, nil
	}
	rec, err := s.cfg.Resolve(ctx, handle)
	if err != nil {
		return "", nil, err
	}
	return rec.Peer, rec, nil
}

// create deals a new group among its admins and asks the vault to keep
// it: each admin's share goes sealed to that admin; the key is never
// kept anywhere.
func (s *Service) create(ctx context.Context, req localapi.GroupRequest) (localapi.GroupReply, error) {
	if err := groupwire.CheckGroupName(req.Group); err != nil {
		return localapi.GroupReply{}, say(err)
	}
	if _, err := s.membership(ctx, req.Group); err == nil {
		return localapi.GroupReply{}, fmt.Errorf("you are already in a group named %q", req.Group)
	}
	if req.Vault == "" {
		return localapi.GroupReply{}, errors.New("name the group vault peer that keeps the group (--vault HANDLE)")
	}
	vid, vrec, err := s.resolve(ctx, req.Vault)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	admins := make([]peer.ID, len(req.Admins))
	for i, h := range req.Admins {
		if admins[i], _, err = s.resolve(ctx, h); err != nil {
			return localapi.GroupReply{}, err
		}
	}
	if !slices.Contains(admins, s.cfg.Host.ID()) {
		return localapi.GroupReply{}, errors.New("you create a group as one of its admins: name yourself in --admins")
	}
	window := req.Window
	if window == 0 {
		window = 8 * time.Hour
	}
	sched, err := group.ParseSchedule(req.Schedule)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	d, err := group.Split(rand.Reader, req.Group, req.Threshold, admins)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	sealed := make([][]byte, len(d.Shares))
	for i, sh := range d.Shares {
		sealed[i], err = group.SealShare(sh, admins[i])
		sh.Wipe()
		if err != nil {
			return localapi.GroupReply{}, err
		}
	}
	if err := s.cfg.Net.Connect(ctx, vid, vrec, false); err != nil {
		return localapi.GroupReply{}, fmt.Errorf("the group vault %s cannot be reached: %w", req.Vault, err)
	}
	c := groupwire.Client{H: s.cfg.Host, Vault: vid, Group: req.Group}
	if err := c.Create(ctx, d.Commitments.Encode(), sealed, window, sched.String()); err != nil {
		return localapi.GroupReply{}, say(err)
	}
	return s.join(ctx, req.Group, req.Vault)
}

// join takes the node's share of a group from its vault, checks it
// against the group's commitments, and keeps it in the node's vault.
func (s *Service) join(ctx context.Context, name, vaultHandle string) (localapi.GroupReply, error) {
	if err := groupwire.CheckGroupName(name); err != nil {
		return localapi.GroupReply{}, say(err)
	}
	if vaultHandle == "" {
		return localapi.GroupReply{}, errors.New("name the group vault peer that keeps the group (--vault HANDLE)")
	}
	vid, vrec, err := s.resolve(ctx, vaultHandle)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	if old, err := s.membership(ctx, name); err == nil && old.vault() != vid {
		return localapi.GroupReply{}, fmt.Errorf("you are already in a group named %q at %s", name, old.vaultName())
	}
	if err := s.cfg.Net.Connect(ctx, vid, vrec, false); err != nil {
		return localapi.GroupReply{}, fmt.Errorf("the group vault %s cannot be reached: %w", vaultHandle, err)
	}
	c := groupwire.Client{H: s.cfg.Host, Vault: vid, Group: name}
	m := &membership{Group: name, Vault: []byte(vid), VaultHandle: strings.TrimPrefix(vaultHandle, "@")}
	if err := s.takeShare(ctx, m, c); err != nil {
		return localapi.GroupReply{}, err
	}
	if run := s.ctx.Load(); run != nil {
		s.follow(*run, m)
	}
	in, err := c.Info(ctx)
	return s.statusReply(ctx, m, in, err)
}

// takeShare fetches the node's share for the group's current dealing,
// checks it, and keeps it (sealed to the node) in the vault, with the
// membership.
func (s *Service) takeShare(ctx context.Context, m *membership, c groupwire.Client) error {
	in, err := c.Info(ctx)
	if err != nil {
		return say(err)
	}
	com, err := group.ParseCommitments(in.Commitments)
	if err != nil {
		return fmt.Errorf("the group vault sent commitments that do not parse: %w", err)
	}
	if com.Group != m.Group {
		return fmt.Errorf("the group vault sent the commitments of group %q", com.Group)
	}
	if !com.IsAdmin(s.cfg.Host.ID()) {
		return fmt.Errorf("you are not an admin of group %s", m.Group)
	}
	sealed, err := c.Share(ctx)
	if err != nil {
		return say(err)
	}
	err = s.cfg.WithKey(func(k *keys.PeerKey) error {
		sh, err := group.OpenShare(sealed, k)
		if err != nil {
			return fmt.Errorf("your share of group %s does not open with your key: %w", m.Group, err)
		}
		defer sh.Wipe()
		if err := group.VerifyShare(com, sh); err != nil {
			return fmt.Errorf("the share of group %s you were dealt does not match the group's commitments (%w); the admin who created or last changed the group dealt it", m.Group, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.cfg.Vault.Put(ctx, NSGroups, m.Group, sealed, vault.AuditEntry{Actor: s.cfg.Actor, Op: "group.share.keep",
		Target: m.Group}); err != nil {
		return err
	}
	m.Commitments = in.Commitments
	return s.save(ctx, m)
}

// approval signs an approval carrying the node's share sealed to the
// vault; change is nil for an unlock, else the digest of the change.
func (s *Service) approval(ctx context.Context, m *membership, c groupwire.Client, window time.Duration, change []byte) ([]byte, error) {
	in, err := c.Info(ctx)
	if err != nil {
		return nil, say(err)
	}
	if string(in.Commitments) != string(m.Commitments) { // re-dealt since: take the new share
		if err := s.takeShare(ctx, m, c); err != nil {
			return nil, err
		}
	}
	if window == 0 {
		window = time.Duration(in.Window) * time.Second
	}
	sealed, err := s.cfg.Vault.Get(ctx, NSGroups, m.Group, vault.AuditEntry{Actor: s.cfg.Actor, Op: "group.share.use", Target: m.Group})
	if err != nil {
		return nil, err
	}
	var raw []byte
	err = s.cfg.WithKey(func(k *keys.PeerKey) error {
		sh, err := group.OpenShare(sealed, k)
		if err != nil {
			return err
		}
		defer sh.Wipe()
		toVault, err := group.SealShare(sh, m.vault())
		if err != nil {
			return err
		}
		a := group.Approval{Group: m.Group, Window: window, Time: s.cfg.Now(), Admin: s.cfg.Host.ID(), Share: toVault, Change: change}
		if _, err := rand.Read(a.Nonce[:]); err != nil {
			return err
		}
		raw, err = group.Sign(k, a)
		return err
	})
	return raw, err
}

func (s *Service) unlock(ctx context.Context, m *membership, c groupwire.Client, window time.Duration) (localapi.GroupReply, error) {
	a, err := s.approval(ctx, m, c, window, nil)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	in, err := c.Approve(ctx, a)
	return s.statusReply(ctx, m, in, err)
}

// change approves a membership change; the K-th admin's approval of the
// same change re-deals the key at the vault.
func (s *Service) change(ctx context.Context, m *membership, c groupwire.Client, req localapi.GroupRequest) (localapi.GroupReply, error) {
	com, err := group.ParseCommitments(m.Commitments)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	admins := make([]peer.ID, len(req.Admins))
	raw := make([][]byte, len(req.Admins))
	for i, h := range req.Admins {
		if admins[i], _, err = s.resolve(ctx, h); err != nil {
			return localapi.GroupReply{}, err
		}
		raw[i] = []byte(admins[i])
	}
	ch := group.Change{Admins: admins, Threshold: req.Threshold, Window: req.Window}
	if err := ch.Check(); err != nil {
		return localapi.GroupReply{}, err
	}
	enc, err := wire.Marshal(groupwire.Change{Admins: raw, Threshold: uint64(req.Threshold), Window: int64(req.Window / time.Second)})
	if err != nil {
		return localapi.GroupReply{}, err
	}
	d := ch.Digest(m.Group, com.ID())
	a, err := s.approval(ctx, m, c, group.MinWindow, d[:])
	if err != nil {
		return localapi.GroupReply{}, err
	}
	in, err := c.Change(ctx, a, enc)
	return s.statusReply(ctx, m, in, err)
}

func (s *Service) names(ctx context.Context, c groupwire.Client) (localapi.GroupReply, error) {
	var out []string
	after := ""
	for {
		l, err := c.List(ctx, after)
		if err != nil {
			return localapi.GroupReply{}, say(err)
		}
		out = append(out, l.Names...)
		if len(l.Names) < groupwire.MaxListNames {
			return localapi.GroupReply{Names: out}, nil
		}
		after = l.Names[len(l.Names)-1]
	}
}

// statusReply turns the vault's info into the owner's status, and syncs
// the audit chain on the way.
func (s *Service) statusReply(ctx context.Context, m *membership, in *groupwire.Info, err error) (localapi.GroupReply, error) {
	if err != nil {
		return localapi.GroupReply{}, say(err)
	}
	s.syncQuietly(ctx, m)
	st, err := s.status(ctx, m, in)
	return localapi.GroupReply{Status: st}, err
}

func (s *Service) status(ctx context.Context, m *membership, in *groupwire.Info) (*localapi.GroupStatus, error) {
	com, err := group.ParseCommitments(in.Commitments)
	if err != nil {
		return nil, err
	}
	names := func(ids []peer.ID) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = s.cfg.NameOf(ctx, id)
		}
		return out
	}
	st := &localapi.GroupStatus{Group: m.Group, Vault: m.vaultName(), VaultPeer: m.vault().String(), Role: in.Role,
		Admins: names(com.Admins), Threshold: com.Threshold, Window: time.Duration(in.Window) * time.Second,
		Schedule: in.Schedule, Unlocked: in.Unlocked, Approvers: names(groupwire.IDs(in.Approvers)),
		Pending: names(groupwire.IDs(in.Pending)), Secrets: int(in.Secrets), AuditHeight: in.Height}
	if in.Until != 0 {
		st.Until = time.Unix(in.Until, 0).UTC()
	}
	return st, nil
}

// list is the groups this node is in, as it last knew them (no vault is
// asked).
func (s *Service) list(ctx context.Context) (localapi.GroupReply, error) {
	ms, err := s.memberships(ctx)
	if err != nil {
		return localapi.GroupReply{}, err
	}
	out := localapi.GroupReply{Groups: []localapi.GroupStatus{}}
	for _, m := range ms {
		st := localapi.GroupStatus{Group: m.Group, Vault: m.vaultName(), VaultPeer: m.vault().String(), Role: groupwire.RoleAdmin,
			AuditHeight: m.Height}
		if !m.admin() {
			st.Role = m.Role
		}
		if com, err := group.ParseCommitments(m.Commitments); err == nil {
			st.Threshold = com.Threshold
			for _, id := range com.Admins {
				st.Admins = append(st.Admins, s.cfg.NameOf(ctx, id))
			}
		}
		out.Groups = append(out.Groups, st)
	}
	return out, nil
}
