// Package groupclient is a home node's side of group vaults: its owner
// creates groups (dealing the key among the admins), joins those it is an
// admin of, approves unlocks and membership changes, reads and writes the
// groups' secrets, and keeps each group's audit chain, verified record by
// record (mesh group ...).
//
// The node keeps, per group, the group vault's peer ID and the group's
// commitments in its clear store (metadata), its own share — sealed to its
// peer key — in its vault (namespace "groups"), and the audit chain's
// records in its clear store. Records arrive on the group's gossip topic
// and, for whatever the node missed (it was off, or reached the vault
// only through a relay, where gossip does not go), by the audit op; each
// is checked against the vault's signature and the chain before it is
// kept. Two different records at one height, or a record that does not
// follow the head, is a fork: the node keeps the evidence and says so in
// every status and audit listing.
//
// # Store
//
// Under the node's store (internal/store's /groups):
//
//	/groups/m/GROUP          the membership: vault, commitments, head, fork
//	/groups/a/GROUP/HEIGHT   one verified audit record (HEIGHT in 20 digits)
package groupclient
