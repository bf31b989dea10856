// Package relevance says which revocations concern a home node, so its
// revocation service keeps those whoever sends them and takes others only
// from its infrastructure peers (revgossip.Config.Relevant, Trusted).
//
// It is its own package because the rule is a security decision of its
// own (what a stranger with free keys cannot fake) that the gossip
// validator asks for every record: it answers from memory, from what it
// last read of the node's grants and contacts (internal/meshstate), and
// needs nothing else of the node.
package relevance
