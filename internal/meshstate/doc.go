// Package meshstate keeps a home node's mesh state beside its vault: the
// handle it claims, the grants it issued and the grants it holds, and the
// contacts it pinned (a handle's peer key, trusted on first use).
//
// None of it is secret (a token is bound to its audience, a handle is
// public), so it is stored in the clear, and a node can take a grant while
// its vault is locked. Every change is written in one batch with its audit
// record (vault.Commit): a change that cannot be audited is not made.
// internal/store's layout lists the keys (/mesh/profile, /mesh/grants,
// /mesh/contacts).
package meshstate
