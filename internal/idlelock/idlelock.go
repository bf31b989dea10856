package idlelock

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ocmt/mesh/vault"
)

// Actor is the audit actor of an idle lock: the vault.lock record reads
// "auto-lock (idle)".
const Actor = "auto-lock (idle)"

// ActorWindow is the audit actor of the lock that ends an unlock session
// a resume started (vault.ResumedUntil): a woken node stays unlocked no
// longer than the window of the hibernation it came back from.
const ActorWindow = "auto-lock (resume window ended)"

// Config configures a Lock.
type Config struct {
	Vault *vault.Vault
	// After is how long the vault may go unused; 0 or less: never lock.
	After time.Duration
	// Check is how often Run looks at the idle clock: the vault locks at
	// most that long after After.
	Check time.Duration
	// Now is the node's clock. Default time.Now.
	Now func() time.Time
	// Locking, when set, runs just before an idle lock (the node stops
	// the backups that hold a key the lock wipes).
	Locking func()
	// Locked, when set, is told of each idle lock (metrics).
	Locked func()
	// Logger receives operational logs. Default: discard.
	Logger *slog.Logger
}

// Lock is a vault's idle clock and the loop that locks it.
type Lock struct {
	cfg  Config
	last atomic.Int64 // unix nanoseconds on cfg.Now's clock
}

// New returns a Lock whose last use is now.
func New(cfg Config) *Lock {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Lock{cfg: cfg}
	l.Touch()
	return l
}

// Touch records a use of the vault now.
func (l *Lock) Touch() { l.last.Store(l.cfg.Now().UnixNano()) }

// LastUse is when the vault was last used.
func (l *Lock) LastUse() time.Time { return time.Unix(0, l.last.Load()) }

// Run checks the idle clock every Config.Check until ctx ends.
func (l *Lock) Run(ctx context.Context) {
	t := time.NewTicker(l.cfg.Check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.Check(ctx)
		}
	}
}

// Check locks the vault, audited under Actor, when it is unlocked and
// unused for Config.After.
func (l *Lock) Check(ctx context.Context) {
	v := l.cfg.Vault
	if v.Locked() {
		return
	}
	idle := l.cfg.Now().Sub(l.LastUse())
	until := v.ResumedUntil() // a session a resume started ends with its window
	ended := !until.IsZero() && !l.cfg.Now().Before(until)
	if !ended && (l.cfg.After <= 0 || idle < l.cfg.After) {
		return
	}
	if l.cfg.Locking != nil {
		l.cfg.Locking()
	}
	actor := Actor
	if ended {
		actor = ActorWindow
	}
	if err := v.Lock(ctx, actor); err != nil {
		l.cfg.Logger.Warn("locking the idle vault", "err", err)
		return
	}
	if l.cfg.Locked != nil {
		l.cfg.Locked()
	}
	l.cfg.Logger.Info("vault locked", "by", actor, "unused for", idle.Round(time.Second))
}
