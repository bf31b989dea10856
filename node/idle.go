package node

import "time"

// The idle lock (internal/idlelock): a running node locks its vault when
// nothing used it for Config.LockAfter. "Used" is any local API call that
// needs the vault's keys (secrets, resources, signing a share or token,
// revoking, unlocking, changing the password: Offline.use) and any share
// request served to a grantee (Node.served). Reading status, lists of
// shares or contacts and the audit log does not count: a monitor polling
// `mesh status` must not keep the vault open.

// touch records a use of the vault now.
func (n *Node) touch() {
	if n.idle != nil {
		n.idle.Touch()
	}
}

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
