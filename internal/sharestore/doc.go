// Package sharestore is the owner's side of the share protocol on a home
// node: it serves grantees' reads, lists, writes and deletes from the
// vault's resources, auditing each under the grantee's peer ID, and
// audits refused requests through a coalescer (internal/auditlimit), so a
// stranger who chooses the path and the rate gets a clipped path and a
// few summaries a minute.
//
// It is its own package because it is the mirror of internal/grantee: the
// node answering as an owner, with its own audit vocabulary (OpServe,
// OpRefused); protocols/share checks the token before any of it runs.
package sharestore
