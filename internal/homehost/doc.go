// Package homehost builds the libp2p host of a home node: relay client,
// hole punching and AutoNAT v2 (it sits behind NAT), a connection manager
// that keeps its protected infrastructure connections, resource limits
// with room for the share protocol and for relayed connections, and a
// connection gater that keeps a budget of relayed connections from
// strangers so that contacts and grant peers always get through.
//
// It is its own package because these limits are one defence with its
// own numbers and tests (a flood of throwaway identities holding idle
// circuits must not cut a node off from its contacts), and need nothing
// of the node but its key, its listen addresses and who it knows
// (KnownPeers).
package homehost
