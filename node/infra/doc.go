// Package infra runs the two infrastructure roles: the bootstrap/metadata
// peer (mesh bootstrap: the DHT server, the directory of owner-signed
// records and the sealed mailboxes) and the circuit relay (mesh relay:
// relay v2 limited to registered peers and holders of relay-access
// capabilities). The bootstrap vouches for the records it holds, and the
// relay admits a node on its record and voucher without asking
// (protocols/relayaccess, "Registrations"); it asks the bootstrap's
// directory only about peers that present none, within a budget
// (RelayConfig.DirectoryLookupRate), and the bootstrap answers the relays
// it names (Config.Infrastructure) from one shared bucket instead of a
// per-peer one. Both keep a revocation set, gossip it and serve it to late
// joiners (protocols/revgossip), and neither holds a vault: a role's peer
// key is its only secret.
//
// The relay also caches sealed snapshots (protocols/snapshot,
// internal/blockcache) in its store, by default up to 1 GiB
// (RelayConfig.CacheMaxBytes): it takes pushes only from peers holding a
// reservation on it, and serves a snapshot only to a token it verifies
// against its revocation set. It holds ciphertext only.
//
// The relay also wakes the homes that hibernate on it (protocols/wake):
// a grantee with a valid token from a sleeping home asks, the relay runs
// the hook its operator configured (RelayConfig.Wake: a command, a signed
// webhook, or a signed order to a supervisor) once per burst, and answers
// when the home's reservation returns. It keeps, per sleeping home, the
// handle it slept under and a sealed half of its resume key, which only
// the home can open or take back. The supervisor (StartSupervisor, mesh
// supervise) is the peer on a container host that carries out those
// orders for the relays it names, with the operator's command, and keeps
// an audit log of them like the other roles.
//
// A role's home folder (internal/home) holds its key, its store, its audit
// log (audit.log and audit.log.head, unless Config.AuditPath puts them
// elsewhere) and, while it runs, an addrs file through which the
// operator's commands (mesh relay revoke) reach it.
//
// Every role keeps a metadata-only audit log, always: the relay its
// circuits, refusals, revoked accesses and the operator's grants and
// revokes; the bootstrap its registrations, handle changes, refused
// publishes, admitted revocations and counts of lookups and mail. Both
// record their start and stop. The log is hash-chained and keyed with a
// key derived from the peer key, and what strangers can make a role write
// is coalesced per window (auditlog.go, audit.go). VerifyAuditLog checks
// one; mesh relay audit and mesh bootstrap audit print it.
package infra
