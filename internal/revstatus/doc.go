// Package revstatus says which of a home node's grants are revoked, in
// the running node and in a CLI command that runs without it: the running
// node's revocation set, else the set the node stored, opened read-only;
// when that cannot be read, nobody can say, and every grant that may be
// revoked is shown "unknown", never active.
//
// It is its own package because showing a revoked share as active is the
// one mistake a listing must not make, and reading another process's
// revocation set without writing to it (not even its housekeeping) is a
// job with its own rules; it needs of the node only its store.
package revstatus
