// Package resolve finds who a handle is and how to reach a peer, for a
// home node: the directory's answer checked against the pinned contact
// (trust on first use, internal/meshstate), with the relay addresses kept
// with the contact so that, while the bootstrap is down, a pinned contact
// is still reached at its last-known relays.
//
// It is its own package because every job that talks to another home
// node starts here (sharing, using a grant, delivering one, naming a
// revoker), and the rule of when a remembered contact may stand in for
// the directory is one decision, made once.
package resolve
