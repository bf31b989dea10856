// Package node is the home node: the one process that holds a user's
// secrets.
//
// It comes in two types. Offline works on the home folder alone (the
// vault, secrets, resources, the audit log, tokens, what was shared): the
// CLI opens it when no node runs. Node is the running node: it embeds an
// Offline and adds the mesh (its libp2p host, the share and grant servers,
// the revocation service, the directory, the relays and the local API
// socket). Operations that need other peers are refused on an Offline with
// ErrNeedsNode, from one place (localapi.NeedsNode).
//
// Every signature the node makes goes through its Signer, which refuses to
// issue or revoke while the vault is locked. Every wait the node makes is a
// named timing in timing.go; Config.Timings shortens them for tests.
//
// This package is the wiring: each job of a running node is a package of
// its own under internal/, which reads the node only through its Config
// (startMesh and startJobs wire them): resolving handles (resolve), using
// a grant (grantee), serving grantees (sharestore), delivering and
// receiving grants (delivery), keeping the node findable (presence: the
// mesh loop), which revocations concern it (relevance), which grants are
// revoked, with or without a node (revstatus), its host and its limits
// (homehost), its metrics (nodemetrics) and its idle lock (idlelock).
// Errors a user reads are worded at the Backend boundary (words);
// durations are read and written in one form (duration).
//
// The infrastructure roles (bootstrap, relay) are in node/infra; the local
// API in node/localapi; the demo in node/demo.
package node
