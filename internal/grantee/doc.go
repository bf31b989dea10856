// Package grantee is the client side of using a grant: mesh get, put, rm
// and ls on HANDLE/PATH. It picks the newest share held from the owner
// that allows the action there, refuses early what the node's own
// revocation set already knows to be revoked, calls the owner's node with
// retries (protocols/share over internal/meshnet), and says in words why
// the owner refused or could not be reached.
//
// It is its own package because it is the one job of the home node that
// acts as somebody else's guest, with its own choice of grant and its own
// account of refusals; it reads the node only through Config.
package grantee
