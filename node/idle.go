package node

import (
	"context"
	"time"
)

// The idle lock: a running node locks its vault when nothing used it for
// Config.LockAfter. "Used" is any local API call that needs the vault's
// keys (secrets, resources, signing a share or token, revoking, unlocking,
// changing the password: Offline.use) and any share request served to a
// grantee (shareStore). Reading status, lists of shares or contacts and
// the audit log does not count: a monitor polling `mesh status` must not
// keep the vault open.

// actorIdle is the audit actor of an idle lock: the vault.lock record
// reads "auto-lock (idle)".
const actorIdle = "auto-lock (idle)"

// touch records a use of the vault now.
func (n *Node) touch() { n.lastUse.Store(n.now().UnixNano()) }

// lockAfter is Config.LockAfter with its default; 0 when disabled.
func (c Config) lockAfter() time.Duration {
	switch {
	case c.LockAfter < 0:
		return 0
	case c.LockAfter == 0:
		return DefaultLockAfter
	}
	return c.LockAfter
}

// idleLoop checks the idle clock every Timings.LockCheck.
func (n *Node) idleLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.Timings.LockCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.lockIfIdle(ctx)
		}
	}
}

// lockIfIdle locks the vault, audited under actorIdle, when it is
// unlocked and unused for LockAfter.
func (n *Node) lockIfIdle(ctx context.Context) {
	after := n.cfg.lockAfter()
	if after == 0 || n.vault.Locked() {
		return
	}
	idle := n.now().Sub(time.Unix(0, n.lastUse.Load()))
	if idle < after {
		return
	}
	n.cancelBackups()
	if err := n.vault.Lock(ctx, actorIdle); err != nil {
		n.log.Warn("locking the idle vault", "err", err)
		return
	}
	n.metrics.autoLocks.Inc()
	n.log.Info("vault locked: unused", "for", idle.Round(time.Second))
}
