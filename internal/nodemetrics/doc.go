// Package nodemetrics holds a home node's Prometheus metrics and serves
// them (mesh node --metrics ADDR).
//
// Metadata only: counts and states, labelled by a fixed set of words (an
// operation, a status, a delivery route), never by a peer, a path, a name
// or a value. It is its own package so that rule is checked in one place
// that sees nothing else: it reads the node only through Source, and the
// node's jobs count through its methods.
package nodemetrics
