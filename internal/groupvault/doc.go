// Package groupvault is the service of a group vault peer (mesh
// groupvault): it keeps groups — their public commitments, each admin's
// share sealed to that admin, their secrets sealed under the group key
// and their audit chain — and answers /ocmt/group/1 (protocols/groupwire)
// for the group's admins.
//
// The peer stores only what it cannot open: shares sealed to admins'
// peer keys, secrets sealed under a key that exists only while K of the
// group's N admins have approved (package group). It recovers the key in
// memory when the K-th live approval arrives, serves reads and writes
// until the window ends, then wipes the key. A restarted peer starts every
// group locked.
//
// Every approval (taken or refused), opening, re-lock, read, write,
// deletion and membership change is a record of the group's audit chain:
// hash-chained, signed by the peer's key, written in the same batch as
// the change it records (a read's record before the value leaves), and
// handed to Config.Publish for the admins' gossip topic. Admins fetch
// what they missed with the audit op.
//
// To a peer that is not an admin of a group, the group does not exist:
// every op but create answers NotFound in the same words as for a name no
// group has. Only admins offer approvals and read the audit chain, and
// only the admin who signed an approval may offer it.
//
// # Store
//
// Under the namespace the role gives it (internal/store's /groups):
//
//	/g/NAME/r          the group: commitments, sealed shares, window, schedule, creator
//	/g/NAME/h          the audit chain's head: height and hash
//	/g/NAME/a/HEIGHT   one audit record (HEIGHT in 20 decimal digits)
//	/g/NAME/s/SECRET   one sealed secret (SECRET base64url)
//	/g/NAME/n/NONCE    an approval nonce counted, with the approval's time
//
// Secret names are metadata, visible to whoever holds the disk, as in a
// home node's vault; values never are.
package groupvault
