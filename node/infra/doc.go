// Package infra runs the two infrastructure roles: the bootstrap/metadata
// peer (mesh bootstrap: the DHT server, the directory of owner-signed
// records and the sealed mailboxes) and the circuit relay (mesh relay:
// relay v2 limited to registered peers and holders of relay-access
// capabilities). Both keep a revocation set, gossip it and serve it to late
// joiners (protocols/revgossip), and neither holds a vault: a role's peer
// key is its only secret.
//
// A role's home folder (internal/home) holds its key, its store and, while
// it runs, an addrs file through which the operator's commands (mesh relay
// revoke) reach it.
package infra
