// Package node assembles a home node: its folder (identity and store), its
// libp2p host, its vault and its local API. The CLI talks to a running node
// through the local API, or opens the folder directly when none runs.
package node
