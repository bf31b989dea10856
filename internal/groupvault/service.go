package groupvault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/capability/revocation"
	"github.com/ocmt/mesh/group"
	"github.com/ocmt/mesh/internal/duration"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/groupwire"
)

// Config configures a Service. Key and Store are required.
type Config struct {
	// Key is the vault peer's key: it opens the shares approvals carry
	// and signs the audit records. The Service keeps it; the caller
	// wipes it after Close.
	Key *keys.PeerKey
	// Store holds the groups (doc.go "Store").
	Store ds.Batching
	// Revocations is the peer's revocation set: a member's capability
	// with a revoked link is refused. Default: nothing is revoked (tests).
	Revocations capability.RevocationChecker
	// Revoke revokes a member's capability (at once, everywhere: the
	// peer's revocation service). Default: none (tests).
	Revoke func(context.Context, *revocation.Revocation) error
	// Publish hands each new audit record to the group's gossip topic.
	// Default: none (admins sync with the audit op).
	Publish func(group string, record []byte)
	// Creators, when set, are the only peers that may create groups.
	// Default: any peer, within MaxGroupsPerCreator.
	Creators []peer.ID
	// Bounds; zero takes the default of limits.go.
	MaxGroups, MaxGroupsPerCreator, MaxSecrets int
	// Now is the clock of approvals, windows and records. Default
	// time.Now.
	Now func() time.Time
	// Rand draws re-split keys; default crypto/rand.
	Rand   io.Reader
	Logger *slog.Logger
}

// Service keeps a vault peer's groups.
type Service struct {
	cfg      Config
	log      *slog.Logger
	nonces   *group.NonceSet
	verifier *capability.Verifier

	mu     sync.Mutex
	groups map[string]*state
}

// state is one group in memory. Its mu orders the group's requests and
// its audit chain.
type state struct {
	mu      sync.Mutex
	name    string
	rec     stored
	c       *group.Commitments
	sched   group.Schedule
	lock    *group.Lock
	open    bool // the lock was open at the last look (a change to locked is audited)
	height  uint64
	head    [32]byte
	last    time.Time
	secrets int
	tallies map[[32]byte]*group.Tally
	order   [][32]byte // tallies, oldest first
	members map[peer.ID]*memberRec
}

// stored is a group's record (/g/NAME/r).
type stored struct {
	Commitments []byte   `cbor:"1,keyasint"`
	Shares      [][]byte `cbor:"2,keyasint"`
	Window      int64    `cbor:"3,keyasint"`
	Schedule    string   `cbor:"4,keyasint,omitempty"`
	Creator     []byte   `cbor:"5,keyasint"`
	Created     int64    `cbor:"6,keyasint"`
}

// headRec is the chain's head (/g/NAME/h).
type headRec struct {
	Height uint64 `cbor:"1,keyasint"`
	Hash   []byte `cbor:"2,keyasint"`
	Time   int64  `cbor:"3,keyasint"`
}

func gkey(name string, parts ...string) ds.Key {
	return ds.NewKey("/g/" + name + "/" + strings.Join(parts, "/"))
}

func secretKey(g, name string) ds.Key {
	return gkey(g, "s", base64.RawURLEncoding.EncodeToString([]byte(name)))
}

func auditKey(g string, h uint64) ds.Key { return gkey(g, "a", fmt.Sprintf("%020d", h)) }

// Open loads the stored groups, all locked.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Key == nil || cfg.Store == nil {
		return nil, errors.New("groupvault: a service needs the peer key and a store")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxGroups, DefaultMaxGroups)
	def(&cfg.MaxGroupsPerCreator, DefaultMaxGroupsPerCreator)
	def(&cfg.MaxSecrets, DefaultMaxSecrets)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Publish == nil {
		cfg.Publish = func(string, []byte) {}
	}
	if cfg.Revoke == nil {
		cfg.Revoke = func(context.Context, *revocation.Revocation) error { return nil }
	}
	s := &Service{cfg: cfg, log: cfg.Logger, nonces: group.NewNonceSet(0), groups: map[string]*state{},
		// the vault issues and checks its members' capabilities on one
		// clock: no skew to allow for beyond the least a verifier takes
		verifier: capability.NewVerifier(capability.Config{Clock: cfg.Now, Revocations: cfg.Revocations, Skew: time.Second})}
	res, err := cfg.Store.Query(ctx, query.Query{Prefix: "/g/", KeysOnly: true})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		parts := strings.Split(strings.TrimPrefix(e.Key, "/g/"), "/")
		if len(parts) != 2 || parts[1] != "r" {
			continue
		}
		g, err := s.load(ctx, parts[0])
		if err != nil {
			return nil, fmt.Errorf("groupvault: loading group %q: %w", parts[0], err)
		}
		s.groups[g.name] = g
	}
	return s, nil
}

// load reads one group: its record, head, secret count and live nonces.
func (s *Service) load(ctx context.Context, name string) (*state, error) {
	b, err := s.cfg.Store.Get(ctx, gkey(name, "r"))
	if err != nil {
		return nil, err
	}
	g := &state{name: name}
	if err := wire.UnmarshalCanonical(b, &g.rec); err != nil {
		return nil, err
	}
	if err := g.setRecord(s, g.rec); err != nil {
		return nil, err
	}
	if hb, err := s.cfg.Store.Get(ctx, gkey(name, "h")); err == nil {
		var h headRec
		if err := wire.UnmarshalCanonical(hb, &h); err != nil || len(h.Hash) != 32 {
			return nil, errors.New("the audit head does not parse")
		}
		g.height, g.last = h.Height, time.Unix(h.Time, 0)
		copy(g.head[:], h.Hash)
	} else if !errors.Is(err, ds.ErrNotFound) {
		return nil, err
	}
	if g.secrets, err = s.countSecrets(ctx, name); err != nil {
		return nil, err
	}
	if err := s.loadMembers(ctx, g); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: gkey(name, "n").String()})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		raw, err := hex.DecodeString(ds.RawKey(e.Key).BaseNamespace())
		at, perr := strconv.ParseInt(string(e.Value), 10, 64)
		var nonce [group.NonceSize]byte
		if err != nil || perr != nil || len(raw) != len(nonce) || now.Sub(time.Unix(at, 0)) > group.MaxApprovalAge {
			s.cfg.Store.Delete(ctx, ds.RawKey(e.Key))
			continue
		}
		copy(nonce[:], raw)
		s.nonces.Use(name, nonce, time.Unix(at, 0), now)
	}
	return g, nil
}

func (s *Service) countSecrets(ctx context.Context, name string) (int, error) {
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: gkey(name, "s").String(), KeysOnly: true})
	if err != nil {
		return 0, err
	}
	entries, err := res.Rest()
	return len(entries), err
}

// setRecord parses rec and makes a fresh, locked Lock for it.
func (g *state) setRecord(s *Service, rec stored) error {
	c, err := group.ParseCommitments(rec.Commitments)
	if err != nil {
		return err
	}
	sched, err := group.ParseSchedule(rec.Schedule)
	if err != nil {
		return err
	}
	if g.lock != nil {
		g.lock.Relock()
	}
	g.rec, g.c, g.sched = rec, c, sched
	g.lock = group.NewLock(c, group.LockConfig{Now: s.cfg.Now, Nonces: s.nonces, Schedule: sched})
	g.open = false
	g.tallies, g.order = map[[32]byte]*group.Tally{}, nil
	return nil
}

// Run checks the windows every second until ctx ends: a window that ended
// is wiped and re-locked, and the re-lock audited, even if no request
// comes. Every pruneEvery it deletes the approval nonces that are stale.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	lastPrune := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sweep(ctx)
		}
		if time.Since(lastPrune) >= pruneEvery {
			s.pruneNonces(ctx)
			lastPrune = time.Now()
		}
	}
}

// pruneNonces deletes the stored nonces of approvals that are stale (no
// approval that old is taken, so its nonce need not be kept).
func (s *Service) pruneNonces(ctx context.Context) {
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: "/g/"})
	if err != nil {
		return
	}
	defer res.Close()
	now := s.cfg.Now()
	for e := range res.Next() {
		if e.Error != nil {
			return
		}
		k := ds.RawKey(e.Key)
		if k.Parent().BaseNamespace() != "n" {
			continue
		}
		if at, err := strconv.ParseInt(string(e.Value), 10, 64); err != nil || now.Sub(time.Unix(at, 0)) > group.MaxApprovalAge {
			s.cfg.Store.Delete(ctx, k)
		}
	}
}

// Sweep re-locks every group whose window has ended, and audits it.
func (s *Service) Sweep(ctx context.Context) {
	s.mu.Lock()
	gs := make([]*state, 0, len(s.groups))
	for _, g := range s.groups {
		gs = append(gs, g)
	}
	s.mu.Unlock()
	for _, g := range gs {
		g.mu.Lock()
		s.sweepLocked(ctx, g)
		g.mu.Unlock()
	}
}

// Close re-locks every group (wiping the keys), and audits the re-lock of
// those that were open.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		g.mu.Lock()
		g.lock.Relock()
		if g.open {
			g.open = false
			if err := s.commit(context.Background(), g, event{kind: "group.relock", detail: "the vault peer stopped; the key was wiped"}, nil); err != nil {
				s.log.Warn("auditing a re-lock failed", "group", g.name, "err", err)
			}
		}
		for _, t := range g.tallies {
			t.Wipe()
		}
		g.mu.Unlock()
	}
	return nil
}

// sweepLocked notices a window's end: the Lock wiped the key; the
// re-lock is audited.
func (s *Service) sweepLocked(ctx context.Context, g *state) {
	g.lock.Sweep()
	if g.open && !g.lock.Status().Unlocked {
		g.open = false
		if err := s.commit(ctx, g, event{kind: "group.relock", detail: "the unlock window ended; the key was wiped"}, nil); err != nil {
			s.log.Warn("auditing a re-lock failed", "group", g.name, "err", err)
		}
	}
}

// event is one audit record to write.
type event struct {
	kind   string
	actor  peer.ID
	detail string
}

// commit writes the group's next audit record, the head, and whatever
// ops adds, in one batch; then publishes the record. If the batch fails,
// nothing is written and the chain stays where it was.
func (s *Service) commit(ctx context.Context, g *state, e event, ops func(ds.Batch) error) error {
	now := s.cfg.Now().Truncate(time.Second)
	if now.Before(g.last) {
		now = g.last // the chain's times never go back
	}
	r, raw, err := group.SignRecord(s.cfg.Key, group.Record{Group: g.name, Height: g.height + 1, Prev: g.head,
		Time: now, Kind: e.kind, Actor: e.actor, Detail: clip(e.detail)})
	if err != nil {
		return err
	}
	hash := r.Hash()
	hb, err := wire.Marshal(headRec{Height: r.Height, Hash: hash[:], Time: now.Unix()})
	if err != nil {
		return err
	}
	b, err := s.cfg.Store.Batch(ctx)
	if err != nil {
		return err
	}
	if ops != nil {
		if err := ops(b); err != nil {
			return err
		}
	}
	if err := b.Put(ctx, auditKey(g.name, r.Height), raw); err != nil {
		return err
	}
	if err := b.Put(ctx, gkey(g.name, "h"), hb); err != nil {
		return err
	}
	if err := b.Commit(ctx); err != nil {
		return err
	}
	g.height, g.head, g.last = r.Height, hash, now
	s.cfg.Publish(g.name, raw)
	return nil
}

// clip bounds an audit detail to what a record holds, in characters a
// record takes (package group refuses control, line-separator and bidi
// characters: a label someone typed must not reorder the log's text).
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if groupwire.Unprintable(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
	const max = 480
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if s[i]&0xc0 != 0x80 {
			return s[:i] + "…"
		}
	}
	return ""
}

// errNoGroup is every op's answer about a group the asking peer is not
// in, existing or not.
func errNoGroup(name string) error {
	return wire.Errorf(wire.NotFound, "this vault keeps no group %q that you belong to", name)
}

// Handle implements groupwire.Handler.
func (s *Service) Handle(ctx context.Context, remote peer.ID, req *groupwire.Request) (any, error) {
	if req.Op == groupwire.OpCreate {
		return nil, s.create(ctx, remote, req)
	}
	s.mu.Lock()
	g := s.groups[req.Group]
	s.mu.Unlock()
	if g == nil {
		return nil, errNoGroup(req.Group)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s.sweepLocked(ctx, g)
	switch req.Op {
	case groupwire.OpAccept:
		return s.accept(ctx, g, remote, req.Token)
	case groupwire.OpDecline:
		return nil, s.decline(ctx, g, remote, req.Token)
	}
	role, err := s.role(ctx, g, remote, req)
	if err != nil {
		return nil, err
	}
	if role != groupwire.RoleAdmin && !memberOps[req.Op] {
		return nil, errNoGroup(req.Group)
	}
	switch req.Op {
	case groupwire.OpInvite:
		return s.invite(ctx, g, remote, req)
	case groupwire.OpExpel:
		return nil, s.expel(ctx, g, remote, req.Member)
	case groupwire.OpMembers:
		return s.membersOf(g), nil
	case groupwire.OpInfo:
		return g.info(role), nil
	case groupwire.OpShare:
		if role != groupwire.RoleAdmin {
			return nil, errNoGroup(req.Group)
		}
		return &groupwire.ShareReply{Sealed: g.rec.Shares[slices.Index(g.c.Admins, remote)]}, nil
	case groupwire.OpApprove:
		return s.approve(ctx, g, remote, req.Approval)
	case groupwire.OpRelock:
		return s.relock(ctx, g, remote)
	case groupwire.OpGet:
		return s.get(ctx, g, remote, req.Name)
	case groupwire.OpPut:
		return nil, s.put(ctx, g, remote, req)
	case groupwire.OpList:
		return s.list(ctx, g, req.Name)
	case groupwire.OpRemove:
		return nil, s.remove(ctx, g, remote, req.Name)
	case groupwire.OpAudit:
		return s.audit(ctx, g, req.From)
	case groupwire.OpChange:
		return s.change(ctx, g, remote, req)
	}
	return nil, wire.Errorf(wire.BadRequest, "unknown op")
}

// memberOps are the ops a member (not an admin) may make, each with the
// action its capability must allow.
var memberOps = map[groupwire.Op]bool{groupwire.OpInfo: true, groupwire.OpGet: true, groupwire.OpPut: true,
	groupwire.OpList: true, groupwire.OpRemove: true}

var opAction = map[groupwire.Op]capability.Actions{groupwire.OpInfo: capability.List, groupwire.OpGet: capability.Read,
	groupwire.OpPut: capability.Write, groupwire.OpList: capability.List, groupwire.OpRemove: capability.Delete}

// role is what remote is in the group: an admin (by the commitments), or
// a member whose capability, presented with the request, is the one on
// record and verifies for the op's action (window, revocations). Anyone
// else is told the group does not exist.
func (s *Service) role(ctx context.Context, g *state, remote peer.ID, req *groupwire.Request) (string, error) {
	if g.c.IsAdmin(remote) {
		return groupwire.RoleAdmin, nil
	}
	m := g.members[remote]
	if m == nil || m.Pending || !memberOps[req.Op] {
		return "", errNoGroup(g.name)
	}
	if len(req.Token) == 0 {
		return "", wire.Errorf(wire.Unauthorized, "a member presents its group capability")
	}
	if !bytes.Equal(req.Token, m.Token) {
		return "", errNoGroup(g.name)
	}
	if err := s.check(ctx, g, remote, req.Token, opAction[req.Op]); err != nil {
		return "", err
	}
	return m.Role, nil
}

// info is the group as an admin sees it.
func (g *state) info(role string) *groupwire.Info {
	st := g.lock.Status()
	in := &groupwire.Info{Commitments: g.rec.Commitments, Window: g.rec.Window, Schedule: g.rec.Schedule,
		Unlocked: st.Unlocked, Height: g.height, Role: role, Secrets: uint64(g.secrets)}
	if g.height > 0 {
		in.Head = g.head[:]
	}
	if st.Unlocked {
		in.Until = st.Until.Unix()
	}
	for _, id := range st.Approvers {
		in.Approvers = append(in.Approvers, []byte(id))
	}
	for _, id := range st.Pending {
		in.Pending = append(in.Pending, []byte(id))
	}
	return in
}

// create keeps a new group: its creator must be one of its admins, and
// may create at most MaxGroupsPerCreator here.
func (s *Service) create(ctx context.Context, remote peer.ID, req *groupwire.Request) error {
	if len(s.cfg.Creators) > 0 && !slices.Contains(s.cfg.Creators, remote) {
		return wire.Errorf(wire.Forbidden, "this vault's operator lets only named peers create groups here")
	}
	c, err := group.ParseCommitments(req.Commitments)
	if err != nil {
		return wire.Errorf(wire.BadRequest, "the commitments do not parse: %v", err)
	}
	if c.Group != req.Group {
		return wire.Errorf(wire.BadRequest, "the commitments are for group %q, not %q", c.Group, req.Group)
	}
	if !c.IsAdmin(remote) {
		return wire.Errorf(wire.Forbidden, "a group is created by one of its admins")
	}
	if len(req.Shares) != len(c.Admins) {
		return wire.Errorf(wire.BadRequest, "a group of %d admins needs %d sealed shares; %d came", len(c.Admins), len(c.Admins), len(req.Shares))
	}
	window := time.Duration(req.Window) * time.Second
	if window < group.MinWindow || window > group.MaxWindow {
		return wire.Errorf(wire.BadRequest, "a window is %s to %s", group.MinWindow, group.MaxWindow)
	}
	sched, err := group.ParseSchedule(req.Schedule)
	if err != nil {
		return wire.Errorf(wire.BadRequest, "%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[req.Group]; ok {
		return wire.Errorf(wire.Conflict, "this vault already keeps a group named %q; choose another name", req.Group)
	}
	if len(s.groups) >= s.cfg.MaxGroups {
		return wire.Errorf(wire.TooLarge, "this vault keeps %d groups, its most", len(s.groups))
	}
	mine := 0
	for _, g := range s.groups {
		if peer.ID(g.rec.Creator) == remote {
			mine++
		}
	}
	if mine >= s.cfg.MaxGroupsPerCreator {
		return wire.Errorf(wire.TooLarge, "you created %d groups here, the most one peer may", mine)
	}
	g := &state{name: req.Group, members: map[peer.ID]*memberRec{}}
	rec := stored{Commitments: req.Commitments, Shares: req.Shares, Window: req.Window, Schedule: sched.String(),
		Creator: []byte(remote), Created: s.cfg.Now().Unix()}
	if err := g.setRecord(s, rec); err != nil {
		return err
	}
	rb, err := wire.Marshal(rec)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	detail := fmt.Sprintf("%d of %d admins unlock it for %s", c.Threshold, len(c.Admins), duration.Format(window))
	if !sched.Always() {
		detail += ", " + sched.String()
	}
	if err := s.commit(ctx, g, event{kind: "group.create", actor: remote, detail: detail},
		func(b ds.Batch) error { return b.Put(ctx, gkey(g.name, "r"), rb) }); err != nil {
		return err
	}
	s.groups[g.name] = g
	return nil
}

// refusal turns the group package's errors into statuses, keeping their
// words (they name the admin and never a secret).
func refusal(err error) error {
	var st wire.Status
	switch {
	case errors.Is(err, group.ErrMalformed):
		st = wire.BadRequest
	case errors.Is(err, group.ErrStale):
		st = wire.Expired
	case errors.Is(err, group.ErrReplay), errors.Is(err, group.ErrOpen):
		st = wire.Conflict
	case errors.Is(err, group.ErrTooMany):
		st = wire.RateLimited
	default:
		st = wire.Forbidden
	}
	return wire.Errorf(st, "%v", err)
}

// approve offers an unlock approval to the group's Lock; the K-th opens it.
func (s *Service) approve(ctx context.Context, g *state, remote peer.ID, raw []byte) (*groupwire.Info, error) {
	a, err := group.ParseApproval(raw)
	if err != nil {
		return nil, wire.Errorf(wire.BadRequest, "the approval does not parse: %v", err)
	}
	if a.Admin != remote {
		if aerr := s.commit(ctx, g, event{kind: "unlock.refuse", actor: remote, detail: fmt.Sprintf("offered an approval signed by %s; an approval is offered by the admin who signed it", a.Admin)}, nil); aerr != nil {
			return nil, aerr
		}
		return nil, wire.Errorf(wire.Forbidden, "an approval is offered by the admin who signed it")
	}
	st, err := g.lock.OfferSealed(a, s.cfg.Key)
	if err != nil {
		if aerr := s.commit(ctx, g, event{kind: "unlock.refuse", actor: remote, detail: err.Error()}, nil); aerr != nil {
			return nil, aerr
		}
		return nil, refusal(err)
	}
	nonce := hex.EncodeToString(a.Nonce[:])
	detail := fmt.Sprintf("approved unlocking for %s; %d of %d", duration.Format(a.Window), len(st.Pending)+len(st.Approvers), g.c.Threshold)
	if st.Unlocked {
		detail = fmt.Sprintf("approved unlocking for %s; %d of %d", duration.Format(a.Window), len(st.Approvers), g.c.Threshold)
	}
	if err := s.commit(ctx, g, event{kind: "unlock.approve", actor: remote, detail: detail}, func(b ds.Batch) error {
		return b.Put(ctx, gkey(g.name, "n", nonce), []byte(strconv.FormatInt(a.Time.Unix(), 10)))
	}); err != nil {
		g.lock.Relock() // no unaudited opening
		return nil, err
	}
	if st.Unlocked && !g.open {
		names := make([]string, len(st.Approvers))
		for i, id := range st.Approvers {
			names[i] = id.String()
		}
		if err := s.commit(ctx, g, event{kind: "group.open", detail: fmt.Sprintf("unlocked until %s by %s",
			st.Until.UTC().Format(time.RFC3339), strings.Join(names, ", "))}, nil); err != nil {
			g.lock.Relock()
			return nil, err
		}
		g.open = true
	}
	return g.info(groupwire.RoleAdmin), nil
}

// relock locks the group at once, at an admin's word.
func (s *Service) relock(ctx context.Context, g *state, remote peer.ID) (*groupwire.Info, error) {
	if g.open {
		g.lock.Relock()
		g.open = false
		if err := s.commit(ctx, g, event{kind: "group.relock", actor: remote, detail: "locked by an admin; the key was wiped"}, nil); err != nil {
			return nil, err
		}
	}
	return g.info(groupwire.RoleAdmin), nil
}

// errLocked is the answer to a read or write while the group is locked.
func (g *state) errLocked() error {
	return wire.Errorf(wire.Locked, "group %s is locked: %d of its %d admins must approve (mesh group unlock %s)",
		g.name, g.c.Threshold, len(g.c.Admins), g.name)
}

// withKey runs f with the group's key, which exists only while open.
func (g *state) withKey(f func(*group.Key) error) error {
	k, err := g.lock.Key()
	if err != nil {
		return g.errLocked()
	}
	defer k.Wipe()
	return f(k)
}

func (s *Service) get(ctx context.Context, g *state, remote peer.ID, name string) (*groupwire.Secret, error) {
	if err := group.CheckSecretName(name); err != nil {
		return nil, wire.Errorf(wire.BadRequest, "%v", err)
	}
	if !g.open {
		return nil, g.errLocked()
	}
	sealed, err := s.cfg.Store.Get(ctx, secretKey(g.name, name))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, wire.Errorf(wire.NotFound, "group %s has no secret %q", g.name, name)
	} else if err != nil {
		return nil, err
	}
	var out groupwire.Secret
	err = g.withKey(func(k *group.Key) error {
		v, release, err := group.OpenSecret(k, g.name, name, sealed)
		if err != nil {
			return err
		}
		if now := s.cfg.Now(); now.Before(release) {
			clear(v)
			return wire.Errorf(wire.Forbidden, "secret %q is time-locked until %s", name, release.UTC().Format(time.RFC3339))
		}
		out.Value = v
		if !release.IsZero() {
			out.Release = release.Unix()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.commit(ctx, g, event{kind: "secret.read", actor: remote, detail: "read " + name}, nil); err != nil {
		clear(out.Value)
		return nil, err
	}
	return &out, nil
}

func (s *Service) put(ctx context.Context, g *state, remote peer.ID, req *groupwire.Request) error {
	if err := group.CheckSecretName(req.Name); err != nil {
		return wire.Errorf(wire.BadRequest, "%v", err)
	}
	if !g.open {
		return g.errLocked()
	}
	key := secretKey(g.name, req.Name)
	exists, err := s.cfg.Store.Has(ctx, key)
	if err != nil {
		return err
	}
	if !exists && g.secrets >= s.cfg.MaxSecrets {
		return wire.Errorf(wire.TooLarge, "group %s holds %d secrets, its most", g.name, g.secrets)
	}
	var release time.Time
	if req.Release != 0 {
		release = time.Unix(req.Release, 0)
	}
	var sealed []byte
	if err := g.withKey(func(k *group.Key) (err error) {
		sealed, err = group.SealSecret(k, g.name, req.Name, release, req.Value)
		return err
	}); err != nil {
		return err
	}
	detail := "wrote " + req.Name
	if !release.IsZero() {
		detail += ", time-locked until " + release.UTC().Format(time.RFC3339)
	}
	if err := s.commit(ctx, g, event{kind: "secret.write", actor: remote, detail: detail},
		func(b ds.Batch) error { return b.Put(ctx, key, sealed) }); err != nil {
		return err
	}
	if !exists {
		g.secrets++
	}
	return nil
}

func (s *Service) remove(ctx context.Context, g *state, remote peer.ID, name string) error {
	if err := group.CheckSecretName(name); err != nil {
		return wire.Errorf(wire.BadRequest, "%v", err)
	}
	if !g.open {
		return g.errLocked()
	}
	key := secretKey(g.name, name)
	if ok, err := s.cfg.Store.Has(ctx, key); err != nil {
		return err
	} else if !ok {
		return wire.Errorf(wire.NotFound, "group %s has no secret %q", g.name, name)
	}
	if err := s.commit(ctx, g, event{kind: "secret.delete", actor: remote, detail: "deleted " + name},
		func(b ds.Batch) error { return b.Delete(ctx, key) }); err != nil {
		return err
	}
	g.secrets--
	return nil
}

// names returns the group's secret names, sorted.
func (s *Service) names(ctx context.Context, g string) ([]string, error) {
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: gkey(g, "s").String(), KeysOnly: true})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		b, err := base64.RawURLEncoding.DecodeString(ds.RawKey(e.Key).BaseNamespace())
		if err == nil {
			out = append(out, string(b))
		}
	}
	slices.Sort(out)
	return out, nil
}

// list returns the names after after, at most a page; names are metadata
// and listed while locked too.
func (s *Service) list(ctx context.Context, g *state, after string) (*groupwire.List, error) {
	all, err := s.names(ctx, g.name)
	if err != nil {
		return nil, err
	}
	i, _ := slices.BinarySearch(all, after)
	if i < len(all) && all[i] == after {
		i++
	}
	if after == "" {
		i = 0
	}
	all = all[i:]
	return &groupwire.List{Names: all[:min(len(all), groupwire.MaxListNames)]}, nil
}

// audit returns the chain from height from, a page at a time.
func (s *Service) audit(ctx context.Context, g *state, from uint64) (*groupwire.AuditPage, error) {
	from = max(from, 1)
	page := &groupwire.AuditPage{Records: [][]byte{}}
	for h := from; h <= g.height && len(page.Records) < groupwire.MaxAuditPage; h++ {
		b, err := s.cfg.Store.Get(ctx, auditKey(g.name, h))
		if err != nil {
			return nil, fmt.Errorf("reading audit record %d: %w", h, err)
		}
		page.Records = append(page.Records, b)
	}
	page.More = from+uint64(len(page.Records)) <= g.height
	return page, nil
}

// Admins lists the admins and members of every group kept here.
func (s *Service) Admins() []peer.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []peer.ID
	for _, g := range s.groups {
		g.mu.Lock()
		out = append(out, g.c.Admins...)
		for id := range g.members {
			out = append(out, id)
		}
		g.mu.Unlock()
	}
	return out
}
