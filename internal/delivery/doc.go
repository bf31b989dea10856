// Package delivery carries grants between home nodes: it delivers a share
// the node issued to its recipient (live, else sealed to the recipient's
// mailbox at the bootstrap), retries those that have not arrived, and
// takes in grants that arrive (live, from the mailbox, or by hand).
//
// It is its own package because delivery is a job with its own state (the
// grants being delivered right now, so a retry does not send one twice)
// and its own rounds (mailbox and retries, from the mesh loop), and it
// needs of the node only its mesh connection, its state and a few
// callbacks (Config).
package delivery
