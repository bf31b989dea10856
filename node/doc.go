// Package node is the home node: the one process that holds a user's
// secrets.
//
// It comes in two types. Offline works on the home folder alone (the
// vault, secrets, resources, the audit log, tokens, what was shared): the
// CLI opens it when no node runs. Node is the running node: it embeds an
// Offline and adds the mesh (its libp2p host, the share and grant servers,
// the revocation service, the directory, the relays and the local API
// socket). Operations that need other peers are refused on an Offline with
// ErrNeedsNode, from one place (needsnode.go).
//
// Every signature the node makes goes through its Signer, which refuses to
// issue or revoke while the vault is locked. Every wait the node makes is a
// named timing in timing.go; Config.Timings shortens them for tests.
//
// Without a node, an Offline reads the revocation set the node stored
// (read-only), so what it lists as revoked is revoked; when that set cannot
// be read, a grant that may be revoked is "unknown", never active. A
// running Node locks its vault after Config.LockAfter without use
// (idle.go) and, with Config.MetricsAddr, serves Prometheus metrics that
// carry counts and states only (metrics.go). Errors a user reads are
// worded at the Backend boundary, around the sentinels callers branch on
// (words.go). Durations are read and written in one form, days and weeks
// included (duration.go).
//
// The infrastructure roles (bootstrap, relay) are in node/infra; the local
// API in node/localapi; the demo in node/demo.
package node
