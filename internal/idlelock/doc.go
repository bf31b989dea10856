// Package idlelock locks a running home node's vault when nothing has
// used it for a while (mesh node --lock-after), audited as vault.lock by
// "auto-lock (idle)".
//
// It is its own package because it is a job with its own clock and loop:
// the node tells it of every use (Lock.Touch), and it needs of the node
// only its vault and two hooks (Config.Locking, Locked). What counts as a
// use is the node's rule, written where the node calls Touch.
package idlelock
