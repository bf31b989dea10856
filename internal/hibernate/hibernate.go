package hibernate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/wire"
	"github.com/ocmt/mesh/protocols/wake"
)

// Config is what a Sleeper uses of its node.
type Config struct {
	Host host.Host
	// Relays are the relays holding a reservation for the node now.
	Relays func() []peer.ID
	// Handle is the node's handle ("" when it has none).
	Handle func(context.Context) (string, error)
	// Locked reports whether the vault is locked.
	Locked func() bool
	// ResumedUntil is the end of the window the vault's unlock came from
	// (vault.ResumedUntil), zero after a password unlock: a hibernation
	// never extends it.
	ResumedUntil func() time.Time
	// Prepare writes the resume file, valid until until, and returns the
	// half for the relays (the node's signer and vault, internal/resume).
	Prepare func(ctx context.Context, until time.Time) ([]byte, error)
	// Resume opens the resume file with the half a relay kept.
	Resume func(ctx context.Context, half []byte) error
	// Pending reports whether the home holds a resume file.
	Pending func() bool
	// Discard deletes the resume file.
	Discard func() error
	// Flush pushes pending snapshots before the node stops.
	Flush func(context.Context) error
	// SleptAt is the file where the node notes the relays that took its
	// hibernation, so that it returns to them when it is woken.
	SleptAt string
	// Window is how long the node may come back unlocked; 0 is
	// DefaultWindow, negative never (it comes back locked).
	Window time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// Sleeper puts its node to sleep and brings it back.
type Sleeper struct {
	cfg  Config
	once sync.Once
	done chan struct{}
}

// New returns a Sleeper.
func New(cfg Config) *Sleeper {
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sleeper{cfg: cfg, done: make(chan struct{})}
}

// Done is closed once the node has hibernated: its process should exit.
func (s *Sleeper) Done() <-chan struct{} { return s.done }

// ErrNoRelay means no relay holds a reservation for the node, so nobody
// could wake it: it does not hibernate.
var ErrNoRelay = errors.New("no relay holds a reservation for this node, so nothing could wake it; it keeps running")

// Hibernate flushes pending snapshots, prepares a resume when the vault
// is unlocked, tells the relays, and closes Done once one took it. It
// returns how many relays took it.
func (s *Sleeper) Hibernate(ctx context.Context) (int, error) {
	relays := s.cfg.Relays()
	if len(relays) == 0 {
		return 0, ErrNoRelay
	}
	if err := s.cfg.Flush(ctx); err != nil {
		s.cfg.Logger.Warn("some snapshots were not pushed before hibernating", "err", err)
	}
	handle, err := s.cfg.Handle(ctx)
	if err != nil {
		return 0, err
	}
	if handle == "" {
		return 0, errors.New("this node has no handle, so a relay could not wake it by name; set one with mesh handle NAME")
	}
	hb := wake.Hibernation{Handle: handle}
	until := s.cfg.Now().Add(s.cfg.Window)
	if ru := s.cfg.ResumedUntil(); !ru.IsZero() && ru.Before(until) {
		until = ru // the session a resume started ends with its window
	}
	if s.cfg.Window > 0 && !s.cfg.Locked() && until.After(s.cfg.Now()) {
		hb.Until = until
		if hb.Half, err = s.cfg.Prepare(ctx, hb.Until); err != nil {
			return 0, fmt.Errorf("preparing to come back unlocked: %w", err)
		}
	}
	took := 0
	var errs []error
	var addrs []string // of the relays that took it
	for _, r := range relays {
		rctx, cancel := context.WithTimeout(ctx, RelayTimeout)
		err := wake.Hibernate(rctx, s.cfg.Host, r, hb)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("relay %s: %w", r, err))
			continue
		}
		took++
		for _, a := range s.cfg.Host.Peerstore().Addrs(r) {
			addrs = append(addrs, a.Encapsulate(ma.StringCast("/p2p/"+r.String())).String())
		}
	}
	if took == 0 {
		if hb.Half != nil {
			s.cfg.Discard()
		}
		return 0, fmt.Errorf("no relay took the hibernation, so the node keeps running: %w", errors.Join(errs...))
	}
	if err := home.WriteFileAtomic(s.cfg.SleptAt, []byte(strings.Join(addrs, "\n")+"\n"), 0o600); err != nil {
		s.cfg.Logger.Warn("could not note the relays that will wake the node", "err", err)
	}
	s.cfg.Logger.Info("hibernating", "relays", took, "unlocked", hb.Half != nil)
	s.once.Do(func() { close(s.done) })
	return took, nil
}

// SleptAt returns the relays the node hibernated at (SleptAt), to return
// to when no relay is configured; none when it never hibernated.
func SleptAt(path string) []peer.AddrInfo {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var addrs []ma.Multiaddr
	for _, l := range strings.Fields(string(b)) {
		if a, err := ma.NewMultiaddr(l); err == nil {
			addrs = append(addrs, a)
		}
	}
	infos, _ := peer.AddrInfosFromP2pAddrs(addrs...)
	return infos
}

// ResumeFrom asks each relay in turn for the half it kept and resumes
// with the first that opens; it reports whether the node is unlocked.
// Without a resume file it does nothing.
func (s *Sleeper) ResumeFrom(ctx context.Context, relays []peer.AddrInfo) bool {
	if !s.cfg.Pending() {
		return false
	}
	for _, r := range relays {
		rctx, cancel := context.WithTimeout(ctx, RelayTimeout)
		half, err := s.half(rctx, r)
		cancel()
		if err != nil {
			s.cfg.Logger.Info("no resume half at relay", "relay", r.ID, "err", err)
			continue
		}
		if err := s.cfg.Resume(ctx, half); err != nil {
			s.cfg.Logger.Warn("could not come back unlocked; the vault stays locked", "err", err)
			return false
		}
		s.cfg.Logger.Info("came back unlocked", "relay", r.ID)
		return true
	}
	return false
}

// half takes back the half r kept, asking again (up to resumeTries
// times, resumePause apart) while r asks it to slow down: a node woken
// many times in a few seconds must not come back locked for that.
func (s *Sleeper) half(ctx context.Context, r peer.AddrInfo) ([]byte, error) {
	if err := s.cfg.Host.Connect(ctx, r); err != nil {
		return nil, err
	}
	for i := 1; ; i++ {
		half, _, err := wake.Resume(ctx, s.cfg.Host, r.ID)
		var we *wire.Error
		if err == nil || i == resumeTries || !errors.As(err, &we) || we.Status != wire.RateLimited {
			return half, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(resumePause):
		}
	}
}

// Forget ends the resume window now (mesh lock): the home's file is
// deleted and the relays are asked to drop their halves.
func (s *Sleeper) Forget(ctx context.Context) {
	if !s.cfg.Pending() {
		return
	}
	if err := s.cfg.Discard(); err != nil {
		s.cfg.Logger.Warn("could not delete the resume file", "err", err)
	}
	for _, r := range s.cfg.Relays() {
		rctx, cancel := context.WithTimeout(ctx, RelayTimeout)
		if err := wake.Forget(rctx, s.cfg.Host, r); err != nil {
			s.cfg.Logger.Info("relay did not forget the resume half", "relay", r, "err", err)
		}
		cancel()
	}
}

// WatchIdle hibernates the node once lastUse is after long ago, checking
// every IdleCheck, until ctx ends or the node hibernates. A failed try is
// logged and tried again at the next check.
func (s *Sleeper) WatchIdle(ctx context.Context, after time.Duration, lastUse func() time.Time) {
	t := time.NewTicker(min(IdleCheck, after))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
		}
		if s.cfg.Now().Sub(lastUse()) < after {
			continue
		}
		if _, err := s.Hibernate(ctx); err != nil {
			s.cfg.Logger.Warn("hibernating after idle failed", "err", err)
		}
	}
}
