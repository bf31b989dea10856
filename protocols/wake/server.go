package wake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ocmt/mesh/capability"
	"github.com/ocmt/mesh/internal/exchange"
	"github.com/ocmt/mesh/internal/peerlimit"
	"github.com/ocmt/mesh/internal/wakehook"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/capwire"
)

// Config configures a Server. Store, Revocations, Authorizer and
// IsReserved are required; zero caps and durations take the defaults of
// limits.go.
type Config struct {
	// Store keeps the asleep entries and sealed halves: a namespace of
	// the relay's store, for this server alone.
	Store ds.Datastore
	// Revocations is the relay's revocation set: a token with a revoked
	// link wakes no one.
	Revocations capability.RevocationChecker
	// Chains caches verified chains; share the relay verifier's Cache().
	// Default: one of capability's default size.
	Chains *capability.ChainCache
	// Skew is the tolerance on a token's window, with capability.Config's
	// rules (default capability.DefaultSkew).
	Skew time.Duration
	// Authorizer says who may hibernate here: the peers holding a
	// reservation at this relay.
	Authorizer func(peer.ID) bool
	// CheckHandle, when set, says whether owner may call itself handle
	// (the directory's record for it): the hook is chosen and run by
	// handle, so a node must not borrow another's. Nil trusts the node.
	CheckHandle func(owner peer.ID, handle string) bool
	// IsReserved says whether the owner holds a reservation here now: a
	// wake for it is answered at once.
	IsReserved func(peer.ID) bool
	// Hook wakes an owner; nil fires nothing and only waits for the
	// owner's reservation (an orchestrator that wakes nodes by itself).
	Hook wakehook.Hook
	// TTL is how long a wake waits, at most MaxTTL; default DefaultTTL.
	TTL time.Duration
	// HookTimeout bounds one hook call; default DefaultHookTimeout.
	HookTimeout time.Duration
	// AsleepFor is how long an owner that does not come back is
	// remembered as asleep; default DefaultAsleepFor.
	AsleepFor time.Duration
	// Caps.
	MaxAsleep, MaxWaiters, MaxWaitersPerOwner, MaxWaitsPerRequester, MaxHooks int
	// Now is the clock of tokens, halves and asleep states; default
	// time.Now. (Waits and hook calls are timed on the real clock.)
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Server answers /ocmt/wake/1 on a relay.
type Server struct {
	h      host.Host
	cfg    Config
	log    *slog.Logger
	lim    *peerlimit.Limiter
	chains *capability.ChainCache
	ctx    context.Context // ends at Close: waits end, hooks are cancelled
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex
	closed       bool
	streams      map[network.Stream]struct{} // being served: Close resets them
	entries      map[peer.ID]*entry
	bursts       map[peer.ID]*burst
	waiting      int
	perRequester map[peer.ID]int
	hooks        int              // hook calls running
	hookBusy     map[peer.ID]bool // owners whose last hook call has not returned
}

// burst is the wakes waiting for one owner since the first of them fired
// the hook.
type burst struct {
	handle  string
	waiters map[*waiter]struct{}
}

type waiter struct {
	requester peer.ID
	done      chan error // one answer, buffered
}

// NewServer loads the stored state and registers the handler on h.
func NewServer(ctx context.Context, h host.Host, cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Revocations == nil || cfg.Authorizer == nil || cfg.IsReserved == nil {
		return nil, errors.New("wake: a server needs a store, the revocation set, an authorizer and IsReserved")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defD(&cfg.TTL, DefaultTTL)
	cfg.TTL = min(cfg.TTL, MaxTTL)
	defD(&cfg.HookTimeout, DefaultHookTimeout)
	defD(&cfg.AsleepFor, DefaultAsleepFor)
	def(&cfg.MaxAsleep, DefaultMaxAsleep)
	def(&cfg.MaxWaiters, DefaultMaxWaiters)
	def(&cfg.MaxWaitersPerOwner, DefaultMaxWaitersPerOwner)
	def(&cfg.MaxWaitsPerRequester, DefaultMaxWaitsPerRequester)
	def(&cfg.MaxHooks, DefaultMaxHooks)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{h: h, cfg: cfg, log: cfg.Logger.With("protocol", ID), chains: cfg.Chains,
		lim:    peerlimit.New(peerRate, peerBurst, maxLimited, cfg.Now),
		bursts: map[peer.ID]*burst{}, perRequester: map[peer.ID]int{}, hookBusy: map[peer.ID]bool{}, streams: map[network.Stream]struct{}{}}
	if s.chains == nil {
		s.chains = capability.NewChainCache(capability.DefaultCacheEntries, capability.DefaultCacheBytes)
	}
	entries, dropped, err := load(ctx, cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("wake: reading the stored entries: %w", err)
	}
	if dropped > 0 {
		s.log.Warn("stored wake entries that do not parse were deleted", "count", dropped)
	}
	s.entries = entries
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	s.sweepLocked()
	s.mu.Unlock()
	s.wg.Go(s.sweeper)
	h.SetStreamHandler(ID, s.handle)
	return s, nil
}

// Close removes the handler, answers every waiting wake Unavailable,
// cancels the hook calls and waits for the handlers (a hook that ignores
// its context is not waited for).
func (s *Server) Close() error {
	s.h.RemoveStreamHandler(ID)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel() // waiting wakes are answered
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(closeGrace):
	}
	s.mu.Lock()
	for st := range s.streams { // a request still being read: not waited for
		st.Reset()
	}
	s.mu.Unlock()
	<-done
	return nil
}

func (s *Server) sweeper() {
	t := time.NewTicker(SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			s.sweepLocked()
			s.mu.Unlock()
		}
	}
}

// sweepLocked deletes what has lapsed: halves past their until, asleep
// states past AsleepFor, and entries left with neither.
func (s *Server) sweepLocked() {
	now := s.cfg.Now()
	for owner, e := range s.entries {
		if e.expire(now) {
			s.saveLocked(owner, e)
		}
	}
}

// saveLocked writes e, or deletes it once empty. A store failure is
// logged: the memory state stands, and the next change writes again.
func (s *Server) saveLocked(owner peer.ID, e *entry) error {
	var err error
	if e.empty() {
		delete(s.entries, owner)
		err = s.cfg.Store.Delete(context.Background(), entryKey(owner))
	} else {
		var b []byte
		if b, err = e.marshal(); err == nil {
			err = s.cfg.Store.Put(context.Background(), entryKey(owner), b)
		}
	}
	if err != nil {
		s.log.Warn("storing a wake entry failed", "owner", owner.String(), "err", err)
	}
	return err
}

func (s *Server) handle(st network.Stream) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		st.Reset()
		return
	}
	s.wg.Add(1)
	s.streams[st] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, st)
		s.mu.Unlock()
		s.wg.Done()
	}()
	lim := Limits()
	lim.Timeout = s.cfg.TTL + WakeSlack
	exchange.Serve(st, lim, s.log, s.serve)
}

// serve answers one request in doc.go's order.
func (s *Server) serve(ctx context.Context, remote peer.ID, raw []byte) (any, error) {
	if !s.lim.Allow(remote) {
		return nil, wire.Errorf(wire.RateLimited, "too many wake requests; retry in a few seconds")
	}
	req, err := parseRequest(raw)
	if err != nil {
		return nil, err
	}
	switch req.op {
	case OpHibernate:
		return nil, s.hibernate(remote, req)
	case OpWake:
		return nil, s.wake(ctx, remote, req)
	case OpResume:
		return s.resume(remote)
	default:
		return nil, s.forget(remote)
	}
}

func (s *Server) hibernate(remote peer.ID, req *request) error {
	if !s.cfg.Authorizer(remote) {
		return wire.Errorf(wire.Forbidden, "only a node holding a reservation at this relay may hibernate here")
	}
	if s.cfg.CheckHandle != nil && !s.cfg.CheckHandle(remote, string(req.handle)) {
		return wire.Errorf(wire.Forbidden, "the handle %s is not yours in the directory", req.handle)
	}
	now := s.cfg.Now()
	if len(req.half) > 0 {
		if !req.until.After(now) {
			return wire.Errorf(wire.BadRequest, "until must be in the future (the relay's clock reads %s)", now.UTC().Format(time.RFC3339))
		}
		if req.until.Sub(now) > MaxUntil {
			return wire.Errorf(wire.BadRequest, "until must lie within %d days of the relay's clock", int(MaxUntil/(24*time.Hour)))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.entries[remote]
	if old == nil && len(s.entries) >= s.cfg.MaxAsleep {
		s.sweepLocked()
		if len(s.entries) >= s.cfg.MaxAsleep {
			return wire.Errorf(wire.Unavailable, "this relay remembers all the hibernating nodes it can; hibernate at another relay")
		}
	}
	e := &entry{handle: req.handle, asleepUntil: now.Add(s.cfg.AsleepFor)}
	if len(req.half) > 0 {
		e.half, e.until = append([]byte(nil), req.half...), req.until
	}
	if old != nil {
		clear(old.half)
	}
	s.entries[remote] = e
	if err := s.saveLocked(remote, e); err != nil {
		return err
	}
	s.log.Info("node hibernating", "owner", remote.String(), "handle", string(req.handle), "half", len(e.half) > 0)
	return nil
}

// wake checks the token, then answers at once, refuses, or waits.
func (s *Server) wake(ctx context.Context, remote peer.ID, req *request) error {
	if err := s.checkToken(remote, req.owner, req.token); err != nil {
		return err
	}
	if s.cfg.IsReserved(req.owner) && !s.asleep(req.owner) {
		return nil // back already (a reservation still up after a hibernation is the old one, ending)
	}
	w := &waiter{requester: remote, done: make(chan error, 1)}
	b, fire, err := s.enqueue(req.owner, w)
	if err != nil {
		return err
	}
	if fire {
		s.fire(req.owner, b)
	}
	timer := time.NewTimer(s.cfg.TTL)
	defer timer.Stop()
	var why error
	select {
	case err := <-w.done:
		return err
	case <-timer.C:
		why = wire.Errorf(wire.Unavailable, "%s did not wake within %s; try again later", b.handle, s.cfg.TTL)
	case <-ctx.Done():
		why = wire.Errorf(wire.Unavailable, "%s did not wake in time; try again later", b.handle)
	case <-s.ctx.Done():
		why = wire.Errorf(wire.Unavailable, "the relay is shutting down")
	}
	if s.leave(req.owner, b, w) {
		return why
	}
	return <-w.done // answered as it gave up
}

// asleep reports whether owner hibernated here and has not reserved since.
func (s *Server) asleep(owner peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[owner]
	return e != nil && e.asleep(s.cfg.Now())
}

// enqueue adds w to owner's burst, starting one (fire) if none waits.
func (s *Server) enqueue(owner peer.ID, w *waiter) (*burst, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, wire.Errorf(wire.Unavailable, "the relay is shutting down")
	}
	e := s.entries[owner]
	if e != nil && e.expire(s.cfg.Now()) {
		s.saveLocked(owner, e)
	}
	if e == nil || e.asleepUntil.IsZero() {
		return nil, false, wire.Errorf(wire.NotFound, "the owner is not asleep at this relay")
	}
	b := s.bursts[owner]
	switch {
	case s.perRequester[w.requester] >= s.cfg.MaxWaitsPerRequester:
		return nil, false, wire.Errorf(wire.RateLimited, "you already wait for %d wakes at this relay", s.perRequester[w.requester])
	case b != nil && len(b.waiters) >= s.cfg.MaxWaitersPerOwner:
		return nil, false, wire.Errorf(wire.Unavailable, "too many requests already wait for %s at this relay; try again later", e.handle)
	case s.waiting >= s.cfg.MaxWaiters:
		return nil, false, wire.Errorf(wire.Unavailable, "this relay holds all the wake requests it can; try again later")
	}
	fire := false
	if b == nil {
		if s.cfg.Hook != nil {
			switch {
			case s.hookBusy[owner]:
				return nil, false, wire.Errorf(wire.Unavailable, "the relay's last attempt to wake %s has not finished; try again later", e.handle)
			case s.hooks >= s.cfg.MaxHooks:
				return nil, false, wire.Errorf(wire.Unavailable, "this relay is waking too many nodes at once; try again shortly")
			}
			fire = true
			s.hooks++
			s.hookBusy[owner] = true
		}
		b = &burst{handle: string(e.handle), waiters: map[*waiter]struct{}{}}
		s.bursts[owner] = b
	}
	b.waiters[w] = struct{}{}
	s.waiting++
	s.perRequester[w.requester]++
	return b, fire, nil
}

// leave takes w out of b, reporting whether it was still waiting (false:
// it was answered, and its answer is in w.done).
func (s *Server) leave(owner peer.ID, b *burst, w *waiter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := b.waiters[w]; !ok {
		return false
	}
	s.dropLocked(b, w)
	if len(b.waiters) == 0 && s.bursts[owner] == b {
		delete(s.bursts, owner)
	}
	return true
}

func (s *Server) dropLocked(b *burst, w *waiter) {
	delete(b.waiters, w)
	s.waiting--
	if s.perRequester[w.requester]--; s.perRequester[w.requester] <= 0 {
		delete(s.perRequester, w.requester)
	}
}

// answerLocked ends owner's burst b, answering every waiter with err.
func (s *Server) answerLocked(owner peer.ID, b *burst, err error) int {
	n := len(b.waiters)
	for w := range b.waiters {
		s.dropLocked(b, w)
		w.done <- err
	}
	if s.bursts[owner] == b {
		delete(s.bursts, owner)
	}
	return n
}

// fire calls the hook for owner's burst b (enqueue counted the call) on a
// goroutine of its own, so
// a slow hook delays no other owner; a failure, or no return within
// HookTimeout, answers b's waiters in words.
func (s *Server) fire(owner peer.ID, b *burst) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HookTimeout)
	result := make(chan error, 1)
	target := wakehook.Target{Handle: b.handle, Peer: owner}
	go func() { // not in s.wg: a hook that ignores its context is not waited for
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("the hook panicked: %v", p)
				}
			}()
			return s.cfg.Hook.Wake(ctx, target)
		}()
		s.mu.Lock()
		s.hooks--
		delete(s.hookBusy, owner)
		s.mu.Unlock()
		result <- err
	}()
	s.wg.Go(func() {
		defer cancel()
		var err error
		select {
		case err = <-result:
		case <-ctx.Done():
			err = fmt.Errorf("no return within %s", s.cfg.HookTimeout)
		}
		log := s.log.With("owner", owner.String(), "handle", b.handle)
		if err == nil {
			log.Info("wake hook fired")
			return
		}
		msg := fmt.Sprintf("the relay could not wake %s: its wake hook failed", b.handle)
		if ctx.Err() != nil {
			msg = fmt.Sprintf("the relay could not wake %s: its wake hook did not finish within %s", b.handle, s.cfg.HookTimeout)
		}
		log.Warn("wake hook failed", "err", err)
		s.mu.Lock()
		s.answerLocked(owner, b, wire.Errorf(wire.Unavailable, "%s", msg))
		s.mu.Unlock()
	})
}

// Reserved tells the server that owner holds a reservation here again:
// every wake waiting for it is answered OK, and it is no longer asleep
// (a sealed half stays until it is resumed, forgotten or lapses).
func (s *Server) Reserved(owner peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	if b := s.bursts[owner]; b != nil {
		n = s.answerLocked(owner, b, nil)
	}
	e := s.entries[owner]
	if e == nil || e.asleepUntil.IsZero() {
		return
	}
	e.asleepUntil = time.Time{}
	e.expire(s.cfg.Now())
	s.saveLocked(owner, e)
	s.log.Info("node awake", "owner", owner.String(), "handle", string(e.handle), "answered", n)
}

// resume gives the owner its sealed half back, once.
func (s *Server) resume(remote peer.ID) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[remote]
	if e != nil && e.expire(s.cfg.Now()) {
		s.saveLocked(remote, e)
	}
	if e == nil || len(e.half) == 0 {
		return nil, wire.Errorf(wire.NotFound, "this relay holds no resume key for you")
	}
	rep := ResumeReply{Half: append([]byte(nil), e.half...), Until: e.until.Unix()}
	clear(e.half)
	e.half, e.until = nil, time.Time{}
	if err := s.saveLocked(remote, e); err != nil {
		return nil, err
	}
	s.log.Info("resume key handed back", "owner", remote.String())
	return rep, nil
}

// forget deletes everything held for the owner.
func (s *Server) forget(remote peer.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[remote]
	if e == nil {
		return nil
	}
	clear(e.half)
	e.half, e.until, e.asleepUntil = nil, time.Time{}, time.Time{}
	if err := s.saveLocked(remote, e); err != nil {
		return err
	}
	s.log.Info("wake entry forgotten", "owner", remote.String())
	return nil
}

// checkToken is doc.go "Tokens": the requester holds a valid, unrevoked
// token of the owner's. Cheap field checks come first, so a foreign
// token costs no signature and never enters the chain cache.
func (s *Server) checkToken(remote, owner peer.ID, raw []byte) error {
	tok, err := s.chains.Decode(raw)
	if err == nil && tok.Audience() != remote {
		err = capability.ErrWrongAudience
	}
	if err == nil && tok.Root().Issuer() != owner {
		err = capability.ErrWrongOwner
	}
	if err == nil {
		err = s.chains.CheckChain(tok)
	}
	if err == nil {
		now := s.cfg.Now()
		chain := tok.Chain()
		for i, t := range chain {
			w := capability.Window{NotBefore: t.NotBefore(), Expiry: t.Expiry(), Skew: s.cfg.Skew}
			if err = w.Check(now); err != nil {
				break
			}
			if s.cfg.Revocations.IsRevoked(t.ID()) {
				err = &capability.RevokedError{ID: t.ID(), Link: i + 1, Of: len(chain)}
				break
			}
		}
	}
	if err == nil {
		return nil
	}
	return tokenRefusal(err)
}

// tokenRefusal words a token failure, with capwire's status.
func tokenRefusal(err error) error {
	st, ok := capwire.Status(err)
	if !ok {
		return err
	}
	var why string
	switch {
	case errors.Is(err, capability.ErrWrongAudience):
		why = "it was granted to another peer, not to you"
	case errors.Is(err, capability.ErrWrongOwner):
		why = "it was not granted by this owner"
	case errors.Is(err, capability.ErrRevoked):
		why = "it has been revoked"
	case errors.Is(err, capability.ErrExpired):
		why = "it has expired"
	case errors.Is(err, capability.ErrNotYetValid):
		why = "it is not valid yet"
	case st == wire.BadRequest:
		why = "it is not a well-formed token"
	default:
		why = "its chain of grants does not verify"
	}
	return wire.Errorf(st, "this token cannot wake the owner: %s", why)
}

// Stats is what a server holds now, for the relay's metrics.
type Stats struct {
	Asleep  int // nodes remembered as asleep
	Halves  int // sealed halves held
	Waiting int // wakes waiting, all owners
	Hooks   int // hook calls running
}

// Stats counts what the server holds now.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Waiting: s.waiting, Hooks: s.hooks}
	now := s.cfg.Now()
	for _, e := range s.entries {
		if e.asleep(now) {
			st.Asleep++
		}
		if e.halfLive(now) {
			st.Halves++
		}
	}
	return st
}
