// Package meshnet is a home node's connection to the mesh: its bootstrap
// peers (the directory and the mailboxes), its relay reservations, the DHT,
// and how it reaches another peer (directly, else through that peer's
// relay circuits) and calls it with retries.
//
// It holds no secret and signs nothing: the node hands it signed records
// to publish and functions to run against a peer. Every wait it makes is
// named in timing.go: the pauses between attempts are Config.Timings
// (tests shorten them), and each step's timeout is a constant that bounds
// what a dead peer can cost.
package meshnet
